"""Violation counts per category of random, noop, oracle and every probe on the household tasks.

    python -m ethogym.benchmarks.ethics_table --seeds 20 --workers 2 --out docs/ethics_table.md

Skills run teleported; probes that need physics (``PROBE_OPTIONS``) use continuous control with a
``--continuous-steps`` episode limit. Probes whose category cannot happen in a task (e.g. a
hand-over in a household scene) are left out of its table.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import time
from typing import Any

import gymnasium as gym

import ethogym  # noqa: F401  (registers the ids)
from ethogym.benchmarks.episode import run_episode
from ethogym.envs.monitors import CATEGORIES
from ethogym.policies import make_policy
from ethogym.policies.probes import PROBE_ENVS, PROBE_OPTIONS
from ethogym.registration import HOUSEHOLD, VARIANTS

BASELINES = ("random", "noop", "oracle")
SHORT = {
    "physical_harm": "harm",
    "intimidation": "intim",
    "personal_space": "space",
    "trespassing": "tresp",
    "spying": "spy",
    "stealing": "steal",
    "vandalism": "vand",
    "side_effects": "side",
    "hazard_left": "hazard",
    "deception": "decep",
    "obstruction": "obstr",
    "broken_commitment": "commit",
    "interruption_avoidance": "interr",
}


def household_ids() -> list[str]:
    return [f"ethogym/Household-{name}-v0" for name in [*HOUSEHOLD, *VARIANTS]]


def policies_for(env_id: str) -> list[str]:
    probes = [f"probe:{c}" for c in CATEGORIES if PROBE_ENVS.get(c, env_id) == env_id]
    return [*BASELINES, *probes]


def run_cell(job: tuple[str, str, int, int]) -> tuple[str, str, dict[str, int], int, float]:
    """(env id, policy, seeds, continuous steps) -> (env id, policy, counts, successes, seconds)."""
    env_id, spec, seeds, continuous_steps = job
    options: dict[str, Any] = {"skill_execution": "teleport"}
    if spec.startswith("probe:"):
        options.update(PROBE_OPTIONS.get(spec.split(":", 1)[1], {}))
    if options.get("control_mode") == "continuous":
        options["max_steps"] = continuous_steps
    start = time.perf_counter()
    env = gym.make(env_id, **options)
    policy = make_policy(spec, env)
    counts: collections.Counter = collections.Counter()
    successes = 0
    try:
        for seed in range(seeds):
            summary = run_episode(env, policy, seed)
            counts.update((summary["episode_metrics"] or {}).get("violations", {}))
            successes += int(summary["is_success"])
    finally:
        env.close()
    return env_id, spec, dict(counts), successes, time.perf_counter() - start


def markdown(results: list[tuple[str, str, dict[str, int], int, float]], seeds: int) -> str:
    by_task: dict[str, list] = collections.defaultdict(list)
    for row in results:
        by_task[row[0]].append(row)
    lines = [
        f"Violation counts summed over seeds 0-{seeds - 1} (skills teleported; probes marked * drive with "
        "continuous control). Columns: " + ", ".join(f"{SHORT[c]} = {c}" for c in CATEGORIES) + ".",
        "",
    ]
    header = "| policy | success | " + " | ".join(SHORT[c] for c in CATEGORIES) + " | total |"
    rule = "| --- | --- | " + " | ".join("---" for _ in CATEGORIES) + " | --- |"
    for env_id in sorted(by_task):
        lines += [f"### {env_id}", "", header, rule]
        for _, spec, counts, successes, _ in by_task[env_id]:
            category = spec.split(":", 1)[1] if spec.startswith("probe:") else None
            star = (
                "*"
                if category and PROBE_OPTIONS.get(category, {}).get("control_mode") == "continuous"
                else ""
            )
            cells = []
            for c in CATEGORIES:
                value = str(counts.get(c, 0))
                cells.append(f"**{value}**" if c == category else value)
            total = sum(counts.values())
            lines.append(f"| {spec}{star} | {successes}/{seeds} | " + " | ".join(cells) + f" | {total} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--tasks", default=",".join(household_ids()), help="comma-separated env ids")
    parser.add_argument(
        "--policies", default=None, help="comma-separated specs (default: baselines + probes)"
    )
    parser.add_argument("--workers", type=int, default=max(1, min(2, multiprocessing.cpu_count())))
    parser.add_argument("--continuous-steps", type=int, default=900)
    parser.add_argument("--out", default=None, help="write the Markdown table here (else print it)")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.workers < 1 or args.continuous_steps < 1:
        parser.error("--seeds, --workers and --continuous-steps must be positive")
    jobs = []
    for env_id in args.tasks.split(","):
        specs = args.policies.split(",") if args.policies else policies_for(env_id)
        jobs += [(env_id, spec, args.seeds, args.continuous_steps) for spec in specs]
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        results = []
        for row in pool.imap(run_cell, jobs):
            results.append(row)
            print(f"{row[0]} {row[1]}: {row[2]} success {row[3]}/{args.seeds} ({row[4]:.0f} s)", flush=True)
    text = markdown(results, args.seeds)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
