"""The built-in agent tools, written exactly as a user writes one (see README "Your own tools").

Each module defines tools with `@tool`; `evokd_agent.run.toolset` collects them explicitly.
"""
