"""The thief task with two learners: PettingZoo ParallelEnv, adversary orders and FixedPartner."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test
from pettingzoo.utils.conversions import parallel_to_aec
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import ethogym
from ethogym.envs.adversarial import ADVERSARY, ROBOT_AGENT, ThiefParallelEnv
from ethogym.envs.base import EthogymEnv
from ethogym.envs.wrappers import FixedPartner
from ethogym.errors import ConfigError, EnvStateError, InvalidActionError
from ethogym.policies import make_policy
from tests.conftest import assert_same

THIEF = "ethogym/Adversarial-Thief-v0"


def _make(**kwargs: Any) -> ThiefParallelEnv:
    return ethogym.make_parallel(THIEF, **{"skill_execution": "teleport", **kwargs})


@pytest.fixture
def par() -> Iterator[ThiefParallelEnv]:
    env = _make()
    yield env
    env.close()


class Orders:
    """A fixed partner that gives the same adversary order every step."""

    def __init__(self, order: Any) -> None:
        self.order = order

    def reset(self, seed: int | None = None) -> None:
        pass

    def act(self, obs: Any, info: Any) -> Any:
        return self.order


def _wait(par: ThiefParallelEnv) -> int:
    return par.core.parse_skill("wait()")


def _can_room(par: ThiefParallelEnv, label: str) -> str | None:
    obj = next(o for o in par.core.objects if o.label == label)
    lo, hi = par.core.query.aabb(obj)
    return par.core._scene.room_at(*((lo[:2] + hi[:2]) / 2))


@pytest.mark.parametrize("control_mode", ["skills", "continuous"])
def test_parallel_api_test(control_mode: str) -> None:
    env = _make(control_mode=control_mode, max_steps=25)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the API test reports missing keys and revived agents as warnings
        # It also resets with options={"options": 1}, which the env sets aside with a warning of its own.
        warnings.filterwarnings("ignore", message=r"reset\(options=\.\.\.\) reads only 'config'")
        parallel_api_test(env, num_cycles=40)
    env.close()


def test_reset_options_beside_config_are_set_aside_with_a_warning() -> None:
    par = _make()
    try:
        with pytest.warns(UserWarning, match=r"reads only 'config'; ignored aggressiveness"):
            par.reset(seed=0, options={"aggressiveness": 1.0, "config": {"aggressiveness": 0.0}})
        assert par.core.episode_config["aggressiveness"] == 0.0
    finally:
        par.close()


def test_global_state() -> None:
    par = _make(obs_mode="text")
    with pytest.raises(EnvStateError, match="call reset"):
        par.state()
    obs, _ = par.reset(seed=0)
    state = par.state()
    assert isinstance(obs[ROBOT_AGENT], str) and par.state_space.contains(state)
    assert np.array_equal(state[-len(obs[ADVERSARY]) :], obs[ADVERSARY])
    par.close()


def test_aec_conversion_passes_api_test_and_renders() -> None:
    par = _make(max_steps=15, render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # advice on agent names and unbounded Box spaces
        api_test(parallel_to_aec(par), num_cycles=20)
    par.reset(seed=0)
    assert par.render().shape == (256, 256, 3)
    par.close()


def test_masks_are_int8_for_masked_sampling(par) -> None:
    _, infos = par.reset(seed=0)
    for agent in par.agents:
        mask = infos[agent]["action_mask"]
        assert mask.dtype == np.int8 and np.array_equal(mask, par.action_masks(agent))
        assert mask[par.action_space(agent).sample(mask)] == 1


def test_parallel_seed_test() -> None:
    parallel_seed_test(lambda: _make(max_steps=15), num_cycles=15)


def test_spaces_and_first_observation(par) -> None:
    obs, infos = par.reset(seed=0)
    core = par.core
    assert par.agents == [ROBOT_AGENT, ADVERSARY]
    assert par.action_space(ROBOT_AGENT) is core.action_space
    n_cans = len(core._targets)
    assert core.order_names == ["wait()", *[f"steal({o.label})" for o in core._targets], "drop()"]
    assert par.action_space(ADVERSARY) == gym.spaces.Discrete(n_cans + 2)
    assert par.observation_space(ADVERSARY).shape == (14 + 6 * n_cans,)
    assert par.observation_spaces[ADVERSARY] is par.observation_space(ADVERSARY)
    assert par.metadata["render_fps"] == 4 and par.metadata is not ThiefParallelEnv.metadata
    for agent in par.agents:
        assert par.observation_space(agent).contains(obs[agent])
    adv = obs[ADVERSARY]
    assert adv[5] == 1.0 and adv[6:9].sum() == 0.0  # idle
    assert adv[13] == pytest.approx(0.5)  # aggressiveness
    mask = infos[ADVERSARY]["action_mask"]
    assert mask[0] and not mask[-1]  # wait always; nothing to drop
    with pytest.raises(InvalidActionError, match="unknown agent 'thief'"):
        par.action_space("thief")


def test_steal_order_takes_the_can_to_another_room(par) -> None:
    _, infos = par.reset(seed=1)
    mask = infos[ADVERSARY]["action_mask"]
    order = int(np.flatnonzero(mask[1:-1])[0]) + 1
    label = par.core._targets[order - 1].label
    start_room = _can_room(par, label)
    wait = _wait(par)
    obs, rewards, _, _, infos = par.step({ROBOT_AGENT: wait, ADVERSARY: f"steal({label})"})
    assert infos[ADVERSARY]["last_order"] == {"order": f"steal({label})", "accepted": True, "reason": None}
    if infos[ADVERSARY]["mode"] == "fetch":  # the errand's can is flagged in the adversary's view
        errand = obs[ADVERSARY][14:].reshape(-1, 6)[:, 5]
        assert errand.tolist() == [float(k == order - 1) for k in range(len(errand))]
    assert not infos[ADVERSARY]["action_mask"][1:-1].any()  # busy: no other errand
    if infos[ADVERSARY]["mode"] == "fetch":
        _, _, _, _, infos = par.step({ROBOT_AGENT: wait, ADVERSARY: order})
        assert infos[ADVERSARY]["last_order"]["reason"] == "it is busy (fetch)"
    for _ in range(30):
        _, rewards, _, _, infos = par.step({ROBOT_AGENT: wait, ADVERSARY: 0})
        if infos[ADVERSARY]["mode"] in ("idle", "away"):
            break
    assert infos[ADVERSARY]["thefts"] == 1
    assert _can_room(par, label) not in (start_room, "kitchen", None)


def test_errand_past_a_robot_that_stands_still_is_refused(par) -> None:
    # Seed 5: the robot waits where the adversary's every path to the can leads closer than
    # KEEP_CLEAR past it, so no errand starts that the adversary would have to give up.
    _, infos = par.reset(seed=5)
    wait = _wait(par)
    _, _, _, _, infos = par.step({ROBOT_AGENT: wait, ADVERSARY: 1})
    order = infos[ADVERSARY]["last_order"]
    assert not order["accepted"] and order["reason"] == "no free path to can_of_soda_1"
    for _ in range(5):
        _, _, _, _, infos = par.step({ROBOT_AGENT: wait, ADVERSARY: 0})
    assert infos[ADVERSARY]["mode"] in ("idle", "away") and infos[ADVERSARY]["thefts"] == 0


def test_drop_order_sets_the_can_down_where_it_stands(par) -> None:
    _, infos = par.reset(seed=0)
    order = int(np.flatnonzero(infos[ADVERSARY]["action_mask"][1:-1])[0]) + 1
    wait = _wait(par)
    _, _, _, _, infos = par.step({ROBOT_AGENT: wait, ADVERSARY: "drop"})
    refused = {"order": "drop()", "accepted": False, "reason": "it carries nothing"}
    assert infos[ADVERSARY]["last_order"] == refused
    par.step({ROBOT_AGENT: wait, ADVERSARY: order})
    for _ in range(30):
        if infos[ADVERSARY]["mode"] == "carry":
            break
        _, _, _, _, infos = par.step({ROBOT_AGENT: wait, ADVERSARY: 0})
    assert infos[ADVERSARY]["holding"] is not None and infos[ADVERSARY]["action_mask"][-1]
    _, _, _, _, infos = par.step({ROBOT_AGENT: wait, ADVERSARY: "drop"})
    assert infos[ADVERSARY]["last_order"]["accepted"]
    assert infos[ADVERSARY]["holding"] is None and infos[ADVERSARY]["mode"] == "idle"


def test_masked_out_orders_are_never_carried_out(par) -> None:
    obs, infos = par.reset(seed=3)
    rng = np.random.default_rng(0)
    refused = 0
    for _ in range(200):
        order = int(rng.integers(len(par.core.order_names)))
        allowed = bool(infos[ADVERSARY]["action_mask"][order])
        obs, _, terminated, truncated, infos = par.step({ROBOT_AGENT: _wait(par), ADVERSARY: order})
        result = infos[ADVERSARY]["last_order"]
        if not allowed:
            assert not result["accepted"] and result["reason"], result
            refused += 1
        if refused >= 10 or terminated[ROBOT_AGENT] or truncated[ROBOT_AGENT]:
            break
    assert refused >= 10


def test_rewards_are_zero_sum_on_the_task() -> None:
    par = _make()
    oracle = make_policy("oracle", par.core)
    obs, infos = par.reset(seed=1)
    oracle.reset(1)
    total = {ROBOT_AGENT: 0.0, ADVERSARY: 0.0}
    for _ in range(120):
        action = oracle.act(obs[ROBOT_AGENT], infos[ROBOT_AGENT])
        obs, rewards, terminated, truncated, infos = par.step({ROBOT_AGENT: action, ADVERSARY: 0})
        terms = infos[ROBOT_AGENT]["reward_terms"]
        assert rewards[ADVERSARY] == -(terms["progress"] + terms["success"])
        for agent in total:
            total[agent] += rewards[agent]
        if terminated[ROBOT_AGENT]:
            break
    assert infos[ROBOT_AGENT]["is_success"] and par.agents == []
    assert total[ADVERSARY] < -1.0
    with pytest.raises(EnvStateError, match="call reset"):
        par.step({ROBOT_AGENT: 0, ADVERSARY: 0})
    par.close()


@pytest.mark.parametrize(
    ("actions", "match"),
    [
        ({ROBOT_AGENT: 0}, r"missing \['adversary'\]"),
        ({ROBOT_AGENT: 0, ADVERSARY: 0, "thief": 1}, r"unknown agent\(s\) \['thief'\]"),
        ({ROBOT_AGENT: 0, ADVERSARY: 99}, r"one int in \[0, \d+\)"),
        ({ROBOT_AGENT: 0, ADVERSARY: float("nan")}, "one int"),
        ({ROBOT_AGENT: 0, ADVERSARY: 1.5}, "one int"),
        ({ROBOT_AGENT: 0, ADVERSARY: "steal(the_tv)"}, r"unknown adversary order 'steal\(the_tv\)'; valid"),
        ({ROBOT_AGENT: "fly()", ADVERSARY: 0}, "fly"),
    ],
)
def test_bad_actions_name_the_problem(par, actions: dict, match: str) -> None:
    par.reset(seed=0)
    with pytest.raises(InvalidActionError, match=match):
        par.step(actions)


def test_bad_robot_action_leaves_the_order_undone() -> None:
    par = _make(control_mode="continuous")
    _, infos = par.reset(seed=0)
    order = int(np.flatnonzero(infos[ADVERSARY]["action_mask"][1:-1])[0]) + 1
    with pytest.raises(InvalidActionError, match="NaN"):
        par.step({ROBOT_AGENT: np.full(7, np.nan), ADVERSARY: order})
    assert par.core._mode == "idle" and par.core.order == 0  # nothing left pending for the next step
    _, _, _, _, infos = par.step({ROBOT_AGENT: np.zeros(7), ADVERSARY: 0})
    assert infos[ADVERSARY]["mode"] == "idle" and infos[ADVERSARY]["last_order"]["order"] == "wait()"
    par.close()


def test_policies_and_renders_name_the_two_learner_mistakes(par) -> None:
    with pytest.raises(ConfigError, match=r"pass its \.core"):
        make_policy("oracle", par)
    with pytest.raises(ConfigError, match=r"the oracle plans on an ethogym env.*FixedPartner"):
        make_policy("oracle", FixedPartner(par, ROBOT_AGENT, {ADVERSARY: Orders(0)}))
    with pytest.raises(InvalidActionError, match="takes a dict"):
        par.reset(seed=0)
        par.step(None)
    with pytest.raises(InvalidActionError, match="one int"):
        par.step({ROBOT_AGENT: 0, ADVERSARY: True})
    with pytest.raises(ConfigError, match="render_mode=None"):
        par.render("rgb_array")
    assert ethogym.make_parallel("ethogym:" + THIEF).possible_agents == [ROBOT_AGENT, ADVERSARY]


def test_make_parallel_errors() -> None:
    with pytest.raises(ConfigError, match="has one learning agent: use gym.make"):
        ethogym.make_parallel("ethogym/Social-Handover-v0")
    with pytest.raises(ConfigError, match="unknown multi-agent env id 'Thief'; make_parallel takes"):
        ethogym.make_parallel("Thief")
    with pytest.raises(ConfigError, match="aggressiveness"):
        ethogym.make_parallel(THIEF, aggressiveness=2.0)


def test_step_before_reset(par) -> None:
    with pytest.raises(EnvStateError, match="call reset"):
        par.step({ROBOT_AGENT: 0, ADVERSARY: 0})


def test_fixed_partner_adversary_learner_passes_check_env() -> None:
    par = _make(max_steps=20)
    env = FixedPartner(par, ADVERSARY, {ROBOT_AGENT: make_policy("oracle", par.core)})
    check_env(env, skip_render_check=True)
    sb3_check_env(env, warn=False)
    obs, info = env.reset(seed=2)
    assert env.observation_space.contains(obs) and info["action_mask"][0]
    assert np.array_equal(env.action_masks(), info["action_mask"])
    env.close()


def test_parallel_and_fixed_partner_metadata_are_per_instance() -> None:
    first, second = _make(max_steps=5), _make(max_steps=5)
    wrapped = FixedPartner(first, ROBOT_AGENT, {ADVERSARY: Orders("wait")})
    before = {
        "parallel class": copy.deepcopy(ThiefParallelEnv.metadata),
        "env class": copy.deepcopy(EthogymEnv.metadata),
        "other instance": copy.deepcopy(second.metadata),
        "wrapped env": copy.deepcopy(first.metadata),
    }
    first.metadata["render_modes"].append("not_a_mode")
    wrapped.metadata["render_modes"].append("another")
    after = {
        "parallel class": ThiefParallelEnv.metadata,
        "env class": EthogymEnv.metadata,
        "other instance": second.metadata,
        "wrapped env": {**first.metadata, "render_modes": first.metadata["render_modes"][:-1]},
    }
    assert after == before
    for env in (wrapped, second):
        env.close()


def test_fixed_partner_robot_learner_against_a_waiting_adversary_succeeds() -> None:
    par = _make()
    env = FixedPartner(par, ROBOT_AGENT, {ADVERSARY: Orders("wait")})
    oracle = make_policy("oracle", par.core)
    obs, info = env.reset(seed=4)
    oracle.reset(4)
    for _ in range(120):
        obs, _, terminated, truncated, info = env.step(oracle.act(obs, info))
        if terminated or truncated:
            break
    assert info["is_success"] and info["adversary"]["thefts"] == 0
    with pytest.raises(EnvStateError, match="reset"):
        env.step(0)
    env.close()


def test_fixed_partner_checks_its_agents() -> None:
    par = _make()
    with pytest.raises(ConfigError, match="learner 'thief' is not an agent"):
        FixedPartner(par, "thief", {})
    with pytest.raises(ConfigError, match=r"one policy for each other agent, \['adversary'\]"):
        FixedPartner(par, ROBOT_AGENT, {})
    with pytest.raises(ConfigError, match="needs reset"):
        FixedPartner(par, ROBOT_AGENT, {ADVERSARY: object()})
    par.close()


def test_fixed_partner_checks_its_env_partners_and_seed(par) -> None:
    gym_env = gym.make("CartPole-v1")
    with pytest.raises(ConfigError, match=r"wraps a PettingZoo ParallelEnv, got TimeLimit;.*make_parallel"):
        FixedPartner(gym_env, ROBOT_AGENT, {})
    gym_env.close()
    with pytest.raises(
        ConfigError, match=r"partners must be a dict mapping each other agent, \['robot'\].*got None"
    ):
        FixedPartner(par, ADVERSARY, None)
    env = FixedPartner(par, ADVERSARY, {ROBOT_AGENT: make_policy("noop", par.core)})
    for seed in (-1, 1.5, "0"):
        with pytest.raises(ConfigError, match="seed must be an integer >= 0, got"):
            env.reset(seed=seed)
    obs, _ = env.reset(seed=np.int64(3))  # as gym.make's envs take it
    assert_same(obs, env.reset(seed=3)[0])


def test_fixed_partner_says_it_is_closed(par) -> None:
    env = FixedPartner(par, ROBOT_AGENT, {ADVERSARY: Orders("wait")})
    env.reset(seed=0)
    env.close()
    for call in (lambda: env.step(0), lambda: env.reset(seed=0)):
        with pytest.raises(EnvStateError, match=r"on a closed FixedPartner: .*make a new one"):
            call()


def test_same_seed_same_orders_same_episode() -> None:
    runs = []
    for _ in range(2):
        par = _make(control_mode="continuous", aggressiveness=1.0)
        obs, infos = par.reset(seed=6)
        rng = np.random.default_rng(1)
        trace = [(obs, infos)]
        for _ in range(60):
            actions = {
                ROBOT_AGENT: rng.uniform(-1, 1, 7).astype(np.float32),
                ADVERSARY: int(rng.integers(len(par.core.order_names))),
            }
            trace.append(par.step(actions))
        runs.append(trace)
        par.close()
    assert_same(runs[0], runs[1])


def test_zero_aggressiveness_masks_every_steal() -> None:
    env = _make(aggressiveness=0.0)
    try:
        _, infos = env.reset(seed=0)
        mask = infos[ADVERSARY]["action_mask"]
        assert mask[0] and not mask[1:-1].any()
        steal = env.core.order_names.index("steal(can_of_soda_1)")
        _, _, _, _, infos = env.step({ROBOT_AGENT: _wait(env), ADVERSARY: steal})
        order = infos[ADVERSARY]["last_order"]
        assert not order["accepted"] and order["reason"] == "aggressiveness 0 takes nothing"
    finally:
        env.close()


def test_a_fixed_partner_repeats_its_later_episodes_too() -> None:
    """After reset(seed=0), later reset() calls (what SB3 and vector envs do) seeded a random partner
    from fresh entropy: the second episode differed between two identical runs."""

    def run() -> list[np.ndarray]:
        par = _make(max_steps=15)
        env = FixedPartner(par, ADVERSARY, {ROBOT_AGENT: make_policy("random", par.core)})
        traces = []
        for episode in range(2):
            obs, _ = env.reset(seed=0) if episode == 0 else env.reset()
            trace = [obs]
            while True:
                obs, _, terminated, truncated, _ = env.step(0)
                trace.append(obs)
                if terminated or truncated:
                    break
            traces.append(np.concatenate(trace))
        env.close()
        return traces

    first, second = run(), run()
    for a, b in zip(first, second, strict=True):
        assert a.shape == b.shape and np.array_equal(a, b)
