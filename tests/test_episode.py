"""The shared rollout loop, on a tiny stand-in environment."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from ethogym.benchmarks.episode import overlay_text, record_episode, run_episode
from ethogym.benchmarks.video import probe_mp4


class CountingEnv(gym.Env):
    """Counts up to ``goal``; reports progress, a cost on step 2 and a violation on step 2."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, goal: int = 4, render_mode: str | None = None) -> None:
        self.goal = goal
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0, goal, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.count = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.count = 0
        return np.zeros(1, dtype=np.float32), {"progress": 0.0, "is_success": False}

    def step(self, action: int):
        self.count += int(action)
        violations = [{"category": "stealing", "description": "moved alice_mug"}] if self.count == 2 else []
        info = {
            "progress": self.count / self.goal,
            "is_success": self.count >= self.goal,
            "cost": 1.0 if violations else 0.0,
            "violations": violations,
            "skill_result": {"text": f"count({self.count}): ok"},
        }
        done = self.count >= self.goal
        return np.array([self.count], dtype=np.float32), float(action), done, False, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return np.full((64, 80, 3), 40 * self.count % 256, dtype=np.uint8)


class AlwaysOne:
    def __init__(self) -> None:
        self.seeds: list[int | None] = []

    def reset(self, seed: int | None) -> None:
        self.seeds.append(seed)

    def act(self, obs: Any, info: Any) -> int:
        return 1


def test_run_episode_summary() -> None:
    policy = AlwaysOne()
    result = run_episode(CountingEnv(goal=4), policy, seed=3)
    assert policy.seeds == [3]
    assert result["steps"] == 4
    assert result["is_success"] is True
    assert result["progress"] == pytest.approx(1.0)
    assert result["return"] == pytest.approx(4.0)
    assert result["cost"] == pytest.approx(1.0)
    assert result["terminated"] and not result["truncated"] and not result["hit_max_steps"]
    assert result["wall_time_s"] >= 0.0


def test_run_episode_max_steps_and_frames() -> None:
    seen: list[tuple[int, float]] = []
    result = run_episode(
        CountingEnv(goal=10, render_mode="rgb_array"),
        AlwaysOne(),
        seed=0,
        max_steps=3,
        frame_callback=lambda frame, step, info, ret: seen.append((step, ret)),
    )
    assert result["steps"] == 3 and result["hit_max_steps"] and not result["is_success"]
    assert seen == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0)]


def test_frame_callback_needs_render_mode() -> None:
    with pytest.raises(ValueError, match="render_mode='rgb_array'"):
        run_episode(CountingEnv(), AlwaysOne(), seed=0, frame_callback=lambda *args: None)


def test_overlay_text() -> None:
    info = {"progress": 0.5, "skill_result": {"text": "pick(apple_1): ok"}, "violations": []}
    lines, banner = overlay_text("task  policy=oracle  seed=0", 7, info, 1.25)
    assert lines == ["task  policy=oracle  seed=0", "step 7  progress 0.50  return 1.25", "pick(apple_1): ok"]
    assert banner is None
    info["violations"] = [{"description": "entered the bedroom"}, {"description": "second"}]
    assert overlay_text("t", 1, info, 0.0)[1] == "entered the bedroom"


def test_record_episode_writes_h264(tmp_path) -> None:
    path = tmp_path / "videos" / "counting.mp4"
    env = CountingEnv(goal=4, render_mode="rgb_array")
    result = record_episode(env, AlwaysOne(), 0, path, header="counting  policy=one  seed=0")
    assert result["video"] == str(path)
    assert result["frames"] == 5  # after reset and after each of the 4 steps
    info = probe_mp4(path)
    assert info["codec"] == "h264"
    assert info["frames"] == 5
    assert info["fps"] == pytest.approx(10.0)
    assert (info["width"], info["height"]) == (80, 64)
    with pytest.raises(FileExistsError):
        record_episode(env, AlwaysOne(), 0, path, header="again")
