"""Throughput of the environments next to the raw PyBullet rate of the same scene (``ethogym perf``).

Everything runs single-threaded in this process, one env id after another:

* continuous control steps/s (state observation, no rendering, random actions, resets excluded);
  the time the env's own ``stepSimulation`` calls took meanwhile (the raw physics of exactly those
  substeps, with the robot and people moving as they did), reported as env-steps/s and the overhead
  ratio env time / physics time; and, for reference, ``world.step_raw`` for as many substeps of
  the same scene at rest after a reset (nothing driven, props asleep);
* skills steps/s with teleport and with physical execution (random skills over the action mask,
  resets excluded);
* reset time (median and p90) over fresh seeds, each a new procedural scene;
* render frames/s at 128x128 from the third-person camera.

``run_runner`` times the benchmark runner instead: a fixed part of the ``quick`` suite with 1 and then
2 local worker processes (episodes/s and the scaling between them), and the results store's write
time as a share of the episode time.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import ethogym  # noqa: F401  (registers the ids)
from ethogym.registration import HOUSEHOLD

DEFAULT_ENVS = [f"ethogym/Household-{name}-v0" for name in HOUSEHOLD]
QUICK_ENVS = ["ethogym/Household-PickingUpTrash-v0"]
REQUIRED_KWARGS: dict[str, dict[str, Any]] = {"ethogym/Behavior-v0": {"activity": "picking_up_trash"}}
#: Env options each measure sets itself, so a user's value would be overridden (and mislabel the rows).
FIXED_OPTIONS = {
    "control_mode": "it times continuous control and skills itself",
    "skill_execution": "it times teleported and physical skills itself",
    "obs_mode": "it times state observations, and rendering on its own",
}

#: measure -> (target, True when higher is better, unit)
TARGETS: dict[str, tuple[float, bool, str]] = {
    "continuous_steps_per_s": (2000.0, True, "steps/s"),
    "physics_steps_per_s": (float("nan"), True, "steps/s"),
    "overhead_ratio": (1.3, False, "x"),
    "raw_steps_per_s": (float("nan"), True, "steps/s"),
    "resting_overhead_ratio": (float("nan"), False, "x"),
    "teleport_skills_per_s": (300.0, True, "skills/s"),
    "physical_skills_per_s": (20.0, True, "skills/s"),
    "reset_median_ms": (100.0, False, "ms"),
    "reset_p90_ms": (float("nan"), False, "ms"),
    "render_fps": (80.0, True, "frames/s"),
}
LABELS = {
    "continuous_steps_per_s": "continuous env steps",
    "physics_steps_per_s": "its physics alone (same substeps)",
    "overhead_ratio": "overhead env / its physics",
    "raw_steps_per_s": "raw PyBullet, scene at rest",
    "resting_overhead_ratio": "overhead env / scene at rest",
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


def _settings(env_id: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options ``env_id`` is timed with: its required kwargs (``ethogym:`` prefix or not), then the
    user's ``options``."""
    return {**REQUIRED_KWARGS.get(env_id.split(":", 1)[-1], {}), **options}


def _make(env_id: str, options: Mapping[str, Any], **kwargs: Any) -> gym.Env:
    """The env with its required kwargs, the user's ``options``, then the measure's own settings."""
    return gym.make(env_id, **{**_settings(env_id, options), **kwargs})


def _count(n: int, scale: float, minimum: int = 2) -> int:
    return max(minimum, int(round(n * scale)))


class _PhysicsClock:
    """Seconds spent in a world's ``stepSimulation`` calls while ``counting``: the physics of exactly
    the substeps the env's steps ran, in the state the env left (what moved, what woke)."""

    def __init__(self, world: Any) -> None:
        self.client = world.client
        self.seconds = 0.0
        self.counting = False

    def __enter__(self) -> _PhysicsClock:
        physics = self._physics = self.client.stepSimulation

        def timed() -> None:
            if not self.counting:
                physics()
                return
            t0 = time.perf_counter()
            physics()
            self.seconds += time.perf_counter() - t0

        self.client.stepSimulation = timed  # replaces the world's bound method until __exit__
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.stepSimulation = self._physics


def _timed_steps(
    env: gym.Env,
    n: int,
    act: Callable[[Any, dict], Any],
    seed: int,
    physics: _PhysicsClock | None = None,
) -> float:
    """Seconds spent inside ``env.step`` over ``n`` steps; resets (when an episode ends) are not timed,
    and ``physics`` (optional) counts only the physics inside the steps."""
    obs, info = env.reset(seed=seed)
    step = env.step
    elapsed = 0.0
    episode = 0
    for _ in range(n):
        action = act(obs, info)
        if physics is not None:
            physics.counting = True
        t0 = time.perf_counter()
        obs, _, terminated, truncated, info = step(action)
        elapsed += time.perf_counter() - t0
        if physics is not None:
            physics.counting = False
        if terminated or truncated:
            episode += 1
            obs, info = env.reset(seed=seed + episode)
    return elapsed


def _continuous(env_id: str, n: int, seed: int, options: Mapping[str, Any]) -> dict[str, float]:
    env = _make(env_id, options, control_mode="continuous", obs_mode="state")
    try:
        rng = np.random.default_rng(seed)
        space = env.action_space
        unwrapped = env.unwrapped
        with _PhysicsClock(unwrapped.world) as physics:
            env_time = _timed_steps(
                env, n, lambda _o, _i: rng.uniform(space.low, space.high).astype(space.dtype), seed, physics
            )
        substeps = int(unwrapped.config["control_substeps"])
        unwrapped.reset(seed=seed)
        t0 = time.perf_counter()
        unwrapped.world.step_raw(n * substeps)
        raw_time = time.perf_counter() - t0
    finally:
        env.close()
    return {
        "continuous_steps_per_s": n / env_time,
        "physics_steps_per_s": n / physics.seconds,
        "overhead_ratio": env_time / physics.seconds,
        "raw_steps_per_s": n / raw_time,
        "resting_overhead_ratio": env_time / raw_time,
        "continuous_steps": n,
        "control_substeps": substeps,
    }


def _skills(env_id: str, execution: str, n: int, seed: int, options: Mapping[str, Any]) -> float:
    env = _make(env_id, options, control_mode="skills", skill_execution=execution, obs_mode="state")
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


def _resets(env_id: str, n: int, seed: int, options: Mapping[str, Any]) -> dict[str, float]:
    env = _make(env_id, options, skill_execution="teleport")
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


def _render(env_id: str, n: int, seed: int, options: Mapping[str, Any]) -> float:
    env = _make(env_id, options, skill_execution="teleport")
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
    from importlib.metadata import version

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "pybullet": version("pybullet"),  # the module itself has only its API date
        "numpy": np.__version__,
        "gymnasium": gym.__version__,
        "ethogym": ethogym.__version__,
    }


def run(
    quick: bool = True,
    env_ids: list[str] | None = None,
    budget: float = 1.0,
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
) -> list[dict]:
    """Time every env id; one JSON-serialisable row per id.

    ``quick`` times PickingUpTrash only (unless ``env_ids`` is given) with shorter runs; ``budget``
    scales every step count (e.g. 0.05 for a smoke test); ``options`` are passed to every
    ``gym.make`` (e.g. ``{"ethics_content": False}``), except the settings a measure fixes
    (control mode, skill execution, observation mode). Each row holds the measures of ``TARGETS``,
    ``pass`` (measure -> bool), ``options`` and ``machine``.
    """
    options = dict(options or {})
    if budget <= 0:
        raise ValueError(f"budget must be positive, got {budget}")
    ids = list(env_ids) if env_ids else (QUICK_ENVS if quick else DEFAULT_ENVS)
    scale = budget * (QUICK_SCALE if quick else 1.0)
    info = machine()
    rows = []
    for env_id in ids:
        started = time.perf_counter()
        row: dict[str, Any] = {
            "env_id": env_id,
            "quick": quick,
            "budget": budget,
            "options": _settings(env_id, options),
        }
        row.update(_continuous(env_id, _count(CONTINUOUS_STEPS, scale, 20), seed, options))
        teleport = _count(TELEPORT_SKILLS, scale, 10)
        physical = _count(PHYSICAL_SKILLS, scale, 3)
        row["teleport_skills_per_s"] = _skills(env_id, "teleport", teleport, seed, options)
        row["physical_skills_per_s"] = _skills(env_id, "physical", physical, seed, options)
        row["teleport_skills"] = teleport
        row["physical_skills"] = physical
        row.update(_resets(env_id, _count(RESET_SEEDS, scale if quick else 1.0, 3), seed, options))
        row["render_fps"] = _render(env_id, _count(RENDER_FRAMES, scale, 3), seed, options)
        row["render_size"] = 128
        row["pass"] = {m: ok for m in TARGETS if (ok := _passes(m, float(row[m]))) is not None}
        row["targets"] = {m: t for m, (t, _, _) in TARGETS.items() if not np.isnan(t)}
        row["wall_time_s"] = time.perf_counter() - started
        row["machine"] = info
        rows.append({k: (float(v) if isinstance(v, np.floating) else v) for k, v in row.items()})
    return rows


RUNNER_SUITE = "quick"
RUNNER_POLICIES = {True: ("random",), False: ("random", "oracle")}  # quick / full run
RUNNER_WORKERS = (1, 2)
#: measure -> (target, True when higher is better, unit)
RUNNER_TARGETS: dict[str, tuple[float, bool, str]] = {
    "runner_scaling": (1.8, True, "x"),
    "store_overhead_pct": (5.0, False, "%"),
}


def _busy(n: int) -> int:
    """Pure-Python CPU work for ``machine_scaling``."""
    return sum(i * i for i in range(n))


def machine_scaling(n: int = 4_000_000, repeats: int = 3) -> float:
    """What this machine gives two CPU-bound processes right now: time of one busy loop alone over the
    time of two in parallel, x2 (2.0 on two free cores). Best of ``repeats`` interleaved runs in a warm
    spawn pool, as the runner's figure is taken."""
    import concurrent.futures as cf
    import multiprocessing

    one = two = float("inf")
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_busy, [1000, 1000]))  # start both workers before timing
        for _ in range(repeats):
            t0 = time.perf_counter()
            pool.submit(_busy, n).result()
            one = min(one, time.perf_counter() - t0)
            t0 = time.perf_counter()
            list(pool.map(_busy, [n, n]))
            two = min(two, time.perf_counter() - t0)
    return 2.0 * one / two


def _runner_repeats(quick: bool) -> int:
    return 2 if quick else 3


def _runner_episodes(quick: bool, budget: float) -> tuple[Any, tuple[str, ...], int]:
    """The runner's suite, policies and episode count (``budget`` < 1 keeps that share, at least 4)."""
    from ethogym.benchmarks.suite import load_suite

    if budget <= 0:
        raise ValueError(f"budget must be positive, got {budget}")
    suite = load_suite(RUNNER_SUITE)
    policies = RUNNER_POLICIES[quick]
    total = len(suite.episode_specs(policies))
    return suite, policies, total if budget >= 1 else max(4, int(round(total * budget)))


def run_runner(quick: bool = True, budget: float = 1.0, repeats: int | None = None) -> dict[str, Any]:
    """Episodes/s of the benchmark runner on the quick suite with 1 and 2 workers, and store overhead.

    Each worker count runs the same episodes (the quick suite's random policy, plus oracle in a full
    run; ``budget`` < 1 keeps that share of them, at least 4) into a fresh store, ``repeats`` times
    (default 2 quick, 3 full) interleaved 1, 2, 1, 2, ...; the best run of each counts, so load from
    other processes on a shared machine biases neither side. ``episodes_per_s`` counts the whole run,
    worker start-up included; ``steady_episodes_per_s`` the rate once each worker has stored its first
    row (``RunReport.steady_episodes_per_s``), and ``runner_scaling`` is the ratio of the steady rates
    (2 workers / 1). ``occupancy`` is the summed episode time over (wall time x workers): the share of
    the run the workers spent in episodes (load from other processes stretches both alike, so this
    shows the runner's own idle time). ``store_overhead_pct`` is the main process's time writing rows
    over the summed episode time, over all runs. ``load_avg`` is the 1-minute load average before and
    after, and ``machine_scaling`` the same ratio for a plain CPU-bound loop (:func:`machine_scaling`):
    what the machine allowed meanwhile.
    """
    import tempfile

    from ethogym.benchmarks.runner import run_suite
    from ethogym.benchmarks.store import ResultsStore

    repeats = repeats if repeats is not None else _runner_repeats(quick)
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    suite, policies, episodes = _runner_episodes(quick, budget)
    row: dict[str, Any] = {
        "suite": suite.name,
        "policies": list(policies),
        "episodes": episodes,
        "repeats": repeats,
        "load_avg": [os.getloadavg()[0]],
    }
    store_s = episode_s = 0.0
    for _ in range(repeats):
        for workers in RUNNER_WORKERS:
            with (
                tempfile.TemporaryDirectory(prefix="ethogym-perf-") as tmp,
                ResultsStore(Path(tmp) / "r.db") as store,
            ):
                report = run_suite(
                    suite, policies, store, workers=workers, max_episodes=episodes, progress=False
                )
            for name, value in (
                (f"episodes_per_s_{workers}w", report.episodes_per_s),
                (f"steady_episodes_per_s_{workers}w", report.steady_episodes_per_s),
                (f"occupancy_{workers}w", report.episode_time_s / (report.wall_time_s * workers)),
            ):
                row[name] = max(row.get(name, 0.0), value)
            store_s += report.store_s
            episode_s += report.episode_time_s
    row["load_avg"].append(os.getloadavg()[0])
    first, last = RUNNER_WORKERS[0], RUNNER_WORKERS[-1]
    row["runner_scaling"] = row[f"steady_episodes_per_s_{last}w"] / row[f"steady_episodes_per_s_{first}w"]
    row["machine_scaling"] = machine_scaling()
    row["store_overhead_pct"] = 100.0 * store_s / episode_s if episode_s > 0 else 0.0
    row["pass"] = {
        m: bool(row[m] >= t) if higher else bool(row[m] <= t) for m, (t, higher, _) in RUNNER_TARGETS.items()
    }
    row["targets"] = {m: t for m, (t, _, _) in RUNNER_TARGETS.items()}
    row["machine"] = machine()
    return row


def runner_plan(quick: bool = True, budget: float = 1.0) -> str:
    """What ``run_runner`` is about to time, for a line before its silent minutes."""
    _, policies, episodes = _runner_episodes(quick, budget)
    return (
        f"timing the runner: {episodes} episodes of the {RUNNER_SUITE} suite ({', '.join(policies)}) with "
        f"{' and '.join(map(str, RUNNER_WORKERS))} workers, {_runner_repeats(quick)} times each "
        "(a few minutes)..."
    )


def print_runner_report(row: dict[str, Any], console: Any = None) -> None:
    """A rich table of the runner figures: episodes/s per worker count, scaling and store overhead."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(
        title=f"runner: {row['suite']} suite, {row['episodes']} episodes of {', '.join(row['policies'])}"
    )
    table.add_column("measure")
    for workers in RUNNER_WORKERS:
        table.add_column(f"{workers} worker{'s' if workers > 1 else ''}", justify="right")
    table.add_column("target", justify="right")
    table.add_column("result", justify="center")
    table.add_row(
        "episodes/s, whole run", *(f"{row[f'episodes_per_s_{w}w']:.2f}" for w in RUNNER_WORKERS), "", ""
    )
    table.add_row(
        "episodes/s, steady", *(f"{row[f'steady_episodes_per_s_{w}w']:.2f}" for w in RUNNER_WORKERS), "", ""
    )
    table.add_row(
        "worker occupancy", *(f"{100 * row[f'occupancy_{w}w']:.0f}%" for w in RUNNER_WORKERS), "", ""
    )
    blank = [""] * (len(RUNNER_WORKERS) - 1)
    for measure, label, text in (
        ("runner_scaling", f"scaling {RUNNER_WORKERS[-1]} / {RUNNER_WORKERS[0]} workers", "{:.2f}x"),
        ("store_overhead_pct", "store writes / episode time", "{:.2f}%"),
    ):
        target, higher, unit = RUNNER_TARGETS[measure]
        verdict = "[green]pass[/]" if row["pass"][measure] else "[red]fail[/]"
        target_text = ("≥ " if higher else "≤ ") + (f"{target:.1f}x" if unit == "x" else f"{target:.0f}%")
        table.add_row(label, *blank, text.format(row[measure]), target_text, verdict)
    console.print(table)
    load = row["load_avg"]
    console.print(
        f"1-minute load average {load[0]:.1f} before, {load[-1]:.1f} after ({os.cpu_count()} CPUs); "
        f"two plain CPU-bound processes scaled {row['machine_scaling']:.2f}x on this machine right after"
    )


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
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    if not rows:
        console.print("no environments timed")
        return
    for row in rows:
        options = ", ".join(f"{k}={v}" for k, v in (row.get("options") or {}).items())
        table = Table(
            title=f"{row['env_id']}{escape(f' [{options}]') if options else ''}  "
            f"({'quick' if row.get('quick') else 'full'} run, {row.get('wall_time_s', 0.0):.1f} s)"
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
        console.print(f"[red]below target:[/] {'; '.join(failed)}")
    else:
        console.print("[green]all targets met[/]")


if __name__ == "__main__":
    import sys

    full = "--full" in sys.argv
    print_report(run(quick=not full))
