"""The Policy protocol and the registry of policy spec strings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym

from ethogym.errors import ConfigError


@runtime_checkable
class Policy(Protocol):
    """What runs inside an ethogym environment: oracle, random, RL and LLM policies alike."""

    def reset(self, seed: int | None = None) -> None: ...

    def act(self, obs: Any, info: Mapping[str, Any]) -> Any: ...


PolicyFactory = Callable[..., Policy]
_FACTORIES: dict[str, tuple[PolicyFactory, bool]] = {}


def register_policy(name: str, factory: PolicyFactory, takes_argument: bool = False) -> None:
    """Register a policy under ``name``.

    ``factory(env)`` builds it; with ``takes_argument`` the spec is ``name:ARGUMENT`` and the factory
    is called as ``factory(env, ARGUMENT)`` (e.g. ``sb3:runs/ppo/model.zip``).
    """
    _FACTORIES[name] = (factory, takes_argument)


def policy_names() -> list[str]:
    """Registered policy names, with ``:ARG`` for those that take an argument."""
    return sorted(f"{name}:ARG" if takes else name for name, (_, takes) in _FACTORIES.items())


def parse_policy_spec(spec: str) -> tuple[str, str | None]:
    """Split a spec string into (name, argument) and check the name and argument are valid."""
    name, sep, argument = spec.partition(":")
    if name not in _FACTORIES:
        raise ConfigError(f"unknown policy '{spec}'; available: {', '.join(policy_names())}")
    takes = _FACTORIES[name][1]
    if takes and not argument:
        raise ConfigError(f"policy '{name}' needs an argument: write it as '{name}:ARG'")
    if not takes and sep:
        raise ConfigError(f"policy '{name}' takes no argument; write it as plain '{name}'")
    return name, (argument if takes else None)


def make_policy(spec: str, env: gym.Env) -> Policy:
    """Build a policy for ``env`` from its spec string: ``random``, ``oracle``, ``noop``, or ``name:ARG``."""
    name, argument = parse_policy_spec(spec)
    if not isinstance(env, gym.Env):
        core = getattr(env, "core", None)
        hint = " (for one side of a two-learner env pass its .core)" if isinstance(core, gym.Env) else ""
        raise ConfigError(f"policies act in a Gymnasium env; got {type(env).__name__}{hint}")
    factory, takes = _FACTORIES[name]
    return factory(env, argument) if takes else factory(env)
