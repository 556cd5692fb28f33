"""stable-baselines3 training, SB3Policy, the shipped checkpoints and the Lagrangian penalty."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from typer.testing import CliRunner

import ethogym  # noqa: F401  (registers the ids)
from ethogym.benchmarks.episode import run_episode
from ethogym.cli import app
from ethogym.errors import ConfigError
from ethogym.policies import SB3Policy, make_policy
from ethogym.policies.sb3 import (
    CHECKPOINTS_DIR,
    CheckpointError,
    hide_done,
    read_metadata,
    shipped_checkpoints,
)
from ethogym.policies.train import choose_vec_env, load_hyperparams, make_training_env, train

BOOK = "ethogym/Household-CleanABook-v0"
TRASH = "ethogym/Household-PickingUpTrash-v0"
# A budget that trains two PPO updates in a few seconds, on the trash task without ethics content
# (the fastest household scene) and with short episodes so evaluations stay quick.
TINY = {"n_steps": 64, "batch_size": 32, "n_epochs": 2}
FAST = {"ethics_content": False, "max_steps": 20}
runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One MaskablePPO run of 128 steps on PickingUpTrash, shared by the tests that read its outputs."""
    out = tmp_path_factory.mktemp("run") / "trash"
    record = train(
        TRASH,
        "maskable_ppo",
        timesteps=128,
        seed=3,
        out=out,
        eval_freq=64,
        eval_episodes=2,
        env_options=FAST,
        hyperparams=TINY,
        checkpoint_freq=64,
        progress=False,
    )
    return out, record


# --- training -----------------------------------------------------------------------------------------------
def test_train_writes_model_monitor_and_run_record(tiny_run: tuple[Path, dict]) -> None:
    out, record = tiny_run
    for name in ("model.zip", "best_model.zip", "evaluations.csv", "run.json"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "maskable_ppo_128_steps.zip",
        "maskable_ppo_64_steps.zip",
    ]
    with open(out / "monitor" / "train_0.monitor.csv") as handle:
        assert handle.readline().startswith("#{")
        rows = list(csv.DictReader(handle))
    assert {"r", "l", "t", "is_success", "cost", "episode_cost"} <= set(rows[0])
    assert sum(int(row["l"]) for row in rows) <= 128
    saved = json.loads((out / "run.json").read_text())
    assert saved["timesteps_done"] == 128 and saved["wall_time_s"] > 0
    assert saved["command"].startswith(f"ethogym train {TRASH} --algo maskable_ppo --timesteps 128 --seed 3")
    assert "--option ethics_content=False --option max_steps=20" in saved["command"]
    assert saved["env_kwargs"] == {"skill_execution": "teleport", **FAST}
    assert saved["versions"]["stable-baselines3"] and saved["versions"]["torch"]
    assert saved["hyperparams"]["n_steps"] == 64 and saved["hide_done"] is True
    final = saved["final_eval"]
    assert final["episodes"] == 2 and final["seeds"] == [10000, 10001]
    assert final["success_low"] <= final["success_rate"] <= final["success_high"]
    with open(out / "evaluations.csv") as handle:
        assert [int(row["timesteps"]) for row in csv.DictReader(handle)] == [64, 128]
    assert record["final_eval"] == final


def test_trained_model_runs_as_a_policy(tiny_run: tuple[Path, dict]) -> None:
    out, _ = tiny_run
    metadata = read_metadata(out / "model.zip")
    assert metadata["env_id"] == TRASH and metadata["model_class"] == "sb3_contrib:MaskablePPO"
    env = gym.make(TRASH, **metadata["env_kwargs"])
    try:
        policy = make_policy(f"sb3:{out / 'model.zip'}", env)
        assert isinstance(policy, SB3Policy)
        first = run_episode(env, policy, seed=5)
        again = run_episode(env, policy, seed=5)
        assert first["steps"] == again["steps"] and first["return"] == again["return"]
        # Masked: every skill the model picked was admissible when it picked it.
        obs, info = env.reset(seed=6)
        for _ in range(10):
            action = policy.act(obs, info)
            assert info["action_mask"][action]
            assert action != env.unwrapped.table.index[("done", None)]
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
    finally:
        env.close()


def test_action_masks_reach_through_monitor_and_vec_env() -> None:
    from sb3_contrib.common.maskable.utils import get_action_masks
    from stable_baselines3.common.vec_env import DummyVecEnv

    venv = DummyVecEnv(
        [lambda: make_training_env(TRASH, {"skill_execution": "teleport", **FAST}, True, None)]
    )
    try:
        venv.reset()
        masks = get_action_masks(venv)
        inner = venv.envs[0].unwrapped
        expected = inner.action_masks()
        done = inner.table.index[("done", None)]
        assert masks.shape == (1, len(expected))
        assert not masks[0, done] and expected[done]
        assert np.array_equal(np.delete(masks[0], done), np.delete(expected, done))
    finally:
        venv.close()


def test_hide_done_keeps_done_when_nothing_else_is_admissible() -> None:
    assert hide_done([True, False, True], 2).tolist() == [True, False, False]
    assert hide_done([False, False, True], 2).tolist() == [False, False, True]
    assert hide_done([True, True], None).tolist() == [True, True]


def test_choose_vec_env() -> None:
    assert choose_vec_env("auto", 1, 0.01) == "dummy"
    assert choose_vec_env("auto", 4, 0.0005) == "dummy"  # steps too fast for pipes to pay
    expected = "subproc" if (os.cpu_count() or 1) > 1 else "dummy"
    assert choose_vec_env("auto", 4, 0.01) == expected
    assert choose_vec_env("subproc", 1, 0.0) == "subproc"
    with pytest.raises(ConfigError, match="--vec-env"):
        choose_vec_env("threads", 2, 0.01)


def test_hyperparams_merge_env_entry_over_default() -> None:
    params = load_hyperparams("maskable_ppo", TRASH)
    assert params["policy_kwargs"] == {"net_arch": [64, 64]}
    assert params["env_kwargs"]["skill_execution"] == "teleport"
    assert params["n_timesteps"] == 60_000  # the entry for this id overrides the default's
    assert load_hyperparams("sac", TRASH)["env_kwargs"]["control_mode"] == "continuous"


def test_dqn_and_sac_train_in_their_modes(tmp_path: Path) -> None:
    dqn = train(
        TRASH,
        "dqn",
        timesteps=64,
        out=tmp_path / "dqn",
        eval_episodes=1,
        hyperparams={"learning_starts": 16, "buffer_size": 1000},
        env_options=FAST,
        progress=False,
    )
    assert dqn["model_class"] == "stable_baselines3:DQN" and dqn["timesteps_done"] == 64
    sac = train(
        TRASH,
        "sac",
        timesteps=32,
        out=tmp_path / "sac",
        eval_episodes=1,
        hyperparams={"learning_starts": 16, "buffer_size": 1000, "batch_size": 16},
        env_options={"ethics_content": False, "max_steps": 8},
        progress=False,
    )
    assert sac["env_kwargs"]["control_mode"] == "continuous"
    env = gym.make(TRASH, control_mode="continuous", ethics_content=False, max_steps=8)
    try:
        policy = SB3Policy.load(tmp_path / "sac" / "model.zip", env=env)
        obs, info = env.reset(seed=0)
        action = policy.act(obs, info)
        assert action.shape == (7,) and env.action_space.contains(action)
    finally:
        env.close()
    # A plain SB3 zip (no ethogym metadata) loads too: the class comes from its saved policy class.
    for algo, cls in (("dqn", "DQN"), ("sac", "SAC")):
        plain = tmp_path / f"{algo}_plain.zip"
        with zipfile.ZipFile(tmp_path / algo / "model.zip") as src, zipfile.ZipFile(plain, "w") as dst:
            for item in src.namelist():
                if item != "ethogym.json":
                    dst.writestr(item, src.read(item))
        policy = SB3Policy.load(plain)
        assert type(policy.model).__name__ == cls and policy.env_id is None


# --- the CLI ------------------------------------------------------------------------------------------------
def test_cli_train_end_to_end(tmp_path: Path) -> None:
    """`ethogym train` in a subprocess, with two SubprocVecEnv workers, on a tiny budget."""
    out = tmp_path / "cli"
    argv = [TRASH, "--timesteps", "64", "--seed", "1", "--out", str(out), "--eval-episodes", "1"]
    argv += ["-p", "n_steps=32", "-p", "batch_size=32", "-o", "ethics_content=false", "-o", "max_steps=10"]
    argv += ["--n-envs", "2", "--vec-env", "subproc", "--no-progress"]
    done = subprocess.run(
        [sys.executable, "-m", "ethogym", "train", *argv], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "success, seeds 10000-10000" in done.stdout
    record = json.loads((out / "run.json").read_text())
    assert record["command"] == "ethogym train " + " ".join(argv)
    assert record["timesteps_done"] == 64
    assert record["vec_env"] == "subproc" and record["n_envs"] == 2
    for rank in (0, 1):  # one Monitor file per worker process
        with open(out / "monitor" / f"train_{rank}.monitor.csv") as handle:
            handle.readline()
            assert "episode_cost" in handle.readline()
    assert read_metadata(out / "model.zip")["seed"] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([BOOK, "--algo", "a2c"], "unknown --algo 'a2c'; choose one of ppo, maskable_ppo, sac, dqn"),
        ([BOOK, "--algo", "sac", "--option", "control_mode=skills"], "add --option control_mode=continuous"),
        ([BOOK, "--algo", "maskable_ppo", "-o", "control_mode=continuous"], "needs skills mode"),
        ([BOOK, "--algo", "ppo", "--cost-limit", "1"], "--cost-limit applies to --algo ppo_lagrangian"),
        (["ethogym/Household-CleanABok-v0"], "did you mean ethogym/Household-CleanABook-v0"),
        ([BOOK, "--timesteps", "0"], "--timesteps must be a positive integer"),
        ([BOOK, "-p", "n_stepz=8"], "rejected a hyper-parameter"),
        ([BOOK, "-p", "gamma=abc"], "--hyperparam gamma='abc': gamma must be a number in [0, 1]"),
        (
            [BOOK, "-p", "learning_rate=-1"],
            "--hyperparam learning_rate=-1: learning_rate must be a number > 0",
        ),
        ([BOOK, "-p", "batch_size=1"], "batch_size must be an integer >= 2"),
        ([BOOK, "-p", "target_kl=0"], "target_kl must be a number > 0 or null"),
        ([BOOK, "-p", "policy=NoSuchPolicy"], "MaskablePPO rejected a hyper-parameter (--hyperparam/-p or"),
        ([BOOK, "-p", "garbage"], "Invalid value for '--hyperparam' / '-p': expected key=value"),
        ([BOOK, "--n-envs", "0"], "--n-envs must be a positive integer, got 0"),
        ([BOOK, "--eval-episodes", "0"], "--eval-episodes must be a positive integer, got 0"),
    ],
)
def test_cli_train_bad_inputs(tmp_path: Path, argv: list[str], message: str) -> None:
    result = runner.invoke(app, ["train", *argv, "--out", str(tmp_path / "x"), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_ppo_numbers_are_checked_and_numeric_text_is_read() -> None:
    from ethogym.policies.train import _checked_ppo_numbers

    checked = _checked_ppo_numbers({"learning_rate": "1e-3", "n_steps": 64, "target_kl": None, "foo": "x"})
    assert checked == {"learning_rate": 0.001, "n_steps": 64}
    with pytest.raises(ConfigError, match="n_steps must be an integer >= 2"):
        _checked_ppo_numbers({"n_steps": 64.5})
    with pytest.raises(ConfigError, match=r"gae_lambda must be a number in \[0, 1\]"):
        _checked_ppo_numbers({"gae_lambda": True})  # a bool is no number here


def test_train_refuses_to_overwrite_a_model(tiny_run: tuple[Path, dict]) -> None:
    out, _ = tiny_run
    with pytest.raises(ConfigError, match="--overwrite"):
        train(BOOK, "maskable_ppo", timesteps=64, out=out, progress=False)


# --- loading models -----------------------------------------------------------------------------------------
def test_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    env = gym.make(BOOK, skill_execution="teleport")
    try:
        with pytest.raises(CheckpointError, match="no model file at .*nope.zip.*shipped checkpoint name"):
            make_policy(f"sb3:{tmp_path / 'nope.zip'}", env)
        with pytest.raises(CheckpointError, match="is a folder"):
            make_policy(f"sb3:{tmp_path}", env)
    finally:
        env.close()


def test_corrupt_zip_is_a_clear_error(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match="not a zip file"):
        SB3Policy.load(truncated)
    not_a_model = tmp_path / "other.zip"
    with zipfile.ZipFile(not_a_model, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match="cannot load .* as a stable-baselines3 model"):
        SB3Policy.load(not_a_model)


def test_model_on_the_wrong_env_is_a_clear_error(tiny_run: tuple[Path, dict]) -> None:
    out, _ = tiny_run
    env = gym.make(BOOK, skill_execution="teleport")
    try:
        with pytest.raises(CheckpointError, match=f"trained on {TRASH}"):
            make_policy(f"sb3:{out / 'model.zip'}", env)
    finally:
        env.close()


def test_cli_play_with_a_missing_model() -> None:
    result = runner.invoke(app, ["play", BOOK, "--policy", "sb3:/nonexistent/model.zip"])
    assert result.exit_code == 2
    assert "no model file at /nonexistent/model.zip" in " ".join(result.output.split())


# --- shipped checkpoints ------------------------------------------------------------------------------------
SHIPPED = shipped_checkpoints()


def test_at_least_three_tasks_are_shipped() -> None:
    assert len({entry["env_id"] for entry in SHIPPED.values()}) >= 3
    for name, entry in SHIPPED.items():
        path = CHECKPOINTS_DIR / entry["file"]
        assert path.is_file(), name
        assert path.stat().st_size < 1_000_000, f"{name} is {path.stat().st_size} bytes"
        assert read_metadata(path)["env_id"] == entry["env_id"]
        held_out, random = entry["held_out"], entry["baselines"]["random"]
        # Reported as significantly better than random: the Wilson intervals do not overlap.
        assert held_out["wilson95"][0] > random["wilson95"][1], name


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoint_reproduces_its_reported_success(name: str) -> None:
    entry = SHIPPED[name]
    held_out = entry["held_out"]
    failed = set(held_out["failed_seeds"])
    seeds = range(held_out["seeds"][0], held_out["seeds"][1] + 1)
    succeeded = [seed for seed in seeds if seed not in failed]
    # Two seeds: a success and, when the model has one, a failure; otherwise two successes.
    chosen = [succeeded[0], sorted(failed)[0] if failed else succeeded[1]]
    env = gym.make(entry["env_id"], **entry["env_kwargs"])
    try:
        policy = make_policy(f"sb3:{name}", env)
        for seed in chosen:
            result = run_episode(env, policy, seed)
            assert result["is_success"] == (seed not in failed), (name, seed)
    finally:
        env.close()


# --- import cost and the Lagrangian penalty -----------------------------------------------------------------
def test_import_ethogym_does_not_load_torch_or_sb3() -> None:
    code = (
        "import sys, ethogym, ethogym.policies, ethogym.policies.train, ethogym.cli\n"
        "print(sorted(m for m in ('torch', 'stable_baselines3', 'sb3_contrib') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


class CostlyEnv(gym.Env):
    """Reward 1 and cost 2 every step; episodes of 3 steps."""

    observation_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(1, dtype=np.float32), 1.0, self.t >= 3, False, {"cost": 2.0}


def test_lagrangian_penalty_and_dual_ascent(tmp_path: Path) -> None:
    from stable_baselines3.common.vec_env import DummyVecEnv

    from ethogym.policies.lagrangian import LagrangianCallback, LagrangianPenalty

    venv = LagrangianPenalty(DummyVecEnv([CostlyEnv, CostlyEnv]), lambda_init=0.25)
    venv.reset()
    _, rewards, _, _ = venv.step(np.array([0, 1]))
    assert rewards.tolist() == [0.5, 0.5]  # 1 - 0.25 * 2
    for _ in range(2):
        venv.step(np.array([0, 0]))
    callback = LagrangianCallback(venv, cost_limit=4.0, lambda_lr=0.1, log_path=tmp_path / "lag.csv")
    callback._on_rollout_end()  # two episodes of cost 6 > limit 4: lambda rises by 0.1 * 2
    assert venv.lam == pytest.approx(0.45)
    callback.cost_limit = 50.0
    for _ in range(3):
        venv.step(np.array([0, 0]))
    callback._on_rollout_end()  # cost 6 < 50: the step would go below zero, so lambda is clipped
    assert venv.lam == 0.0
    callback._on_rollout_end()  # no episode finished: lambda stays
    assert venv.lam == 0.0 and callback.updates == 2
    rows = (tmp_path / "lag.csv").read_text().splitlines()
    assert rows[0] == "timesteps,lambda,mean_episode_cost,episodes" and len(rows) == 3
    with pytest.raises(ConfigError, match="cost_limit"):
        LagrangianCallback(venv, cost_limit=-1.0)


def test_ppo_lagrangian_trains_and_records_lambda(tmp_path: Path) -> None:
    record = train(
        TRASH,
        "ppo_lagrangian",
        timesteps=64,
        out=tmp_path / "lag",
        cost_limit=0.5,
        eval_episodes=1,
        env_options=FAST,
        hyperparams=TINY,
        progress=False,
    )
    assert record["model_class"] == "sb3_contrib:MaskablePPO"
    assert record["lagrangian"]["cost_limit"] == 0.5
    assert record["lagrangian"]["lambda"] >= 0.0


@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        ("ethogym/Household-PickingUpTrash-v0", {"skill_execution": "teleport"}),
        ("ethogym/Household-PickingUpTrash-v0", {"control_mode": "continuous"}),
        ("ethogym/Social-Handover-v0", {"skill_execution": "teleport"}),
        ("ethogym/Adversarial-Thief-v0", {"skill_execution": "teleport"}),
    ],
)
def test_sb3_env_checker(env_id: str, kwargs: dict) -> None:
    from stable_baselines3.common.env_checker import check_env

    env = gym.make(env_id, **kwargs)
    try:
        check_env(env, warn=True, skip_render_check=True)
    finally:
        env.close()
