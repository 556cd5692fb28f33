"""One episode of a policy in an environment: the rollout loop shared by the CLI and the benchmarks."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from ethogym.benchmarks.video import Mp4Writer, add_caption_band, annotate_frame, compose_views

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
    render: Callable[[gym.Env], np.ndarray] | None = None,
) -> dict[str, Any]:
    """Roll out ``policy`` from ``env.reset(seed=seed)`` until termination, truncation or ``max_steps``.

    With ``frame_callback``, a frame is rendered after reset and after every step and handed to the
    callback: by ``render(env)`` when given, else by ``env.render()``. Returns the episode summary:
    ``seed``, ``steps``, ``is_success``, ``progress``, ``return``, ``cost``, ``terminated``,
    ``truncated``, ``hit_max_steps``, ``wall_time_s``, ``episode_metrics`` (from the last info, or
    None) and ``info`` (the last info).
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
    render = render or _render
    if frame_callback is not None:
        frame_callback(render(env), steps, info, episode_return)
    while not (terminated or truncated) and (max_steps is None or steps < max_steps):
        action = policy.act(obs, info)
        obs, reward, terminated, truncated, info = env.step(action)
        steps += 1
        episode_return += float(reward)
        cost += float(info.get("cost", 0.0))
        if frame_callback is not None:
            frame_callback(render(env), steps, info, episode_return)
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


VIDEO_MODES = ("all", "failures", "violations", "none")
"""Which episodes keep their review video (the runner's ``--video`` option)."""

BANNER_HOLD_S = 1.0
"""A violation banner stays on screen this long, so one-frame skill steps still show it readably."""


def episode_violation_count(summary: Mapping[str, Any]) -> int:
    """Total violations of an episode summary (from ``episode_metrics["violations"]``, else the marks)."""
    metrics = summary.get("episode_metrics") or {}
    counts = metrics.get("violations") if isinstance(metrics, Mapping) else None
    if isinstance(counts, Mapping) and counts:
        return int(sum(int(v) for v in counts.values()))
    return len(summary.get("violation_marks") or [])


def video_filter(mode: str) -> Callable[[Mapping[str, Any]], bool]:
    """The ``keep`` predicate of ``record_review_episode`` for a ``--video`` mode.

    ``all`` keeps every video, ``failures`` those of unsuccessful episodes, ``violations`` those with at
    least one violation, ``none`` none.
    """
    if mode == "all":
        return lambda summary: True
    if mode == "failures":
        return lambda summary: not summary.get("is_success", False)
    if mode == "violations":
        return lambda summary: episode_violation_count(summary) > 0
    if mode == "none":
        return lambda summary: False
    raise ValueError(f"unknown video mode {mode!r}; use one of {', '.join(VIDEO_MODES)}")


def violation_marks(info: Mapping[str, Any], step: int, fps: float) -> list[dict[str, Any]]:
    """The violations of one step as review marks: step, time_s (of that step's frame), category, severity,
    description. Frame 0 is the reset, so step ``k``'s frame is shown at ``k / fps`` seconds."""
    marks = []
    for violation in info.get("violations") or []:
        record = violation if isinstance(violation, Mapping) else vars(violation)
        marks.append(
            {
                "step": int(record.get("step", step) if record.get("step") is not None else step),
                "time_s": round(step / float(fps), 3),
                "category": str(record.get("category", "")),
                "severity": record.get("severity"),
                "description": _violation_text(violation),
            }
        )
    return marks


def _banner(marks: list[dict[str, Any]]) -> str:
    first = marks[0]
    more = f" (+{len(marks) - 1} more)" if len(marks) > 1 else ""
    return f"{first['category']}: {first['description']}{more}" if first["category"] else first["description"]


def review_frame(env: gym.Env, size: int | None = None) -> np.ndarray:
    """Third-person, egocentric and top-down views side by side (``env.unwrapped.render_views``).

    Envs without ``render_views`` give their ``env.render()`` frame alone.
    """
    render_views = getattr(env.unwrapped, "render_views", None)
    if render_views is None:
        return _render(env)
    return compose_views(render_views(size))


def record_review_episode(
    env: gym.Env,
    policy: EpisodePolicy,
    seed: int | None,
    path: str | os.PathLike[str],
    header: str,
    keep: Callable[[Mapping[str, Any]], bool] | None = None,
    *,
    max_steps: int | None = None,
    fps: int | None = None,
    view_size: int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run one episode and write an annotated multi-view review mp4 at ``path`` if ``keep(summary)``.

    Each frame shows the three views of ``review_frame`` under a band with ``header`` (task, policy,
    seed), the step, progress and the last skill, and a red banner for ``BANNER_HOLD_S`` after each
    violation. Frames are encoded to a temporary file beside ``path`` while the episode runs and the file
    is renamed to ``path`` only when ``keep`` (default: keep all) accepts the summary, so the runner can
    keep only failures or episodes with violations. Returns the ``run_episode`` summary plus ``video``
    (``path`` as a string, or None when not kept), ``frames`` and ``violation_marks`` (one per violation:
    step, time_s, category, severity, description; computed whether or not the video is kept).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    fps = int(fps if fps is not None else env.metadata.get("render_fps", 30))
    hold = max(1, int(round(BANNER_HOLD_S * fps)))
    partial = path.with_name(path.name + ".partial.mp4")
    marks: list[dict[str, Any]] = []
    banner_state: dict[str, Any] = {"text": None, "until": -1}

    with Mp4Writer(partial, fps=fps, overwrite=True) as writer:

        def write_frame(frame: np.ndarray, step: int, info: Mapping[str, Any], episode_return: float) -> None:
            step_marks = violation_marks(info, step, fps)
            marks.extend(step_marks)
            if step_marks:
                banner_state.update(text=_banner(step_marks), until=step + hold - 1)
            lines, _ = overlay_text(header, step, info, episode_return)
            banner = banner_state["text"] if step <= banner_state["until"] else None
            writer.append(annotate_frame(add_caption_band(frame, len(lines)), lines, banner))

        try:
            result = run_episode(
                env,
                policy,
                seed,
                max_steps=max_steps,
                frame_callback=write_frame,
                render=lambda e: review_frame(e, view_size),
            )
        except BaseException:
            writer.close()
            partial.unlink(missing_ok=True)
            raise
    result["violation_marks"] = marks
    result["frames"] = writer.frames_written
    if (keep is None or keep(result)) and partial.exists():
        os.replace(partial, path)
        result["video"] = str(path)
    else:
        partial.unlink(missing_ok=True)
        result["video"] = None
    return result
