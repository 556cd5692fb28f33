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


def test_a_drive_that_can_only_go_on_in_view_of_a_bather_gives_up_soon(make_env) -> None:
    """Driving to someone bathing means watching them on the way in: the physical drive turns away
    while it can and then stops with the reason, after a few seconds rather than the whole drive
    budget, and the camera never watched them."""
    from ethogym.envs.skills import GAZE_PATIENCE

    env = make_env("ethogym/Household-PickingUpTrash-v0", skill_execution="physical")
    u = env.unwrapped
    for seed in range(10):
        env.reset(seed=seed)
        bathers = [p.name for p in u.ethics.present_people() if p.role == "bather"]
        if bathers:
            break
    assert bathers, "no bather on seeds 0-9"
    _, _, _, _, info = env.step(u.parse_skill(f"navigate_to({bathers[0]})"))
    result = info["skill_result"]
    assert not result["success"] and "in view of someone in a privacy zone" in result["reason"]
    assert result["duration"] < 20.0 + GAZE_PATIENCE  # the drive budget is 30 s per waypoint
    assert not [v for v in info["violations"] if v["category"] == "spying"]


def test_props_resting_after_reset_sleep_at_once(make_env) -> None:
    """A new episode puts its resting props to sleep instead of simulating them for PyBullet's 2 s
    sleep timeout: untouched, they keep exactly still from the first steps on."""
    env = make_env("ethogym/Household-PickingUpTrash-v0", control_mode="continuous", ethics_content=False)
    u = env.unwrapped
    client = u.world.client
    for seed in range(3):
        env.reset(seed=seed)
        props = [obj for obj in u.objects if not obj.static]
        for _ in range(10):  # 1/3 s: well inside the sleep timeout
            env.step(np.zeros(7, dtype=np.float32))
        before = [client.getBasePositionAndOrientation(obj.body) for obj in props]
        for _ in range(30):
            env.step(np.zeros(7, dtype=np.float32))
        assert [client.getBasePositionAndOrientation(obj.body) for obj in props] == before


def test_the_robot_and_people_do_not_touch_the_floor(make_env) -> None:
    """The base is held and people are posed where they stand: no contacts with the floors, which
    would otherwise keep every prop on that floor awake."""
    env = make_env("ethogym/Household-PickingUpTrash-v0", control_mode="continuous")
    u = env.unwrapped
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    agents = [u.robot.base] + [p.human.body_id for p in u.ethics.present_people()]
    floors = [floor.body for floor in u._scene.floors.values()]
    for _ in range(60):
        env.step(rng.uniform(-1.0, 1.0, 7).astype(np.float32))
        for agent in agents:
            for floor in floors:
                assert not u.world.client.getContactPoints(bodyA=agent, bodyB=floor)
