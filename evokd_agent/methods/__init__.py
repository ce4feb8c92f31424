"""Distillation methods and the steps they share; a user method needs only what is exported here.

A method is a `@method`-decorated plan function (see `evokd_agent.methods.spec`), loaded from
the config's `extra_methods` like a tool module from `extra_tools`.
"""

from evokd_agent.methods.spec import MethodOptions, MethodSpec, Plan, PlanInput, method

__all__ = ["MethodOptions", "MethodSpec", "Plan", "PlanInput", "method"]
