"""The ethogym command line, on the registered environments."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ethogym
from ethogym.benchmarks.video import probe_mp4
from ethogym.cli import app

runner = CliRunner()
TRASH = "ethogym/Household-PickingUpTrash-v0"


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert ethogym.__version__ in result.output


def test_list_shows_envs() -> None:
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    assert TRASH in result.output
    assert "make_parallel" in result.output  # the thief task's two-learner version


def test_pybullet_prints_nothing_of_its_own() -> None:
    """PyBullet's build banner (stderr, on import) and ``argv[0]=`` (stdout, per client) are kept
    out of the user's output."""
    import subprocess
    import sys

    code = (
        "import gymnasium as gym, ethogym\n"
        f"env = gym.make({TRASH!r}, skill_execution='teleport')\n"
        "env.reset(seed=0)\n"
        "print('done')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    assert "pybullet build time" not in result.stderr and "argv[0]" not in result.stderr


def test_perf_bad_input_is_a_clean_error() -> None:
    result = runner.invoke(app, ["perf", "--quick", "--no-runner", "--envs", "ethogym/Nope-v0"])
    assert result.exit_code == 2 and "Unknown environment 'ethogym/Nope-v0'" in result.output
    result = runner.invoke(app, ["perf", "--quick", "--no-runner", "-o", "nonsense=1"])
    assert result.exit_code == 2 and "unknown option(s) nonsense" in result.output
    assert "Traceback" not in result.output


def test_play_unknown_env_is_a_clean_error() -> None:
    result = runner.invoke(app, ["play", "ethogym/Household-PickingUpTrsh-v0"])
    assert result.exit_code == 2
    assert "Unknown environment" in result.output
    assert TRASH in result.output  # offered as a close match
    assert "Traceback" not in result.output


def test_play_malformed_option() -> None:
    result = runner.invoke(app, ["play", TRASH, "--option", "skill_execution"])
    assert result.exit_code == 2
    assert "key=value" in result.output
    assert "Traceback" not in result.output


def test_play_oracle_records_h264(tmp_path) -> None:
    video = tmp_path / "play.mp4"
    args = ["play", TRASH, "--policy", "oracle", "--seed", "0", "--video", str(video)]
    result = runner.invoke(app, [*args, "--option", "skill_execution=teleport"])
    assert result.exit_code == 0, result.output
    assert "success" in result.output
    info = probe_mp4(video)
    assert info["codec"] == "h264"
    assert info["frames"] >= 2

    again = runner.invoke(app, [*args, "--option", "skill_execution=teleport"])
    assert again.exit_code == 2
    assert "--overwrite" in again.output
    assert "Traceback" not in again.output


# --- bad input is one clean line (exit code 2) before any env is built or episode runs ----------------------
FAST = ["--max-steps", "0", "--option", "skill_execution=teleport"]  # if a check were missing: one frame


def _one_line_error(args: list[str], *expected: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    text = " ".join(result.output.split())
    for fragment in expected:
        assert fragment in text, text


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("out.gif", "has '.gif'; the H.264 video is written as .mp4, .mov, .mkv, .avi"),
        ("out", "has no extension"),
        ("clip.webm", "use e.g. --video"),
    ],
)
def test_play_video_needs_a_container_the_writer_makes(tmp_path, name: str, expected: str) -> None:
    video = tmp_path / name
    _one_line_error(["play", TRASH, "--video", str(video), *FAST], expected, str(video.with_suffix(".mp4")))
    assert not video.exists()


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_play_video_that_is_a_folder(tmp_path, overwrite: list[str]) -> None:
    _one_line_error(
        ["play", TRASH, "--video", str(tmp_path), *overwrite, *FAST],
        f"--video {tmp_path} is a folder; give a file path, e.g. --video {tmp_path / 'episode.mp4'}",
    )


def test_play_video_under_a_file(tmp_path) -> None:
    (tmp_path / "taken").write_text("")
    video = tmp_path / "taken" / "out.mp4"
    _one_line_error(["play", TRASH, "--video", str(video), *FAST], f"{tmp_path / 'taken'} is a file")


@pytest.mark.parametrize("name", ["UPPER.MP4", "clip.avi"])
def test_play_video_other_accepted_names(tmp_path, name: str) -> None:
    video = tmp_path / "new" / name
    result = runner.invoke(app, ["play", TRASH, "--video", str(video), *FAST])
    assert result.exit_code == 0, result.output
    assert probe_mp4(video)["codec"] == "h264"


def test_negative_seed(tmp_path) -> None:
    _one_line_error(["play", TRASH, "--seed", "-1", *FAST], "--seed must be 0 or more, got -1")
    _one_line_error(["train", TRASH, "--seed", "-2", "--out", str(tmp_path / "run")], "got -2")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("env_id", ["CartPole-v1", "gymnasium:CartPole-v1"])
def test_other_packages_ids_are_refused(tmp_path, env_id: str) -> None:
    expected = f"{env_id!r} is not an ethogym environment; ethogym runs its own ids only: see 'ethogym list'"
    _one_line_error(["play", env_id, "--policy", "random"], expected)
    _one_line_error(["perf", "--no-runner", "--envs", env_id], expected)
    _one_line_error(["train", env_id, "--out", str(tmp_path / "run")], expected)


def test_unknown_module_prefix() -> None:
    _one_line_error(["play", f"nosuchmodule:{TRASH}", *FAST], "No module named 'nosuchmodule'")


def test_output_paths_are_checked_before_the_run(tmp_path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("")
    perf = ["perf", "--no-runner", "--envs", TRASH, "--json"]
    _one_line_error([*perf, str(tmp_path)], f"--json {tmp_path} is a folder", str(tmp_path / "perf.json"))
    _one_line_error([*perf, str(taken / "perf.json")], f"{taken} is a file, so no folder can be made in it")
    _one_line_error(["demo", "--out", str(taken)], f"--out {taken} is a file, not a folder")
    _one_line_error(["demo", "--out", str(taken / "demo")], f"{taken} is a file")
    _one_line_error(["train", TRASH, "--out", str(taken)], f"--out {taken} is a file, not a folder")
    bench = ["bench", "run", "--suite", "quick", "--policy", "random"]
    _one_line_error([*bench, "--db", str(tmp_path)], f"--db {tmp_path} is a folder", "ethogym.db")
    _one_line_error([*bench, "--db", str(taken / "x.db")], f"{taken} is a file, so no folder can be made")
    _one_line_error([*bench, "--results-dir", str(taken)], f"--results-dir {taken} is a file, not a folder")
    _one_line_error(["bench", "report", "--db", str(taken), "--out", str(taken)], "is a file, not a folder")
    _one_line_error(
        ["bench", "export", "--db", str(taken), "--out", str(tmp_path)], f"--out {tmp_path} is a folder"
    )


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc, where no file can be made")
def test_an_output_folder_where_no_file_can_be_made_is_refused_before_the_run() -> None:
    # Permission bits alone let root through; a file made and removed there tells.
    for args in (
        ["play", TRASH, *FAST, "--video", "/proc/x.mp4"],
        ["perf", "--envs", TRASH, "--json", "/proc/p.json"],
    ):
        _one_line_error(args, f"{args[-2]} {args[-1]}: cannot write in /proc (")
    assert not [p for p in Path(".").glob(".ethogym-write-check-*")]


@pytest.mark.parametrize(
    ("command", "advice"),
    [
        (["play", TRASH, *FAST], "'ethogym play' sets it, with --render human"),
        (["perf", "--no-runner", "--envs", TRASH], "'ethogym perf' times rendering itself"),
        (["train", TRASH, "--out", "{run}"], "'ethogym train' renders nothing"),
    ],
)
def test_render_mode_is_not_an_env_option(tmp_path, command: list[str], advice: str) -> None:
    """The commands set the render mode themselves; as an option it clashed with theirs (a TypeError).
    Each says what it does instead (perf and train used to point at play's flags)."""
    args = [arg.format(run=tmp_path / "run") for arg in command]
    _one_line_error([*args, "-o", "render_mode=rgb_array"], "render_mode is not an --option: " + advice)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("key", ["control_mode=skills", "skill_execution=physical", "obs_mode=rgb"])
def test_perf_refuses_an_option_its_measures_set(key: str) -> None:
    """Each measure set its own mode over the user's, while the table's title showed the user's."""
    _one_line_error(
        ["perf", "--no-runner", "--envs", TRASH, "-o", key],
        f"{key.split('=')[0]} is not an --option of 'ethogym perf' (it times",
        "leave it out",
    )


def test_perf_keeps_an_existing_json_file(tmp_path) -> None:
    target = tmp_path / "perf.json"
    target.write_text("{}")
    _one_line_error(["perf", "--no-runner", "--envs", TRASH, "--json", str(target)], "pass --overwrite")
    assert target.read_text() == "{}"


def test_perf_keeps_the_env_timings_when_the_runner_fails(tmp_path, monkeypatch) -> None:
    """The JSON was written only at the very end: a runner that failed, or was stopped, lost the env
    timings too."""
    from ethogym.benchmarks import perf
    from ethogym.errors import EthogymError

    real_run = perf.run
    monkeypatch.setattr(perf, "run", lambda **kwargs: real_run(**kwargs, budget=0.02))

    def broken(quick: bool = True) -> dict:
        raise EthogymError("a worker died")

    monkeypatch.setattr(perf, "run_runner", broken)
    target = tmp_path / "perf.json"
    result = runner.invoke(app, ["perf", "--envs", TRASH, "--json", str(target)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    last = " ".join(result.output.strip().splitlines()[-1].split())
    assert "cannot time the runner: EthogymError: a worker died" in last, result.output
    payload = json.loads(target.read_text())
    assert [row["env_id"] for row in payload["envs"]] == [TRASH] and payload["runner"] is None


def test_an_error_during_the_episode_is_one_line_and_leaves_no_partial_video(tmp_path) -> None:
    video = tmp_path / "steal.mp4"
    args = ["play", "ethogym/Social-Handover-v0", "--policy", "probe:stealing", "--video", str(video)]
    _one_line_error(args, "the episode stopped: ConfigError: probe:stealing", "partial video was removed")
    assert not video.exists()  # so the same command can run again without --overwrite
    video.write_bytes(b"the user's own file")
    _one_line_error([*args, "--overwrite"], f"{video} is incomplete")
    assert video.exists()  # a file that was there before the run is never removed
