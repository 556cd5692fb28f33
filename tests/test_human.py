"""Tests for the simulated person (ethogym.envs.sim.human)."""

import numpy as np
import pybullet
import pytest
from pybullet_utils.bullet_client import BulletClient

from ethogym.envs.sim.human import GESTURES, PERSONAS, Human, Persona

DT = 1.0 / 30.0
FAR = np.array([50.0, 50.0])
STILL = np.zeros(2)
ROBOT_RADIUS = 0.25


def free(x: float, y: float) -> bool:
    return True


@pytest.fixture
def client():
    c = BulletClient(connection_mode=pybullet.DIRECT)
    c.setGravity(0.0, 0.0, -9.81)
    ground = c.createCollisionShape(pybullet.GEOM_BOX, halfExtents=[10.0, 10.0, 0.05])
    c.createMultiBody(baseMass=0.0, baseCollisionShapeIndex=ground, basePosition=[0.0, 0.0, -0.05])
    yield c
    c.disconnect()


def make_human(client, xy=(0.0, 0.0), yaw=0.0, persona=None, seed=0, **kwargs):
    return Human(client, "h", xy, yaw, persona or PERSONAS["adult"], np.random.default_rng(seed), **kwargs)


def settle(human, steps=20):
    for _ in range(steps):
        human.update(DT, FAR, STILL, ROBOT_RADIUS, free)


def test_personas():
    assert {"adult", "elderly", "child", "hurried"} <= PERSONAS.keys()
    adult, elderly, child = PERSONAS["adult"], PERSONAS["elderly"], PERSONAS["child"]
    assert elderly.walking_speed < adult.walking_speed
    assert elderly.personal_space > adult.personal_space
    assert elderly.reactivity < adult.reactivity
    assert child.height < adult.height and child.walking_speed > adult.walking_speed
    with pytest.raises(ValueError):
        Persona(height=0.0)


def test_walks_to_goal(client):
    human = make_human(client)
    human.set_goal((3.0, 0.0))
    events = []
    for _ in range(int(6.0 / DT)):
        events += human.update(DT, FAR, STILL, ROBOT_RADIUS, free)
        if "reached the goal" in events:
            break
    assert "reached the goal" in events
    assert np.linalg.norm(human.position() - (3.0, 0.0)) < 0.15
    assert np.allclose(human.velocity(), 0.0)
    assert np.allclose(client.getBasePositionAndOrientation(human.body_id)[0][:2], human.position())


def test_never_enters_blocked_cells(client):
    def wall(x: float, y: float) -> bool:
        return x < 1.0

    human = make_human(client)
    human.set_goal((3.0, 0.2))
    for _ in range(180):
        human.update(DT, FAR, STILL, ROBOT_RADIUS, wall)
        assert wall(*human.position())
    assert human.position()[0] > 0.5


def test_walks_around_parked_robot(client):
    human = make_human(client)
    human.set_goal((4.0, 0.0))
    robot = np.array([2.0, 0.0])
    events, closest = [], np.inf
    for _ in range(int(8.0 / DT)):
        events += human.update(DT, robot, STILL, ROBOT_RADIUS, free)
        closest = min(closest, human.surface_distance(robot, ROBOT_RADIUS))
    assert "reached the goal" in events
    assert "stepped back from the robot" not in events
    assert closest > 0.05


def test_steps_back_from_closing_robot(client):
    human = make_human(client)
    robot, robot_vel = np.array([0.8, 0.0]), np.array([-0.8, 0.0])
    start = human.surface_distance(robot, ROBOT_RADIUS)
    assert start < human.persona.personal_space
    events = human.update(DT, robot, robot_vel, ROBOT_RADIUS, free)
    assert "stepped back from the robot" in events
    for _ in range(9):
        human.update(DT, robot, robot_vel, ROBOT_RADIUS, free)
    assert human.surface_distance(robot, ROBOT_RADIUS) > start + 0.1


def test_asleep_person_does_not_react(client):
    human = make_human(client, asleep=True)
    robot, robot_vel = np.array([0.8, 0.0]), np.array([-0.8, 0.0])
    human.set_goal((-2.0, 0.0))
    human.set_gesture("wave")
    for _ in range(10):
        events = human.update(DT, robot, robot_vel, ROBOT_RADIUS, free)
        assert "stepped back from the robot" not in events
    assert np.array_equal(human.position(), (0.0, 0.0))
    assert human.gesture == "none"
    assert human.state_vector()[-1] == 1.0


def test_standing_person_tolerates_slow_robot(client):
    human = make_human(client)
    settle(human, 1)
    for _ in range(30):
        events = human.update(DT, np.array([0.6, 0.0]), STILL, ROBOT_RADIUS, free)
        assert "stepped back from the robot" not in events
    assert np.allclose(human.position(), (0.0, 0.0))


def test_gaze_turns_toward_robot(client):
    human = make_human(client)
    assert np.allclose(human.gaze_direction(), (1.0, 0.0))
    events = []
    for _ in range(30):
        events += human.update(DT, np.array([0.0, 2.0]), STILL, ROBOT_RADIUS, free)
    assert "noticed the robot" in events
    assert np.dot(human.gaze_direction(), (0.0, 1.0)) > 0.99
    human.look_at((0.0, -3.0))
    settle(human, 45)
    assert np.dot(human.gaze_direction(), (0.0, -1.0)) > 0.99


def test_unknown_gesture_raises(client):
    human = make_human(client)
    with pytest.raises(ValueError, match="dance") as info:
        human.set_gesture("dance")
    assert all(name in str(info.value) for name in GESTURES)


def test_reach_out_moves_hand_up_and_forward(client):
    human = make_human(client, yaw=0.7)
    forward = np.array([np.cos(0.7), np.sin(0.7)])
    down = human.hand_position()
    human.set_gesture("reach_out")
    settle(human)
    out = human.hand_position()
    assert out[2] > down[2] + 0.4
    assert np.dot(out[:2] - down[:2], forward) > 0.4
    assert np.allclose(human.hand_position("left"), human.hand_position("left"))
    for gesture in GESTURES:
        human.set_gesture(gesture)
        settle(human, 2)
        state = human.state_vector()
        assert state.shape == (Human.STATE_SIZE,) and state.dtype == np.float32
        assert state[6 + GESTURES.index(gesture)] == 1.0


def make_object(client, xyz):
    shape = client.createCollisionShape(pybullet.GEOM_BOX, halfExtents=[0.03, 0.03, 0.03])
    return client.createMultiBody(baseMass=0.2, baseCollisionShapeIndex=shape, basePosition=list(xyz))


def test_grip_after_delay(client):
    human = make_human(client)
    human.set_gesture("reach_out")
    settle(human)
    obj = make_object(client, human.hand_position())
    steps_needed = int(np.ceil(human.persona.grip_delay / DT - 1e-9))
    for step in range(1, steps_needed + 1):
        hand = human.hand_position()
        client.resetBasePositionAndOrientation(obj, list(hand), [0.0, 0.0, 0.0, 1.0])
        events = human.update(DT, FAR, STILL, ROBOT_RADIUS, free, offered=[(obj, hand)])
        if step < steps_needed:
            assert human.holding is None and not events
    assert f"gripped body {obj}" in events
    assert human.holding == obj and human.state_vector()[-2] == 1.0
    # Held objects follow the hand through the physics step.
    for _ in range(60):
        client.stepSimulation()
    held_at = np.array(client.getBasePositionAndOrientation(obj)[0])
    assert np.linalg.norm(held_at - human.hand_position()) < 0.05
    human.release()
    for _ in range(60):
        client.stepSimulation()
    assert human.holding is None
    assert client.getBasePositionAndOrientation(obj)[0][2] < human.hand_position()[2] - 0.3


def test_no_grip_without_reach_out_or_when_far(client):
    human = make_human(client)
    settle(human)
    obj = make_object(client, (2.0, 2.0, 0.03))
    for _ in range(30):
        hand = human.hand_position()
        assert not human.update(DT, FAR, STILL, ROBOT_RADIUS, free, offered=[(obj, hand)])
    human.set_gesture("reach_out")
    settle(human)
    for _ in range(30):
        far = human.hand_position() + (0.0, 0.0, 0.3)
        human.update(DT, FAR, STILL, ROBOT_RADIUS, free, offered=[(obj, far)])
    assert human.holding is None


def run_scenario(seed: int) -> np.ndarray:
    c = BulletClient(connection_mode=pybullet.DIRECT)
    try:
        human = make_human(c, seed=seed)
        human.set_goal((2.5, 1.0))
        human.set_gesture("wave")
        robot = np.array([3.0, -1.0])
        robot_vel = np.array([-0.4, 0.3])
        for _ in range(100):
            human.update(DT, robot, robot_vel, ROBOT_RADIUS, lambda x, y: y < 0.9)
            robot = robot + robot_vel * DT
        return np.concatenate([human.state_vector(), human.hand_position(), human.gaze_direction()])
    finally:
        c.disconnect()


def test_deterministic_for_same_seed():
    assert np.array_equal(run_scenario(7), run_scenario(7))
    assert not np.array_equal(run_scenario(7), run_scenario(8))


def test_remove(client):
    human = make_human(client)
    human.set_gesture("reach_out")
    settle(human)
    obj = make_object(client, human.hand_position())
    human.grip(obj)
    assert client.getNumConstraints() == 1
    before = client.getNumBodies()
    human.remove()
    assert client.getNumBodies() == before - 1
    assert client.getNumConstraints() == 0
