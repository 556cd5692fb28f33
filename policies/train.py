"""Train stable-baselines3 agents on ethogym environments: ``ethogym train`` and ``train()``.

Hyper-parameters come from RL-Zoo-style files ``policies/hyperparams/<algo>.yml`` keyed by env id
(with a ``default`` entry). A run folder holds ``model.zip`` (final), ``best_model.zip`` (best
validation success), ``checkpoints/``, ``monitor/*.monitor.csv`` (per-episode return, length,
success, last-step cost and the episode's summed cost), ``evaluations.csv`` and ``run.json`` (the
exact command, versions, hyper-parameters, wall time, final evaluation). Ctrl-C during training saves
the model so far and run.json, both marked ``interrupted``.

stable-baselines3 and torch are imported inside the functions that need them, so this module is
cheap to import for the CLI.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import functools
import importlib.metadata
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import typer
import yaml

from ethogym.errors import ConfigError, EthogymError, first_line

from .sb3 import ALGOS, AlgoSpec, HideDoneSkill, SB3Policy, check_algo_fits, done_skill_index, save_model

HYPERPARAMS_DIR = Path(__file__).parent / "hyperparams"
ALGO_CHOICES = (*ALGOS, "ppo_lagrangian")
MONITOR_KEYWORDS = ("is_success", "cost", "episode_cost")
"""Monitor CSV columns beyond r, l, t: success, the last step's cost and the episode's summed cost."""

# ethogym's own hyper-parameter keys; everything else goes to the algorithm's constructor.
RUN_KEYS = (
    "n_timesteps",
    "n_envs",
    "env_kwargs",
    "hide_done",
    "eval_freq",
    "n_eval_episodes",
    "checkpoint_freq",
)
LAGRANGIAN_KEYS = ("cost_limit", "lambda_init", "lambda_lr", "lambda_max")
VALIDATION_SEED_START = 10_000
"""Periodic evaluation uses seeds 10000, 10001, ...: never drawn in training, apart from test seeds."""
SUBPROC_MIN_STEP_S = 0.002
"""Below ~2 ms per step, SubprocVecEnv's pipes cost more than a second process gains (REFERENCE.md)."""
PPO_ALGOS = ("ppo", "maskable_ppo", "ppo_lagrangian")
NumberRule = tuple[type, float, float | None, bool, bool]
"""A numeric hyper-parameter's (type, lowest, highest, lowest allowed, None allowed)."""
# PPO's and MaskablePPO's numeric hyper-parameters. torch would refuse bad values only as a
# traceback, some in the first update.
PPO_NUMBERS: dict[str, NumberRule] = {
    "learning_rate": (float, 0, None, False, False),
    "n_steps": (int, 2, None, True, False),  # one step per rollout: a NaN advantage std with one env
    "batch_size": (int, 2, None, True, False),  # SB3 asserts batch_size > 1
    "n_epochs": (int, 1, None, True, False),
    "gamma": (float, 0, 1, True, False),
    "gae_lambda": (float, 0, 1, True, False),
    "clip_range": (float, 0, None, False, False),
    "clip_range_vf": (float, 0, None, False, True),
    "ent_coef": (float, 0, None, True, False),
    "vf_coef": (float, 0, None, True, False),
    "max_grad_norm": (float, 0, None, False, False),
    "target_kl": (float, 0, None, False, True),
    "sde_sample_freq": (int, -1, None, True, False),
    "stats_window_size": (int, 1, None, True, False),
}
# DQN's and SAC's: SB3 takes most of these unchecked, so a bad value trained silently (batch_size=0,
# gamma=2) or failed deep in learn() (train_freq=0, exploration_fraction=abc).
OFF_POLICY_NUMBERS: dict[str, NumberRule] = {
    "learning_rate": (float, 0, None, False, False),
    "buffer_size": (int, 1, None, True, False),
    "learning_starts": (int, 0, None, True, False),
    "batch_size": (int, 1, None, True, False),
    "tau": (float, 0, 1, True, False),
    "gamma": (float, 0, 1, True, False),
    "train_freq": (int, 1, None, True, False),  # or [n, "step" | "episode"]: _checked_train_freq
    "gradient_steps": (int, 1, None, True, False),  # or -1: as many as environment steps
    "n_steps": (int, 1, None, True, False),  # n-step returns
    "target_update_interval": (int, 1, None, True, False),  # SAC divides by it
    "stats_window_size": (int, 1, None, True, False),
}
DQN_NUMBERS: dict[str, NumberRule] = {
    **OFF_POLICY_NUMBERS,
    "exploration_fraction": (float, 0, 1, False, False),  # the epsilon schedule divides by it
    "exploration_initial_eps": (float, 0, 1, True, False),
    "exploration_final_eps": (float, 0, 1, True, False),
    "max_grad_norm": (float, 0, None, False, False),
}
SAC_NUMBERS: dict[str, NumberRule] = {
    **OFF_POLICY_NUMBERS,
    "sde_sample_freq": (int, -1, None, True, False),
    "ent_coef": (float, 0, None, True, False),  # or "auto" / "auto_<start>": _checked_auto_ent_coef
}
NUMBERS: dict[str, dict[str, NumberRule]] = {
    **dict.fromkeys(PPO_ALGOS, PPO_NUMBERS),
    "dqn": DQN_NUMBERS,
    "sac": SAC_NUMBERS,
}
ALSO_ALLOWED: dict[str, tuple[int, ...]] = {"gradient_steps": (-1,)}
"""Values outside a rule's range that SB3 gives a meaning."""
SCHEDULES = ("learning_rate", "clip_range", "clip_range_vf")
"""Hyper-parameters SB3 also takes as a schedule (a callable of the remaining progress)."""
MODEL_ERRORS = (TypeError, ValueError, AssertionError, AttributeError, KeyError)
"""What SB3 raises for a hyper-parameter it refuses: it checks its arguments with asserts, and a policy
class that does not fit the observation space fails with an AttributeError."""
# The files `ethogym train` writes in a run folder: --overwrite and a failed run remove only these,
# never anything else the user keeps there.
RUN_FILES = ("model.zip", "best_model.zip", "run.json", "evaluations.csv", "lagrangian.csv")
CHECKPOINT_NAME = re.compile(r"[a-z_]+_\d+_steps\.zip")
MONITOR_NAME = re.compile(r"train_\d+\.monitor\.csv")
VERSION_PACKAGES = ("ethogym", "stable-baselines3", "sb3-contrib", "torch", "gymnasium", "numpy", "pybullet")


# --- hyper-parameters -----------------------------------------------------------------------------
def load_hyperparams(algo: str, env_id: str, directory: Path = HYPERPARAMS_DIR) -> dict[str, Any]:
    """The ``default`` entry of ``<algo>.yml`` overridden key by key by the entry for ``env_id``."""
    path = directory / f"{algo}.yml"
    if not path.exists():
        raise ConfigError(f"no hyper-parameter file {path}; --algo must be one of {', '.join(ALGO_CHOICES)}")
    entries = yaml.safe_load(path.read_text()) or {}
    if not isinstance(entries, dict) or "default" not in entries:
        raise ConfigError(f"{path} must map env ids to hyper-parameters and have a 'default' entry")
    params = dict(entries["default"] or {})
    bare_id = env_id.split(":", 1)[-1]
    params.update(entries.get(bare_id) or {})
    default_kwargs = entries["default"].get("env_kwargs") or {}
    params["env_kwargs"] = {**default_kwargs, **(params.get("env_kwargs") or {})}
    return params


def _check_env_id(env_id: str) -> str:
    """The bare registered id (``ethogym/...``), or a ConfigError with the nearest ids."""
    import ethogym  # noqa: F401  (registers the ids)

    bare_id = env_id.split(":", 1)[-1]
    if bare_id not in gym.registry:
        ids = sorted(i for i in gym.registry if i.startswith("ethogym/"))
        matches = difflib.get_close_matches(bare_id, ids, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(matches)}?" if matches else "run 'ethogym list' for the ids"
        raise ConfigError(f"unknown environment {env_id!r}; {hint}")
    return bare_id


# --- environments ---------------------------------------------------------------------------------
class EpisodeCost(gym.Wrapper):
    """Adds ``info["episode_cost"]``, the running sum of ``info["cost"]``, so Monitor logs the total."""

    def reset(self, **kwargs: Any):
        self.total = 0.0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.total += float(info.get("cost", 0.0))
        info["episode_cost"] = self.total
        return obs, reward, terminated, truncated, info


def make_training_env(
    env_id: str, env_kwargs: Mapping[str, Any], hide_done: bool, monitor_file: str | None
) -> gym.Env:
    """One training env: EpisodeCost, optionally HideDoneSkill, then a Monitor writing ``monitor_file``.

    ``gym.make("ethogym:<id>")`` imports ethogym first, so this also works in SubprocVecEnv workers.
    """
    from stable_baselines3.common.monitor import Monitor

    env = EpisodeCost(gym.make(f"ethogym:{env_id}", **env_kwargs))
    if hide_done:
        env = HideDoneSkill(env)
    return Monitor(env, monitor_file, info_keywords=MONITOR_KEYWORDS)


def _mean_step_seconds(env: gym.Env, seed: int, steps: int = 30) -> float:
    """Mean wall time of a random step (masked skills in skills mode), to choose the vector env."""
    from .random import RandomPolicy

    policy = RandomPolicy(env)
    policy.reset(seed)
    obs, info = env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(steps):
        obs, _, terminated, truncated, info = env.step(policy.act(obs, info))
        if terminated or truncated:
            obs, info = env.reset()
    return (time.perf_counter() - start) / steps


def choose_vec_env(vec_env: str, n_envs: int, step_seconds: float) -> str:
    """``dummy`` or ``subproc``: ``auto`` uses processes only for several envs with slow steps."""
    if vec_env not in ("auto", "dummy", "subproc"):
        raise ConfigError(f"--vec-env must be auto, dummy or subproc, got {vec_env!r}")
    if vec_env != "auto":
        return vec_env
    several_cores = (os.cpu_count() or 1) > 1
    return "subproc" if n_envs > 1 and several_cores and step_seconds >= SUBPROC_MIN_STEP_S else "dummy"


# --- callbacks ------------------------------------------------------------------------------------
def _callbacks() -> Any:
    """The callback classes; defined on first use so stable-baselines3 loads only when training."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from stable_baselines3.common.callbacks import BaseCallback

    class RichProgress(BaseCallback):
        """A rich progress bar over timesteps with the latest validation success rate."""

        def __init__(self, total: int, label: str) -> None:
            super().__init__()
            self.total, self.label = total, label
            self.status = ""

        def _on_training_start(self) -> None:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[status]}"),
                transient=False,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=self.total, status="")

        def _on_step(self) -> bool:
            self.progress.update(self.task, completed=self.num_timesteps, status=self.status)
            return True

        def _on_training_end(self) -> None:
            self.progress.update(self.task, completed=self.num_timesteps, status=self.status)
            self.progress.stop()

        def close(self) -> None:
            """Stop the live display when learn() ended early (an error or Ctrl-C skips the end)."""
            if hasattr(self, "progress"):
                self.progress.stop()

    class SuccessEval(BaseCallback):
        """Every ``eval_freq`` timesteps, roll out the current model deterministically on fixed
        held-out seeds, log success rate (Wilson 95% interval), return, cost and steps to
        ``evaluations.csv`` and save ``best_model.zip`` when the success rate (then return) improves."""

        def __init__(
            self,
            env: gym.Env,
            seeds: Sequence[int],
            eval_freq: int,
            out: Path,
            metadata: Mapping[str, Any],
            progress: RichProgress | None,
        ) -> None:
            super().__init__()
            self.env, self.seeds, self.eval_freq = env, list(seeds), eval_freq
            self.out, self.metadata, self.progress = out, metadata, progress
            self.best: tuple[float, float] | None = None
            self.last: dict[str, Any] | None = None
            self.next_eval = eval_freq

        def evaluate(self) -> dict[str, Any]:
            row = evaluate_policy_on_seeds(self.env, SB3Policy(self.model, self.metadata), self.seeds)
            row = {"timesteps": int(self.num_timesteps), **row}
            path = self.out / "evaluations.csv"
            new = not path.exists()
            with path.open("a", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(row))
                if new:
                    writer.writeheader()
                writer.writerow(row)
            for key in ("success_rate", "mean_return", "mean_cost", "mean_steps"):
                self.logger.record(f"eval/{key}", row[key])
            score = (row["success_rate"], row["mean_return"])
            if self.best is None or score > self.best:
                self.best = score
                metadata = {**self.metadata, "timesteps": row["timesteps"]}
                save_model(self.model, self.out / "best_model.zip", metadata)
            if self.progress is not None:
                low, high = row["success_low"], row["success_high"]
                self.progress.status = f"val success {row['success_rate']:.2f} [{low:.2f}, {high:.2f}]"
            self.last = row
            return row

        def _on_step(self) -> bool:
            if self.eval_freq > 0 and self.num_timesteps >= self.next_eval:
                self.next_eval += self.eval_freq
                self.evaluate()
            return True

    class Checkpoints(BaseCallback):
        """Saves ``checkpoints/<algo>_<timesteps>_steps.zip`` with ethogym's metadata every ``freq``."""

        def __init__(self, freq: int, directory: Path, prefix: str, metadata: Mapping[str, Any]) -> None:
            super().__init__()
            self.freq, self.directory, self.prefix, self.metadata = freq, directory, prefix, metadata
            self.next_save = freq

        def _on_step(self) -> bool:
            if self.freq > 0 and self.num_timesteps >= self.next_save:
                self.next_save += self.freq
                name = f"{self.prefix}_{self.num_timesteps}_steps.zip"
                metadata = {**self.metadata, "timesteps": self.num_timesteps}
                save_model(self.model, self.directory / name, metadata)
            return True

    return RichProgress, SuccessEval, Checkpoints


def evaluate_policy_on_seeds(env: gym.Env, policy: Any, seeds: Sequence[int]) -> dict[str, Any]:
    """Roll ``policy`` once per seed with ``run_episode``; success rate with a Wilson 95% interval."""
    from ethogym.benchmarks.episode import run_episode
    from ethogym.benchmarks.stats import wilson_interval

    if not seeds:
        raise ConfigError("evaluation needs at least one seed")
    results = [run_episode(env, policy, seed) for seed in seeds]
    successes = sum(int(r["is_success"]) for r in results)
    low, high = wilson_interval(successes, len(results))
    return {
        "episodes": len(results),
        "successes": successes,
        "success_rate": successes / len(results),
        "success_low": round(low, 4),
        "success_high": round(high, 4),
        "mean_return": float(np.mean([r["return"] for r in results])),
        "mean_cost": float(np.mean([r["cost"] for r in results])),
        "mean_steps": float(np.mean([r["steps"] for r in results])),
        "failed_seeds": [int(r["seed"]) for r in results if not r["is_success"]],
    }


def evaluate_against_baselines(
    model_path: str | Path,
    seeds: Sequence[int],
    baselines: Sequence[str] = ("random", "oracle"),
) -> dict[str, dict[str, Any]]:
    """Evaluate a trained model and baseline policies on the same seeds of the model's env and options.

    Returns ``{policy spec: evaluate_policy_on_seeds(...)}`` with ``sb3:<model_path>`` first; this is
    how the shipped checkpoints' figures in ``checkpoints.yml`` are measured.
    """
    from .base import make_policy

    agent = SB3Policy.load(model_path)
    if agent.env_id is None:
        raise ConfigError(f"{model_path} has no ethogym metadata; train it with 'ethogym train'")
    env = gym.make(agent.env_id, **agent.env_kwargs)
    try:
        agent.check_env(env, source=str(model_path))
        results = {f"sb3:{model_path}": evaluate_policy_on_seeds(env, agent, seeds)}
        for spec in baselines:
            results[spec] = evaluate_policy_on_seeds(env, make_policy(spec, env), seeds)
    finally:
        env.close()
    return results


# --- provenance -----------------------------------------------------------------------------------
def package_versions() -> dict[str, str]:
    """Installed versions of the packages a trained model depends on, plus Python's."""
    versions = {"python": platform.python_version()}
    for name in VERSION_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


# --- training -------------------------------------------------------------------------------------
def train(
    env_id: str,
    algo: str = "maskable_ppo",
    timesteps: int | None = None,
    seed: int = 0,
    out: str | Path = "runs/train",
    *,
    n_envs: int | None = None,
    eval_freq: int | None = None,
    eval_episodes: int | None = None,
    env_options: Mapping[str, Any] | None = None,
    hyperparams: Mapping[str, Any] | None = None,
    cost_limit: float | None = None,
    vec_env: str = "auto",
    checkpoint_freq: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
    command: str | None = None,
) -> dict[str, Any]:
    """Train ``algo`` on ``env_id`` and write the run folder ``out``; returns the run record (run.json).

    ``env_options`` (gym.make kwargs) and ``hyperparams`` override the hyper-parameter file's entry;
    ``timesteps``, ``n_envs``, ``eval_freq``, ``eval_episodes`` and ``checkpoint_freq`` override its
    ethogym keys when given. ``algo="ppo_lagrangian"`` trains MaskablePPO (skills) or PPO (continuous)
    on ``reward - lambda * cost`` with lambda adapted toward ``cost_limit`` (policies/lagrangian.py).
    """
    from ethogym.benchmarks.runner import git_revision  # the runner's provenance, one home for both

    if algo not in ALGO_CHOICES:
        raise ConfigError(f"unknown --algo {algo!r}; choose one of {', '.join(ALGO_CHOICES)}")
    env_id = _check_env_id(env_id)
    params = load_hyperparams(algo, env_id)
    params.update(hyperparams or {})
    params.update(_checked_numbers(params, algo, hyperparams or {}))
    run = {key: params.pop(key, None) for key in RUN_KEYS}
    lagrangian = {key: params.pop(key, None) for key in LAGRANGIAN_KEYS}
    overrides = {
        "n_timesteps": timesteps,
        "n_envs": n_envs,
        "eval_freq": eval_freq,
        "n_eval_episodes": eval_episodes,
        "checkpoint_freq": checkpoint_freq,
    }
    run.update({key: value for key, value in overrides.items() if value is not None})
    if cost_limit is not None:
        if algo != "ppo_lagrangian":
            raise ConfigError(f"--cost-limit applies to --algo ppo_lagrangian, not {algo}")
        lagrangian["cost_limit"] = cost_limit
    total = _positive_int(run["n_timesteps"], "--timesteps")
    n_envs = _positive_int(1 if run["n_envs"] is None else run["n_envs"], "--n-envs")
    eval_every = _non_negative_int(run["eval_freq"] or 0, "--eval-freq")
    n_eval = _positive_int(
        10 if run["n_eval_episodes"] is None else run["n_eval_episodes"], "--eval-episodes"
    )
    save_every = _non_negative_int(run["checkpoint_freq"] or 0, "checkpoint_freq")
    env_kwargs = {**(run["env_kwargs"] or {}), **(env_options or {})}

    out = Path(out)
    if (out / "model.zip").exists() and not overwrite:
        raise ConfigError(f"{out} already holds a trained model; pass --overwrite or choose another --out")

    # One env to check spaces and time a step; it is then the evaluation env.
    try:
        eval_env = gym.make(env_id, **env_kwargs)
    except (TypeError, KeyError) as exc:
        raise ConfigError(f"cannot create {env_id} with options {env_kwargs}: {exc}") from exc
    is_skills = isinstance(eval_env.action_space, gym.spaces.Discrete)
    spec = _algo_spec(algo, is_skills)
    try:
        check_algo_fits(algo, spec, eval_env.action_space, env_id)
        _check_policy_class(params.get("policy", "MlpPolicy"), eval_env, env_id, algo, hyperparams or {})
        # Built once on the evaluation env before the run folder is touched, so a hyper-parameter the
        # algorithm refuses costs neither a half-made folder nor, with --overwrite, the previous run.
        _build_model(spec, algo, params, eval_env, seed)
        hide_done = bool(run["hide_done"]) and spec.masked
        step_seconds = _mean_step_seconds(eval_env, seed)
        vec_kind = choose_vec_env(vec_env, n_envs, step_seconds)
        metadata = {
            "env_id": env_id,
            "env_kwargs": env_kwargs,
            "algo": algo,
            "model_class": f"{spec.module}:{spec.cls}",
            "masked": spec.masked,
            "hide_done": hide_done,
            "done_index": done_skill_index(eval_env) if is_skills else None,
            "seed": seed,
        }
        made = _first_missing(out)
        replaced = overwrite and (out / "model.zip").exists()
        if overwrite:
            _remove_run_files(out)
        before = _run_files(out)  # an earlier run's files (one killed before its model) are not ours
        (out / "monitor").mkdir(parents=True, exist_ok=True)
        try:
            record = _learn(
                env_id,
                algo,
                spec,
                params,
                lagrangian,
                metadata,
                eval_env,
                out=out,
                total=total,
                seed=seed,
                n_envs=n_envs,
                vec_kind=vec_kind,
                eval_every=eval_every,
                eval_seeds=list(range(VALIDATION_SEED_START, VALIDATION_SEED_START + n_eval)),
                save_every=save_every,
                progress=progress,
            )
        except BaseException as exc:  # KeyboardInterrupt too: before learn() nothing is worth keeping
            if (out / "model.zip").exists():  # this run's model is saved: only its evaluation failed
                raise
            note = _discard_run(out, made, before, replaced)
            if isinstance(exc, ConfigError):
                raise ConfigError(f"{exc}; {note}") from exc
            raise
    finally:
        eval_env.close()
    record.update(
        {
            "command": command or _python_command(env_id, algo, total, seed, out, env_options, hyperparams),
            "env_id": env_id,
            "algo": algo,
            "model_class": metadata["model_class"],
            "timesteps": total,
            "seed": seed,
            "n_envs": n_envs,
            "vec_env": vec_kind,
            "mean_step_s": step_seconds,
            "env_kwargs": env_kwargs,
            "hide_done": hide_done,
            "hyperparams": params,
            "versions": package_versions(),
            "git_revision": git_revision(),
            "host": platform.node(),
            "cpu_count": os.cpu_count(),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    if algo == "ppo_lagrangian":
        record["lagrangian"] = {**lagrangian, **record.pop("lagrangian_state", {})}
    with _sigint_ignored(record["interrupted"]):
        (out / "run.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    if record["interrupted"]:
        raise TrainingInterrupted(out, record)
    return record


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped ``train()`` during learning, after it saved the model so far and its run record.

    A KeyboardInterrupt, so a script that trains in a loop still stops; ``record`` is the run.json
    written (``interrupted: true``, ``timesteps_done``) and ``model`` the saved model's path.
    """

    def __init__(self, out: Path, record: dict[str, Any]) -> None:
        super().__init__(f"training interrupted at {record['timesteps_done']} timesteps")
        self.model, self.record = out / "model.zip", record


def _algo_spec(algo: str, is_skills: bool) -> AlgoSpec:
    if algo == "ppo_lagrangian":
        return ALGOS["maskable_ppo" if is_skills else "ppo"]
    return ALGOS[algo]


def _hyperparam_source(algo: str) -> str:
    return f"--hyperparam/-p or {HYPERPARAMS_DIR / (algo + '.yml')}"


def _suspects(exc: BaseException, params: Mapping[str, Any]) -> str:
    """``; check name=value, ...`` for the hyper-parameters an error's text names, by key or by a text
    value (``Policy NoSuchPolicy unknown``); empty when it names none."""
    text = str(exc)
    named = [
        f"{key}={value!r}"
        for key, value in params.items()
        if re.search(rf"\b{re.escape(key)}\b", text)
        or (isinstance(value, str) and len(value) > 2 and re.search(rf"\b{re.escape(value)}\b", text))
    ]
    return f"; check {', '.join(named)}" if named else ""


def _check_policy_class(
    policy: Any, env: gym.Env, env_id: str, algo: str, overrides: Mapping[str, Any]
) -> None:
    """MultiInputPolicy reads Dict observations; on ethogym's Box it failed with an AttributeError."""
    if policy != "MultiInputPolicy" or isinstance(env.observation_space, gym.spaces.Dict):
        return
    where = "--hyperparam policy=MultiInputPolicy" if "policy" in overrides else f"policy in {algo}.yml"
    raise ConfigError(
        f"{where}: MultiInputPolicy needs Dict observations but {env_id} observes "
        f"{env.observation_space}; use policy=MlpPolicy (or CnnPolicy with -o obs_mode=rgb)"
    )


def _build_model(spec: AlgoSpec, algo: str, params: Mapping[str, Any], env: Any, seed: int) -> Any:
    """``spec``'s model on ``env`` (a gym env or vector env); a ConfigError for what it refuses."""
    kwargs = {key: value for key, value in params.items() if key != "policy"}
    policy = params.get("policy", "MlpPolicy")
    try:
        return spec.load_class()(policy, env, seed=seed, device="cpu", verbose=0, **kwargs)
    except MODEL_ERRORS as exc:
        raise ConfigError(
            f"{spec.cls} rejected a hyper-parameter ({_hyperparam_source(algo)}): "
            f"{first_line(exc)}{_suspects(exc, params)}"
        ) from exc


def _first_missing(path: Path) -> Path | None:
    """The outermost folder on ``path`` that does not exist yet: what ``mkdir(parents=True)`` makes."""
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing = folder
    return missing


def _run_files(out: Path) -> dict[Path, int]:
    """The files ``ethogym train`` writes that are in ``out`` (:data:`RUN_FILES`, checkpoints, monitor
    files), with their modification times in ns."""
    found = [out / name for name in RUN_FILES]
    for folder, pattern in (("checkpoints", CHECKPOINT_NAME), ("monitor", MONITOR_NAME)):
        if (out / folder).is_dir():
            found += [path for path in (out / folder).iterdir() if pattern.fullmatch(path.name)]
    return {path: path.stat().st_mtime_ns for path in found if path.is_file()}


def _remove_run_files(out: Path, keep: Mapping[Path, int] | None = None) -> None:
    """Delete the files ``ethogym train`` writes in ``out``, except those in ``keep`` unchanged since,
    so a new run does not sit beside an old one's; anything else there is kept."""
    for path, mtime in _run_files(out).items():
        if keep is None or keep.get(path) != mtime:
            path.unlink()
    for folder in ("checkpoints", "monitor"):
        with contextlib.suppress(OSError):  # kept when something else is left in it
            (out / folder).rmdir()


def _discard_run(out: Path, made: Path | None, before: Mapping[Path, int], replaced: bool) -> str:
    """Remove what a run that failed before saving its model wrote; says what was removed."""
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)
        return f"the run folder {made} it had made was removed"
    _remove_run_files(out, keep=before)
    before_note = " (--overwrite had already removed the previous run's)" if replaced else ""
    return f"the files it wrote in {out} were removed{before_note}; nothing else there was touched"


@contextlib.contextmanager
def _sigint_ignored(active: bool = True) -> Iterator[None]:
    """Ignore Ctrl-C while an interrupted run is saved: a second press would cut the files short."""
    if not active or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _close_after_interrupt(venv: Any) -> None:
    """Close a vector env that Ctrl-C also reached: SubprocVecEnv workers in the terminal's process
    group die of it, so their pipes are gone and ``close()`` fails; end what is left of them."""
    try:
        venv.close()
    except (EOFError, OSError):
        for process in getattr(getattr(venv, "unwrapped", venv), "processes", ()):
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()


def _learn(
    env_id: str,
    algo: str,
    spec: AlgoSpec,
    params: dict[str, Any],
    lagrangian: dict[str, Any],
    metadata: dict[str, Any],
    eval_env: gym.Env,
    *,
    out: Path,
    total: int,
    seed: int,
    n_envs: int,
    vec_kind: str,
    eval_every: int,
    eval_seeds: list[int],
    save_every: int,
    progress: bool,
) -> dict[str, Any]:
    """Build the vector env, model and callbacks, train, save, and evaluate the final model.

    Ctrl-C during learning saves the model so far (``interrupted`` in its metadata and the record)
    and skips the final evaluation.
    """
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    rich_progress_cls, success_eval_cls, checkpoints_cls = _callbacks()
    factories = [
        functools.partial(
            make_training_env,
            env_id,
            metadata["env_kwargs"],
            metadata["hide_done"],
            str(out / "monitor" / f"train_{rank}"),
        )
        for rank in range(n_envs)
    ]
    venv = SubprocVecEnv(factories) if vec_kind == "subproc" else DummyVecEnv(factories)
    callbacks: list[Any] = []
    lagrangian_callback = None
    bar = None
    interrupted = False
    try:
        venv.seed(seed)
        if algo == "ppo_lagrangian":
            from .lagrangian import LagrangianCallback, LagrangianPenalty

            settings = {key: _number(value, key) for key, value in lagrangian.items() if value is not None}
            venv = LagrangianPenalty(venv, lambda_init=settings.get("lambda_init", 0.0))
            lagrangian_callback = LagrangianCallback(
                venv,
                cost_limit=settings.get("cost_limit", 0.0),
                lambda_lr=settings.get("lambda_lr", 0.05),
                lambda_max=settings.get("lambda_max", 10.0),
                log_path=out / "lagrangian.csv",
            )
            callbacks.append(lagrangian_callback)
        model = _build_model(spec, algo, params, venv, seed)
        bar = rich_progress_cls(total, f"{algo} {env_id.split('/')[-1]}") if progress else None
        evaluator = success_eval_cls(eval_env, eval_seeds, eval_every, out, metadata, bar)
        callbacks.append(evaluator)
        if save_every:
            callbacks.append(checkpoints_cls(save_every, out / "checkpoints", algo, metadata))
        if bar is not None:
            callbacks.append(bar)
        start = time.perf_counter()
        try:
            model.learn(total_timesteps=total, callback=CallbackList(callbacks))
        except KeyboardInterrupt:
            interrupted = True
        except EthogymError as exc:  # the env refused something: its own message names the fix
            raise ConfigError(f"training stopped: {type(exc).__name__}: {first_line(exc)}") from exc
        except MODEL_ERRORS as exc:  # what the tables and the trial build miss: SB3 asserts some only here
            raise ConfigError(
                f"training stopped: {spec.cls}.learn() raised {type(exc).__name__}: {first_line(exc)}; "
                f"check the hyper-parameters ({_hyperparam_source(algo)}){_suspects(exc, params)}"
            ) from exc
        train_seconds = time.perf_counter() - start
    finally:
        if bar is not None:
            bar.close()
        with _sigint_ignored(interrupted):
            if interrupted:
                _close_after_interrupt(venv)
            else:
                venv.close()
    timesteps = int(model.num_timesteps)
    with _sigint_ignored(interrupted):
        save_model(model, out / "model.zip", {**metadata, "timesteps": timesteps, "interrupted": interrupted})
    final = evaluator.last if evaluator.last and evaluator.last["timesteps"] == timesteps else None
    if not interrupted and final is None:
        try:
            final = evaluator.evaluate()
        except KeyboardInterrupt:  # the model is complete and saved; only its final evaluation is lost
            interrupted = True
    files = {
        "model": "model.zip",
        "monitor": sorted(str(p.relative_to(out)) for p in (out / "monitor").glob("*.csv")),
    }
    for key, name in (("best_model", "best_model.zip"), ("evaluations", "evaluations.csv")):
        if (out / name).exists():
            files[key] = name
    record: dict[str, Any] = {
        "interrupted": interrupted,
        "wall_time_s": round(time.perf_counter() - start, 2),
        "train_time_s": round(train_seconds, 2),
        "timesteps_done": timesteps,
        "final_eval": {**final, "seeds": [eval_seeds[0], eval_seeds[-1]]} if final else None,
        "best_eval": (
            {"success_rate": evaluator.best[0], "mean_return": evaluator.best[1]} if evaluator.best else None
        ),
        "files": files,
    }
    if lagrangian_callback is not None:
        record["lagrangian_state"] = lagrangian_callback.state()
        record["files"]["lagrangian"] = "lagrangian.csv"
    return record


def _checked_numbers(
    params: Mapping[str, Any], algo: str, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The numbers among ``params`` checked against ``algo``'s table (:data:`NUMBERS`), numeric text
    such as ``1e-3`` (a string in YAML) read as a float; a ConfigError naming the value otherwise.

    A value in ``overrides`` is named as ``--hyperparam``, any other as a value of ``<algo>.yml``.
    """
    rules = NUMBERS.get(algo, {})
    overrides = params if overrides is None else overrides
    checked: dict[str, Any] = {}
    for name, value in params.items():
        if name not in rules or (value is None and rules[name][4]):
            continue
        if name in overrides:
            where = f"--hyperparam {name}={value!r}"
        else:
            where = f"{name}: {value!r} in {HYPERPARAMS_DIR / (algo + '.yml')}"
        if name == "train_freq" and isinstance(value, list | tuple):
            checked[name] = _checked_train_freq(value, where)
            continue
        if algo == "sac" and name == "ent_coef" and isinstance(value, str) and value.startswith("auto"):
            checked[name] = _checked_auto_ent_coef(value, where)
            continue
        if name in SCHEDULES and callable(value):
            continue
        kind, low, high, low_ok, nullable = rules[name]
        number = value
        if kind is float and isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
        is_number = isinstance(number, int | float) if kind is float else isinstance(number, int)
        is_number = is_number and not isinstance(number, bool)
        in_range = is_number and (
            number in ALSO_ALLOWED.get(name, ())
            or ((number >= low if low_ok else number > low) and (high is None or number <= high))
        )
        if not in_range:
            what = "a number" if kind is float else "an integer"
            if high is not None:
                bounds = f"in {'[' if low_ok else '('}{low}, {high}]"
            else:
                bounds = f"{'>=' if low_ok else '>'} {low}"
            also = "".join(f" or {extra}" for extra in ALSO_ALLOWED.get(name, ()))
            also += " or null" if nullable else ""
            if name == "train_freq":
                also += ' or a pair [n >= 1, "step" | "episode"]'
            if algo == "sac" and name == "ent_coef":
                also += ' or "auto" / "auto_<start value > 0>" (learned)'
            raise ConfigError(f"{where}: {name} must be {what} {bounds}{also}")
        checked[name] = float(number) if kind is float else number
    return checked


def _checked_train_freq(value: Sequence[Any], where: str) -> tuple[int, str]:
    """``train_freq`` as SB3's (frequency, unit) tuple; YAML and ``-p`` give a list."""
    if (
        len(value) == 2
        and isinstance(value[0], int)
        and not isinstance(value[0], bool)
        and value[0] >= 1
        and value[1] in ("step", "episode")
    ):
        return int(value[0]), str(value[1])
    raise ConfigError(f'{where}: train_freq must be an integer >= 1 or a pair [n >= 1, "step" | "episode"]')


def _checked_auto_ent_coef(value: str, where: str) -> str:
    """SAC's learned entropy coefficient: ``auto``, or ``auto_<start>`` with a finite start above 0,
    read as SB3 reads it (the part after the first ``_``, so ``auto_0_5`` would start at 0). SB3
    asserts the start only when the model is built, and takes a negative fixed value silently."""
    if value != "auto":
        parts = value.split("_")
        try:
            start = float(parts[1]) if len(parts) == 2 and parts[0] == "auto" else math.nan
        except ValueError:
            start = math.nan
        if not (math.isfinite(start) and start > 0):
            raise ConfigError(
                f'{where}: ent_coef must be a number >= 0 or "auto" / "auto_<start value > 0>" (learned)'
            )
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    return float(value)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


def _non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _python_command(
    env_id: str,
    algo: str,
    total: int,
    seed: int,
    out: Path,
    env_options: Mapping[str, Any] | None,
    hyperparams: Mapping[str, Any] | None,
) -> str:
    """The ``ethogym train`` command line equivalent to a ``train()`` call."""
    words = ["ethogym", "train", env_id, "--algo", algo, "--timesteps", str(total), "--seed", str(seed)]
    words += ["--out", str(out)]
    for key, value in (env_options or {}).items():
        words += ["--option", f"{key}={value}"]
    for key, value in (hyperparams or {}).items():
        words += ["--hyperparam", f"{key}={value}"]
    return shlex.join(words)


# --- CLI ------------------------------------------------------------------------------------------
def train_command(
    env_id: str = typer.Argument(..., help="Environment id, e.g. ethogym/Household-PickingUpTrash-v0."),
    algo: str = typer.Option("maskable_ppo", "--algo", help=f"One of {', '.join(ALGO_CHOICES)}."),
    timesteps: int | None = typer.Option(
        None, "--timesteps", help="Environment steps to train (default: n_timesteps of the hyperparams)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the model and the training envs."),
    out: Path = typer.Option(..., "--out", help="Run folder for model.zip, monitor CSVs and run.json."),
    n_envs: int | None = typer.Option(None, "--n-envs", help="Parallel training envs (1 or more)."),
    eval_freq: int | None = typer.Option(
        None, "--eval-freq", help="Evaluate every this many timesteps on held-out seeds (0: at the end)."
    ),
    eval_episodes: int | None = typer.Option(
        None, "--eval-episodes", help="Held-out seeds per evaluation (1 or more)."
    ),
    option: list[str] = typer.Option(
        [], "--option", "-o", help="Env option key=value (repeatable), e.g. control_mode=continuous."
    ),
    hyperparam: list[str] = typer.Option(
        [], "--hyperparam", "-p", help="Override a hyper-parameter key=value (repeatable), e.g. gamma=0.95."
    ),
    cost_limit: float | None = typer.Option(
        None, "--cost-limit", help="ppo_lagrangian: mean episode cost the dual ascent aims for."
    ),
    vec_env: str = typer.Option("auto", "--vec-env", help="auto, dummy (one process) or subproc."),
    checkpoint_freq: int | None = typer.Option(
        None, "--checkpoint-freq", help="Save a checkpoint every this many timesteps (0: none)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a model already in --out."),
) -> None:
    """Train a stable-baselines3 agent (MaskablePPO, PPO, SAC, DQN or Lagrangian PPO) on an env."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ethogym.cli import _fail, parse_env_options, parse_options

    env_options = parse_env_options(option, "train")
    overrides = parse_options(hyperparam, "'--hyperparam' / '-p'")
    command = shlex.join(["ethogym", *sys.argv[1:]]) if sys.argv[1:2] == ["train"] else None
    try:
        record = train(
            env_id,
            algo,
            timesteps,
            seed,
            out,
            n_envs=n_envs,
            eval_freq=eval_freq,
            eval_episodes=eval_episodes,
            env_options=env_options,
            hyperparams=overrides,
            cost_limit=cost_limit,
            vec_env=vec_env,
            checkpoint_freq=checkpoint_freq,
            progress=progress,
            overwrite=overwrite,
            command=command,
        )
    except ConfigError as exc:
        _fail(str(exc))
    except TrainingInterrupted as stop:
        done, planned = stop.record["timesteps_done"], stop.record["timesteps"]
        _fail(
            f"interrupted at {done} of {planned} timesteps; the model so far is saved: {stop.model} "
            f"(run.json and its metadata mark it interrupted)",
            130,
        )
    except KeyboardInterrupt:
        _fail("interrupted before training started; nothing was saved", 130)
    final = record["final_eval"]
    table = Table(title=f"{record['env_id']}  {algo}  seed={seed}", show_header=False)
    table.add_column("measure", style="bold")
    table.add_column("value")
    table.add_row("timesteps", str(record["timesteps_done"]))
    table.add_row("wall time", f"{record['wall_time_s']:.1f} s ({record['vec_env']} x{record['n_envs']})")
    seeds = final["seeds"]
    table.add_row(
        f"success, seeds {seeds[0]}-{seeds[1]}",
        f"{final['success_rate']:.2f} [{final['success_low']:.2f}, {final['success_high']:.2f}] (Wilson 95%)",
    )
    table.add_row("mean return / cost", f"{final['mean_return']:.2f} / {final['mean_cost']:.2f}")
    if "lagrangian" in record:
        table.add_row("lambda (final)", f"{record['lagrangian']['lambda']:.3f}")
    table.add_row("model", escape(str(out / "model.zip")))
    Console().print(table)
