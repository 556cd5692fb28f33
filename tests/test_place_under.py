"""place_under: putting a held object under a table, and the oracle's plans for ``under`` goals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from conftest import ALL_IDS

from ethogym.benchmarks.episode import run_episode
from ethogym.envs.skills import Skill, SkillTable
from ethogym.errors import InvalidActionError
from ethogym.policies import make_policy

UNDER_PROBLEM = """(define (problem shoe_under_table-0)
    (:domain omnigibson)
    (:objects
        gym_shoe.n.01_1 - gym_shoe.n.01
        table.n.02_1 - table.n.02
        shelf.n.01_1 - shelf.n.01
        floor.n.01_1 floor.n.01_2 - floor.n.01
        agent.n.01_1 - agent.n.01
    )
    (:init
        (ontop gym_shoe.n.01_1 floor.n.01_2)
        (inroom table.n.02_1 living_room)
        (inroom shelf.n.01_1 living_room)
        (inroom floor.n.01_1 living_room)
        (inroom floor.n.01_2 kitchen)
        (ontop agent.n.01_1 floor.n.01_2)
    )
    (:goal
        (and
            (under ?gym_shoe.n.01_1 ?table.n.02_1)
        )
    )
)
"""
#: BEHAVIOR-1K activities whose goals put something under a table and that ethogym now runs end to end.
UNDER_ACTIVITIES = ("installing_a_modem", "installing_a_scanner", "polishing_furniture")


@pytest.fixture
def task_file(tmp_path: Path) -> str:
    path = tmp_path / "shoe_under_table" / "problem0.bddl"
    path.parent.mkdir()
    path.write_text(UNDER_PROBLEM)
    return str(path)


@pytest.fixture
def scripted_env(task_file: str) -> Iterator[gym.Env]:
    """The shoe task without people, so a walker never changes a scripted route."""
    env = gym.make(
        "ethogym/Behavior-v0",
        task_file=task_file,
        skill_execution="teleport",
        ethics_content=False,
        terminate_on_success=False,
    )
    env.reset(seed=0)
    yield env
    env.close()


def _step(env: gym.Env, text: str) -> dict:
    *_, info = env.step(text)
    return info["skill_result"]


def _solve(env: gym.Env, seeds: range) -> list[dict]:
    policy = make_policy("oracle", env)
    return [run_episode(env, policy, seed) for seed in seeds]


# --- the skill table ---------------------------------------------------------------------------
def test_tables_take_place_under_when_the_goal_has_under(scripted_env: gym.Env) -> None:
    env = scripted_env.unwrapped
    targets = [s.target for s in env.table.skills if s.name == "place_under"]
    tables = [o.label for o in env._descriptors if o.template == "table"]
    assert targets and targets == tables  # the task's table and any decor table, nothing else
    assert "table_1" in targets and "shelf_1" not in targets
    assert env.action_space.n == len(env.table)
    # place_under only adds entries: without them the table is the one built as if the goal had none.
    without = SkillTable(env._descriptors, env.people_names, env._covered_in_task())
    assert [s for s in env.table.skills if s.name != "place_under"] == without.skills


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_action_space_of_ids_without_under_goals_is_unchanged(make_env, env_id: str) -> None:
    env = make_env(env_id, skill_execution="teleport").unwrapped
    assert not [s for s in env.table.skills if s.name == "place_under"]
    kept = [key for key in env.table.index if key[0] != "place_under"]
    assert len(kept) == len(env.table.index) == len(env.table) == env.action_space.n


def test_place_under_text_parses(scripted_env: gym.Env) -> None:
    table = scripted_env.unwrapped.table
    index = table.index[("place_under", "table_1")]
    assert table.parse("place_under(gym_shoe_1, table_1)") == (index, "gym_shoe_1")
    assert table.parse(" place_under( table_1 ) ") == (index, None)
    assert table[index].text("gym_shoe_1") == "place_under(gym_shoe_1, table_1)"
    for text, words in (
        ("place_under(gym_shoe_1, shelf_1)", "nothing fits under 'shelf_1'"),
        ("place_under(gym_shoe_1, sofa_9)", "unknown object 'sofa_9'"),
        ("place_under(gym_shoe_1, table_1, shelf_1)", "takes 2 argument(s), got 3"),
        ("place_under()", "takes 2 argument(s), got 0"),
    ):
        with pytest.raises(InvalidActionError, match=words.replace("(", r"\(").replace(")", r"\)")):
            table.parse(text)


def test_place_under_is_absent_from_tasks_without_under(make_env) -> None:
    env = make_env("ethogym/Household-InstallingAPrinter-v0", skill_execution="teleport")
    with pytest.raises(InvalidActionError, match="unknown skill 'place_under'"):
        env.unwrapped.table.parse("place_under(printer_1, table_1)")


# --- preconditions and execution ---------------------------------------------------------------
def test_place_under_failure_reasons(scripted_env: gym.Env) -> None:
    env = scripted_env.unwrapped
    result = _step(scripted_env, "place_under(table_1)")
    assert result["status"] == "PRE_CONDITION" and "the hand is empty" in result["reason"]
    assert not env.action_masks()[env.table.index[("place_under", "table_1")]]
    for text in ("navigate_to(gym_shoe_1)", "pick(gym_shoe_1)"):
        assert _step(scripted_env, text)["success"]
    # The shoe starts in the kitchen, the table stands in the living room.
    result = _step(scripted_env, "place_under(gym_shoe_1, table_1)")
    assert result["status"] == "PRE_CONDITION"
    assert "table_1 is out of reach" in result["reason"] and "navigate_to(table_1)" in result["reason"]
    reason = env.executor.precondition(Skill("place_under", "shelf_1"))
    assert reason == "nothing fits under shelf_1: only tables leave room underneath"
    result = _step(scripted_env, "place_under(shelf_1, table_1)")  # claims the wrong held object
    assert result["status"] == "PRE_CONDITION" and result["reason"] == "holding gym_shoe_1, not shelf_1"


def test_place_under_puts_the_shoe_under_the_table(scripted_env: gym.Env) -> None:
    env = scripted_env.unwrapped
    shoe, table = env.executor.by_label["gym_shoe_1"], env.executor.by_label["table_1"]
    for text in ("navigate_to(gym_shoe_1)", "pick(gym_shoe_1)", "navigate_to(table_1)"):
        assert _step(scripted_env, text)["success"]
    assert env.action_masks()[env.table.index[("place_under", "table_1")]]
    *_, info = scripted_env.step("place_under(gym_shoe_1, table_1)")
    assert info["skill_result"]["success"], info["skill_result"]
    assert env.robot.held is None and env.query.under(shoe, table)
    assert info["is_success"] and info["progress"] == 1.0


# --- the oracle --------------------------------------------------------------------------------
@pytest.mark.parametrize("execution", ["teleport", "physical"])
def test_oracle_solves_an_under_goal(task_file: str, execution: str) -> None:
    env = gym.make("ethogym/Behavior-v0", task_file=task_file, skill_execution=execution)
    try:
        episodes = _solve(env, range(4))
    finally:
        env.close()
    assert all(ep["is_success"] for ep in episodes), [(ep["seed"], ep["steps"]) for ep in episodes]
    for ep in episodes:
        assert ep["info"]["skill_result"]["skill"] == "place_under(gym_shoe_1, table_1)"
        assert ep["episode_metrics"]["signature"] == ["gym_shoe_1 under table_1"]


@pytest.mark.parametrize("activity", UNDER_ACTIVITIES)
def test_oracle_solves_behavior_activities_with_under_goals(activity: str) -> None:
    env = gym.make("ethogym/Behavior-v0", activity=activity, skill_execution="teleport")
    try:
        assert env.unwrapped.table.under
        episodes = _solve(env, range(3))
    finally:
        env.close()
    assert all(ep["is_success"] for ep in episodes), [(ep["seed"], ep["steps"]) for ep in episodes]


def test_under_activity_whose_stack_fits_only_lengthwise_sets_up() -> None:
    # getting_organized_for_work puts a computer under a desk and stacks a keyboard on a notebook,
    # which holds it only lengthwise: the sampler places it that way round.
    env = gym.make("ethogym/Behavior-v0", activity="getting_organized_for_work", skill_execution="teleport")
    try:
        env.reset(seed=0)
        u = env.unwrapped
        by_label = {o.label: o for o in u.objects}
        assert u.query.under(by_label["computer_1"], by_label["desk_1"])
        keyboard, notebook = by_label["keyboard_1"], by_label["notebook_1"]
        assert u.query.ontop(keyboard, notebook)
        # the keyboard's long side lies along the notebook's
        (klo, khi), (nlo, nhi) = u.query.aabb(keyboard), u.query.aabb(notebook)
        assert np.argmax((khi - klo)[:2]) == np.argmax((nhi - nlo)[:2])
    finally:
        env.close()


def test_thing_larger_than_its_support_overhangs_it_centred() -> None:
    # sorting_books_on_shelf stacks a notebook on a comic book of the same size, which no margin
    # fits: it rests overhanging, its centre over the comic book's middle half, and ``ontop`` holds.
    env = gym.make("ethogym/Behavior-v0", activity="sorting_books_on_shelf", skill_execution="teleport")
    try:
        env.reset(seed=0)
        u = env.unwrapped
        by_label = {o.label: o for o in u.objects}
        notebook, comic = by_label["notebook_2"], by_label["comic_book_1"]
        assert u.query.ontop(notebook, comic)
        (nlo, nhi), (clo, chi) = u.query.aabb(notebook), u.query.aabb(comic)
        centre, mid, quarter = (nlo + nhi)[:2] / 2, (clo + chi)[:2] / 2, (chi - clo)[:2] / 4
        assert np.all(np.abs(centre - mid) <= quarter + 0.01)
    finally:
        env.close()
