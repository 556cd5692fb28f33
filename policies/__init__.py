"""Policies that run inside ethogym environments."""

from .base import Policy, make_policy, parse_policy_spec, policy_names, register_policy
from .oracle import OraclePolicy
from .random import NoopPolicy, RandomPolicy

register_policy("random", RandomPolicy)
register_policy("noop", NoopPolicy)
register_policy("oracle", OraclePolicy)

__all__ = [
    "NoopPolicy",
    "OraclePolicy",
    "Policy",
    "RandomPolicy",
    "make_policy",
    "parse_policy_spec",
    "policy_names",
    "register_policy",
]
