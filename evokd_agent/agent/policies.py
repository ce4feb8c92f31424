"""The three policies, by the names a config uses: `llm`, `json`, `scripted`."""

from __future__ import annotations

from evokd_agent.agent.actions import Action, AgentState, Policy, Step
from evokd_agent.agent.chat import AssistantReply, ChatFn, ToolCallRequest
from evokd_agent.agent.json_policy import JsonConfig, JsonPolicy, extract_json_object, parse_action
from evokd_agent.agent.llm_policy import LlmConfig, LlmPolicy
from evokd_agent.agent.model_policy import ModelPolicy, ModelPolicyConfig
from evokd_agent.agent.scripted import EVOKD_ROUND, ScriptedConfig, ScriptedPolicy

POLICY_NAMES = ("llm", "json", "scripted")

__all__ = [
    "EVOKD_ROUND",
    "POLICY_NAMES",
    "Action",
    "AgentState",
    "AssistantReply",
    "ChatFn",
    "JsonConfig",
    "JsonPolicy",
    "LlmConfig",
    "LlmPolicy",
    "ModelPolicy",
    "ModelPolicyConfig",
    "Policy",
    "ScriptedConfig",
    "ScriptedPolicy",
    "Step",
    "ToolCallRequest",
    "extract_json_object",
    "parse_action",
]
