"""Bad input raises the documented ethogym error with a message that names the problem."""

from __future__ import annotations

import copy
import gc
import pickle
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from conftest import trash_problem

import ethogym  # noqa: F401
from ethogym.envs.base import EthogymEnv
from ethogym.errors import (
    ConfigError,
    EnvStateError,
    EthogymError,
    InvalidActionError,
    SamplingError,
    TaskDefinitionError,
    UnsupportedActivityError,
)
from ethogym.registration import ENV_INFO, FIXED_TASKS, OPEN_TASK_ID
from ethogym.tasks.activity import check_supported, load_activity, predicates_used
from ethogym.tasks.backend import UNSUPPORTED
from ethogym.tasks.sampler import SceneSampler

TRASH = "ethogym/Household-PickingUpTrash-v0"

GOOD_PROBLEM = trash_problem("(inside can__of__soda.n.01_1 ashcan.n.01_1)", cans=2)


@pytest.mark.parametrize(
    "error", [ConfigError, TaskDefinitionError, UnsupportedActivityError, InvalidActionError]
)
def test_errors_are_value_errors(error: type[Exception]) -> None:
    assert issubclass(error, ValueError)
    assert issubclass(error, EthogymError)


@pytest.fixture
def trash_env():
    env = gym.make(TRASH, skill_execution="teleport")
    env.reset(seed=0)
    yield env
    env.close()


@pytest.fixture
def continuous_env():
    env = gym.make(TRASH, control_mode="continuous")
    env.reset(seed=0)
    yield env
    env.close()


# --- ids and task definitions ------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", ["ethogym/Household-NotATask-v0", "ethogym/NoSuchFamily-v0"])
def test_unknown_id(env_id: str) -> None:
    with pytest.raises(gym.error.NameNotFound):
        gym.make(env_id)


def test_unknown_version() -> None:
    with pytest.raises(gym.error.UnregisteredEnv):
        gym.make("ethogym/Household-PickingUpTrash-v99")


def test_unknown_activity() -> None:
    with pytest.raises(TaskDefinitionError, match="not_an_activity"):
        gym.make("ethogym/Behavior-v0", activity="not_an_activity")


def test_behavior_without_activity() -> None:
    with pytest.raises(ConfigError, match="activity"):
        gym.make("ethogym/Behavior-v0")


@pytest.mark.parametrize("activity", ["boil_water", "filling_salt"])
def test_unsupported_activity_names_the_predicate(activity: str) -> None:
    definition = load_activity(activity)
    init, goal = predicates_used(definition)
    missing = sorted((init | goal) & set(UNSUPPORTED))
    assert missing, f"{activity} was expected to use an unsupported predicate"
    with pytest.raises(UnsupportedActivityError) as direct:
        check_supported(definition)
    with pytest.raises(UnsupportedActivityError) as made:
        gym.make("ethogym/Behavior-v0", activity=activity)
    for excinfo in (direct, made):
        message = str(excinfo.value)
        assert activity in message
        for predicate in missing:
            assert f"'{predicate}'" in message


def test_a_room_with_more_furniture_than_its_walls_hold_is_unsupported() -> None:
    """The classroom's ten tables and ten chairs never fitted along a room's walls: every reset
    raised a SceneError after eight layouts, though ``supported_activities()`` listed it."""
    with pytest.raises(
        UnsupportedActivityError, match=r"the classroom has 22 pieces of furniture needing 22\.3 m"
    ):
        gym.make("ethogym/Behavior-v0", activity="set_up_a_preschool_classroom")


def test_well_formed_task_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "problem0.bddl"
    path.write_text(GOOD_PROBLEM)
    env = gym.make("ethogym/Behavior-v0", task_file=str(path), skill_execution="teleport")
    try:
        _, info = env.reset(seed=0)
        assert not info["is_success"]
    finally:
        env.close()


def _bad_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.bddl"
    path.write_text(text)
    return str(path)


def test_task_file_unbalanced_parentheses(tmp_path: Path) -> None:
    text = GOOD_PROBLEM.rstrip().removesuffix(")")
    with pytest.raises(TaskDefinitionError, match="unbalanced parentheses") as excinfo:
        gym.make("ethogym/Behavior-v0", task_file=_bad_file(tmp_path, text))
    assert "bad.bddl" in str(excinfo.value)


def test_task_file_undeclared_goal_object(tmp_path: Path) -> None:
    text = GOOD_PROBLEM.replace(
        "(inside can__of__soda.n.01_1 ashcan.n.01_1)", "(inside can__of__soda.n.01_1 ashcan.n.01_7)"
    )
    with pytest.raises(TaskDefinitionError, match="ashcan.n.01_7"):
        gym.make("ethogym/Behavior-v0", task_file=_bad_file(tmp_path, text))


def test_task_file_undeclared_quantified_type(tmp_path: Path) -> None:
    text = GOOD_PROBLEM.replace(
        "(inside can__of__soda.n.01_1 ashcan.n.01_1)",
        "(forall (?apple.n.01 - apple.n.01) (inside ?apple.n.01 ashcan.n.01_1))",
    )
    with pytest.raises(TaskDefinitionError, match="apple.n.01"):
        gym.make("ethogym/Behavior-v0", task_file=_bad_file(tmp_path, text))


def test_task_file_missing_goal(tmp_path: Path) -> None:
    start = GOOD_PROBLEM.index("    (:goal")
    text = GOOD_PROBLEM[:start] + ")\n"
    with pytest.raises(TaskDefinitionError, match=":goal"):
        gym.make("ethogym/Behavior-v0", task_file=_bad_file(tmp_path, text))


def test_task_file_missing(tmp_path: Path) -> None:
    with pytest.raises(TaskDefinitionError, match="does not exist"):
        gym.make("ethogym/Behavior-v0", task_file=str(tmp_path / "absent.bddl"))


def test_task_file_not_bddl(tmp_path: Path) -> None:
    with pytest.raises(TaskDefinitionError, match="not a BDDL problem"):
        gym.make("ethogym/Behavior-v0", task_file=_bad_file(tmp_path, "hello world\n"))


def test_every_household_id_is_a_fixed_task_registered_by_key() -> None:
    household = {i for i in ENV_INFO if i.startswith("ethogym/Household-")}
    assert household == set(FIXED_TASKS)
    for env_id in household:
        # The private key, not activity=: a user's activity= must stay distinguishable from the spec's.
        assert gym.spec(env_id).kwargs == {"_task": env_id}


@pytest.mark.parametrize("env_id", sorted(FIXED_TASKS))
def test_fixed_id_refuses_another_activity(env_id: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        gym.make(env_id, activity="cook_a_frozen_pie" if "Pie" not in env_id else "picking_up_trash")
    message = str(excinfo.value)
    assert env_id in message and "activity=" in message
    assert f"gym.make('{OPEN_TASK_ID}', activity=" in message and "task_file=" in message


@pytest.mark.parametrize(
    ("env_id", "override"),
    [
        (TRASH, {"task_file": "problem0.bddl"}),
        (TRASH, {"instance": 1}),
        (TRASH, {"sidecar": "picking_up_trash_fragile"}),
        ("ethogym/Household-PickingUpTrashFragile-v0", {"sidecar": None}),
    ],
)
def test_fixed_id_refuses_other_task_options(env_id: str, override: dict) -> None:
    (key,) = override
    with pytest.raises(ConfigError, match=f"{key}=.*would run another task.*{OPEN_TASK_ID}"):
        gym.make(env_id, **override)


@pytest.mark.parametrize("env_id", ["ethogym/Social-Handover-v0", "ethogym/Adversarial-Thief-v0"])
def test_family_ids_refuse_another_task(env_id: str) -> None:
    with pytest.raises(ConfigError, match="activity='cook_a_frozen_pie' would run another task"):
        gym.make(env_id, activity="cook_a_frozen_pie")


def test_fixed_id_accepts_its_own_task_options_and_spec_kwargs() -> None:
    fragile = "ethogym/Household-PickingUpTrashFragile-v0"
    env = gym.make(fragile, activity="picking_up_trash", instance=0, skill_execution="teleport")
    try:
        assert env.unwrapped.config["activity"] == "picking_up_trash"
        assert env.unwrapped.config["sidecar"] == "picking_up_trash_fragile"
        again = gym.make(env.spec.id, **env.spec.kwargs)
        assert again.unwrapped.config == env.unwrapped.config
        again.close()
    finally:
        env.close()


def test_private_task_key_must_name_a_fixed_id() -> None:
    with pytest.raises(ConfigError, match="not a fixed ethogym task"):
        gym.make(OPEN_TASK_ID, _task="ethogym/Household-Nope-v0")


def test_behavior_with_activity_and_task_file(tmp_path: Path) -> None:
    path = tmp_path / "problem0.bddl"
    path.write_text(GOOD_PROBLEM)
    with pytest.raises(ConfigError, match="give one of activity= or task_file="):
        gym.make(OPEN_TASK_ID, activity="picking_up_trash", task_file=str(path))


# --- options -----------------------------------------------------------------------------------------
def test_unknown_option_lists_valid_options() -> None:
    with pytest.raises(ConfigError) as excinfo:
        gym.make(TRASH, obs_mod="rgb")
    message = str(excinfo.value)
    assert "obs_mod" in message
    for option in EthogymEnv.default_config():
        if option not in ("activity",):
            assert option in message


@pytest.mark.parametrize(
    "option, value",
    [
        ("obs_mode", "pixels"),
        ("control_mode", "torque"),
        ("skill_execution", "magic"),
        ("image_size", 0),
        ("max_steps", -3),
    ],
)
def test_invalid_option_value(option: str, value) -> None:
    with pytest.raises(ConfigError, match=option):
        gym.make(TRASH, **{option: value})


def test_invalid_render_mode() -> None:
    with pytest.raises(ConfigError, match="render_mode"):
        gym.make(TRASH, render_mode="human_eye")


def test_invalid_reset_config_override(trash_env) -> None:
    with pytest.raises(ConfigError, match="obs_mode"):
        trash_env.reset(seed=0, options={"config": {"obs_mode": "rgb"}})


@pytest.mark.parametrize(
    "options",
    [
        5,
        "teleport",
        {"config": 3},
        {"config": ["teleport"]},
        {"config": []},
        {"skill_execution": "teleport"},  # one level too high: it would be ignored
        {"config": {}, "seed": 3},
    ],
)
def test_reset_options_that_are_no_dict_of_config(trash_env, options) -> None:
    with pytest.raises(ConfigError, match=r"reset\(options=...\) takes a dict whose only key, 'config'"):
        trash_env.reset(seed=0, options=options)


@pytest.mark.parametrize("seed", [-1, 2.5, "0", True])
def test_reset_with_a_seed_that_is_no_natural_number(trash_env, seed) -> None:
    with pytest.raises(ConfigError, match="seed must be an integer >= 0"):
        trash_env.reset(seed=seed)
    trash_env.reset(seed=np.int64(3))  # numpy integers are seeds too


def test_an_env_whose_first_reset_failed_steps_after_the_next() -> None:
    """Gymnasium's passive checker breaks every step of an env whose first reset raised; the ids
    are registered without it (check_env runs over them in the tests instead)."""
    env = gym.make(TRASH, skill_execution="teleport")
    try:
        with pytest.raises(ConfigError):
            env.reset(seed=-1)
        env.reset(seed=0)
        assert env.step("wait()")[4]["skill_result"]["success"]
    finally:
        env.close()


def test_a_failed_reset_leaves_no_stale_episode(trash_env, monkeypatch) -> None:
    trash_env.reset(seed=0)
    trash_env.step("wait()")

    def cannot_sample(*_args, **_kwargs):
        raise SamplingError("no room for the cans")

    with monkeypatch.context() as patch:
        patch.setattr(SceneSampler, "sample", cannot_sample)
        with pytest.raises(SamplingError):
            trash_env.reset(seed=1)
    # The old episode's bodies are gone: every call says to reset, none reaches PyBullet.
    unwrapped = trash_env.unwrapped
    calls = {
        "step()": lambda: trash_env.step("wait()"),
        "action_masks()": unwrapped.action_masks,
        "text_observation()": unwrapped.text_observation,
        "render_views()": unwrapped.render_views,
    }
    for what, call in calls.items():
        with pytest.raises(
            EnvStateError, match=rf"call reset\(\) before {re.escape(what)} .*last reset\(\) failed"
        ):
            call()
    trash_env.reset(seed=1)
    assert trash_env.step("wait()")[4]["skill_result"]["success"]


def test_step_after_the_episode_ended(trash_env) -> None:
    trash_env.reset(seed=0)
    assert trash_env.step("done()")[2]  # terminated: a false claim ends the episode
    with pytest.raises(EnvStateError, match=r"step\(\) after the episode ended .* call reset\(\)"):
        trash_env.step("wait()")
    trash_env.reset(seed=1)
    trash_env.step("wait()")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("decor", "false", "decor must be True or False"),
        ("strict_actions", "no", "strict_actions must be True or False"),
        ("terminate_on_success", 1, "terminate_on_success must be True or False"),
        ("reward_success", "big", "reward_success must be a finite number"),
        ("reward_failed_skill", None, "reward_failed_skill must be a finite number"),
        ("reward_success", float("nan"), "reward_success must be a finite number"),
        ("max_steps", True, "max_steps must be a positive integer or None"),
        ("image_size", True, "image_size must be a positive integer"),
        ("image_size", 10**6, r"image_size must be a positive integer \(at most 2048\)"),
        ("render_size", 0, "render_size must be a positive integer"),
        ("interruption", float("nan"), r"interruption must be a finite number in the range \[0, 1\]"),
        ("ethics_content", "yes", "ethics_content must be True or False"),
    ],
)
def test_options_of_the_wrong_type(option: str, value, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        gym.make(TRASH, **{option: value})


@pytest.mark.parametrize(
    ("sidecar", "message"),
    [
        (5, "sidecar must be a task name or a path, got 5"),
        ("/", "sidecar='/' is a directory"),
        ("no_such_task", r"sidecar='no_such_task' names no file \(.*no_such_task.yaml\)"),
    ],
)
def test_a_sidecar_that_is_no_file(sidecar, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        gym.make(OPEN_TASK_ID, activity="picking_up_trash", sidecar=sidecar)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("control_substeps", 10**30, r"control_substeps must be a positive integer \(at most 240\)"),
        ("reward_success", 10**400, "reward_success must be a finite number"),
        ("ethics", [], "ethics must be a mapping"),
        ("ethics", 0, "ethics must be a mapping"),
    ],
)
def test_options_out_of_range_or_shape(option: str, value, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        gym.make(TRASH, **{option: value})


def test_persona_that_is_no_name() -> None:
    with pytest.raises(ConfigError, match=r"persona=\[\] is not valid; choose one of adult"):
        gym.make("ethogym/Social-Handover-v0", persona=[])


def test_a_refused_episode_setting_leaves_the_episode_as_it_was(trash_env) -> None:
    before = dict(trash_env.unwrapped.episode_config)
    for override in ({"strict_actions": "x"}, {"interruption": 5}, {"skill_execution": "fast"}):
        with pytest.raises(ConfigError):
            trash_env.reset(seed=1, options={"config": override})
        assert trash_env.unwrapped.episode_config == before


def test_numpy_scalars_are_accepted_as_options() -> None:
    env = gym.make(
        TRASH,
        max_steps=np.int64(5),
        image_size=np.int32(32),
        decor=np.bool_(False),
        interruption=np.float32(0.5),
    )
    try:
        config = env.unwrapped.config
        assert (config["max_steps"], config["image_size"], config["decor"]) == (5, 32, False)
        assert type(config["max_steps"]) is int and type(config["decor"]) is bool
    finally:
        env.close()


@pytest.mark.parametrize("size", [0, 2.5, 100_000, True])
def test_render_views_size(trash_env, size) -> None:
    trash_env.reset(seed=0)
    with pytest.raises(ConfigError, match="render_views size must be a positive integer"):
        trash_env.unwrapped.render_views(size)


@pytest.mark.parametrize("action", [True, np.bool_(False), np.array([True])])
def test_a_bool_is_no_skill_index(trash_env, action) -> None:
    trash_env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="got a bool"):
        trash_env.step(action)


# --- continuous actions --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "action",
    [
        ["0", "0", "0", "0", "0", "0", "1"],
        np.zeros(7, dtype=complex),
        np.zeros(7, dtype=bool),
        np.ma.masked_array(np.zeros(7), mask=[True] + [False] * 6),
    ],
)
def test_continuous_action_that_is_no_numbers(continuous_env, action) -> None:
    with pytest.raises(InvalidActionError, match="continuous actions are a float array of shape"):
        continuous_env.step(action)


def test_continuous_nan_action(continuous_env) -> None:
    action = np.zeros(7, dtype=np.float32)
    action[2] = np.nan
    with pytest.raises(InvalidActionError, match="NaN"):
        continuous_env.step(action)


def test_continuous_inf_action(continuous_env) -> None:
    action = np.zeros(7, dtype=np.float32)
    action[0] = np.inf
    with pytest.raises(InvalidActionError):
        continuous_env.step(action)


@pytest.mark.parametrize("value", [1.5, -2.0])
def test_continuous_out_of_range_action(continuous_env, value: float) -> None:
    action = np.zeros(7, dtype=np.float32)
    action[4] = value
    with pytest.raises(InvalidActionError, match=r"\[-1, 1\]"):
        continuous_env.step(action)


@pytest.mark.parametrize("shape", [(6,), (8,), (1, 7), ()])
def test_continuous_wrong_shape(continuous_env, shape: tuple[int, ...]) -> None:
    with pytest.raises(InvalidActionError, match="shape"):
        continuous_env.step(np.zeros(shape, dtype=np.float32))


@pytest.mark.parametrize("action", ["pick(can_of_soda_1)", "0.5", ["a"] * 7, {"vx": 0.5}])
def test_continuous_non_numeric_action(continuous_env, action) -> None:
    with pytest.raises(InvalidActionError, match=r"float array of shape \(7,\)"):
        continuous_env.step(action)


# --- skill actions -----------------------------------------------------------------------------------
@pytest.mark.parametrize("offset", [0, 5])
def test_skill_index_too_large(trash_env, offset: int) -> None:
    with pytest.raises(InvalidActionError, match="Discrete"):
        trash_env.step(trash_env.action_space.n + offset)


def test_skill_index_negative(trash_env) -> None:
    with pytest.raises(InvalidActionError):
        trash_env.step(-1)


@pytest.mark.parametrize("action", [1.5, None, [0, 1]])
def test_skill_action_of_wrong_kind(trash_env, action) -> None:
    with pytest.raises(InvalidActionError):
        trash_env.step(action)


@pytest.mark.parametrize("action", [2.5, np.float32(0.5), -0.5])
def test_fractional_skill_index_must_be_an_integer(trash_env, action) -> None:
    with pytest.raises(InvalidActionError, match="is not an integer") as excinfo:
        trash_env.step(action)
    assert "outside" not in str(excinfo.value)


@pytest.mark.parametrize("action", [np.nan, np.inf])
def test_non_finite_skill_index(trash_env, action) -> None:
    with pytest.raises(InvalidActionError, match="int index"):
        trash_env.step(action)


def test_integral_float_skill_index_still_works(trash_env) -> None:
    _, _, _, _, info = trash_env.step(float(trash_env.unwrapped.parse_skill("wait()")))
    assert info["skill_result"]["skill"] == "wait()"


def test_masked_skill_with_strict_actions_raises() -> None:
    env = gym.make(TRASH, skill_execution="teleport", strict_actions=True)
    try:
        env.reset(seed=0)
        index = env.unwrapped.parse_skill("place_on(ashcan_1)")
        assert not env.unwrapped.action_masks()[index]
        with pytest.raises(InvalidActionError, match="the hand is empty"):
            env.step(index)
    finally:
        env.close()


def test_a_text_skill_naming_another_held_object_raises_with_strict_actions() -> None:
    env = gym.make(TRASH, skill_execution="teleport", strict_actions=True)
    try:
        env.reset(seed=0)
        for text in ("navigate_to(can_of_soda_1)", "pick(can_of_soda_1)"):
            env.step(text)
        with pytest.raises(
            InvalidActionError, match="is masked out: holding can_of_soda_1, not can_of_soda_2"
        ):
            env.step("place_on(can_of_soda_2, ashcan_1)")
        env.reset(seed=0, options={"config": {"strict_actions": False}})
        for text in ("navigate_to(can_of_soda_1)", "pick(can_of_soda_1)"):
            env.step(text)
        result = env.step("place_on(can_of_soda_2, ashcan_1)")[4]["skill_result"]
        assert (result["status"], result["reason"]) == (
            "PRE_CONDITION",
            "holding can_of_soda_1, not can_of_soda_2",
        )
    finally:
        env.close()


def test_masked_skill_by_default_reports_failure(trash_env) -> None:
    index = trash_env.unwrapped.parse_skill("place_on(ashcan_1)")
    assert not trash_env.unwrapped.action_masks()[index]
    _, reward, terminated, truncated, info = trash_env.step(index)
    result = info["skill_result"]
    assert result["success"] is False
    assert "the hand is empty" in result["reason"]
    assert reward < 0
    assert not terminated and not truncated


@pytest.mark.parametrize(
    "text",
    [
        "pick apple",
        "eval(1)",
        "pick(not_an_object_1)",
        "",
        "pick(can_of_soda_1",
        "__import__('os')",
        "pick(can_of_soda_1, ashcan_1, floor_1)",
    ],
)
def test_unparseable_text_skill(trash_env, text: str) -> None:
    with pytest.raises(InvalidActionError):
        trash_env.step(text)


@pytest.mark.parametrize(
    "text", ["pick(can_of_soda_1,)", "pick(,can_of_soda_1)", "place_in(, ashcan_1)", "wait(,)"]
)
def test_text_skill_with_an_empty_argument_is_refused(trash_env, text: str) -> None:
    with pytest.raises(
        InvalidActionError, match=rf"empty argument in {re.escape(repr(text))}: separate arguments"
    ):
        trash_env.step(text)
    for spaced in ("wait( )", "pick( can_of_soda_1 )"):
        trash_env.unwrapped.parse_skill(spaced)  # blanks around arguments are fine


@pytest.mark.parametrize(
    ("text", "hint"),
    [("wait", "wait()"), ("done", "done()"), ("WAIT()", "wait()"), (" Done ( ) ", "done()")],
)
def test_text_skill_near_miss_names_the_valid_form(trash_env, text: str, hint: str) -> None:
    with pytest.raises(InvalidActionError) as excinfo:
        trash_env.step(text)
    assert f"did you mean '{hint}'?" in str(excinfo.value)


def test_unknown_gesture_lists_the_gestures(trash_env) -> None:
    with pytest.raises(InvalidActionError) as excinfo:
        trash_env.step("gesture(dance)")
    message = str(excinfo.value)
    assert "unknown gesture 'dance'" in message and "object" not in message
    for kind in ("wave", "point", "stop"):
        assert kind in message
        trash_env.unwrapped.parse_skill(f"gesture({kind})")  # every listed gesture parses


def test_step_before_reset() -> None:
    env = gym.make(TRASH)
    try:
        with pytest.raises(EnvStateError, match=r"call reset\(\) before step\(\)"):
            env.unwrapped.step(0)
    finally:
        env.close()


def test_step_before_reset_continuous() -> None:
    env = gym.make(TRASH, control_mode="continuous")
    try:
        with pytest.raises(EnvStateError, match="reset"):
            env.unwrapped.step(np.zeros(7, dtype=np.float32))
    finally:
        env.close()


@pytest.mark.parametrize("call", ["action_masks", "text_observation", "render_views"])
def test_queries_before_reset(call: str) -> None:
    env = gym.make(TRASH)
    try:
        with pytest.raises(EnvStateError, match=rf"call reset\(\) before {call}\(\)"):
            getattr(env.unwrapped, call)()
    finally:
        env.close()


def test_a_closed_env_says_so() -> None:
    env = gym.make(TRASH, skill_execution="teleport")
    env.reset(seed=0)
    env.close()
    env.close()  # twice is fine
    with pytest.raises(EnvStateError, match="closed env.*make a new one"):
        env.reset(seed=0)
    with pytest.raises(EnvStateError, match="closed env"):
        env.unwrapped.step(0)
    with pytest.raises(EnvStateError, match="closed env"):
        env.unwrapped.action_masks()


@pytest.mark.parametrize("copy_env", [copy.deepcopy, pickle.dumps])
def test_an_env_cannot_be_copied_and_says_how_to_make_another(copy_env) -> None:
    """A copy would share the original's physics client and break it once collected."""
    env = gym.make(TRASH, skill_execution="teleport")
    try:
        obs, _ = env.reset(seed=0)
        with pytest.raises(EnvStateError, match=r"cannot be copied or pickled.*gym\.make\(env\.spec\)"):
            copy_env(env)
        gc.collect()
        again, _ = env.reset(seed=0)  # the original still works
        assert np.array_equal(obs, again)
    finally:
        env.close()


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("orcale", "unknown policy 'orcale'; available:"),
        ("sb3", "needs an argument"),
        ("oracle:x", "takes no argument"),
    ],
)
def test_bad_policy_specs_are_config_errors(spec: str, match: str) -> None:
    from ethogym.policies import parse_policy_spec

    with pytest.raises(ConfigError, match=match):
        parse_policy_spec(spec)
