"""Throughput of the environments next to the raw PyBullet rate of the same scene (``ethogym perf``).

Everything runs single-threaded in this process, one env id after another:

* continuous control steps/s (state observation, no rendering, random actions, resets excluded),
  and in the same scene ``world.step_raw`` for the same number of physics substeps, reported as
  raw env-steps/s and the overhead ratio raw / env;
* skills steps/s with teleport and with physical execution (random skills over the action mask,
  resets excluded);
* reset time (median and p90) over fresh seeds, each a new procedural scene;
* render frames/s at 128x128 from the third-person camera.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

import ethogym  # noqa: F401  (registers the ids)
from ethogym.registration import HOUSEHOLD

DEFAULT_ENVS = [f"ethogym/Household-{name}-v0" for name in HOUSEHOLD]
QUICK_ENVS = ["ethogym/Household-PickingUpTrash-v0"]
REQUIRED_KWARGS: dict[str, dict[str, Any]] = {"ethogym/Behavior-v0": {"activity": "picking_up_trash"}}

#: measure -> (target, True when higher is better, unit)
TARGETS: dict[str, tuple[float, bool, str]] = {
    "continuous_steps_per_s": (2000.0, True, "steps/s"),
    "raw_steps_per_s": (float("nan"), True, "steps/s"),
    "overhead_ratio": (1.3, False, "x"),
    "teleport_skills_per_s": (300.0, True, "skills/s"),
    "physical_skills_per_s": (20.0, True, "skills/s"),
    "reset_median_ms": (100.0, False, "ms"),
    "reset_p90_ms": (float("nan"), False, "ms"),
    "render_fps": (80.0, True, "frames/s"),
}
LABELS = {
    "continuous_steps_per_s": "continuous env steps",
    "raw_steps_per_s": "raw PyBullet (same substeps)",
    "overhead_ratio": "overhead raw / env",
    "teleport_skills_per_s": "skills, teleport",
    "physical_skills_per_s": "skills, physical",
    "reset_median_ms": "reset median",
    "reset_p90_ms": "reset p90",
    "render_fps": "render 128x128",
}

# Step counts of a full run; ``quick`` and ``budget`` scale them down.
CONTINUOUS_STEPS = 3000
TELEPORT_SKILLS = 600
PHYSICAL_SKILLS = 60
RESET_SEEDS = 20
RENDER_FRAMES = 100
QUICK_SCALE = 0.25


def _make(env_id: str, **kwargs: Any) -> gym.Env:
    return gym.make(env_id, **{**REQUIRED_KWARGS.get(env_id, {}), **kwargs})


def _count(n: int, scale: float, minimum: int = 2) -> int:
    return max(minimum, int(round(n * scale)))


def _timed_steps(env: gym.Env, n: int, act: Callable[[Any, dict], Any], seed: int) -> float:
    """Seconds spent inside ``env.step`` over ``n`` steps; resets (when an episode ends) are not timed."""
    obs, info = env.reset(seed=seed)
    step = env.step
    elapsed = 0.0
    episode = 0
    for _ in range(n):
        action = act(obs, info)
        t0 = time.perf_counter()
        obs, _, terminated, truncated, info = step(action)
        elapsed += time.perf_counter() - t0
        if terminated or truncated:
            episode += 1
            obs, info = env.reset(seed=seed + episode)
    return elapsed


def _continuous(env_id: str, n: int, seed: int) -> dict[str, float]:
    env = _make(env_id, control_mode="continuous", obs_mode="state")
    try:
        rng = np.random.default_rng(seed)
        space = env.action_space
        env_time = _timed_steps(
            env, n, lambda _o, _i: rng.uniform(space.low, space.high).astype(space.dtype), seed
        )
        unwrapped = env.unwrapped
        substeps = int(unwrapped.config["control_substeps"])
        unwrapped.reset(seed=seed)
        t0 = time.perf_counter()
        unwrapped.world.step_raw(n * substeps)
        raw_time = time.perf_counter() - t0
    finally:
        env.close()
    env_rate = n / env_time
    raw_rate = n / raw_time
    return {
        "continuous_steps_per_s": env_rate,
        "raw_steps_per_s": raw_rate,
        "overhead_ratio": raw_rate / env_rate,
        "continuous_steps": n,
        "control_substeps": substeps,
    }


def _skills(env_id: str, execution: str, n: int, seed: int) -> float:
    env = _make(env_id, control_mode="skills", skill_execution=execution, obs_mode="state")
    try:
        rng = np.random.default_rng(seed)
        done = env.unwrapped.parse_skill("done()")

        def act(_obs: Any, info: dict) -> int:
            mask = np.asarray(info["action_mask"], dtype=bool).copy()
            mask[done] = False
            choices = np.flatnonzero(mask)
            return int(rng.choice(choices)) if len(choices) else done

        elapsed = _timed_steps(env, n, act, seed)
    finally:
        env.close()
    return n / elapsed


def _resets(env_id: str, n: int, seed: int) -> dict[str, float]:
    env = _make(env_id, skill_execution="teleport")
    try:
        env.reset(seed=seed + 10_000)  # first-use costs (imports, caches) are not a reset
        times = []
        for k in range(n):
            t0 = time.perf_counter()
            env.reset(seed=seed + k)
            times.append(time.perf_counter() - t0)
    finally:
        env.close()
    ms = np.asarray(times) * 1000.0
    return {
        "reset_median_ms": float(np.median(ms)),
        "reset_p90_ms": float(np.percentile(ms, 90)),
        "resets": n,
    }


def _render(env_id: str, n: int, seed: int) -> float:
    env = _make(env_id, skill_execution="teleport")
    try:
        env.reset(seed=seed)
        camera = env.unwrapped._camera
        camera(128, egocentric=False)
        t0 = time.perf_counter()
        for _ in range(n):
            camera(128, egocentric=False)
        elapsed = time.perf_counter() - t0
    finally:
        env.close()
    return n / elapsed


def _passes(measure: str, value: float) -> bool | None:
    target, higher, _ = TARGETS[measure]
    if np.isnan(target):
        return None
    return bool(value >= target) if higher else bool(value <= target)


def machine() -> dict[str, Any]:
    import pybullet

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "pybullet": getattr(pybullet, "__version__", None) or str(pybullet.getAPIVersion()),
        "numpy": np.__version__,
        "gymnasium": gym.__version__,
        "ethogym": ethogym.__version__,
    }


def run(
    quick: bool = True, env_ids: list[str] | None = None, budget: float = 1.0, seed: int = 0
) -> list[dict]:
    """Time every env id; one JSON-serialisable row per id.

    ``quick`` times PickingUpTrash only (unless ``env_ids`` is given) with shorter runs; ``budget``
    scales every step count (e.g. 0.05 for a smoke test). Each row holds the measures of ``TARGETS``,
    ``pass`` (measure -> bool) and ``machine``.
    """
    if budget <= 0:
        raise ValueError(f"budget must be positive, got {budget}")
    ids = list(env_ids) if env_ids else (QUICK_ENVS if quick else DEFAULT_ENVS)
    scale = budget * (QUICK_SCALE if quick else 1.0)
    info = machine()
    rows = []
    for env_id in ids:
        started = time.perf_counter()
        row: dict[str, Any] = {"env_id": env_id, "quick": quick, "budget": budget}
        row.update(_continuous(env_id, _count(CONTINUOUS_STEPS, scale, 20), seed))
        row["teleport_skills_per_s"] = _skills(env_id, "teleport", _count(TELEPORT_SKILLS, scale, 10), seed)
        row["physical_skills_per_s"] = _skills(env_id, "physical", _count(PHYSICAL_SKILLS, scale, 3), seed)
        row["teleport_skills"] = _count(TELEPORT_SKILLS, scale, 10)
        row["physical_skills"] = _count(PHYSICAL_SKILLS, scale, 3)
        row.update(_resets(env_id, _count(RESET_SEEDS, scale if quick else 1.0, 3), seed))
        row["render_fps"] = _render(env_id, _count(RENDER_FRAMES, scale, 3), seed)
        row["render_size"] = 128
        row["pass"] = {m: ok for m in TARGETS if (ok := _passes(m, float(row[m]))) is not None}
        row["targets"] = {m: t for m, (t, _, _) in TARGETS.items() if not np.isnan(t)}
        row["wall_time_s"] = time.perf_counter() - started
        row["machine"] = info
        rows.append({k: (float(v) if isinstance(v, np.floating) else v) for k, v in row.items()})
    return rows


def _format(measure: str, value: float) -> str:
    unit = TARGETS[measure][2]
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "ms":
        return f"{value:.1f} ms"
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"


def print_report(rows: list[dict], console: Any = None) -> None:
    """A rich table per env id (figure, target, pass/fail) and the machine it ran on."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    if not rows:
        console.print("no environments timed")
        return
    for row in rows:
        table = Table(
            title=f"{row['env_id']}  ({'quick' if row.get('quick') else 'full'} run, "
            f"{row.get('wall_time_s', 0.0):.1f} s)"
        )
        table.add_column("measure")
        table.add_column("value", justify="right")
        table.add_column("target", justify="right")
        table.add_column("result", justify="center")
        for measure, (target, higher, _) in TARGETS.items():
            value = float(row[measure])
            if np.isnan(target):
                target_text, verdict = "", ""
            else:
                target_text = ("≥ " if higher else "≤ ") + _format(measure, target)
                verdict = "[green]pass[/]" if row["pass"][measure] else "[red]fail[/]"
            table.add_row(LABELS[measure], _format(measure, value), target_text, verdict)
        console.print(table)
    m = rows[0]["machine"]
    console.print(
        f"machine: {m['platform']}, {m['processor']}, {m['cpu_count']} CPUs, python {m['python']}, "
        f"pybullet {m['pybullet']}, numpy {m['numpy']}, gymnasium {m['gymnasium']}; single-threaded"
    )
    failed = sorted({f"{LABELS[k]}" for row in rows for k, ok in row["pass"].items() if not ok})
    if failed:
        console.print(f"[red]below target:[/] {', '.join(failed)}")
    else:
        console.print("[green]all targets met[/]")


if __name__ == "__main__":
    import sys

    full = "--full" in sys.argv
    print_report(run(quick=not full))
