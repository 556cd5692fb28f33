"""Safe RL: Lagrangian-penalised PPO on ethogym's violation costs.

The learner maximises ``reward - lambda * info["cost"]``; after every rollout lambda takes a dual
ascent step toward the cost limit,

    lambda <- clip(lambda + lambda_lr * (mean episode cost - cost_limit), 0, lambda_max),

so the penalty grows while episodes cost more than the limit and fades once they cost less (Ray et
al. 2019, "Benchmarking Safe Exploration in Deep RL"; OmniSafe's PPOLag). The cost limit belongs to
the algorithm, not the env (Safety-Gymnasium convention). ``LagrangianPenalty`` reshapes the rewards
in the main process, so one lambda serves every env of a DummyVecEnv or SubprocVecEnv; the Monitor
files inside the envs keep the unpenalised reward.

Use it through ``ethogym train ID --algo ppo_lagrangian --cost-limit C`` or
``ethogym.policies.train.train(ID, "ppo_lagrangian", cost_limit=C)``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from ethogym.envs.options import checked_number
from ethogym.errors import ConfigError


class LagrangianPenalty(VecEnvWrapper):
    """Subtracts ``lam * info["cost"]`` from each env's reward and records each episode's total cost."""

    def __init__(self, venv: VecEnv, lambda_init: float = 0.0) -> None:
        if not isinstance(venv, VecEnv):
            raise ConfigError(
                f"LagrangianPenalty wraps a stable-baselines3 VecEnv, got {type(venv).__name__}; wrap "
                "the env first, e.g. DummyVecEnv([lambda: gym.make('<env id>')])"
            )
        checked_number("lambda_init", lambda_init, low=0.0)
        super().__init__(venv)
        self.lam = float(lambda_init)
        self.running = np.zeros(self.num_envs)
        self.finished: list[float] = []

    def reset(self):
        self.running[:] = 0.0
        return self.venv.reset()

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        costs = np.array([float(info.get("cost", 0.0)) for info in infos])
        self.running += costs
        for index in np.flatnonzero(dones):
            self.finished.append(float(self.running[index]))
            self.running[index] = 0.0
        return obs, rewards - self.lam * costs.astype(rewards.dtype), dones, infos

    def pop_finished(self) -> list[float]:
        """Total costs of the episodes finished since the last call."""
        finished, self.finished = self.finished, []
        return finished


class LagrangianCallback(BaseCallback):
    """After each rollout, moves the multiplier of ``penalty`` by dual ascent toward ``cost_limit``
    and appends (timesteps, lambda, mean episode cost, episodes) to ``log_path``."""

    def __init__(
        self,
        penalty: LagrangianPenalty,
        cost_limit: float,
        lambda_lr: float = 0.05,
        lambda_max: float = 10.0,
        log_path: str | Path | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(penalty, LagrangianPenalty):
            raise ConfigError(
                f"LagrangianCallback moves the multiplier of a LagrangianPenalty, got "
                f"{type(penalty).__name__}; pass the LagrangianPenalty that wraps the training VecEnv"
            )
        for name, value in (("cost_limit", cost_limit), ("lambda_lr", lambda_lr), ("lambda_max", lambda_max)):
            checked_number(name, value, low=0.0)
        self.penalty = penalty
        self.cost_limit = float(cost_limit)
        self.lambda_lr, self.lambda_max = float(lambda_lr), float(lambda_max)
        self.log_path = Path(log_path) if log_path is not None else None
        self.updates = 0
        self.last_mean_cost: float | None = None

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        costs = self.penalty.pop_finished()
        if not costs:  # no episode ended in this rollout: keep lambda until one does
            return
        mean_cost = float(np.mean(costs))
        step = self.lambda_lr * (mean_cost - self.cost_limit)
        self.penalty.lam = float(np.clip(self.penalty.lam + step, 0.0, self.lambda_max))
        self.updates += 1
        self.last_mean_cost = mean_cost
        if getattr(self, "model", None) is not None:  # attached to a model by learn()
            self.logger.record("lagrangian/lambda", self.penalty.lam)
            self.logger.record("lagrangian/episode_cost", mean_cost)
        if self.log_path is not None:
            new = not self.log_path.exists()
            with self.log_path.open("a", newline="") as handle:
                writer = csv.writer(handle)
                if new:
                    writer.writerow(["timesteps", "lambda", "mean_episode_cost", "episodes"])
                writer.writerow([self.num_timesteps, self.penalty.lam, mean_cost, len(costs)])

    def state(self) -> dict[str, Any]:
        """The multiplier and the dual ascent's history in numbers, for run.json."""
        return {
            "lambda": self.penalty.lam,
            "updates": self.updates,
            "last_mean_episode_cost": self.last_mean_cost,
        }
