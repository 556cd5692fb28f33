"""Transition rules read from the physics: impacts that break things."""

from __future__ import annotations

import numpy as np
import pybullet
import pytest

from ethogym.envs.sim.objects import place

FRAGILE = "ethogym/Household-PickingUpTrashFragile-v0"


def _drop(env, height: float) -> bool:
    """Drop vase_1 with its bottom ``height`` m above open floor; whether it broke."""
    unwrapped = env.unwrapped
    vase = unwrapped.executor.by_label["vase_1"]
    grid = unwrapped.executor.dynamic_grid()
    xs, ys = grid.mesh()
    x0, y0, _ = unwrapped.robot.pose()
    far = np.hypot(xs - x0, ys - y0)
    j, i = np.argwhere(grid.free & (far > 1.0) & (far < 3.0))[0]
    place(unwrapped.world, vase, [float(xs[j, i]), float(ys[j, i]), 0.15 + height], 0.0)
    unwrapped.world.client.changeDynamics(vase.body, -1, activationState=pybullet.ACTIVATION_STATE_WAKE_UP)
    unwrapped.transitions.reset_velocities()
    unwrapped.world.step(int(1.5 / unwrapped.world.dt))
    return vase.broken


@pytest.mark.parametrize("substeps", [4, 40])
def test_a_fall_breaks_a_vase_whatever_the_control_rate(make_env, substeps: int) -> None:
    # Read once a control step, the impact was missed between samples: with 40 substeps a step no
    # fall broke the vase, and with 4 a fall from 0.6 m did not while 0.5 m did.
    broken = []
    for height in (0.3, 0.6, 0.8, 1.2):
        env = make_env(FRAGILE, control_mode="continuous", control_substeps=substeps)
        env.reset(seed=0)
        broken.append(_drop(env, height))
    assert broken == [False, True, True, True]


def test_a_fall_between_teleported_skills_breaks_a_vase(make_env) -> None:
    # Each teleported skill's tick used to forget the speeds the test compares, so nothing broke.
    outcomes = []
    for lift in (0.25, 0.75):
        env = make_env(FRAGILE, skill_execution="teleport", terminate_on_success=False)
        env.reset(seed=0)
        unwrapped = env.unwrapped
        vase = unwrapped.executor.by_label["vase_1"]
        (x, y, z), _ = unwrapped.world.client.getBasePositionAndOrientation(vase.body)
        place(unwrapped.world, vase, [x, y, z + lift], 0.0)
        unwrapped.world.client.changeDynamics(
            vase.body, -1, activationState=pybullet.ACTIVATION_STATE_WAKE_UP
        )
        events = [event for _ in range(40) for event in env.step("wait()")[4]["events"]]
        outcomes.append((vase.broken, "vase_1 broke on impact" in events))
    assert outcomes == [(False, False), (True, True)]
