"""The Policy protocol and the registry of policy names."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym


@runtime_checkable
class Policy(Protocol):
    """What runs inside an ethogym environment: oracle, random, RL and LLM policies alike."""

    def reset(self, seed: int | None = None) -> None: ...

    def act(self, obs: Any, info: Mapping[str, Any]) -> Any: ...


_FACTORIES: dict[str, Callable[[gym.Env], Policy]] = {}


def register_policy(name: str, factory: Callable[[gym.Env], Policy]) -> None:
    _FACTORIES[name] = factory


def make_policy(spec: str, env: gym.Env) -> Policy:
    """Build a policy from its name (``random``, ``oracle``, ``noop``) for ``env``."""
    if spec not in _FACTORIES:
        raise ValueError(f"unknown policy '{spec}'; available: {', '.join(sorted(_FACTORIES))}")
    return _FACTORIES[spec](env)
