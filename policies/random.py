"""Baselines without a plan: uniformly random and do-nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from .base import action_mask, require_env


class RandomPolicy:
    """Uniform over the skills whose preconditions hold (``info["action_mask"]``), or over the
    continuous action box. ``done`` is excluded unless ``allow_done`` so episodes run to the end."""

    def __init__(self, env: gym.Env, allow_done: bool = False) -> None:
        self.space = require_env(env, "RandomPolicy").action_space
        self.env = env.unwrapped
        self.allow_done = allow_done
        self.rng = np.random.default_rng()

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, obs: Any, info: Mapping[str, Any]) -> Any:
        if isinstance(self.space, gym.spaces.Discrete):
            mask = action_mask(info, self.space.n, "RandomPolicy.act()")
            if mask is None:
                mask = np.ones(self.space.n, dtype=bool)
            if not self.allow_done and hasattr(self.env, "table"):
                mask[self.env.table.index[("done", None)]] = False
            choices = np.flatnonzero(mask)
            return int(self.rng.choice(choices)) if len(choices) else int(self.rng.integers(self.space.n))
        low, high = self.space.low, self.space.high
        return self.rng.uniform(low, high).astype(self.space.dtype)


class NoopPolicy:
    """Does nothing: ``wait`` in skills mode, zero velocities and no grasp in continuous mode."""

    def __init__(self, env: gym.Env) -> None:
        self.space = require_env(env, "NoopPolicy").action_space
        self.env = env.unwrapped

    def reset(self, seed: int | None = None) -> None:
        pass

    def act(self, obs: Any, info: Mapping[str, Any]) -> Any:
        if isinstance(self.space, gym.spaces.Discrete):
            return self.env.table.index[("wait", None)]
        return np.zeros(self.space.shape, dtype=self.space.dtype)
