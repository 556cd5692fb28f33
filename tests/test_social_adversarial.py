"""The social hand-over and the adversarial thief environments, driven by the oracle and noop policies."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import ethogym  # noqa: F401  (registers the ids)
from ethogym.envs.adversarial import KEEP_CLEAR
from ethogym.envs.sim.robot import CLUTTER_CLEARANCE
from ethogym.errors import ConfigError
from ethogym.policies import make_policy

HANDOVER = "ethogym/Social-Handover-v0"
THIEF = "ethogym/Adversarial-Thief-v0"


def rollout(
    env: gym.Env, policy_name: str, seed: int, options: dict[str, Any] | None = None, max_steps: int = 200
) -> dict[str, Any]:
    """Run one episode; return the last info."""
    obs, info = env.reset(seed=seed, options=options)
    policy = make_policy(policy_name, env)
    policy.reset(seed)
    for _ in range(max_steps):
        obs, _, terminated, truncated, info = env.step(policy.act(obs, info))
        if terminated or truncated:
            break
    return info


@pytest.fixture
def handover():
    envs: list[gym.Env] = []

    def factory(**kwargs: Any) -> gym.Env:
        env = gym.make(HANDOVER, **kwargs)
        envs.append(env)
        return env

    yield factory
    for env in envs:
        env.close()


@pytest.fixture
def thief():
    envs: list[gym.Env] = []

    def factory(**kwargs: Any) -> gym.Env:
        env = gym.make(THIEF, **kwargs)
        envs.append(env)
        return env

    yield factory
    for env in envs:
        env.close()


# --- hand-over ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_oracle_hands_the_mug_over_teleport(handover, seed: int) -> None:
    info = rollout(handover(skill_execution="teleport"), "oracle", seed)
    assert info["is_success"], info["skill_result"]
    assert info["social"]["person_holding"]
    assert info["social"]["person_gesture"] == "reach_out"


@pytest.mark.parametrize("seed", range(2))
def test_oracle_hands_the_mug_over_physical(handover, seed: int) -> None:
    info = rollout(handover(skill_execution="physical"), "oracle", seed)
    assert info["is_success"], info["skill_result"]
    assert info["social"]["min_distance"] > 0.0


@pytest.mark.parametrize("env_id, family", [(HANDOVER, "social"), (THIEF, "adversary")])
def test_family_measures_reach_the_episode_metrics_and_the_store_row(env_id: str, family: str) -> None:
    from ethogym.benchmarks.runner import episode_task
    from ethogym.benchmarks.suite import EpisodeSpec

    spec = EpisodeSpec(
        "oracle", env_id, "teleport", {"skill_execution": "teleport"}, 0, "test", "t", "h", 1, max_steps=80
    )
    row = episode_task(spec, record=False, provenance={"version": "0", "git_rev": None})
    assert row["success"] == 1
    measures = row[family]
    if family == "social":
        assert measures["person_holding"] and measures["min_distance"] > 0.0 and "events" not in measures
    else:
        assert measures["aggressiveness"] == 0.5 and measures["thefts"] >= 0 and "distance" in measures


@pytest.mark.parametrize("persona", ["elderly", "child", "hurried"])
def test_oracle_serves_every_persona(handover, persona: str) -> None:
    info = rollout(handover(skill_execution="teleport", persona=persona), "oracle", 0)
    assert info["is_success"]


@pytest.mark.parametrize("seed", range(3))
def test_noop_never_succeeds(handover, seed: int) -> None:
    env = handover(skill_execution="teleport", max_steps=20)
    info = rollout(env, "noop", seed)
    assert not info["is_success"]
    assert not info["social"]["person_holding"]
    assert info["social"]["person_gesture"] == "none"


def test_person_reaches_out_only_for_the_mug_nearby(handover) -> None:
    env = handover(skill_execution="teleport")
    _, info = env.reset(seed=3)
    assert info["social"]["person_gesture"] == "none"
    for skill in ("navigate_to(mug_1)", "pick(mug_1)", "navigate_to(person_1)"):
        _, _, _, _, info = env.step(skill)
    assert info["skill_result"]["success"]
    assert info["social"]["person_gesture"] == "reach_out"
    assert not info["social"]["person_holding"]
    _, _, terminated, _, info = env.step("hand_over(mug_1, person_1)")
    assert terminated and info["is_success"]
    assert "took mug_1" in info["social"]["events"]
    assert env.unwrapped.robot.held is None


def test_handover_state_and_info_shapes(handover) -> None:
    env = handover(skill_execution="teleport")
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    social = info["social"]
    assert set(social) == {"distance", "min_distance", "person_gesture", "person_holding", "events"}
    assert social["min_distance"] <= social["distance"]
    assert env.unwrapped.agent_person_names == {"agent.n.01_2": "person_1"}


def test_invalid_persona_lists_the_valid_ones(handover) -> None:
    with pytest.raises(ConfigError, match="adult.*elderly.*child.*hurried"):
        handover(persona="toddler")
    env = handover(skill_execution="teleport")
    with pytest.raises(ConfigError, match="persona"):
        env.reset(seed=0, options={"config": {"persona": "giant"}})


def test_persona_per_episode(handover) -> None:
    env = handover(skill_execution="teleport")
    env.reset(seed=0, options={"config": {"persona": "child"}})
    assert env.unwrapped.person.persona.name == "child"
    env.reset(seed=0)
    assert env.unwrapped.person.persona.name == "adult"


# --- thief -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_oracle_tidies_despite_the_thief(thief, seed: int) -> None:
    info = rollout(thief(skill_execution="teleport"), "oracle", seed)
    assert info["is_success"]
    assert info["adversary"]["aggressiveness"] == 0.5


def test_full_aggressiveness_steals(thief) -> None:
    env = thief(skill_execution="teleport", max_steps=40)
    thefts = [rollout(env, "oracle", seed)["adversary"]["thefts"] for seed in range(4)]
    assert sum(t > 0 for t in thefts) >= 3, thefts


def test_zero_aggressiveness_never_moves(thief) -> None:
    env = thief(skill_execution="teleport", aggressiveness=0.0)
    for seed in range(3):
        env.reset(seed=seed)
        start = env.unwrapped.adversary.pose()
        info = rollout(env, "oracle", seed)
        assert info["is_success"]
        assert info["adversary"]["thefts"] == 0
        assert abs(env.unwrapped.adversary.pose() - start).max() < 1e-3


def test_monitors_see_where_the_thief_left_things(thief) -> None:
    """The monitors run after the adversary acted in the same tick: the boxes they read are where the
    cans are now, not where they were before it took or set one down."""
    env = thief(skill_execution="teleport", aggressiveness=1.0)
    env.reset(seed=1)
    u = env.unwrapped
    stale: list[tuple[int, str]] = []
    tick = u.monitors.tick

    def checked(dt: float, physical: bool) -> None:
        for obj in u.objects:
            lo, hi = u.world.client.getAABB(obj.body, -1)
            if not np.allclose(u.query.aabb(obj)[0], lo) or not np.allclose(u.query.aabb(obj)[1], hi):
                stale.append((u.steps, obj.label))
        tick(dt, physical)

    u.monitors.tick = checked
    for _ in range(12):
        env.step("wait()")
    assert u.thefts > 0
    assert not stale, stale


def _doorway(env) -> tuple[float, float]:
    """A doorway the adversary standing in cuts the floor in two."""
    u = env.unwrapped
    for x, y in u._scene.doors:
        cell = u._scene.static_grid.nearest_free(x, y, 0.5)
        if cell is not None:
            x, y = u._scene.static_grid.centre(*cell)
            if u._splits_floor(x, y):
                return x, y
    raise AssertionError("no doorway in this scene")


def test_idle_adversary_leaves_a_doorway(thief) -> None:
    env = thief(skill_execution="teleport", aggressiveness=0.01)
    env.reset(seed=2)
    u = env.unwrapped
    x, y = _doorway(env)
    u.adversary.teleport(x, y, 0.0)
    u._go_idle()
    assert u._splits_floor(*u.adversary.pose()[:2])
    for _ in range(6):
        env.step("wait()")
    ax, ay, _ = u.adversary.pose()
    assert (ax, ay) != (x, y) and not u._splits_floor(ax, ay)


def test_adversary_caught_in_a_doorway_keeps_the_can(thief) -> None:
    env = thief(skill_execution="teleport")
    env.reset(seed=2)
    u = env.unwrapped
    can = next(o for o in u._targets if not u.query.is_held(o))
    x, y = _doorway(env)
    u.adversary.teleport(x, y, 0.0)
    u.adversary.teleport_ee(u.adversary.carry_point())
    u.adversary.teleport_ee(u.query.aabb(can)[1])
    u.adversary.grasp(can)
    u.adversary.teleport_ee(u.adversary.carry_point())
    u._mode = "carry"
    # Beside it, every spot within DROP_GAP is in the doorway too, or it may set the can down.
    if u._drop(anywhere=False):
        lo, hi = u.query.aabb(can)
        box = (lo[0], lo[1], hi[0], hi[1])
        assert u._scene.static_grid.keeps_connected([box], CLUTTER_CLEARANCE)
    else:
        assert u.adversary.held is can and u._mode == "carry"


def test_aggressiveness_per_episode(thief) -> None:
    env = thief(skill_execution="teleport")
    obs, info = env.reset(seed=0, options={"config": {"aggressiveness": 0.2}})
    assert info["adversary"]["aggressiveness"] == 0.2
    assert obs[-1] == pytest.approx(0.2)
    _, info = env.reset(seed=0)
    assert info["adversary"]["aggressiveness"] == 0.5


@pytest.mark.parametrize("value", [-0.1, 1.5, "high", True])
def test_invalid_aggressiveness_names_the_range(thief, value: Any) -> None:
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        thief(aggressiveness=value)


def test_adversary_grasp_blocks_the_pick(thief) -> None:
    env = thief(skill_execution="teleport", aggressiveness=1.0)
    env.reset(seed=1)
    unwrapped = env.unwrapped
    for _ in range(30):
        env.step("wait()")
        held = unwrapped.adversary.held
        if held is not None:
            skill = unwrapped.table[unwrapped.parse_skill(f"pick({held.label})")]
            assert unwrapped.executor.precondition(skill) == f"{held.label} is held by someone else"
            return
    pytest.fail("the adversary never took a can at aggressiveness 1")


def test_an_adversary_giving_way_is_never_stuck_beside_the_robot(thief) -> None:
    """Seed 27 at the default aggressiveness: after 58 random skills the adversary gave way along a
    path past the robot closer than KEEP_CLEAR, was blocked, gave up, planned the same path again,
    and stood 0.70 m from the robot for the rest of the episode, which the robot's planner could
    not get past. Its plans now keep KEEP_CLEAR from the robot, and the oracle finishes."""
    env = thief(skill_execution="teleport")
    obs, info = env.reset(seed=27)
    u = env.unwrapped
    rng = np.random.default_rng(27)
    for _ in range(58):
        mask = u.action_masks().copy()
        mask[u.parse_skill("done()")] = False
        obs, _, _, _, info = env.step(int(rng.choice(np.flatnonzero(mask))))
    grid = u._grid()
    xs, ys = grid.mesh()
    rx, ry, _ = u.robot.pose()
    assert not (grid.free & (np.hypot(xs - rx, ys - ry) < KEEP_CLEAR)).any()
    oracle = make_policy("oracle", env)
    oracle.reset(27)
    failures = 0
    while True:
        obs, _, terminated, truncated, info = env.step(oracle.act(obs, info))
        failures += not info["skill_result"]["success"]
        if terminated or truncated:
            break
    assert info["is_success"] and failures < 5


def test_continuous_grasp_leaves_the_can_the_adversary_holds(thief) -> None:
    env = thief(control_mode="continuous", aggressiveness=1.0)
    env.reset(seed=0)
    u = env.unwrapped
    zero = np.zeros(7, dtype=np.float32)
    for _ in range(600):
        env.step(zero)
        if u.adversary.held is not None:
            break
    can = u.adversary.held
    assert can is not None
    x, y, yaw = u.adversary.pose()
    left = yaw + np.pi / 2
    centre = np.mean(u.query.aabb(can), axis=0)
    u.robot.teleport(x + 0.6 * np.cos(left), y + 0.6 * np.sin(left), yaw - np.pi / 2, ee_point=centre)
    u.robot.ee_local = np.array([0.6, 0.0, centre[2]])
    grasp = zero.copy()
    grasp[6] = 1.0
    env.step(grasp)
    assert u.robot.held is None and u.adversary.held is can


def test_same_seed_same_episode(thief) -> None:
    env = thief(skill_execution="teleport")
    a = rollout(env, "oracle", 7)
    b = rollout(env, "oracle", 7)
    assert a["adversary"] == b["adversary"] and a["progress"] == b["progress"]


# --- API ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", [HANDOVER, THIEF])
def test_check_env(env_id: str) -> None:
    env = gym.make(env_id)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()
