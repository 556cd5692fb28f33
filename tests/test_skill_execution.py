"""How skills run: the rules' clock in teleport mode, and what a skill may reach."""

from __future__ import annotations

import numpy as np
import pytest

from ethogym.envs.skills import NOMINAL
from ethogym.policies import make_policy

BOOK = "ethogym/Household-CleanABook-v0"


def test_a_teleported_wipe_runs_the_rules_for_its_duration_once(make_env) -> None:
    env = make_env(BOOK, skill_execution="teleport")
    obs, info = env.reset(seed=0)
    unwrapped = env.unwrapped
    ticked: list[float] = []
    update = unwrapped.transitions.update

    def counted(dt: float, cleaners=()):
        ticked.append(dt)
        return update(dt, cleaners)

    unwrapped.transitions.update = counted
    oracle = make_policy("oracle", env)
    oracle.reset(0)
    for _ in range(20):
        ticked.clear()
        obs, _, terminated, truncated, info = env.step(oracle.act(obs, info))
        if info["skill_result"]["text"].startswith("clean("):
            break
    result = info["skill_result"]
    assert result["success"] and result["duration"] == NOMINAL["clean"]
    # The wipe advances the rules while the tool touches; the step adds no second 1.5 s.
    assert sum(ticked) == pytest.approx(NOMINAL["clean"])
    assert info["is_success"]


def test_a_skill_the_mask_allows_never_fails_a_precondition(make_env) -> None:
    # Seed 17 walks into a navigate_to whose target has no free floor around it: the mask does not
    # plan paths, so that is an EXECUTION failure, as the mask's contract says.
    env = make_env("ethogym/Household-TidyingBedroomTempting-v0", skill_execution="teleport")
    env.reset(seed=17)
    unwrapped = env.unwrapped
    rng = np.random.default_rng(17)
    statuses = []
    for _ in range(40):
        allowed = [i for i in np.flatnonzero(unwrapped.action_masks()) if unwrapped.table[i].name != "done"]
        *_, info = env.step(int(rng.choice(allowed)))
        statuses.append(info["skill_result"]["status"])
    assert "PRE_CONDITION" not in statuses
    assert "EXECUTION" in statuses  # the walk does meet a failing skill


@pytest.mark.parametrize("execution", ["teleport", "physical"])
def test_the_arm_does_not_reach_through_a_wall(make_env, execution: str) -> None:
    # Seed 0 starts the robot in the bedroom, 1 m from mug_1 on the other side of the living-room wall.
    env = make_env("ethogym/Household-TidyingBedroom-v0", skill_execution=execution)
    env.reset(seed=0)
    unwrapped = env.unwrapped
    mug = unwrapped.executor.by_label["mug_1"]
    point = unwrapped.executor.reach_point(mug)
    assert unwrapped.robot.within_reach(point) and unwrapped.executor.behind_wall(point)
    pick = unwrapped.parse_skill("pick(mug_1)")
    assert not unwrapped.action_masks()[pick]
    result = env.step(pick)[4]["skill_result"]
    assert result["status"] == "PRE_CONDITION" and "mug_1 is behind a wall" in result["reason"]
    assert unwrapped.robot.held is None


def test_what_rested_on_a_teleported_pick_falls_instead_of_floating(make_env) -> None:
    env = make_env(
        "ethogym/Household-TidyingBedroom-v0", skill_execution="teleport", terminate_on_success=False
    )
    env.reset(seed=1)
    unwrapped = env.unwrapped
    sandal = unwrapped.executor.by_label["sandal_1"]
    for text in ("navigate_to(sandal_1)", "pick(sandal_1)", "navigate_to(book_1)", "place_on(book_1)"):
        assert env.step(text)[4]["skill_result"]["success"], text
    for _ in range(4):
        env.step("wait()")
    assert env.step("pick(book_1)")[4]["skill_result"]["success"]
    lifted_from = unwrapped.query.aabb(sandal)[0][2]
    for _ in range(10):
        env.step("wait()")
    # The book went from under it: it falls onto the bed below (it used to sleep in mid-air).
    assert unwrapped.query.aabb(sandal)[0][2] < lifted_from - 0.02


def test_navigate_to_drives_around_its_target_not_over_it(make_env) -> None:
    # From beside person_1 the shortest way to the ashcan's far side ran over the ashcan: the
    # physical drive shoved it 0.69 m (a teleported one passed through it).
    env = make_env("ethogym/Household-PickingUpTrash-v0", skill_execution="physical")
    env.reset(seed=7)
    client = env.unwrapped.world.client
    ashcan = env.unwrapped.executor.by_label["ashcan_1"].body
    for text in ("navigate_to(person_1)", "gesture(stop)"):
        env.step(text)
    before = np.array(client.getBasePositionAndOrientation(ashcan)[0])
    assert env.step("navigate_to(ashcan_1)")[4]["skill_result"]["success"]
    assert np.linalg.norm(np.array(client.getBasePositionAndOrientation(ashcan)[0]) - before) < 0.01


def test_sim_time_counts_the_durations_teleported_skills_jump(make_env) -> None:
    env = make_env(BOOK, skill_execution="teleport")
    obs, info = env.reset(seed=0)
    oracle = make_policy("oracle", env)
    oracle.reset(0)
    durations = 0.0
    terminated = False
    while not terminated:  # four skills: navigate_to, pick, navigate_to, clean
        obs, _, terminated, _, info = env.step(oracle.act(obs, info))
        durations += info["skill_result"]["duration"]
    # It read the physics' clock only: a few substeps a skill, against seconds of rules' time.
    physics = env.unwrapped.world.time
    assert info["sim_time"] == pytest.approx(physics + durations) and durations > 3.0 > physics
    assert info["episode_metrics"]["sim_time"] == info["sim_time"]
