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


@pytest.mark.parametrize("mode", ["physical", "teleport"])
def test_a_hand_over_does_not_break_the_mug(make_env, mode: str) -> None:
    """The oracle's hand-over broke the mug in 9 of 10 episodes: the robot's hand target jumped to
    the person's hand (physical), and the person's grip snapped it to their arm (teleport). What
    someone holds moves with their hand, so it is judged only once let go."""
    from ethogym.policies import make_policy

    for seed in range(3):
        env = make_env("ethogym/Social-Handover-v0", skill_execution=mode)
        obs, info = env.reset(seed=seed)
        policy = make_policy("oracle", env)
        policy.reset(seed)
        events: list[str] = []
        while not (info.get("is_success") or len(events) > 200):
            obs, _, terminated, truncated, info = env.step(policy.act(obs, info))
            events += info["events"] or ["step"]
            assert not (terminated or truncated) or info["is_success"]
        assert info["is_success"]
        assert not env.unwrapped.executor.by_label["mug_1"].broken, (seed, events)


@pytest.mark.parametrize("mode", ["physical", "teleport"])
def test_a_wipe_is_done_when_what_the_tool_removes_is_gone(make_env, mode: str) -> None:
    """A book with dust and a stain, wiped with a dry rag (which takes dust, not stains): teleport
    reported success and physical a failure after 4 s of wiping that could never finish."""
    env = make_env("ethogym/Household-CleanABook-v0", skill_execution=mode, terminate_on_success=False)
    env.reset(seed=0)
    book = env.unwrapped.executor.by_label["book_1"]
    book.covered["stain.n.01"] = 1.0
    for skill in ("navigate_to(rag_1)", "pick(rag_1)", "navigate_to(book_1)", "clean(book_1)"):
        info = env.step(skill)[4]
    assert info["skill_result"]["success"], info["skill_result"]
    assert set(book.covered) == {"stain.n.01"}


WARM_APPLE = """(define (problem warm_apple-0)
    (:domain omnigibson)
    (:objects
        apple.n.01_1 - apple.n.01
        countertop.n.01_1 - countertop.n.01
        floor.n.01_1 - floor.n.01
        agent.n.01_1 - agent.n.01
    )
    (:init
        (ontop apple.n.01_1 countertop.n.01_1)
        (hot apple.n.01_1)
        (not (cooked apple.n.01_1))
        (inroom countertop.n.01_1 kitchen)
        (inroom floor.n.01_1 kitchen)
        (ontop agent.n.01_1 floor.n.01_1)
    )
    (:goal (and (not (cooked ?apple.n.01_1)) (ontop ?apple.n.01_1 ?countertop.n.01_1)))
)
"""


def test_a_hot_thing_in_init_is_not_cooked_by_the_first_tick(tmp_path, make_env) -> None:
    """(hot x) started every thing at 60 C, and an apple cooks at 58 C: the first tick cooked it,
    against the same :init's (not (cooked x))."""
    path = tmp_path / "problem0.bddl"
    path.write_text(WARM_APPLE)
    env = make_env("ethogym/Behavior-v0", activity=None, task_file=str(path), skill_execution="teleport")
    _, info = env.reset(seed=0)
    apple = env.unwrapped.scope["apple.n.01_1"]
    assert apple.hot and not apple.cooked and info["is_success"]
    info = env.step("wait()")[4]
    assert apple.hot and not apple.cooked and info["is_success"]
