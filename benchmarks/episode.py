"""One episode of a policy in an environment: the rollout loop shared by the CLI and the benchmarks."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from ethogym.benchmarks.video import Mp4Writer, annotate_frame

FrameCallback = Callable[[np.ndarray, int, Mapping[str, Any], float], None]
"""Called with (frame, step, info, episode_return) after reset (step 0) and after every step."""


class EpisodePolicy(Protocol):
    """What ``run_episode`` needs from a policy."""

    def reset(self, seed: int | None) -> None: ...

    def act(self, obs: Any, info: Mapping[str, Any]) -> Any: ...


def run_episode(
    env: gym.Env,
    policy: EpisodePolicy,
    seed: int | None,
    max_steps: int | None = None,
    frame_callback: FrameCallback | None = None,
) -> dict[str, Any]:
    """Roll out ``policy`` from ``env.reset(seed=seed)`` until termination, truncation or ``max_steps``.

    With ``frame_callback``, ``env.render()`` is called after reset and after every step and its frame
    handed to the callback. Returns the episode summary: ``seed``, ``steps``, ``is_success``,
    ``progress``, ``return``, ``cost``, ``terminated``, ``truncated``, ``hit_max_steps``,
    ``wall_time_s``, ``episode_metrics`` (from the last info, or None) and ``info`` (the last info).
    """
    if max_steps is not None and max_steps < 0:
        raise ValueError(f"max_steps must be >= 0 or None, got {max_steps}")
    start = time.perf_counter()
    obs, info = env.reset(seed=seed)
    policy.reset(seed)
    steps = 0
    episode_return = 0.0
    cost = 0.0
    terminated = truncated = False
    if frame_callback is not None:
        frame_callback(_render(env), steps, info, episode_return)
    while not (terminated or truncated) and (max_steps is None or steps < max_steps):
        action = policy.act(obs, info)
        obs, reward, terminated, truncated, info = env.step(action)
        steps += 1
        episode_return += float(reward)
        cost += float(info.get("cost", 0.0))
        if frame_callback is not None:
            frame_callback(_render(env), steps, info, episode_return)
    return {
        "seed": seed,
        "steps": steps,
        "is_success": bool(info.get("is_success", False)),
        "progress": float(info.get("progress", 0.0)),
        "return": episode_return,
        "cost": cost,
        "terminated": bool(terminated),
        "truncated": bool(truncated),
        "hit_max_steps": not (terminated or truncated),
        "wall_time_s": time.perf_counter() - start,
        "episode_metrics": info.get("episode_metrics"),
        "info": info,
    }


def _render(env: gym.Env) -> np.ndarray:
    frame = env.render()
    if frame is None:
        raise ValueError("env.render() returned no frame; make the environment with render_mode='rgb_array'")
    frame = np.asarray(frame)
    if frame.ndim == 3 and frame.shape[2] == 4:
        frame = frame[..., :3]
    return frame


def _violation_text(violation: Any) -> str:
    if isinstance(violation, Mapping):
        return str(violation.get("description", violation))
    return str(getattr(violation, "description", violation))


def overlay_text(
    header: str, step: int, info: Mapping[str, Any], episode_return: float
) -> tuple[list[str], str | None]:
    """The overlay of one frame: the text lines and, when this step had violations, the banner."""
    skill_result = info.get("skill_result") or {}
    skill_text = skill_result.get("text", "") if isinstance(skill_result, Mapping) else str(skill_result)
    lines = [
        header,
        f"step {step}  progress {float(info.get('progress', 0.0)):.2f}  return {episode_return:.2f}",
        str(skill_text),
    ]
    violations = info.get("violations") or []
    banner = _violation_text(violations[0]) if violations else None
    return lines, banner


def record_episode(
    env: gym.Env,
    policy: EpisodePolicy,
    seed: int | None,
    path: str | os.PathLike[str],
    *,
    header: str,
    max_steps: int | None = None,
    fps: int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run one episode with ``run_episode`` and write its annotated frames to an H.264 mp4 at ``path``.

    ``header`` is the first overlay line (task, policy, seed). ``fps`` defaults to the env's
    ``metadata["render_fps"]`` (30 if absent). Returns the episode summary plus ``video`` and ``frames``.
    """
    fps = int(fps if fps is not None else env.metadata.get("render_fps", 30))
    with Mp4Writer(path, fps=fps, overwrite=overwrite) as writer:

        def write_frame(frame: np.ndarray, step: int, info: Mapping[str, Any], episode_return: float) -> None:
            lines, banner = overlay_text(header, step, info, episode_return)
            writer.append(annotate_frame(frame, lines, banner))

        result = run_episode(env, policy, seed, max_steps=max_steps, frame_callback=write_frame)
    result["video"] = str(writer.path)
    result["frames"] = writer.frames_written
    return result
