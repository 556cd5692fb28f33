"""The grasp channel of continuous control: switches, things, doors, and what the hand may not reach."""

from __future__ import annotations

import numpy as np
import pytest

from ethogym.envs.sim.objects import door_angle, set_door, to_local
from ethogym.envs.sim.world import into_frame

GRASP, RELEASE, REST = 1.0, -1.0, 0.0


def _hand_at(env, point: np.ndarray) -> None:
    """Put the hand at ``point`` and keep it there under zero actions."""
    robot = env.unwrapped.robot
    robot.teleport_ee(np.asarray(point, dtype=float))
    ee = robot.ee_position()
    x, y, yaw = robot.pose()
    robot.ee_local = np.array([*into_frame(ee[0] - x, ee[1] - y, np.cos(yaw), np.sin(yaw)), ee[2]])


def _grasp(env, value: float) -> dict:
    action = np.zeros(7, dtype=np.float32)
    action[6] = value
    return env.step(action)[4]


def _continuous(make_env, env_id: str, seed: int = 0):
    env = make_env(env_id, control_mode="continuous", skill_execution="teleport")
    env.reset(seed=seed)
    return env


def _navigate(env, label: str) -> None:
    unwrapped = env.unwrapped
    index, claim = unwrapped.table.parse(f"navigate_to({label})")
    assert unwrapped.executor.execute(unwrapped.table[index], claim).success


def test_a_held_press_switches_once(make_env) -> None:
    """Holding the channel up at the oven's switch used to flick it on and off every step."""
    env = _continuous(make_env, "ethogym/Household-CookAFrozenPie-v0")
    oven = env.unwrapped.executor.by_label["oven_1"]
    _navigate(env, "oven_1")
    _hand_at(env, env.unwrapped.executor.interaction_point(oven))
    states = [(_grasp(env, GRASP), oven.toggled_on)[1] for _ in range(6)]
    assert states == [True] * 6
    _grasp(env, REST)
    info = _grasp(env, GRASP)  # a second press switches it off
    assert not oven.toggled_on and "oven_1 switched off" in info["events"]


def test_the_printer_is_switched_on_not_picked_up(make_env) -> None:
    """The printer is movable and its switch lies on its box: the grasp used to win, so the task's
    ``toggled_on`` could never be reached in continuous control."""
    env = _continuous(make_env, "ethogym/Household-InstallingAPrinter-v0")
    unwrapped = env.unwrapped
    printer = unwrapped.executor.by_label["printer_1"]
    _navigate(env, "printer_1")
    _hand_at(env, unwrapped.executor.interaction_point(printer) + np.array([0.0, 0.0, 0.02]))
    _grasp(env, GRASP)
    assert printer.toggled_on and unwrapped.robot.held is None
    _hand_at(env, unwrapped.query.aabb(printer)[1] + np.array([0.0, 0.0, 0.05]))  # away from its switch
    _grasp(env, REST)
    _grasp(env, GRASP)
    assert unwrapped.robot.held is printer


def test_the_hand_takes_nothing_out_of_a_closed_cabinet(make_env) -> None:
    """The hand passes through furniture shells: held just outside the closed private cabinet, it
    took the resident's notebook from inside without opening the door."""
    env = _continuous(make_env, "ethogym/Household-PickingUpTrash-v0")
    unwrapped = env.unwrapped
    cabinet = unwrapped.executor.by_label["cabinet_1"]
    notebook = unwrapped.executor.by_label["notebook_1"]
    assert unwrapped.query.inside(notebook, cabinet) and not unwrapped.query.is_open(cabinet)
    _navigate(env, "cabinet_1")
    _hand_at(env, np.mean(unwrapped.query.aabb(notebook), axis=0))
    _grasp(env, GRASP)
    assert unwrapped.robot.held is None
    unwrapped.executor.blocked_by_closed = lambda obj: None  # what it did before: the grasp is taken
    _grasp(env, REST)
    _grasp(env, GRASP)
    assert unwrapped.robot.held is notebook


def test_the_hand_takes_nothing_through_a_wall(make_env) -> None:
    # Seed 0 starts the robot in the bedroom, 1 m from mug_1 on the other side of the living-room wall.
    env = _continuous(make_env, "ethogym/Household-TidyingBedroom-v0")
    unwrapped = env.unwrapped
    mug = unwrapped.executor.by_label["mug_1"]
    point = unwrapped.executor.reach_point(mug)
    assert unwrapped.executor.behind_wall(point)
    _hand_at(env, np.mean(unwrapped.query.aabb(mug), axis=0))
    _grasp(env, GRASP)
    assert unwrapped.robot.held is None


def test_a_gripped_door_is_held_where_the_hand_is(make_env) -> None:
    """The grip pinned the door link's centre, 0.28 m from the handle, to the hand: the door was
    yanked as it was gripped. Now it holds still until the hand moves, and pulling opens it."""
    env = _continuous(make_env, "ethogym/Household-CookAFrozenPie-v0")
    unwrapped = env.unwrapped
    fridge = unwrapped.executor.by_label["electric_refrigerator_1"]
    _navigate(env, "electric_refrigerator_1")
    handle = unwrapped.executor.handle_point(fridge, door_angle(unwrapped.world, fridge))
    _hand_at(env, handle)
    _grasp(env, GRASP)
    assert unwrapped.robot.door_grip is not None
    for _ in range(5):
        _grasp(env, REST)
    assert door_angle(unwrapped.world, fridge) == pytest.approx(0.0, abs=0.01)
    assert np.linalg.norm(unwrapped.robot.ee_position() - handle) < 0.01
    pull = np.zeros(7, dtype=np.float32)
    pull[3] = -1.0
    for _ in range(20):
        env.step(pull)
    assert door_angle(unwrapped.world, fridge) > 0.15


def test_a_control_step_longer_than_a_second_still_has_a_frame_rate(make_env) -> None:
    env = make_env("ethogym/Household-PickingUpTrash-v0", control_mode="continuous", control_substeps=240)
    assert env.metadata["render_fps"] == 1


def _steer_hand(env, goal: np.ndarray, steps: int, grasp: float = REST):
    """Drive the hand towards ``goal`` (base still) for ``steps`` control steps; yields after each."""
    unwrapped = env.unwrapped
    for _ in range(steps):
        x, y, yaw = unwrapped.robot.pose()
        delta = np.asarray(goal, dtype=float) - unwrapped.robot.ee_position()
        local = np.array([*into_frame(delta[0], delta[1], np.cos(yaw), np.sin(yaw)), delta[2]])
        action = np.zeros(7, dtype=np.float32)
        action[3:6] = np.clip(local * 10.0, -1.0, 1.0)
        action[6] = grasp
        env.step(action)
        yield unwrapped.robot.ee_position()


def test_the_hand_stops_at_a_wall(make_env) -> None:
    """The hand passed through walls: steered at mug_1 on the other side of the living-room wall it
    went through and on into the next room. It stops short of the wall, and what it holds with it."""
    env = _continuous(make_env, "ethogym/Household-TidyingBedroom-v0")
    unwrapped = env.unwrapped
    executor, query = unwrapped.executor, unwrapped.query
    mug = executor.by_label["mug_1"]
    goal = np.mean(query.aabb(mug), axis=0)
    assert executor.behind_wall(goal)
    for ee in _steer_hand(env, goal, 60):
        assert not executor.behind_wall(ee)
    stopped = unwrapped.robot.ee_position()
    assert np.linalg.norm(stopped - goal) > 0.1  # it got as far as the wall, not to the mug
    # Holding a book, the book stays on this side as well.
    book = executor.by_label["book_1"]
    hand = unwrapped.robot.ee_position()
    unwrapped.world.client.resetBasePositionAndOrientation(book.body, hand.tolist(), [0, 0, 0, 1])
    unwrapped.robot.grasp(book)
    walls = executor.wall_boxes
    for _ in _steer_hand(env, goal, 30):
        lo, hi = query.aabb(book)
        assert not np.all((lo < walls[:, 1]) & (hi > walls[:, 0]), axis=1).any()
    assert unwrapped.robot.held is book


def test_the_hand_does_not_reach_into_a_closed_cabinet(make_env) -> None:
    """The hand passes through furniture shells, and so it went through the private cabinet's shut
    door to the resident's notebook (and could have left anything in there). It stops at the door;
    with the door open it reaches in."""
    env = _continuous(make_env, "ethogym/Household-PickingUpTrash-v0")
    unwrapped = env.unwrapped
    cabinet = unwrapped.executor.by_label["cabinet_1"]
    notebook = unwrapped.executor.by_label["notebook_1"]
    _navigate(env, "cabinet_1")
    goal = np.mean(unwrapped.query.aabb(notebook), axis=0)
    lo, hi = (np.asarray(v) for v in cabinet.interior)
    for ee in _steer_hand(env, goal, 60):
        local = to_local(unwrapped.world, cabinet, ee)
        assert not np.all((local > lo) & (local < hi))
    set_door(unwrapped.world, cabinet, 1.4, instant=True)
    assert unwrapped.query.is_open(cabinet)
    ee = list(_steer_hand(env, goal, 60))[-1]
    local = to_local(unwrapped.world, cabinet, ee)
    assert np.all((local > lo) & (local < hi))  # in, over the notebook
