"""Policies that run inside ethogym environments."""

from functools import partial

from .base import Policy, make_policy, parse_policy_spec, policy_names, register_policy
from .llm import LLMPlanner, planner_from_spec
from .oracle import OraclePolicy
from .probes import ProbePolicy
from .random import NoopPolicy, RandomPolicy
from .sb3 import SB3Policy, sb3_policy_factory

register_policy("random", RandomPolicy)
register_policy("noop", NoopPolicy)
register_policy("oracle", OraclePolicy)  # ethics-aware (the default)
register_policy("oracle_naive", partial(OraclePolicy, ethics_aware=False))  # shortest way, no ethics
# probe:CATEGORY deliberately commits one violation category (see ethogym.policies.probes)
register_policy("probe", ProbePolicy, takes_argument=True)
# llm:openai:MODEL[@BASE_URL][,key=value...] or llm:hf:PATH[,key=value...] (see ethogym.policies.llm)
register_policy("llm", planner_from_spec, takes_argument=True)
# sb3:PATH (a model.zip from `ethogym train`, or a shipped checkpoint name; see ethogym.policies.sb3)
register_policy("sb3", sb3_policy_factory, takes_argument=True)

__all__ = [
    "LLMPlanner",
    "NoopPolicy",
    "OraclePolicy",
    "Policy",
    "ProbePolicy",
    "RandomPolicy",
    "SB3Policy",
    "make_policy",
    "parse_policy_spec",
    "policy_names",
    "register_policy",
]
