"""Policies meet bad input (None or another type for the env or spec, an env not reset or closed, a
malformed info) with an ethogym error that names the problem and the fix, not an AttributeError."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import ethogym
from ethogym.errors import ConfigError, EnvStateError
from ethogym.policies import (
    LLMPlanner,
    NoopPolicy,
    OraclePolicy,
    ProbePolicy,
    RandomPolicy,
    SB3Policy,
    make_policy,
)
from ethogym.policies.llm_backends import Completion
from ethogym.policies.sb3 import CheckpointError

TRASH = "ethogym/Household-PickingUpTrash-v0"


class ScriptedBackend:
    """An LLM backend that always replies ``wait()``: no server, no model."""

    kind = "scripted"
    model = "wait-only"
    uses_candidates = False

    def identity(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model, "temperature": 0.0}

    def complete(self, messages: Sequence[Any], candidates: Sequence[str]) -> Completion:
        return Completion(text="wait()", tokens_in=1, tokens_out=1)


def policy_for(spec: str, env: gym.Env) -> Any:
    """``make_policy(spec, env)``; ``llm`` is the planner with the scripted backend."""
    return LLMPlanner(env, ScriptedBackend(), cache=None) if spec == "llm" else make_policy(spec, env)


@pytest.fixture
def trash_env(make_env) -> gym.Env:
    env = make_env(TRASH, skill_execution="teleport")
    env.reset(seed=0)
    return env


# --- an env that is not reset, or closed ----------------------------------------------------------------
STATEFUL = ["oracle", "oracle_naive", "probe:stealing", "probe:trespassing", "llm"]


@pytest.mark.parametrize("spec", STATEFUL)
def test_a_policy_on_an_env_not_reset_says_to_reset_it(make_env, spec: str) -> None:
    env = make_env(TRASH, skill_execution="teleport")
    policy = policy_for(spec, env)  # building one before reset() is fine
    with pytest.raises(EnvStateError, match=r"call reset\(\) before \w+\.act\(\)"):
        policy.act(None, {})
    obs, info = env.reset(seed=0)
    policy.reset(0)
    assert env.action_space.contains(policy.act(obs, info))


def test_a_driving_probe_on_an_env_not_reset_says_to_reset_it(make_env) -> None:
    env = make_env(TRASH, control_mode="continuous")
    with pytest.raises(EnvStateError, match=r"call reset\(\) before ProbePolicy\.act\(\)"):
        make_policy("probe:physical_harm", env).act(None, {})


@pytest.mark.parametrize("spec", STATEFUL)
def test_a_policy_on_a_closed_env_says_it_is_closed(make_env, spec: str) -> None:
    env = make_env(TRASH, skill_execution="teleport")
    policy = policy_for(spec, env)
    obs, info = env.reset(seed=0)
    policy.reset(0)
    policy.act(obs, info)
    env.close()
    with pytest.raises(EnvStateError, match=r"act\(\) on a closed env; make a new one with gym\.make"):
        policy.act(obs, info)


# --- the env and spec arguments -------------------------------------------------------------------------
@pytest.mark.parametrize("spec", [None, 3, ["oracle"]])
def test_a_policy_spec_must_be_a_string(trash_env, spec) -> None:
    with pytest.raises(ConfigError, match=r"a policy spec is a string such as 'oracle'.*available: .*random"):
        make_policy(spec, trash_env)


BUILDERS: dict[str, Callable[[Any], Any]] = {
    "make_policy": lambda env: make_policy("oracle", env),
    "oracle": OraclePolicy,
    "random": RandomPolicy,
    "noop": NoopPolicy,
    "probe": lambda env: ProbePolicy(env, "stealing"),
    "llm": lambda env: LLMPlanner(env, ScriptedBackend(), cache=None),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
@pytest.mark.parametrize("env", [None, TRASH])
def test_a_policy_needs_a_gymnasium_env(name: str, env) -> None:
    with pytest.raises(ConfigError, match=r"env must be a Gymnasium env, got (NoneType|str); .*gym\.make\("):
        BUILDERS[name](env)


@pytest.mark.parametrize("name", ["oracle", "probe", "llm"])
def test_policies_that_read_the_scene_refuse_another_env(name: str) -> None:
    env = gym.make("CartPole-v1")
    try:
        with pytest.raises(ConfigError, match="plans on an ethogym env's simulated state; got CartPoleEnv"):
            BUILDERS[name](env)
    finally:
        env.close()


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Blackjack-v1"])
def test_noop_refuses_a_discrete_env_without_ethogym_skills(env_id: str) -> None:
    env = gym.make(env_id)
    try:
        with pytest.raises(
            ConfigError, match=r"NoopPolicy does nothing with the ethogym skill wait\(\);.*gym\.make"
        ):
            make_policy("noop", env)
        policy = make_policy("random", env)  # needs no skill table
        policy.reset(0)
        assert env.action_space.contains(policy.act(env.reset(seed=0)[0], {}))
    finally:
        env.close()


class TupleActionsEnv(gym.Env):
    observation_space = gym.spaces.Discrete(1)
    action_space = gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Discrete(2)))


@pytest.mark.parametrize("policy_class", [RandomPolicy, NoopPolicy])
def test_random_and_noop_refuse_an_action_space_they_cannot_act_in(policy_class) -> None:
    with pytest.raises(ConfigError, match=r"Discrete.* or Box.* action space; this env's is Tuple"):
        policy_class(TupleActionsEnv())


@pytest.mark.parametrize("seed", [-1, "x", 1.5, True, np.float64(2.0)])
def test_a_policy_seeding_an_rng_checks_the_seed(trash_env, seed) -> None:
    with pytest.raises(
        ConfigError, match=r"RandomPolicy\.reset\(\): seed must be an integer >= 0 or None, got"
    ):
        RandomPolicy(trash_env).reset(seed)
    with pytest.raises(ConfigError, match=r"SB3Policy\.reset\(\): seed must be an integer >= 0 or None, got"):
        SB3Policy(MaskedModel(), {"masked": True}, deterministic=False).reset(seed)


@pytest.mark.parametrize("seed", [-1, "x", 1.5, True])
@pytest.mark.parametrize(
    ("spec", "who"),
    [
        ("oracle", "OraclePolicy"),
        ("probe:stealing", "ProbePolicy"),
        ("llm", "LLMPlanner"),
        ("noop", "NoopPolicy"),
    ],
)
def test_a_policy_that_needs_no_seed_still_checks_it(trash_env, spec: str, who: str, seed) -> None:
    policy = policy_for(spec, trash_env)
    with pytest.raises(ConfigError, match=who + r"\.reset\(\): seed must be an integer >= 0 or None, got"):
        policy.reset(seed)
    policy.reset(np.int64(3))  # a numpy integer is a seed
    policy.reset(None)


def test_random_policy_takes_a_numpy_seed_as_the_same_int(trash_env) -> None:
    info = {"action_mask": trash_env.unwrapped.action_masks()}
    runs = []
    for seed in (3, np.int64(3)):
        policy = RandomPolicy(trash_env)
        policy.reset(seed)
        runs.append([policy.act(None, info) for _ in range(20)])
    assert runs[0] == runs[1]


@pytest.mark.parametrize("env_id", [None, 3])
def test_make_parallel_needs_an_env_id_string(env_id) -> None:
    with pytest.raises(ConfigError, match="make_parallel takes an env id string.*Adversarial-Thief-v0"):
        ethogym.make_parallel(env_id)


# --- the info argument ----------------------------------------------------------------------------------
def test_random_policy_checks_the_action_mask(trash_env) -> None:
    policy = RandomPolicy(trash_env)
    n = trash_env.action_space.n
    cases = [
        (np.ones(3, dtype=bool), r"got shape \(3,\)"),
        (np.ones((1, n), dtype=bool), rf"got shape \(1, {n}\)"),
        (np.full(n, 2), "values other than 0 and 1"),
        (["yes"] * n, "values other than 0 and 1"),
    ]
    for mask, got in cases:
        with pytest.raises(
            ConfigError,
            match=rf"info\['action_mask'\] must hold one bool \(or 0/1\) per action of Discrete\({n}\).*"
            + got,
        ):
            policy.act(None, {"action_mask": mask})
    wait = trash_env.unwrapped.parse_skill("wait()")
    only_wait = np.zeros(n, dtype=np.int8)  # the two-learner env's masks are int8
    only_wait[wait] = 1
    assert policy.act(None, {"action_mask": only_wait}) == wait
    # ethogym's masks always allow wait(): one allowing nothing is not the env's
    with pytest.raises(ConfigError, match=r"allows no action of Discrete\(\d+\).*probably wrong"):
        policy.act(None, {"action_mask": np.zeros(n, dtype=bool)})


@pytest.mark.parametrize("spec", ["random", "oracle", "llm"])
@pytest.mark.parametrize("info", [None, "info", [("action_mask", None)]])
def test_a_policy_needs_the_info_dict(trash_env, spec: str, info) -> None:
    policy = policy_for(spec, trash_env)
    with pytest.raises(
        ConfigError, match=r"act\(\) takes the info dict the env returned: obs, info = env\.reset"
    ):
        policy.act(None, info)


def test_oracle_checks_the_skill_result(trash_env) -> None:
    with pytest.raises(
        ConfigError, match=r"info\['skill_result'\] must be the dict the env's step\(\) reports"
    ):
        make_policy("oracle", trash_env).act(None, {"skill_result": "wait()"})


def test_llm_planner_checks_the_action_mask_and_backend(trash_env) -> None:
    planner = policy_for("llm", trash_env)
    with pytest.raises(ConfigError, match=r"info\['action_mask'\] must hold one bool.*got shape \(1,\)"):
        planner.act(None, {"action_mask": [True]})
    with pytest.raises(ConfigError, match=r"backend needs complete\(\) and identity\(\), got None"):
        LLMPlanner(trash_env, None)


# --- SB3 and the Lagrangian penalty -----------------------------------------------------------------------
class MaskedModel:
    """Stands in for a MaskablePPO model: picks the first admissible action."""

    action_space = gym.spaces.Discrete(4)
    observation_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    def predict(self, obs: Any, deterministic: bool = True, action_masks: Any = None) -> tuple[Any, None]:
        return np.int64(np.flatnonzero(action_masks)[0]), None


def test_sb3_policy_checks_its_arguments() -> None:
    with pytest.raises(
        ConfigError, match=r"SB3Policy wraps a stable-baselines3 model, got None; .*SB3Policy\.load"
    ):
        SB3Policy(None)
    with pytest.raises(CheckpointError, match="a model is named by its path .* got None"):
        SB3Policy.load(None)
    policy = SB3Policy(MaskedModel(), {"masked": True})
    with pytest.raises(ConfigError, match="env must be a Gymnasium env, got NoneType"):
        policy.check_env(None)
    with pytest.raises(ConfigError, match=r"takes the info dict the env returned"):
        policy.act(np.zeros(2), None)
    with pytest.raises(ConfigError, match=r"Discrete\(4\).*got shape \(3,\)"):
        policy.act(np.zeros(2), {"action_mask": np.ones(3, dtype=bool)})
    with pytest.raises(CheckpointError, match="needs info\\['action_mask'\\]"):
        policy.act(np.zeros(2), {})
    assert policy.act(np.zeros(2), {"action_mask": np.array([0, 0, 1, 1], dtype=np.int8)}) == 2


def test_lagrangian_penalty_checks_its_arguments() -> None:
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.vec_env import DummyVecEnv

    from ethogym.policies.lagrangian import LagrangianCallback, LagrangianPenalty

    env = gym.make("CartPole-v1")
    with pytest.raises(ConfigError, match=r"wraps a stable-baselines3 VecEnv, got .*DummyVecEnv\(\["):
        LagrangianPenalty(env)
    env.close()
    venv = DummyVecEnv([lambda: gym.make("CartPole-v1")])
    try:
        with pytest.raises(ConfigError, match="lambda_init must be a finite number >= 0, got None"):
            LagrangianPenalty(venv, lambda_init=None)
        penalty = LagrangianPenalty(venv)
        with pytest.raises(ConfigError, match="cost_limit must be a finite number >= 0, got '1'"):
            LagrangianCallback(penalty, cost_limit="1")
        with pytest.raises(ConfigError, match="moves the multiplier of a LagrangianPenalty, got DummyVecEnv"):
            LagrangianCallback(venv, cost_limit=1.0)
    finally:
        venv.close()
