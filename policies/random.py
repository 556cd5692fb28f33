"""Baselines without a plan: uniformly random and do-nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from ethogym.envs.base import EthogymEnv
from ethogym.envs.options import checked_flag
from ethogym.errors import ConfigError

from .base import acting_space, action_mask, checked_seed, require_env


class RandomPolicy:
    """Uniform over the skills whose preconditions hold (``info["action_mask"]``), or over the
    continuous action box. ``done`` is excluded unless ``allow_done`` so episodes run to the end."""

    def __init__(self, env: gym.Env, allow_done: bool = False) -> None:
        self.space = acting_space(require_env(env, "RandomPolicy"), "RandomPolicy")
        self.env = env.unwrapped
        self.allow_done = checked_flag("allow_done", allow_done)
        self.rng = np.random.default_rng()

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(checked_seed(seed, "RandomPolicy.reset()"))

    def act(self, obs: Any, info: Mapping[str, Any]) -> Any:
        if isinstance(self.space, gym.spaces.Discrete):
            mask = action_mask(info, self.space.n, "RandomPolicy.act()")
            if mask is None:
                mask = np.ones(self.space.n, dtype=bool)
            elif not mask.any():
                raise ConfigError(
                    f"RandomPolicy.act(): info['action_mask'] allows no action of Discrete({self.space.n}); "
                    "an env's mask always allows one (ethogym's always allows wait()), so this mask is "
                    "probably wrong: pass the info of the env the policy was made for, unchanged"
                )
            if not self.allow_done and hasattr(self.env, "table"):
                done = self.env.table.index[("done", None)]
                if mask.sum() > 1 or not mask[done]:  # done() alone allowed: the only valid action
                    mask[done] = False
            return int(self.rng.choice(np.flatnonzero(mask)))
        low, high = self.space.low, self.space.high
        return self.rng.uniform(low, high).astype(self.space.dtype)


class NoopPolicy:
    """Does nothing: ``wait`` in skills mode, zero velocities and no grasp in continuous mode."""

    def __init__(self, env: gym.Env) -> None:
        self.space = acting_space(require_env(env, "NoopPolicy"), "NoopPolicy")
        self.env = env.unwrapped
        if isinstance(self.space, gym.spaces.Discrete) and not isinstance(self.env, EthogymEnv):
            raise ConfigError(
                f"NoopPolicy does nothing with the ethogym skill wait(); {type(self.env).__name__}'s "
                f"{self.space} actions have no such skill. Use it on an ethogym env, e.g. "
                "gym.make('ethogym/Household-PickingUpTrash-v0'), or use the 'random' policy"
            )

    def reset(self, seed: int | None = None) -> None:
        checked_seed(seed, "NoopPolicy.reset()")  # unused, still checked

    def act(self, obs: Any, info: Mapping[str, Any]) -> Any:
        if isinstance(self.space, gym.spaces.Discrete):
            return self.env.table.index[("wait", None)]
        return np.zeros(self.space.shape, dtype=self.space.dtype)
