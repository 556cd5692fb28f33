"""Malformed or impossible BDDL tasks fail with an ethogym error that names the problem and the fix."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from conftest import trash_problem

import ethogym  # noqa: F401
from ethogym.benchmarks.episode import run_episode
from ethogym.envs.sim.objects import container_inside
from ethogym.errors import ConfigError, SamplingError, TaskDefinitionError, UnsupportedActivityError
from ethogym.policies import make_policy
from ethogym.tasks import activity as activity_module
from ethogym.tasks.activity import (
    check_supported,
    describe_objects,
    goal_literals,
    load_activity,
    supported_activities,
)
from ethogym.tasks.sampler import placement_order

CAN_IN_BIN = "(inside can__of__soda.n.01_1 ashcan.n.01_1)"


def _write(tmp_path: Path, text: str, name: str = "problem0.bddl") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _problem(init_from: str = "", init_to: str = "", goal: str = CAN_IN_BIN, cans: int = 2) -> str:
    text = trash_problem(goal, cans=cans)
    if init_from:
        assert init_from in text
        text = text.replace(init_from, init_to)
    return text


def _definition_error(tmp_path: Path, text: str) -> str:
    """The message of the TaskDefinitionError that loading ``text`` as a task file raises."""
    with pytest.raises(TaskDefinitionError) as excinfo:
        gym.make("ethogym/Behavior-v0", task_file=str(_write(tmp_path, text)))
    assert not isinstance(excinfo.value, UnsupportedActivityError)
    return str(excinfo.value)


# --- 1. sampling objects into containers ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("activity", "expected"),
    [
        # a 0.25 x 0.35 m laptop in a carton 0.28 x 0.20 m inside
        (
            "unpacking_hobby_equipment",
            [":init puts laptop_1 (0.25 x 0.35 x 0.03 m) inside carton_1 (room inside ", "either way round"],
        ),
        # a teddy on a packing box, which ethogym builds as an open bin it falls into
        (
            "donating_toys",
            [":init rests teddy_1 (", "on packing_box_1, built as a bin open at the top (", "falls into"],
        ),
        # a steak on the shelf and on another steak: the sampler places a thing by one literal
        (
            "buy_meat_from_a_butcher",
            [
                "steak_1 is placed twice in :init ((ontop steak.n.01_1 grocery_shelf.n.01_1) and "
                "(ontop steak.n.01_1 steak.n.01_2))"
            ],
        ),
    ],
)
def test_init_that_no_seed_sets_up_is_refused_at_load(activity: str, expected: list[str]) -> None:
    with pytest.raises(UnsupportedActivityError) as excinfo:
        gym.make("ethogym/Behavior-v0", activity=activity)
    message = str(excinfo.value)
    assert all(part in message for part in expected), message
    assert "supported_activities()" in message


def test_full_container_is_reported(make_env, monkeypatch) -> None:
    # Five chorizos in one template-sized tupperware (a container :init loads beyond INIT_FILL is
    # built bigger; not so here): two stand side by side, none on top (below the rim).
    monkeypatch.setattr(activity_module, "INIT_FILL", 10.0)
    env = make_env("ethogym/Behavior-v0", activity="cook_chorizo", skill_execution="teleport")
    with pytest.raises(
        SamplingError,
        match="packed from a corner; tupperware_1 already holds chorizo_1, chorizo_2 and may be full",
    ):
        env.reset(seed=0)


def test_things_the_shelves_have_no_room_for_are_packed_on_each_other(make_env) -> None:
    # packing_books_into_car puts three books in one bag, which has floor for one: the sampler
    # stacks the others on what is already inside, as the place_in skill does.
    env = make_env("ethogym/Behavior-v0", activity="packing_books_into_car", skill_execution="teleport")
    env.reset(seed=0)
    u = env.unwrapped
    books = [u.scope[f"book.n.02_{k}"] for k in (1, 2, 3)]
    bag = u.scope["bag.n.06_1"]
    assert all(u.query.inside(book, bag) for book in books)
    assert any(u.query.ontop(a, b) for a in books for b in books)


def test_object_that_fits_an_open_top_bin_is_sampled_inside(tmp_path: Path, make_env) -> None:
    # A rag is 0.25 m across and an ashcan's interior 0.29 m: it fits once the front clearance,
    # which only open-front containers need, is not taken off a bin.
    text = _problem(
        "(ontop can__of__soda.n.01_2 floor.n.01_1)",
        "(ontop can__of__soda.n.01_2 floor.n.01_1)\n        (inside rag.n.01_1 ashcan.n.01_1)",
    ).replace("agent.n.01_1 - agent.n.01", "rag.n.01_1 - rag.n.01\n        agent.n.01_1 - agent.n.01")
    path = str(_write(tmp_path, text))
    env = make_env("ethogym/Behavior-v0", activity=None, task_file=path, skill_execution="teleport")
    env.reset(seed=0)
    rag = env.unwrapped.scope["rag.n.01_1"]
    ashcan = env.unwrapped.scope["ashcan.n.01_1"]
    assert env.unwrapped.query.inside(rag, ashcan)


def test_object_too_big_to_go_under_a_table(tmp_path: Path) -> None:
    text = _problem(
        "(ontop can__of__soda.n.01_2 floor.n.01_1)",
        "(ontop can__of__soda.n.01_2 floor.n.01_1)\n        (inroom table.n.02_1 living_room)\n"
        "        (under armchair.n.01_1 table.n.02_1)",
    ).replace(
        "agent.n.01_1 - agent.n.01",
        "table.n.02_1 - table.n.02\n        armchair.n.01_1 - armchair.n.01\n"
        "        agent.n.01_1 - agent.n.01",
    )
    path = _write(tmp_path, text)
    env = gym.make("ethogym/Behavior-v0", task_file=str(path), skill_execution="teleport")
    try:
        with pytest.raises(SamplingError, match=r"armchair_1 \(.* m\) does not fit under table_1 \("):
            env.reset(seed=0)
    finally:
        env.close()


# --- 2. predicate arity ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("literal", "count"),
    [
        ("(ontop can__of__soda.n.01_1)", 1),
        ("(ontop can__of__soda.n.01_1 floor.n.01_1 floor.n.01_2)", 3),
    ],
)
def test_init_literal_with_wrong_arity(tmp_path: Path, literal: str, count: int) -> None:
    text = _problem("(ontop can__of__soda.n.01_1 floor.n.01_1)", literal)
    message = _definition_error(tmp_path, text)
    assert f":init literal {literal}" in message
    assert f"gives 'ontop' {count} argument(s); ontop takes 2" in message


def test_goal_literal_with_wrong_arity(tmp_path: Path) -> None:
    goal = "(forall (?can__of__soda.n.01 - can__of__soda.n.01) (inside ?can__of__soda.n.01))"
    message = _definition_error(tmp_path, _problem(goal=goal))
    assert ":goal literal (inside ?can__of__soda.n.01)" in message
    assert "inside takes 2" in message


def test_unary_predicate_with_two_arguments(tmp_path: Path) -> None:
    message = _definition_error(tmp_path, _problem(goal="(open ashcan.n.01_1 floor.n.01_1)"))
    assert "'open' 2 argument(s); open takes 1" in message


def test_inroom_in_goal_is_rejected(tmp_path: Path) -> None:
    message = _definition_error(tmp_path, _problem(goal="(inroom ashcan.n.01_1 kitchen)"))
    assert "inroom" in message and ":init" in message


# --- 3. rooms ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("room", "suggestion"), [("kitchn", "kitchen"), ("spaceship", None)])
def test_unknown_room(tmp_path: Path, room: str, suggestion: str | None) -> None:
    text = _problem("(inroom floor.n.01_2 kitchen)", f"(inroom floor.n.01_2 {room})")
    message = _definition_error(tmp_path, text)
    assert f"unknown room '{room}'" in message
    for known in ("kitchen", "living_room", "garden", "dining_room"):
        assert known in message
    if suggestion:
        assert f"Did you mean '{suggestion}'" in message


# --- 4. placement ------------------------------------------------------------------------------------
def test_object_without_placement(tmp_path: Path) -> None:
    text = _problem("(ontop can__of__soda.n.01_2 floor.n.01_1)", "")
    message = _definition_error(tmp_path, text)
    assert "can__of__soda.n.01_2 has no placement" in message
    assert "can__of__soda.n.01_1" not in message.split(" in :init")[0]
    assert "inroom" in message


def test_objects_placed_only_on_each_other(tmp_path: Path) -> None:
    text = _problem(
        "(ontop can__of__soda.n.01_1 floor.n.01_1)\n        (ontop can__of__soda.n.01_2 floor.n.01_1)",
        "(ontop can__of__soda.n.01_1 can__of__soda.n.01_2)\n"
        "        (ontop can__of__soda.n.01_2 can__of__soda.n.01_1)",
    )
    message = _definition_error(tmp_path, text)
    assert "can__of__soda.n.01_1, can__of__soda.n.01_2 are placed only relative to objects" in message


# --- 5. predicate names ------------------------------------------------------------------------------
def test_misspelt_predicate_is_a_definition_error(tmp_path: Path) -> None:
    message = _definition_error(tmp_path, _problem(goal="(insde can__of__soda.n.01_1 ashcan.n.01_1)"))
    assert "unknown predicate 'insde'" in message
    assert "Did you mean 'inside'" in message
    assert "BDDL predicates are: " in message and "ontop" in message


@pytest.mark.parametrize(
    "goal",
    [
        "(forall (?can__of__soda.n.01) (inside ?can__of__soda.n.01 ashcan.n.01_1))",
        "(forn (x) (?can__of__soda.n.01 - can__of__soda.n.01) (inside ?can__of__soda.n.01 ashcan.n.01_1))",
    ],
)
def test_a_quantifier_without_a_type_or_count_is_named(tmp_path: Path, goal: str) -> None:
    message = _definition_error(tmp_path, _problem(goal=goal))
    assert "quantifier parameter without a type, or a forn count not in parentheses" in message
    assert "(forall (?x - synset) ...)" in message


def test_an_object_whose_type_is_missing_is_named(tmp_path: Path) -> None:
    text = _problem("ashcan.n.01_1 - ashcan.n.01\n", "ashcan.n.01_1\n")
    message = _definition_error(tmp_path, text)
    assert "object 'ashcan.n.01_1' is declared as can__of__soda.n.01" in message
    assert "end the names of ashcan.n.01 with their own '- ashcan.n.01'" in message


def test_an_object_without_a_number_is_named(tmp_path: Path) -> None:
    text = _problem().replace("ashcan.n.01_1", "ashcan.n.01_x")
    message = _definition_error(tmp_path, text)
    assert "object 'ashcan.n.01_x' needs a number after its synset: 'ashcan.n.01_<n>'" in message


def test_misspelt_init_predicate_is_a_definition_error(tmp_path: Path) -> None:
    text = _problem("(ontop can__of__soda.n.01_1 floor.n.01_1)", "(flying can__of__soda.n.01_1)")
    message = _definition_error(tmp_path, text)
    assert "unknown predicate 'flying' in :init literal (flying can__of__soda.n.01_1)" in message


def test_misspelt_synset_is_a_definition_error(tmp_path: Path) -> None:
    text = _problem().replace("ashcan.n.01", "ashcanz.n.01")
    message = _definition_error(tmp_path, text)
    assert "unknown synset 'ashcanz.n.01' in :objects. Did you mean 'ashcan.n.01'" in message


def test_real_but_unsimulated_predicate_stays_unsupported(tmp_path: Path) -> None:
    path = _write(tmp_path, _problem(goal="(folded can__of__soda.n.01_1)"))
    with pytest.raises(UnsupportedActivityError, match="'folded'"):
        gym.make("ethogym/Behavior-v0", task_file=str(path))


# --- 6. names of task files --------------------------------------------------------------------------
def test_task_file_is_named_after_its_problem(tmp_path: Path) -> None:
    folder = tmp_path / "some_folder"
    folder.mkdir()
    path = _write(folder, trash_problem(CAN_IN_BIN, name="my_trash_run"), name="x.bddl")
    activity = load_activity(path=path)
    assert activity.name == "my_trash_run"
    assert activity.instance == 0


def test_task_file_without_instance_suffix_keeps_the_problem_name(tmp_path: Path) -> None:
    text = trash_problem(CAN_IN_BIN).replace("(problem tiny_trash-0)", "(problem plain)")
    assert load_activity(path=_write(tmp_path, text, name="x.bddl")).name == "plain"


# --- 7. option types ---------------------------------------------------------------------------------
@pytest.mark.parametrize("activity", [3, ["picking_up_trash"]])
def test_activity_that_is_not_a_string(activity) -> None:
    with pytest.raises(ConfigError, match="activity must be a BEHAVIOR-1K activity name"):
        gym.make("ethogym/Behavior-v0", activity=activity)


@pytest.mark.parametrize("instance", [-1, "0", True])
def test_invalid_instance(instance) -> None:
    with pytest.raises(ConfigError, match="instance must be a non-negative integer"):
        gym.make("ethogym/Behavior-v0", activity="picking_up_trash", instance=instance)


def test_task_file_that_is_not_a_path() -> None:
    with pytest.raises(ConfigError, match="task_file must be the path"):
        gym.make("ethogym/Behavior-v0", task_file=3)


def test_task_file_that_is_a_directory(tmp_path: Path) -> None:
    _write(tmp_path, trash_problem(CAN_IN_BIN))
    with pytest.raises(TaskDefinitionError, match=r"is a directory; .* it holds problem0\.bddl"):
        gym.make("ethogym/Behavior-v0", task_file=str(tmp_path))


@pytest.mark.parametrize(
    ("task_file", "error", "message"),
    [
        ("", ConfigError, "task_file is empty"),
        ("(define (problem p-0) (:domain omnigibson))", TaskDefinitionError, "not its text"),
        ("/dev/null", TaskDefinitionError, "/dev/null is not a regular file"),
        ("/no/such/problem0.bddl", TaskDefinitionError, "does not exist"),
        ("x" * 5000 + ".bddl", TaskDefinitionError, "cannot read BDDL file"),
    ],
)
def test_task_file_that_names_no_readable_file(task_file: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        gym.make("ethogym/Behavior-v0", task_file=task_file)


def test_task_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "problem0.bddl"
    path.write_bytes((trash_problem(CAN_IN_BIN) + "; caf\xe9\n").encode("latin-1"))
    with pytest.raises(TaskDefinitionError, match=r"is not UTF-8 text \(byte \d+.*save it as UTF-8"):
        gym.make("ethogym/Behavior-v0", task_file=str(path))


def test_many_placements_are_ordered_without_a_false_cycle() -> None:
    """Each thing after what it stands on; a long :init is no cycle (one counted 100 tries as one)."""
    napkins = [["ontop", f"napkin_{k}", f"plate_{k}"] for k in range(60)]
    plates = [["ontop", f"plate_{k}", "table_1"] for k in range(60)]
    order = placement_order(napkins + plates)
    assert len(order) == 120
    assert all(
        order.index(plate) < order.index(napkin) for napkin, plate in zip(napkins, plates, strict=True)
    )
    with pytest.raises(
        SamplingError, match=r"circular placement literals in :init: ontop a_1 b_1, ontop b_1 a_1$"
    ):
        placement_order([["ontop", "a_1", "b_1"], ["ontop", "b_1", "a_1"], ["ontop", "c_1", "table_1"]])


def test_activity_name_with_a_path_is_unknown() -> None:
    with pytest.raises(TaskDefinitionError, match="unknown activity"):
        gym.make("ethogym/Behavior-v0", activity="../definitions/handover")


# --- 8. ontop means resting on ------------------------------------------------------------------------
def test_object_in_a_fridge_is_not_on_the_floor(make_env) -> None:
    env = make_env("ethogym/Household-CookAFrozenPie-v0", skill_execution="teleport")
    env.reset(seed=0)
    scope, query = env.unwrapped.scope, env.unwrapped.query
    pie, fridge = scope["apple_pie.n.01_1"], scope["electric_refrigerator.n.01_1"]
    assert query.inside(pie, fridge)
    assert not query.ontop(pie, scope["floor.n.01_1"])


def test_object_on_the_floor_is_on_it(make_env) -> None:
    env = make_env("ethogym/Household-PickingUpTrash-v0", skill_execution="teleport")
    env.reset(seed=0)
    scope = env.unwrapped.scope
    assert env.unwrapped.query.ontop(scope["can__of__soda.n.01_1"], scope["floor.n.01_1"])


def test_what_bddl_prints_becomes_a_warning(capfd) -> None:
    """bddl prints to stdout what its parser does not recognise (a stray backslash in this BEHAVIOR
    file); it is reported as a warning, not mixed into the user's output."""
    from ethogym.tasks.activity import load_activity

    with pytest.warns(UserWarning, match=r"bddl, reading wash_a_baseball_cap: .* is not recognized"):
        load_activity("wash_a_baseball_cap")
    assert capfd.readouterr().out == ""


def _lawn_problem(cans_room: str) -> str:
    """The trash problem with a lawn in the garden, the cans on floor_1 in ``cans_room``, and a goal
    that puts a can on the lawn."""
    return _problem(
        "(inroom floor.n.01_1 living_room)",
        f"(inroom floor.n.01_1 {cans_room})\n        (inroom lawn.n.01_1 garden)",
        goal="(ontop can__of__soda.n.01_1 lawn.n.01_1)",
    ).replace(
        "floor.n.01_1 floor.n.01_2 - floor.n.01",
        "floor.n.01_1 floor.n.01_2 - floor.n.01\n        lawn.n.01_1 - lawn.n.01",
    )


def test_two_grounds_of_one_room_told_apart_are_unsupported(tmp_path: Path) -> None:
    # A lawn and a floor in the garden are one slab in ethogym: a goal moving a can from one to the
    # other would hold from the start.
    text = _lawn_problem("garden")
    with pytest.raises(UnsupportedActivityError, match="floor_1 and lawn_1 are both the garden's ground"):
        gym.make("ethogym/Behavior-v0", task_file=str(_write(tmp_path, text)))


def test_a_lawn_is_the_gardens_floor(tmp_path: Path) -> None:
    text = _lawn_problem("living_room")
    env = gym.make("ethogym/Behavior-v0", task_file=str(_write(tmp_path, text)), skill_execution="teleport")
    try:
        env.reset(seed=0)
        u = env.unwrapped
        lawn = next(o for o in u.objects if o.label == "lawn_1")
        assert lawn.body == u._scene.floors["garden"].body and lawn.static
    finally:
        env.close()


# --- 9. goals the simulator can never reach ----------------------------------------------------------
def _with_objects(text: str, *declarations: str, placed: str = "") -> str:
    """``text`` with more :objects declarations and :init literals."""
    text = text.replace(
        "agent.n.01_1 - agent.n.01", "\n        ".join([*declarations, "agent.n.01_1 - agent.n.01"])
    )
    return text.replace(
        "(ontop agent.n.01_1 floor.n.01_2)", f"{placed}\n        (ontop agent.n.01_1 floor.n.01_2)"
    )


@pytest.mark.parametrize(
    ("state", "negated"), [("frozen", "hot"), ("hot", "frozen"), ("not-hot", "frozen"), ("not-frozen", "hot")]
)
def test_thermal_init_literals_hold_in_either_order(tmp_path: Path, state: str, negated: str) -> None:
    # "(frozen x) (not (hot x))": the negated literal used to set room temperature, thawing x again.
    literals = [
        f"(not ({state[4:]} apple.n.01_1))" if state.startswith("not-") else f"({state} apple.n.01_1)"
    ]
    literals.append(
        f"({negated} apple.n.01_1)" if state.startswith("not-") else f"(not ({negated} apple.n.01_1))"
    )
    wanted = negated if state.startswith("not-") else state
    text = _with_objects(
        _problem(),
        "apple.n.01_1 - apple.n.01",
        placed="(ontop apple.n.01_1 floor.n.01_1) " + " ".join(literals),
    )
    env = gym.make("ethogym/Behavior-v0", task_file=str(_write(tmp_path, text)), skill_execution="teleport")
    try:
        env.reset(seed=0)
        apple = env.unwrapped.scope["apple.n.01_1"]
        assert (apple.frozen, apple.hot) == (wanted == "frozen", wanted == "hot")
    finally:
        env.close()


def test_substance_no_tool_takes_off_is_unsupported(tmp_path: Path) -> None:
    # Gourds are dusted with a napkin in BEHAVIOR, which the bddl data gives no dust to remove.
    with pytest.raises(
        UnsupportedActivityError, match="takes dust.n.01 off, and no object of the task removes it"
    ):
        gym.make("ethogym/Behavior-v0", activity="clean_gourds")
    goal = "(not (covered can__of__soda.n.01_1 dust.n.01_1))"
    bare = _with_objects(
        _problem(goal=goal), "dust.n.01_1 - dust.n.01", placed="(covered can__of__soda.n.01_1 dust.n.01_1)"
    )
    with pytest.raises(UnsupportedActivityError, match="takes dust.n.01 off"):
        gym.make("ethogym/Behavior-v0", task_file=str(_write(tmp_path, bare)))
    # A rag wipes dust off with no condition: the same goal is supported once the task has one.
    with_rag = _with_objects(bare, "rag.n.01_1 - rag.n.01", placed="(ontop rag.n.01_1 floor.n.01_2)")
    check_supported(load_activity(path=str(_write(tmp_path, with_rag, "with_rag.bddl"))))


@pytest.mark.parametrize(("activity", "more"), [("freeze_pies", 2), ("planting_flowers", 30)])
def test_a_forpairs_goal_that_does_not_fit_is_unsupported(activity: str, more: int) -> None:
    """forpairs and fornpairs were never size-checked: freeze_pies (pies wider than the tupperware)
    and planting_flowers set up, and no policy could ever meet their goals. The message gives two
    pairs and counts the rest."""
    assert activity not in supported_activities()
    with pytest.raises(UnsupportedActivityError) as excinfo:
        gym.make("ethogym/Behavior-v0", activity=activity)
    message = str(excinfo.value)
    assert message.count("the goal puts") == 2 and f"; {more} more such pairs." in message


def test_goal_putting_a_thing_in_a_container_too_small_is_unsupported(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedActivityError) as excinfo:
        gym.make("ethogym/Behavior-v0", activity="boxing_books_up_for_storage")
    message = str(excinfo.value)
    assert "the goal puts book_1 (0.22 x 0.16 x 0.04 m) inside box_1 (room inside " in message
    assert "does not fit in either way round" in message
    # An alternative that does not need the fit keeps the goal reachable.
    book = "book.n.02_1 - book.n.02"
    on_floor = "(ontop book.n.02_1 floor.n.01_1)"
    inside = "(inside book.n.02_1 can__of__soda.n.01_1)"
    for goal, reachable in [
        (inside, False),
        (f"(or {inside} {CAN_IN_BIN})", True),
        (f"(not {inside})", True),
    ]:
        path = _write(
            tmp_path, _with_objects(_problem(goal=goal), book, placed=on_floor), f"g{len(goal)}.bddl"
        )
        if reachable:
            check_supported(load_activity(path=str(path)))
        else:
            with pytest.raises(UnsupportedActivityError, match="book_1 .* inside can_of_soda_1"):
                check_supported(load_activity(path=str(path)))


def test_thing_the_goal_puts_things_in_is_built_with_an_inside(tmp_path: Path, make_env) -> None:
    # A box (a solid block by its template) that the goal fills is built as an open-top bin.
    text = _with_objects(
        _problem(goal="(inside walnut.n.01_1 box.n.01_1)"),
        "walnut.n.01_1 - walnut.n.01",
        "box.n.01_1 - box.n.01",
        placed="(ontop walnut.n.01_1 floor.n.01_2)\n        (ontop box.n.01_1 floor.n.01_2)",
    )
    env = make_env(
        "ethogym/Behavior-v0",
        activity=None,
        task_file=str(_write(tmp_path, text)),
        skill_execution="teleport",
    )
    env.reset(seed=0)
    u = env.unwrapped
    box = next(o for o in u.objects if o.label == "box_1")
    assert box.template == "bin" and box.interior is not None
    assert ("place_in", "box_1") in u.table.index
    assert run_episode(env, make_policy("oracle", env), 0)["is_success"]


def test_goal_literals_know_what_the_goal_wants_false() -> None:
    goal = [
        "not",
        ["imply", ["inside", "?a", "?b"], ["forall", ["?c", "-", "c.n.01"], ["ontop", "?a", "?c"]]],
    ]
    found = [(atom[0], negated, types) for atom, negated, types in goal_literals(goal)]
    # not (p -> q) holds when p holds and q does not.
    assert found == [("inside", False, {}), ("ontop", True, {"c": "c.n.01"})]


@pytest.mark.parametrize(
    ("activity", "reason"),
    [
        ("fixing_broken_chair", "the goal mends armchair_1, broken in :init (repairing is not simulated)"),
        (
            "make_toast",
            "the goal wants bread_slice cooked (at 180 C), and no heat source of the task gets that hot",
        ),
    ],
)
def test_goal_no_rule_of_the_simulator_reaches_is_unsupported(activity: str, reason: str) -> None:
    with pytest.raises(UnsupportedActivityError) as excinfo:
        gym.make("ethogym/Behavior-v0", activity=activity)
    assert reason in str(excinfo.value)


def test_source_that_acts_on_what_is_inside_it_has_an_inside() -> None:
    # A toaster heats only what is in it (bddl's requires_inside): it is built with an inside.
    toaster = next(o for o in describe_objects(load_activity("toast_buns")) if o.synset == "toaster.n.02")
    assert toaster.template == "bin" and toaster.interior is not None


@pytest.mark.parametrize(
    ("width", "side"),
    [(0.22, 0.022), (0.08, 0.01), (0.35, 0.03), (0.8, 0.03)],
)
def test_container_side_walls_are_a_tenth_of_its_width_within_1_to_3_cm(width: float, side: float) -> None:
    # A bowl keeps room inside it; the floor stays 3 cm thick, so a thing on a container's floor
    # never counts as resting on the room's floor (ONTOP_CONTACT is 2 cm).
    (lo, hi), levels = container_inside("bin", np.array([width + 0.1, width, 0.2]))
    assert hi[1] - lo[1] == pytest.approx(width - 2 * side)
    assert lo[2] == pytest.approx(-0.1 + 0.03) and levels[0] == pytest.approx(-0.1 + 0.03)


def test_a_substance_put_inside_a_container_by_init_is_named_at_reset(tmp_path, make_env) -> None:
    # Containers are sized for the things :init puts in them; a substance is no thing (it raised a
    # KeyError while sizing them).
    text = (
        trash_problem("(ontop ashcan.n.01_1 floor.n.01_2)")
        .replace("(:init", "(:init\n        (inside dust.n.01_1 ashcan.n.01_1)")
        .replace("agent.n.01_1 - agent.n.01", "agent.n.01_1 - agent.n.01\n        dust.n.01_1 - dust.n.01")
    )
    path = str(_write(tmp_path, text))
    env = make_env("ethogym/Behavior-v0", activity=None, task_file=path, skill_execution="teleport")
    with pytest.raises(SamplingError, match=r"\(inside dust.n.01_1 ashcan.n.01_1\)"):
        env.reset(seed=0)
