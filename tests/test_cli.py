"""The ethogym command line, on the registered environments."""

from __future__ import annotations

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
