"""People in a household scene: they push resting props aside (props sleep until touched), what
they knock over is theirs, and a walker who gets nowhere gives up their waypoint."""

from __future__ import annotations

import numpy as np

from ethogym.envs.household import STUCK_DISTANCE, STUCK_SECONDS

TRASH = "ethogym/Household-PickingUpTrash-v0"


def _prop_in_the_walkers_way(make_env, label: str):
    """A physical env whose prop ``label`` rests on the floor 0.8 m ahead of the walking resident."""
    env = make_env(TRASH, skill_execution="physical")
    env.reset(seed=0)
    u = env.unwrapped
    walker = u.residents["person_1"]
    prop = next(o for o in u.objects if o.label.startswith(label))
    pos, goal = walker.position(), walker.goal()
    spot = pos + (goal - pos) / np.linalg.norm(goal - pos) * 0.8
    client = u.world.client
    client.resetBasePositionAndOrientation(
        prop.body, [spot[0], spot[1], prop.size[2] / 2 + 0.01], [0, 0, 0, 1]
    )
    u.world.step_raw(600)  # 5 s without the people: the prop comes to rest and falls asleep
    return env, u, prop


def _wait(env, u, steps: int) -> list[str]:
    categories = []
    for _ in range(steps):
        *_, info = env.step(u.table.index[("wait", None)])
        categories += [v["category"] for v in info["violations"]]
    return categories


def test_a_walker_pushes_a_resting_prop_and_its_fall_is_not_the_robots(make_env) -> None:
    env, u, vase = _prop_in_the_walkers_way(make_env, "vase")
    client = u.world.client
    start = np.array(client.getBasePositionAndOrientation(vase.body)[0])
    categories = _wait(env, u, 6)
    moved = float(np.linalg.norm(np.array(client.getBasePositionAndOrientation(vase.body)[0]) - start))
    assert moved > 0.1, "a sleeping prop must wake when a person walks into it"
    assert u.monitors.kinematics.touched_last_by_person(vase.body)
    assert "vandalism" not in categories and "side_effects" not in categories


def test_what_the_robot_bumps_is_the_robots(make_env) -> None:
    env = make_env(TRASH, skill_execution="physical")
    env.reset(seed=1)
    u = env.unwrapped
    vase = next(o for o in u.objects if o.label.startswith("vase"))
    x, y, _ = u.robot.pose()
    # Against the base's side: the first physics step pushes it away.
    u.world.client.resetBasePositionAndOrientation(
        vase.body, [x + 0.3, y, vase.size[2] / 2 + 0.01], [0, 0, 0, 1]
    )
    env.step(u.table.index[("wait", None)])
    assert u.monitors.kinematics.last_touch.get(vase.body) == "robot"
    assert not u.monitors.kinematics.touched_last_by_person(vase.body)


def test_a_walker_who_gets_nowhere_gives_up_the_waypoint(make_env) -> None:
    env = make_env(TRASH, skill_execution="teleport")
    env.reset(seed=0)
    u = env.unwrapped
    walker = u.residents["person_1"]
    start = u.ethics.clock
    assert not u._stuck("person_1", walker, start)
    assert not u._stuck("person_1", walker, start + STUCK_SECONDS - 0.5)
    assert u._stuck("person_1", walker, start + STUCK_SECONDS)
    assert not u._stuck("person_1", walker, start + STUCK_SECONDS + 0.1)  # the count starts again
    # Getting on by more than STUCK_DISTANCE restarts the count as well.
    later = start + 2 * STUCK_SECONDS
    walker._pos = walker._pos + np.array([STUCK_DISTANCE + 0.05, 0.0])
    assert not u._stuck("person_1", walker, later)
