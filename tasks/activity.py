"""Loading and checking BDDL activity definitions (BEHAVIOR-1K's or ethogym's own)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from bddl.activity import Conditions

from ethogym.envs.sim.knowledge import activity_path, all_activities, synset_info, synset_of
from ethogym.errors import TaskDefinitionError, UnsupportedActivityError

from .backend import PREDICATES, UNSUPPORTED

DEFINITIONS_DIR = Path(__file__).parent / "definitions"
OPERATORS = {"and", "or", "not", "imply", "forall", "exists", "forn", "forpairs", "fornpairs"}
INIT_STATES = {
    "ontop",
    "inside",
    "nextto",
    "under",
    "open",
    "toggled_on",
    "frozen",
    "hot",
    "cooked",
    "broken",
    "covered",
    "inroom",
}
BDDL_SHAPE = "(define (problem NAME) (:domain omnigibson) (:objects ...) (:init ...) (:goal ...))"


@dataclass
class Activity:
    """A parsed BDDL problem."""

    name: str
    instance: int | str
    text: str
    objects: dict[str, list[str]]  # synset -> instance names
    init: list[list]
    goal: list[list]
    source: str
    scene_objects: list[tuple[str, str, str]] = field(default_factory=list)  # (instance, synset, room)
    agents: list[str] = field(default_factory=list)
    substances: list[str] = field(default_factory=list)

    def conditions(self) -> Conditions:
        """A fresh ``bddl.activity.Conditions`` for this problem (bddl mutates what it parses)."""
        return Conditions(self.name, self.instance, "omnigibson", predefined_problem=self.text)

    @property
    def instances(self) -> list[str]:
        return [name for names in self.objects.values() for name in names]

    @property
    def rooms(self) -> set[str]:
        return {room for _, _, room in self.scene_objects}


def load_activity(activity: str | None = None, instance: int = 0, path: str | Path | None = None) -> Activity:
    """Load a BEHAVIOR-1K activity by name (from the installed ``bddl``) or a problem file by path."""
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise TaskDefinitionError(
                f"BDDL file {path} does not exist; pass the path of a problem*.bddl file"
            )
        return parse_activity(
            path.read_text(), name=path.parent.name or path.stem, instance=0, source=str(path)
        )
    if activity is None:
        raise TaskDefinitionError("give an activity name (e.g. activity='boil_water') or a task_file path")
    own = DEFINITIONS_DIR / activity / f"problem{instance}.bddl"
    file = own if own.is_file() else activity_path(activity, instance)
    if not file.is_file():
        import difflib

        names = sorted(set(all_activities()) | {p.name for p in DEFINITIONS_DIR.iterdir() if p.is_dir()})
        close = difflib.get_close_matches(activity, names, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        if activity in names:
            raise TaskDefinitionError(f"activity '{activity}' has no instance {instance} ({file} is missing)")
        raise TaskDefinitionError(
            f"unknown activity '{activity}': bddl {len(names)} definitions do not include it.{hint}"
        )
    return parse_activity(file.read_text(), name=activity, instance=instance, source=str(file))


def parse_activity(text: str, name: str, instance: int | str = 0, source: str = "<text>") -> Activity:
    """Parse and validate a BDDL problem text; every problem found is named in the error."""
    if not re.search(r"\(\s*define\s*\(\s*problem", text):
        raise TaskDefinitionError(f"{source}: not a BDDL problem; expected {BDDL_SHAPE}")
    if text.count("(") != text.count(")"):
        raise TaskDefinitionError(
            f"{source}: unbalanced parentheses ({text.count('(')} '(' vs "
            f"{text.count(')')} ')'); a BDDL problem looks like {BDDL_SHAPE}"
        )
    try:
        conds = Conditions(name, instance, "omnigibson", predefined_problem=text)
    except Exception as exc:  # bddl raises bare Exceptions and IndexErrors on malformed text
        raise TaskDefinitionError(
            f"{source}: bddl could not parse the problem ({exc!r}); a BDDL problem looks like {BDDL_SHAPE}"
        ) from None
    objects = conds.parsed_objects
    init = conds.parsed_initial_conditions
    goal = conds.parsed_goal_conditions
    if not objects or "object" in objects:
        raise TaskDefinitionError(
            f"{source}: every object in :objects needs a type, as in 'apple.n.01_1 - apple.n.01'"
        )
    if not goal or not goal[0]:
        raise TaskDefinitionError(f"{source}: the problem has no :goal")
    declared = {inst for names in objects.values() for inst in names}
    for synset, names in objects.items():
        for inst in names:
            if synset_of(inst) != synset and not inst.endswith("_*"):
                raise TaskDefinitionError(
                    f"{source}: object '{inst}' is declared as {synset}; instance names are '<synset>_<n>'"
                )
    for literal in init:
        atom = literal[1] if literal[0] == "not" else literal
        for term in atom[1:]:
            if isinstance(term, str) and term not in declared and atom[0] != "inroom":
                raise TaskDefinitionError(
                    f"{source}: :init mentions '{term}', which :objects does not declare"
                )
    _check_goal_terms(goal, declared, objects, source)
    activity = Activity(name, instance, text, objects, init, goal, source)
    for literal in init:
        if literal[0] == "inroom":
            activity.scene_objects.append((literal[1], synset_of(literal[1]), literal[2]))
    activity.agents = [i for i in declared if synset_of(i) == "agent.n.01"]
    activity.substances = [i for i in declared if synset_info(synset_of(i)).is_substance]
    return activity


def _check_goal_terms(goal, declared, objects, source) -> None:
    def walk(expr, bound):
        if not isinstance(expr, list) or not expr:
            return
        head = expr[0]
        if head in ("forall", "exists", "forn", "forpairs", "fornpairs"):
            params = [p for p in expr[1:-1] if isinstance(p, list) and "-" in p]
            new = set(bound)
            for p in params:
                if p[2] not in objects:
                    raise TaskDefinitionError(
                        f"{source}: the goal quantifies over '{p[2]}', which :objects does not declare"
                    )
                new.add(p[0].lstrip("?"))
            walk(expr[-1], new)
            return
        if head in OPERATORS:
            for sub in expr[1:]:
                walk(sub, bound)
            return
        for term in expr[1:]:
            if isinstance(term, str):
                t = term.lstrip("?")
                if t not in declared and t not in bound and t not in objects:
                    raise TaskDefinitionError(
                        f"{source}: the goal mentions '{t}', which :objects does not declare"
                    )

    for expr in goal:
        walk(expr, set())


def predicates_used(activity: Activity) -> tuple[set[str], set[str]]:
    """Atomic predicates of :init and of :goal."""

    def collect(expr, out):
        if isinstance(expr, list) and expr:
            if (
                isinstance(expr[0], str)
                and expr[0] not in OPERATORS
                and not expr[0].startswith("?")
                and expr[0] != "-"
                and not expr[0].isdigit()
                and all(isinstance(t, str) for t in expr)
            ):
                out.add(expr[0])
                return
            for sub in expr:
                collect(sub, out)

    init: set[str] = set()
    for literal in activity.init:
        collect(literal, init)
    goal: set[str] = set()
    for expr in activity.goal:
        collect(expr, goal)
    return init, goal


def check_supported(activity: Activity) -> None:
    """Raise UnsupportedActivityError naming everything the simulator cannot do for this activity."""
    problems = []
    init, goal = predicates_used(activity)
    for pred in sorted(init | goal):
        if pred in UNSUPPORTED:
            problems.append(f"predicate '{pred}' ({UNSUPPORTED[pred]})")
        elif pred not in PREDICATES and pred != "inroom":
            problems.append(f"predicate '{pred}' is not in the omnigibson domain")
    for pred in sorted(init - INIT_STATES - set(UNSUPPORTED)):
        if pred in PREDICATES:
            problems.append(f"initial state '{pred}' cannot be sampled")
    for synset in activity.objects:
        info = synset_info(synset)
        if synset == "agent.n.01":
            continue
        if not info.known:
            problems.append(f"synset '{synset}' is not in the bddl knowledge base")
        elif info.is_substance and not info.is_visual_substance:
            problems.append(f"substance '{synset}' is a particle or liquid system, which is not simulated")
    if len(activity.agents) != 1:
        problems.append(
            f"household activities need exactly one agent.n.01 instance, found {len(activity.agents)}"
        )
    if problems:
        raise UnsupportedActivityError(
            f"activity '{activity.name}' needs what ethogym does not simulate yet: "
            + "; ".join(problems)
            + ". Pick another activity (ethogym.tasks.supported_activities() lists those that run)."
        )


def supported_activities() -> list[str]:
    """BEHAVIOR-1K activities whose instance 0 passes ``check_supported`` (parsing each once)."""
    names = []
    for name in all_activities():
        try:
            check_supported(load_activity(name, 0))
        except (TaskDefinitionError, UnsupportedActivityError):
            continue
        names.append(name)
    return names
