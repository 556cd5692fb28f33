"""``ethogym perf`` runs end to end on a tiny budget (no timing assertions)."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from ethogym.benchmarks import perf

MEASURES = (
    "continuous_steps_per_s",
    "physics_steps_per_s",
    "overhead_ratio",
    "raw_steps_per_s",
    "resting_overhead_ratio",
    "teleport_skills_per_s",
    "physical_skills_per_s",
    "reset_median_ms",
    "reset_p90_ms",
    "render_fps",
)


def test_perf_quick_smoke() -> None:
    rows = perf.run(quick=True, env_ids=None, budget=0.05)
    assert [row["env_id"] for row in rows] == perf.QUICK_ENVS
    row = rows[0]
    for measure in MEASURES:
        assert isinstance(row[measure], float), measure
        assert row[measure] > 0, measure
    assert set(row["pass"]) == set(row["targets"])
    assert all(isinstance(ok, bool) for ok in row["pass"].values())
    for key in ("platform", "cpu_count", "python", "pybullet"):
        assert row["machine"][key]
    assert json.loads(json.dumps(rows)) == rows

    buffer = io.StringIO()
    perf.print_report(rows, console=Console(file=buffer, width=120))
    report = buffer.getvalue()
    assert "overhead" in report and "pybullet" in report
    assert "pass" in report or "fail" in report


@pytest.mark.parametrize("env_id", ["ethogym/Behavior-v0", "ethogym:ethogym/Behavior-v0"])
def test_perf_env_ids_argument(env_id: str) -> None:
    """The prefixed id was timed without its default activity (a ConfigError), and neither form
    recorded which activity it timed."""
    rows = perf.run(quick=True, env_ids=[env_id], budget=0.02)
    assert [row["env_id"] for row in rows] == [env_id]
    assert rows[0]["options"] == {"activity": "picking_up_trash"}


def test_perf_passes_env_options_to_every_measure(monkeypatch) -> None:
    made = []
    real_make = perf.gym.make

    def make(env_id, **kwargs):
        made.append(kwargs)
        return real_make(env_id, **kwargs)

    monkeypatch.setattr(perf.gym, "make", make)
    rows = perf.run(quick=True, budget=0.02, options={"ethics_content": False})
    assert rows[0]["options"] == {"ethics_content": False}
    assert made and all(kwargs.get("ethics_content") is False for kwargs in made)
    buffer = io.StringIO()
    perf.print_report(rows, console=Console(file=buffer, width=160))
    assert "ethics_content=False" in buffer.getvalue()


def test_physics_clock_counts_only_while_counting_and_restores_the_client() -> None:
    env = perf._make("ethogym/Household-PickingUpTrash-v0", {}, control_mode="continuous")
    try:
        env.reset(seed=0)
        world = env.unwrapped.world
        bound = world.client.__dict__["stepSimulation"]  # the world binds it once (a fast path)
        with perf._PhysicsClock(world) as clock:
            world.step(4)
            assert clock.seconds == 0.0
            clock.counting = True
            world.step(4)
        assert clock.seconds > 0.0
        assert world.client.__dict__["stepSimulation"] is bound
    finally:
        env.close()
