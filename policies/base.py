"""The Policy protocol and the registry of policy spec strings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from ethogym.envs.base import EthogymEnv
from ethogym.envs.options import checked_int
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
    if not isinstance(spec, str):
        raise ConfigError(
            f"a policy spec is a string such as 'oracle', 'random' or 'sb3:PATH', got {spec!r:.80}; "
            f"available: {', '.join(policy_names())}"
        )
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
    require_env(env, "make_policy(spec, env)")
    factory, takes = _FACTORIES[name]
    return factory(env, argument) if takes else factory(env)


# --- argument checks shared by the policies ---------------------------------------------------------
def require_env(env: Any, who: str, simulated: bool = False) -> gym.Env:
    """``env`` once it is a Gymnasium env (with ``simulated``, one whose ``unwrapped`` is an ethogym
    env, for policies that read its simulated state); a ConfigError naming the fix otherwise.

    ``who`` names the policy in the message ("the oracle", "RandomPolicy").
    """
    if not isinstance(env, gym.Env):
        core = getattr(env, "core", None)
        hint = "; for one side of a two-learner env pass its .core" if isinstance(core, gym.Env) else ""
        raise ConfigError(
            f"{who}: env must be a Gymnasium env, got {type(env).__name__}{hint}; make one with "
            f"gym.make('<env id>'), e.g. gym.make('ethogym/Household-PickingUpTrash-v0')"
        )
    if simulated and not isinstance(env.unwrapped, EthogymEnv):
        raise ConfigError(
            f"{who} plans on an ethogym env's simulated state; got {type(env.unwrapped).__name__} "
            "(for a two-learner env or FixedPartner pass the parallel env's .core)"
        )
    return env


def acting_space(env: gym.Env, who: str) -> gym.spaces.Space:
    """``env``'s action space once it is Discrete (skills) or Box (continuous), the two ethogym has."""
    space = env.action_space
    if not isinstance(space, gym.spaces.Discrete | gym.spaces.Box):
        raise ConfigError(
            f"{who} acts in a Discrete (skills) or Box (continuous) action space; this env's is {space}. "
            "Use an ethogym env, e.g. gym.make('ethogym/Household-PickingUpTrash-v0')"
        )
    return space


def checked_seed(seed: Any, who: str) -> int | None:
    """``seed`` for a policy's ``reset(seed)`` that seeds an RNG: None or an integer >= 0 (a numpy
    integer passes, as an int), the seeds ``env.reset(seed=...)`` takes; a ConfigError otherwise.

    ``who`` names the call ("RandomPolicy.reset()").
    """
    return checked_int(f"{who}: seed", seed, low=0, or_none=True)


def check_info(info: Any, who: str) -> Mapping[str, Any]:
    """``info`` once it is a mapping (the dict ``env.reset()`` or ``env.step()`` returned)."""
    if not isinstance(info, Mapping):
        raise ConfigError(
            f"{who} takes the info dict the env returned: obs, info = env.reset() (or env.step(...)), "
            f"then act(obs, info); got info={info!r:.80}"
        )
    return info


def skill_result(info: Any, who: str) -> Mapping[str, Any]:
    """``info["skill_result"]``, or an empty dict when there is none (the first step)."""
    result = check_info(info, who).get("skill_result") or {}
    if not isinstance(result, Mapping):
        raise ConfigError(
            f"{who}: info['skill_result'] must be the dict the env's step() reports, got {result!r:.80}; "
            f"pass the env's info unchanged"
        )
    return result


def action_mask(info: Any, n: int, who: str) -> np.ndarray | None:
    """``info["action_mask"]`` as a new bool array, or None when ``info`` has none; a ConfigError
    when it does not fit a ``Discrete(n)`` action space (a mask from another env or agent)."""
    mask = check_info(info, who).get("action_mask")
    if mask is None:
        return None
    try:
        array = np.asarray(mask)
    except ValueError:  # ragged nesting
        array = np.asarray(mask, dtype=object)
    binary = array.dtype == bool or (
        np.issubdtype(array.dtype, np.number) and bool(np.isin(array, (0, 1)).all())
    )
    if array.shape != (n,) or not binary:
        got = f"shape {array.shape}" if array.shape != (n,) else f"{array.dtype} values other than 0 and 1"
        raise ConfigError(
            f"{who}: info['action_mask'] must hold one bool (or 0/1) per action of Discrete({n}), "
            f"i.e. shape ({n},); got {got}. Pass the info of the env the policy was made for, unchanged"
        )
    return array.astype(bool)
