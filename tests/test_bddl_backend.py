"""bddl's goal operators evaluated on ethogym's backend, against the simulated state."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest
from bddl.activity import evaluate_goal_conditions
from conftest import trash_problem

import ethogym  # noqa: F401
from ethogym.envs.sim.objects import label_of
from ethogym.errors import TaskDefinitionError

CAN = "can__of__soda.n.01"
ASHCAN = "ashcan.n.01"
C1, C2, C3 = (f"{CAN}_{k}" for k in (1, 2, 3))
A1 = f"{ASHCAN}_1"


# Goal -> its truth value with no can in the ashcan, with cans 1 and 2 in it, and with all three in it.
CASES = {
    "atom": (f"(inside {C1} {A1})", (False, True, True)),
    "ontop": (f"(ontop {C3} floor.n.01_1)", (True, True, False)),
    "ontop_static": (f"(ontop {A1} floor.n.01_2)", (True, True, True)),
    "and": (f"(and (inside {C1} {A1}) (inside {C2} {A1}))", (False, True, True)),
    "or": (f"(or (inside {C1} {A1}) (inside {C3} {A1}))", (False, True, True)),
    "not": (f"(not (inside {C1} {A1}))", (True, False, False)),
    "imply": (f"(imply (inside {C1} {A1}) (inside {C3} {A1}))", (True, False, True)),
    "forall": (f"(forall (?{CAN} - {CAN}) (inside ?{CAN} {A1}))", (False, False, True)),
    "not_forall": (f"(not (forall (?{CAN} - {CAN}) (inside ?{CAN} {A1})))", (True, True, False)),
    "exists": (f"(exists (?{CAN} - {CAN}) (inside ?{CAN} {A1}))", (False, True, True)),
    "forall_not": (f"(forall (?{CAN} - {CAN}) (not (inside ?{CAN} {A1})))", (True, False, False)),
    "forn": (f"(forn (2) (?{CAN} - {CAN}) (inside ?{CAN} {A1}))", (False, True, False)),
    "forpairs": (
        f"(forpairs (?{CAN} - {CAN}) (?{ASHCAN} - {ASHCAN}) (inside ?{CAN} ?{ASHCAN}))",
        (False, True, True),
    ),
    "fornpairs": (
        f"(fornpairs (1) (?{CAN} - {CAN}) (?{ASHCAN} - {ASHCAN}) (inside ?{CAN} ?{ASHCAN}))",
        (False, True, True),
    ),
    "exists_forall_mixed": (
        f"(and (exists (?{CAN} - {CAN}) (not (inside ?{CAN} {A1}))) (inside {C2} {A1}))",
        (False, True, False),
    ),
}


def _put_in_ashcan(env: gym.Env, label: str, ashcan: str = "ashcan_1") -> None:
    for text in (f"navigate_to({label})", f"pick({label})", f"navigate_to({ashcan})", f"place_in({ashcan})"):
        *_, info = env.step(text)
        assert info["skill_result"]["success"], info["skill_result"]


def _goal_value(env: gym.Env) -> bool:
    return bool(evaluate_goal_conditions(env.unwrapped.goal)[0])


def _make_operator_env(tmp_path: Path, goal: str, cans: int = 3, ashcans: int = 1) -> gym.Env:
    path = tmp_path / "operator_check" / "problem0.bddl"
    path.parent.mkdir(parents=True)
    path.write_text(trash_problem(goal, cans=cans, name="operator_check", ashcans=ashcans))
    # No people: a resident walking past could block the scripted route, which is not what is tested.
    return gym.make(
        "ethogym/Behavior-v0",
        task_file=str(path),
        skill_execution="teleport",
        terminate_on_success=False,
        ethics_content=False,
    )


@pytest.mark.parametrize(("goal", "expected"), list(CASES.values()), ids=list(CASES))
def test_operator_truth_follows_the_simulated_state(
    tmp_path: Path, goal: str, expected: tuple[bool, bool, bool]
) -> None:
    env = _make_operator_env(tmp_path, goal)
    try:
        _check_operator(env, expected)
    finally:
        env.close()


def _check_operator(env: gym.Env, expected: tuple[bool, bool, bool]) -> None:
    seen = []
    _, info = env.reset(seed=0)
    seen.append((_goal_value(env), info["is_success"], info["progress"]))
    for label in ("can_of_soda_1", "can_of_soda_2"):
        _put_in_ashcan(env, label)
    _, _, _, _, info = env.step("wait()")
    seen.append((_goal_value(env), info["is_success"], info["progress"]))
    _put_in_ashcan(env, "can_of_soda_3")
    _, _, _, _, info = env.step("wait()")
    seen.append((_goal_value(env), info["is_success"], info["progress"]))
    for (value, success, progress), want in zip(seen, expected, strict=True):
        assert value == want and success == want, f"goal values {seen}, expected {expected}"
        assert 0.0 <= progress <= 1.0
        if want:
            assert progress == 1.0
    assert env.unwrapped.goal_options


def test_success_is_the_goal_even_where_no_ground_option_names_the_way_it_holds(tmp_path: Path) -> None:
    # bddl keeps 16 of the 32 ways five cans can be split between two ashcans: success must not
    # depend on which split the agent chose.
    env = _make_operator_env(tmp_path, f"(forall (?c - {CAN}) (exists (?a - {ASHCAN}) (inside ?c ?a)))", 5, 2)
    try:
        env.reset(seed=0)
        listed = {
            tuple(head.body[2] for head in sorted(option, key=lambda head: head.body[1]))
            for option in env.unwrapped.goal_options
        }
        split = ("ashcan.n.01_1",) * 2 + ("ashcan.n.01_2",) * 3
        assert split not in listed and len(listed) < 32
        for k, ashcan in enumerate(split, 1):
            _put_in_ashcan(env, f"can_of_soda_{k}", label_of(ashcan))
            _, _, _, _, info = env.step("wait()")
            assert info["is_success"] == (k == 5) == _goal_value(env)
        assert info["progress"] == 1.0
    finally:
        env.close()


def test_an_empty_count_sets_up_and_a_count_beyond_the_objects_is_named(tmp_path: Path) -> None:
    env = _make_operator_env(tmp_path, f"(forn (0) (?c - {CAN}) (inside ?c {A1}))")
    try:
        _, info = env.reset(seed=0)  # the option asks for nothing: it was a ZeroDivisionError
        assert info["is_success"] and info["progress"] == 1.0
        _put_in_ashcan(env, "can_of_soda_1")
        _, _, _, _, info = env.step("wait()")
        assert not info["is_success"] and not _goal_value(env)
    finally:
        env.close()
    with pytest.raises(
        TaskDefinitionError, match=r"\(forn \(4\) \.\.\.\) asks for 4, but :objects declares only 3 "
    ):
        _make_operator_env(tmp_path / "more", f"(forn (4) (?c - {CAN}) (inside ?c {A1}))")


@pytest.fixture
def trash_env():
    env = gym.make(
        "ethogym/Behavior-v0",
        activity="picking_up_trash",
        skill_execution="teleport",
        terminate_on_success=False,
        ethics_content=False,  # scripted routes: no resident walking into them
    )
    env.reset(seed=0)
    yield env
    env.close()


def test_goal_options_and_progress(trash_env) -> None:
    env = trash_env.unwrapped
    assert env.goal_options
    assert all(len(option) > 0 for option in env.goal_options)
    _, info = trash_env.reset(seed=0)
    assert info["progress"] == 0.0 and not info["is_success"]
    progress = [info["progress"]]
    for label in ("can_of_soda_1", "can_of_soda_2", "can_of_soda_3"):
        _put_in_ashcan(trash_env, label)
        _, _, _, _, info = trash_env.step("wait()")
        progress.append(info["progress"])
    assert all(0.0 <= p <= 1.0 for p in progress)
    assert progress == sorted(progress) and progress[0] < progress[1] < progress[2] < progress[3]
    assert progress[-1] == 1.0 and info["is_success"]


def test_goal_literals_match_the_state(trash_env) -> None:
    env = trash_env.unwrapped
    # Every ground literal of every option is an (inside can ashcan) atom and false at the start.
    for option in env.goal_options:
        for head in option:
            assert head.body[0] == "inside"
            assert not head.evaluate()
    _put_in_ashcan(trash_env, "can_of_soda_2")
    trash_env.step("wait()")
    for option in env.goal_options:
        for head in option:
            assert bool(head.evaluate()) == (head.body[1].lstrip("?") == C2)


def test_progress_reward_is_the_change_of_progress(trash_env) -> None:
    _, info = trash_env.reset(seed=0)
    last = info["progress"]
    for text in (
        "navigate_to(can_of_soda_1)",
        "pick(can_of_soda_1)",
        "navigate_to(ashcan_1)",
        "place_in(ashcan_1)",
    ):
        _, _, _, _, info = trash_env.step(text)
        assert info["reward_terms"]["progress"] == pytest.approx(info["progress"] - last)
        last = info["progress"]
    assert last > 0.0
