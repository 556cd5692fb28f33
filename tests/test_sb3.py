"""stable-baselines3 training, SB3Policy, the shipped checkpoints and the Lagrangian penalty."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
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


def test_ctrl_c_during_train_saves_the_model_so_far(tmp_path: Path) -> None:
    """Ctrl-C during `ethogym train` exited 130 with no output and no model: only monitor/ was left."""
    out = tmp_path / "run"
    argv = [TRASH, "--timesteps", "100000", "--out", str(out), "--eval-freq", "0", "--eval-episodes", "1"]
    argv += ["-p", "n_steps=32", "-p", "batch_size=32", "-o", "ethics_content=false", "-o", "max_steps=10"]
    argv += ["--vec-env", "dummy", "--no-progress"]
    process = subprocess.Popen(
        [sys.executable, "-m", "ethogym", "train", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, which Ctrl-C in a terminal signals as a whole
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # not ignored, even under nohup
    )
    monitor = out / "monitor" / "train_0.monitor.csv"
    deadline = time.monotonic() + 120
    try:
        # After the first rollout (32 steps) and its update: the episodes logged cover more steps.
        while sum(int(row["l"]) for row in _monitor_rows(monitor)) <= 32:
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    message = " ".join(stderr.split())
    assert message.startswith("error: interrupted at ") and f"saved: {out / 'model.zip'}" in message, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    record = json.loads((out / "run.json").read_text())
    done = record["timesteps_done"]
    assert record["interrupted"] is True and 32 < done < 100_000 and record["timesteps"] == 100_000
    assert f"interrupted at {done} of 100000 timesteps" in message
    assert record["final_eval"] is None and record["command"].startswith(f"ethogym train {TRASH}")
    policy = SB3Policy.load(out / "model.zip")  # the project's loader: a whole, loadable model
    assert policy.metadata["interrupted"] is True and policy.metadata["timesteps"] == done
    assert policy.env_id == TRASH


def _monitor_rows(path: Path) -> list[dict[str, str]]:
    """The episode rows of an SB3 Monitor file written so far (none before its header)."""
    if not path.exists():
        return []
    text = path.read_text()
    lines = text.splitlines()[1:]  # the first line is Monitor's JSON comment
    complete = lines if text.endswith("\n") else lines[:-1]  # not a row cut mid-write
    return list(csv.DictReader(complete))


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
        # DQN's and SAC's numbers trained silently (batch_size=0, buffer_size=-1, gamma=2) or failed in
        # learn() with an 83- to 110-line traceback (train_freq=0, exploration_fraction=abc).
        ([TRASH, "--algo", "dqn", "-p", "batch_size=0"], "--hyperparam batch_size=0: batch_size must be an"),
        ([TRASH, "--algo", "dqn", "-p", "buffer_size=-1"], "buffer_size must be an integer >= 1"),
        ([TRASH, "--algo", "dqn", "-p", "gamma=2"], "--hyperparam gamma=2: gamma must be a number in [0, 1]"),
        ([TRASH, "--algo", "dqn", "-p", "train_freq=0"], "train_freq must be an integer >= 1 or a pair"),
        ([TRASH, "--algo", "dqn", "-p", "train_freq=[4, epoch]"], "train_freq must be an integer >= 1 or"),
        ([TRASH, "--algo", "dqn", "-p", "exploration_fraction=abc"], "exploration_fraction must be a number"),
        (
            [TRASH, "--algo", "dqn", "-p", "exploration_fraction=0"],
            "exploration_fraction must be a number in (0, 1]",
        ),
        ([TRASH, "--algo", "dqn", "-p", "exploration_final_eps=1.5"], "exploration_final_eps must be a"),
        ([TRASH, "--algo", "dqn", "-p", "learning_starts=-1"], "learning_starts must be an integer >= 0"),
        ([TRASH, "--algo", "dqn", "-p", "gradient_steps=0"], "gradient_steps must be an integer >= 1 or -1"),
        ([TRASH, "--algo", "sac", "-p", "tau=1.5"], "--hyperparam tau=1.5: tau must be a number in [0, 1]"),
        ([TRASH, "--algo", "sac", "-p", "learning_rate=0"], "learning_rate must be a number > 0"),
        ([TRASH, "--algo", "sac", "-p", "target_update_interval=0"], "target_update_interval must be an"),
        # SAC took a negative fixed entropy coefficient silently; a bad "auto_" start was an assert.
        ([TRASH, "--algo", "sac", "-p", "ent_coef=abc"], 'ent_coef must be a number >= 0 or "auto"'),
        ([TRASH, "--algo", "sac", "-p", "ent_coef=-0.1"], 'ent_coef must be a number >= 0 or "auto"'),
        ([TRASH, "--algo", "sac", "-p", "ent_coef=auto_-1"], 'ent_coef must be a number >= 0 or "auto"'),
        ([TRASH, "--algo", "sac", "-p", "ent_coef=auto_0_5"], 'ent_coef must be a number >= 0 or "auto"'),
        # A 132-line AttributeError from the policy's constructor.
        (
            [TRASH, "--algo", "ppo", "-p", "policy=MultiInputPolicy"],
            "--hyperparam policy=MultiInputPolicy: MultiInputPolicy needs Dict observations",
        ),
        ([TRASH, "--algo", "ppo", "-p", "policy=CnnPolicy"], "check policy='CnnPolicy'"),
    ],
)
def test_cli_train_bad_inputs(tmp_path: Path, argv: list[str], message: str) -> None:
    result = runner.invoke(app, ["train", *argv, "--out", str(tmp_path / "x"), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    if not result.output.startswith("Usage:"):  # click's own usage errors are a box
        assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "x").exists()  # refused before the run folder is made


def test_shipped_hyperparameter_files_pass_their_checks() -> None:
    from ethogym.policies.train import ALGO_CHOICES, HYPERPARAMS_DIR, _checked_numbers

    for algo in ALGO_CHOICES:
        for entry in yaml.safe_load((HYPERPARAMS_DIR / f"{algo}.yml").read_text()).values():
            _checked_numbers(entry or {}, algo, {})  # raises a ConfigError naming the value


def test_a_failure_inside_learn_is_one_line_and_leaves_no_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What SB3 refuses only inside learn() (it checks train_freq with an assert) was an 83-line
    traceback that left ``monitor/`` behind."""
    from stable_baselines3 import DQN

    def refuses(self, *args, **kwargs):
        raise AssertionError("Should at least collect one step or episode.")

    monkeypatch.setattr(DQN, "learn", refuses)
    argv = ["train", TRASH, "--algo", "dqn", "--timesteps", "64", "-p", "learning_starts=16"]
    argv += ["-o", "ethics_content=false", "-o", "max_steps=10", "--eval-episodes", "1", "--no-progress"]
    made = tmp_path / "new" / "run"
    result = runner.invoke(app, [*argv, "--out", str(made)])
    assert result.exit_code == 2, result.output
    line = " ".join(result.output.split())
    assert "training stopped: DQN.learn() raised AssertionError: Should at least collect one step" in line
    assert f"the run folder {tmp_path / 'new'} it had made was removed" in line
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "new").exists()
    # A folder that was there before keeps what the user put in it, and an earlier run's checkpoint;
    # only the files this run wrote go.
    kept = tmp_path / "mine"
    (kept / "monitor").mkdir(parents=True)
    (kept / "checkpoints").mkdir()
    (kept / "notes.txt").write_text("mine")
    (kept / "monitor" / "plot.png").write_bytes(b"png")
    (kept / "checkpoints" / "dqn_500_steps.zip").write_bytes(b"a run killed before its model.zip")
    result = runner.invoke(app, [*argv, "--out", str(kept)])
    line = " ".join(result.output.split())
    assert result.exit_code == 2 and f"the files it wrote in {kept} were removed" in line, result.output
    assert sorted(str(p.relative_to(kept)) for p in kept.rglob("*")) == [
        "checkpoints",
        "checkpoints/dqn_500_steps.zip",
        "monitor",
        "monitor/plot.png",
        "notes.txt",
    ]


def test_ppo_numbers_are_checked_and_numeric_text_is_read() -> None:
    from ethogym.policies.train import _checked_numbers

    params = {"learning_rate": "1e-3", "n_steps": 64, "target_kl": None, "foo": "x"}
    assert _checked_numbers(params, "ppo") == {"learning_rate": 0.001, "n_steps": 64}
    with pytest.raises(ConfigError, match="n_steps must be an integer >= 2"):
        _checked_numbers({"n_steps": 64.5}, "maskable_ppo")
    with pytest.raises(ConfigError, match=r"gae_lambda must be a number in \[0, 1\]"):
        _checked_numbers({"gae_lambda": True}, "ppo")  # a bool is no number here
    # DQN and SAC: SB3's special values and forms pass; a value from the file is named as the file's.
    dqn = {"train_freq": [1, "episode"], "gradient_steps": -1, "learning_rate": "5e-4"}
    assert _checked_numbers(dqn, "dqn") == {
        "train_freq": (1, "episode"),
        "gradient_steps": -1,
        "learning_rate": 5e-4,
    }
    assert _checked_numbers({"learning_rate": lambda progress: 1e-3 * progress}, "sac") == {}  # a schedule
    with pytest.raises(ConfigError, match=r"^gamma: 1.5 in .*dqn.yml: gamma must be a number in \[0, 1\]"):
        _checked_numbers({"gamma": 1.5, "batch_size": 32}, "dqn", {"batch_size": 32})


def test_train_refuses_to_overwrite_a_model(tiny_run: tuple[Path, dict]) -> None:
    out, _ = tiny_run
    with pytest.raises(ConfigError, match="--overwrite"):
        train(BOOK, "maskable_ppo", timesteps=64, out=out, progress=False)


def test_overwrite_removes_the_old_runs_files_only(tiny_run: tuple[Path, dict], tmp_path: Path) -> None:
    """`train --overwrite` left the old run's checkpoints (*_64_steps.zip) beside the new run's."""
    import shutil

    out = tmp_path / "trash"
    shutil.copytree(tiny_run[0], out)
    (out / "monitor" / "train_1.monitor.csv").write_text("#{}\nr,l,t\n")  # an old run's second env
    (out / "notes.txt").write_text("mine")
    (out / "checkpoints" / "keep.zip").write_bytes(b"mine")
    (out / "monitor" / "plot.png").write_bytes(b"mine")
    train(
        TRASH,
        timesteps=64,
        seed=4,
        out=out,
        eval_episodes=1,
        env_options=FAST,
        hyperparams=TINY,
        checkpoint_freq=0,
        progress=False,
        overwrite=True,
    )
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        "best_model.zip",
        "checkpoints",
        "checkpoints/keep.zip",
        "evaluations.csv",
        "model.zip",
        "monitor",
        "monitor/plot.png",
        "monitor/train_0.monitor.csv",
        "notes.txt",
        "run.json",
    ]
    assert json.loads((out / "run.json").read_text())["seed"] == 4
    assert read_metadata(out / "model.zip")["timesteps"] == 64


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


def _with_policy_weights(path: Path, payload: bytes) -> Path:
    """A copy of the shipped handover model at ``path`` whose ``policy.pth`` member is ``payload``."""
    with zipfile.ZipFile(CHECKPOINTS_DIR / "handover.zip") as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, payload if name == "policy.pth" else src.read(name))
    return path


@pytest.mark.parametrize(("payload", "raised"), [(b"garbage", "UnpicklingError"), (b"", "EOFError")])
def test_damaged_weights_are_a_clear_error(tmp_path: Path, payload: bytes, raised: str) -> None:
    """A zip whose policy.pth is damaged raised torch's UnpicklingError (or EOFError) past load_model:
    `play` printed a 117-line traceback."""
    model = _with_policy_weights(tmp_path / "badpth.zip", payload)
    with pytest.raises(CheckpointError, match=rf"badpth.zip is damaged: .*\({raised}\).*copy it again"):
        SB3Policy.load(model)
    result = runner.invoke(app, ["play", "ethogym/Social-Handover-v0", "--policy", f"sb3:{model}"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_an_unreadable_model_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sb3_contrib import MaskablePPO

    def failing_disk(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(MaskablePPO, "load", failing_disk)
    with pytest.raises(CheckpointError, match="cannot read .*handover.zip: Input/output error"):
        SB3Policy.load("handover")


def test_a_save_stopped_midway_keeps_the_previous_model(tmp_path: Path) -> None:
    """Ctrl-C while a checkpoint or model.zip was being written left a cut zip in its place."""
    from ethogym.policies.sb3 import save_model

    target = tmp_path / "model.zip"
    target.write_bytes(b"the previous model")

    class StoppedMidSave:
        def save(self, path: Path) -> None:
            Path(path).write_bytes(b"PK half a zip")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        save_model(StoppedMidSave(), target, {})
    assert target.read_bytes() == b"the previous model"
    assert sorted(tmp_path.iterdir()) == [target]  # no partial file left beside it


def test_model_on_the_wrong_env_is_a_clear_error(tiny_run: tuple[Path, dict]) -> None:
    out, _ = tiny_run
    env = gym.make(BOOK, skill_execution="teleport")
    try:
        with pytest.raises(CheckpointError, match=f"trained on {TRASH}"):
            make_policy(f"sb3:{out / 'model.zip'}", env)
    finally:
        env.close()


def test_a_space_mismatch_names_the_flags_it_was_trained_with() -> None:
    """The error said "evaluate it on the env id and options it was trained on" without the flags."""
    result = runner.invoke(app, ["play", TRASH, "--policy", "sb3:picking_up_trash"])  # ethics content on
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert (
        "evaluate it on the env id and options it was trained on: ethogym/Household-PickingUpTrash-v0 "
        "-o ethics_content=false -o skill_execution=teleport" in " ".join(result.output.split())
    )


HANDOVER = "ethogym/Social-Handover-v0"


@pytest.mark.parametrize(
    ("options", "warning"),
    [
        ([], "sb3:handover runs with skill_execution=physical (trained with teleport); to play it as "),
        (
            ["-o", "skill_execution=teleport", "-o", "max_steps=3"],
            "runs with max_steps=3 (trained with null)",
        ),
        (["-o", "skill_execution=teleport"], None),
    ],
)
def test_play_warns_when_a_model_runs_other_than_trained(options: list[str], warning: str | None) -> None:
    """`play ... --policy sb3:handover` (trained with teleport) ran under physical execution silently."""
    argv = ["play", HANDOVER, "--policy", "sb3:handover", "--max-steps", "1", *options]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    if warning is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warning in warnings[0], result.output
        assert warnings[0].endswith(
            f"ethogym play {HANDOVER} --policy sb3:handover -o skill_execution=teleport"
        )


def test_differences_from_training() -> None:
    from ethogym.policies.sb3 import option_flags

    policy = SB3Policy.load("handover")
    env = gym.make(BOOK, skill_execution="teleport")
    try:
        assert policy.differences(env) == [f"env {BOOK} (trained on {HANDOVER})"]
    finally:
        env.close()
    env = gym.make(HANDOVER, skill_execution="teleport", persona="child", decor=False)
    try:
        assert policy.differences(env) == [
            "decor=false (trained with true)",
            "persona=child (trained with adult)",
        ]
    finally:
        env.close()
    # A bench suite's step cap is its protocol: bench run leaves it out of its warning.
    env = gym.make(HANDOVER, skill_execution="teleport", max_steps=5)
    try:
        assert policy.differences(env) == ["max_steps=5 (trained with null)"]
        assert policy.differences(env, ignore=("max_steps",)) == []
    finally:
        env.close()
    assert option_flags({"a": "true", "b": "x y", "c": False, "d": None}) == (
        """-o 'a="true"' -o 'b=x y' -o c=false -o d=null"""
    )


def test_a_model_path_without_zip_finds_the_zip(tmp_path: Path) -> None:
    """SB3's own load("plain_ppo") reads plain_ppo.zip; `sb3:plain_ppo` said "no model file"."""
    (tmp_path / "plain_ppo.zip").write_bytes((CHECKPOINTS_DIR / "handover.zip").read_bytes())
    env = gym.make(HANDOVER, skill_execution="teleport")
    try:
        assert isinstance(make_policy(f"sb3:{tmp_path / 'plain_ppo'}", env), SB3Policy)
    finally:
        env.close()
    with pytest.raises(CheckpointError, match="no model file at .*other"):
        SB3Policy.load(tmp_path / "other")


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
