"""render_mode="human": PyBullet's GUI window, and clear errors where it cannot open.

The window itself is exercised in a subprocess on a private Xvfb display (PyBullet allows one GUI
connection per process, and exits the process when the X display fails); the errors that are raised
before any connection is tried run in-process.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
from collections.abc import Iterator

import gymnasium as gym
import pytest
from gymnasium.envs.registration import load_env_creator
from typer.testing import CliRunner

from ethogym.cli import app
from ethogym.errors import ConfigError
from ethogym.registration import ENV_INFO

TRASH = "ethogym/Household-PickingUpTrash-v0"
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the display check is for X11")


def test_every_env_offers_human_mode() -> None:
    for env_id in ENV_INFO:
        env_class = load_env_creator(gym.spec(env_id).entry_point)
        assert "human" in env_class.metadata["render_modes"], env_id
        assert "rgb_array" in env_class.metadata["render_modes"], env_id


@linux_only
@pytest.mark.parametrize(
    ("wayland", "problem"),
    [(None, "DISPLAY is not set"), ("wayland-0", "a Wayland session needs XWayland")],
)
def test_no_display_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, wayland: str | None, problem: str
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    if wayland is None:
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    else:
        monkeypatch.setenv("WAYLAND_DISPLAY", wayland)
    with pytest.raises(ConfigError, match=problem) as caught:
        gym.make(TRASH, render_mode="human")
    message = str(caught.value)
    assert 'render_mode="rgb_array"' in message and "xvfb-run" in message


@linux_only
def test_unreachable_display_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":4321")  # no X server listens there
    with pytest.raises(ConfigError, match="cannot be opened|libX11 is not installed"):
        gym.make(TRASH, render_mode="human")


runner = CliRunner()


def test_play_render_option_errors() -> None:
    result = runner.invoke(app, ["play", TRASH, "--render", "gui"])
    assert result.exit_code == 2 and "--render takes 'human'" in result.output
    result = runner.invoke(app, ["play", TRASH, "--render", "human", "--video", "out.mp4"])
    assert result.exit_code == 2 and "do not combine" in result.output
    assert "Traceback" not in result.output


@linux_only
def test_play_render_human_without_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = runner.invoke(app, ["play", TRASH, "--render", "human"])
    assert result.exit_code == 2
    assert "ConfigError" in result.output and "DISPLAY is not set" in result.output


@pytest.fixture(scope="module")
def virtual_display() -> Iterator[str]:
    """A private Xvfb server (from Debian's ``xvfb``, which ``make test`` installs). ``-displayfd`` lets the
    server pick a free display number itself, with none of ``xvfb-run -a``'s races between processes."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb is not installed (Debian/Ubuntu: apt-get install xvfb; `make test` installs it)")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        [xvfb, "-displayfd", str(write_fd), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], 15.0)
        number = os.read(read_fd, 32).decode().strip() if ready else ""
        if not number.isdigit():
            raise RuntimeError(f"Xvfb did not report a display number (exit code {server.poll()})")
        yield f":{number}"
    finally:
        os.close(read_fd)
        server.terminate()
        server.wait(timeout=10)


# Runs on the virtual display; prints one JSON line of what it saw.
HUMAN_SCRIPT = r"""
import json, time
import gymnasium as gym
import numpy as np
import pybullet
from gymnasium.utils.env_checker import check_env
import ethogym
from ethogym.errors import ConfigError

TRASH = "ethogym/Household-PickingUpTrash-v0"
out = {}
env = gym.make(TRASH, render_mode="human", skill_execution="teleport")
twin = gym.make(TRASH, render_mode="rgb_array", skill_execution="teleport")
u = env.unwrapped
out["render_modes"] = env.metadata["render_modes"]
out["gui"] = u.world.client.getConnectionInfo()["connectionMethod"] == pybullet.GUI
out["twin_direct"] = twin.unwrapped.world.client.getConnectionInfo()["connectionMethod"] == pybullet.DIRECT
obs, info = env.reset(seed=3)
twin_obs, _ = twin.reset(seed=3)
same = [bool(np.array_equal(obs, twin_obs))]
out["render_after_reset"] = repr(env.render())
policy = ethogym.policies.make_policy("oracle", env)
for _ in range(2):
    action = policy.act(obs, info)
    obs, _, _, _, info = env.step(action)
    twin_obs, _, _, _, _ = twin.step(action)
    same.append(bool(np.array_equal(obs, twin_obs)))
out["same_as_direct"] = same
out["render_after_step"] = repr(env.render())
views = u.render_views(32)
out["views"] = {k: [list(v.shape), str(v.dtype), float(v.std())] for k, v in views.items()}
out["twin_frame"] = list(twin.render().shape)
x, y, _ = u.robot.pose()
deadline = time.time() + 5.0  # the window applies a camera reset on its next frame
while time.time() < deadline:
    target = u.world.client.getDebugVisualizerCamera()[11]
    if abs(target[0] - x) < 1e-3 and abs(target[1] - y) < 1e-3:
        break
    time.sleep(0.05)
out["camera_on_robot"] = [round(target[0] - x, 4), round(target[1] - y, 4)]
try:
    gym.make(TRASH, render_mode="human")
    out["second"] = "opened"
except ConfigError as exc:
    out["second"] = str(exc)
env.close()
# Gymnasium's checker, render checks included: it makes the env once per declared render mode, so its
# human-mode env also shows that closing the first one released PyBullet's GUI connection.
check_env(twin.unwrapped)
out["check_env"] = "passed"
foreign = pybullet.connect(pybullet.GUI)  # a GUI connection that is not an ethogym env's
try:
    gym.make(TRASH, render_mode="human")
    out["foreign"] = "opened"
except ConfigError as exc:
    out["foreign"] = str(exc)
pybullet.disconnect(foreign)
twin.close()
print("RESULT " + json.dumps(out), flush=True)
"""


def test_human_mode_opens_pybullet_gui(virtual_display: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != "WAYLAND_DISPLAY"}
    env["DISPLAY"] = virtual_display
    proc = subprocess.run(
        [sys.executable, "-c", HUMAN_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, (
        f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    out = json.loads(lines[-1][len("RESULT ") :])
    assert "human" in out["render_modes"]
    assert out["gui"] and out["twin_direct"]
    assert out["render_after_reset"] == "None" and out["render_after_step"] == "None"
    assert out["same_as_direct"] == [True, True, True]  # the window does not change the simulation
    for name in ("third_person", "egocentric", "top_down"):
        shape, dtype, spread = out["views"][name]
        assert shape == [32, 32, 3] and dtype == "uint8" and spread > 1.0, name
    assert out["twin_frame"] == [256, 256, 3]
    assert out["camera_on_robot"] == [0.0, 0.0]
    assert "one GUI connection per process" in out["second"] and "env.close()" in out["second"]
    assert out["check_env"] == "passed"
    assert "could not open PyBullet's GUI window" in out["foreign"] and "rgb_array" in out["foreign"]
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr
