"""The agent core: tools, their registry, the policies that pick the next tool, and the loop.

A user tool is an `async def` decorated with `@tool` (see `evokd_agent.agent.tool`); the
`openai` adapter for model policies lives in `evokd_agent.agent.openai_chat`.
"""

from evokd_agent.agent.actions import Action, AgentState, Policy, StepRecord
from evokd_agent.agent.chat import AssistantReply, ChatFn, ToolCallRequest
from evokd_agent.agent.context import RunContext
from evokd_agent.agent.errors import StopRun, ToolError, ToolRetry
from evokd_agent.agent.json_policy import JsonConfig, JsonPolicy
from evokd_agent.agent.llm_policy import LlmConfig, LlmPolicy
from evokd_agent.agent.loop import AgentResult, run_agent
from evokd_agent.agent.registry import ToolRegistry, collect_tools
from evokd_agent.agent.result import OMIT_IF_NONE, ToolResult
from evokd_agent.agent.scripted import EVOKD_ROUND, ScriptedConfig, ScriptedPolicy
from evokd_agent.agent.tool import Tool, ToolOutcome, build_tool, tool

__all__ = [
    "EVOKD_ROUND",
    "OMIT_IF_NONE",
    "Action",
    "AgentResult",
    "AgentState",
    "AssistantReply",
    "ChatFn",
    "JsonConfig",
    "JsonPolicy",
    "LlmConfig",
    "LlmPolicy",
    "Policy",
    "RunContext",
    "ScriptedConfig",
    "ScriptedPolicy",
    "StepRecord",
    "StopRun",
    "Tool",
    "ToolCallRequest",
    "ToolError",
    "ToolOutcome",
    "ToolRegistry",
    "ToolResult",
    "ToolRetry",
    "build_tool",
    "collect_tools",
    "run_agent",
    "tool",
]
