"""Wrappers between ethogym's multi-agent and single-agent APIs."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

from ethogym.envs.options import checked_int
from ethogym.errors import ConfigError, EnvStateError


class FixedPartner(gym.Env):
    """A PettingZoo ``ParallelEnv`` as a single-agent Gymnasium env: ``learner`` acts through
    ``step``, every other agent is played by a fixed policy (``reset(seed)``, ``act(obs, info)``, e.g.
    an ethogym ``Policy``), which sees its own observation and info of the last step.

    Train the thief against the oracle robot with SB3, for instance::

        par = ethogym.make_parallel("ethogym/Adversarial-Thief-v0", skill_execution="teleport")
        env = FixedPartner(par, "adversary", {"robot": make_policy("oracle", par.core)})

    ``action_masks()`` (sb3-contrib's MaskablePPO) returns the learner's valid actions where the
    parallel env has ``action_masks(agent)``.
    """

    def __init__(self, par_env: ParallelEnv, learner: str, partners: Mapping[str, Any]) -> None:
        if not isinstance(par_env, ParallelEnv):
            raise ConfigError(
                f"FixedPartner wraps a PettingZoo ParallelEnv, got {type(par_env).__name__}; make one "
                "with ethogym.make_parallel('<env id>'), e.g. "
                "ethogym.make_parallel('ethogym/Adversarial-Thief-v0')"
            )
        agents = list(par_env.possible_agents)
        if learner not in agents:
            raise ConfigError(f"learner {learner!r} is not an agent of this env; its agents are {agents}")
        others = sorted(a for a in agents if a != learner)
        if not isinstance(partners, Mapping):
            raise ConfigError(
                f"partners must be a dict mapping each other agent, {others}, to its policy (an object "
                f"with reset(seed) and act(obs, info), e.g. from make_policy); got {partners!r:.80}"
            )
        if set(partners) != set(others):
            raise ConfigError(
                f"partners must give one policy for each other agent, {others}; "
                f"got {sorted(partners, key=repr)}"
            )
        for name, policy in partners.items():
            if not callable(getattr(policy, "act", None)) or not callable(getattr(policy, "reset", None)):
                raise ConfigError(f"partner {name!r} needs reset(seed) and act(obs, info); got {policy!r}")
        self.par_env = par_env
        self.learner = learner
        self.partners = dict(partners)
        self.observation_space = par_env.observation_space(learner)
        self.action_space = par_env.action_space(learner)
        self.render_mode = getattr(par_env, "render_mode", None)
        self.metadata = copy.deepcopy(dict(getattr(par_env, "metadata", {})))  # never the env's own lists
        self._last: tuple[dict[str, Any], dict[str, Any]] | None = None
        self._closed = False

    def _require_open(self, call: str) -> None:
        if self._closed:
            raise EnvStateError(
                f"{call} on a closed FixedPartner: close() closed its parallel env; make a new one with "
                "FixedPartner(ethogym.make_parallel(...), learner, partners)"
            )

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._require_open("reset()")
        if seed is not None:
            seed = checked_int("seed", seed, low=0)  # numpy integers pass, as gym.make's envs take them
        super().reset(seed=seed)
        obs, infos = self.par_env.reset(seed=seed, options=options)
        for policy in self.partners.values():
            # An unseeded reset seeds the partners from this wrapper's generator, which the first
            # seeded reset fixed: later episodes repeat too (RandomPolicy.reset(None) takes fresh
            # entropy).
            policy.reset(seed if seed is not None else int(self.np_random.integers(2**31)))
        self._last = (obs, infos)
        return obs[self.learner], infos[self.learner]

    def step(self, action: Any):
        self._require_open("step()")
        if self._last is None:
            raise EnvStateError("call reset() before step()")
        obs, infos = self._last
        actions = {name: policy.act(obs[name], infos[name]) for name, policy in self.partners.items()}
        actions[self.learner] = action
        obs, rewards, terminations, truncations, infos = self.par_env.step(actions)
        me = self.learner
        self._last = None if terminations[me] or truncations[me] else (obs, infos)
        return obs[me], rewards[me], terminations[me], truncations[me], infos[me]

    def action_masks(self) -> np.ndarray:
        masks = getattr(self.par_env, "action_masks", None)
        if masks is None:
            raise ConfigError(f"{type(self.par_env).__name__} has no action masks")
        return masks(self.learner)

    def render(self) -> Any:
        return self.par_env.render()

    def close(self) -> None:
        self.par_env.close()
        self._last = None
        self._closed = True
