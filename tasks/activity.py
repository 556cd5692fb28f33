"""Loading and checking BDDL activity definitions (BEHAVIOR-1K's or ethogym's own)."""

from __future__ import annotations

import contextlib
import difflib
import functools
import io
import numbers
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from bddl.activity import Conditions
from bddl.parsing import parse_domain

from ethogym.envs.sim.knowledge import (
    activity_path,
    all_activities,
    known_synsets,
    removable_substances,
    room_types,
    synset_info,
    synset_of,
)
from ethogym.envs.sim.objects import (
    CONTAINER_TEMPLATES,
    FLOOR_SYNSETS,
    FREEZE_AT,
    HOT_AT,
    SimObject,
    container_inside,
    cook_temperature,
    dims,
    fit_margins,
    fits_inside,
    label_of,
    resolve_template,
    room_inside,
)
from ethogym.envs.sim.scene import BASE_ROOMS, WALL_RUN_LIMIT, wall_run
from ethogym.envs.sim.transitions import COLD_DEFAULT, HEAT_DEFAULT
from ethogym.errors import ConfigError, TaskDefinitionError, UnsupportedActivityError

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
#: Literals that put an object somewhere; every object needs one (or an ``inroom``) leading to a room.
#: BEHAVIOR also places by attached, draped and overlaid, which ``check_supported`` reports as not simulated.
PLACEMENTS = ("ontop", "inside", "nextto", "under")
# A container :init loads is built big enough that its contents' boxes fill at most this share of
# the room inside it (``loaded_size``): no supported activity packed fuller ever sampled, none packed
# at most this full failed for it.
INIT_FILL = 0.45
GROWTH_RATE, GROWTH_STEPS = 1.02, 200
BEHAVIOR_PLACEMENTS = (*PLACEMENTS, "attached", "draped", "overlaid")
BDDL_SHAPE = "(define (problem NAME) (:domain omnigibson) (:objects ...) (:init ...) (:goal ...))"
ACTIVITY_NAME = re.compile(r"[A-Za-z0-9_\-]+")


@functools.cache
def domain_predicates() -> dict[str, int]:
    """Every predicate of BDDL's omnigibson domain with its number of arguments."""
    *_, predicates = parse_domain("omnigibson")
    return {name: len(params) for name, params in predicates.items()}


def parse_conditions(name: str, instance: int, text: str) -> Conditions:
    """bddl's reading of a problem, with what its parser prints (a section it does not recognise, such
    as a stray character in a BEHAVIOR file) turned into a warning instead of the user's stdout."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        conds = Conditions(name, instance, "omnigibson", predefined_problem=text)
    if printed.getvalue().strip():
        warnings.warn(f"bddl, reading {name}: {printed.getvalue().strip()}", stacklevel=2)
    return conds


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
        return parse_conditions(self.name, self.instance, self.text)

    @property
    def instances(self) -> list[str]:
        return [name for names in self.objects.values() for name in names]

    def containers(self) -> set[str]:
        """Instances that :init or :goal puts something ``inside`` (a quantified one: all of its type)."""
        found = {literal[2] for literal in self.init if literal[0] == "inside" and len(literal) == 3}
        for expr in self.goal:
            for atom, _, types in goal_literals(expr):
                if atom[0] == "inside" and len(atom) == 3:
                    found.update(self.instances_of(atom[2], types))
        return found

    def instances_of(self, term: str, types: dict[str, str]) -> list[str]:
        """The instances a goal term stands for: a constant itself, a quantified variable (with
        ``types`` from ``goal_literals``) every instance of its type."""
        name = term.lstrip("?")
        return list(self.objects.get(types[name], ())) if name in types else [name]

    @staticmethod
    def synset_of_term(term: str, types: dict[str, str]) -> str:
        """The synset a goal term (a constant or a quantified variable) is of."""
        name = term.lstrip("?")
        return types.get(name) or synset_of(name)

    @property
    def rooms(self) -> set[str]:
        return {room for _, _, room in self.scene_objects}

    def bare_floors(self) -> set[str]:
        """Floors (labels) that a literal of the goal names, in rooms where the task puts no
        furniture: nothing there to drive up to, so the floor itself takes ``navigate_to``. (Other
        floors do not: the action spaces of tasks that need none stay as they are.)"""
        furnished = {room for _, synset, room in self.scene_objects if synset not in FLOOR_SYNSETS}
        in_goal = {
            name
            for expr in self.goal
            for atom, _, types in goal_literals(expr)
            for term in atom[1:]
            for name in self.instances_of(term, types)
        }
        return {
            label_of(name)
            for name, synset, room in self.scene_objects
            if synset in FLOOR_SYNSETS and room not in furnished and name in in_goal
        }


def load_activity(
    activity: str | None = None, instance: int = 0, path: str | os.PathLike | None = None
) -> Activity:
    """Load a BEHAVIOR-1K activity by name (from the installed ``bddl``) or a problem file by path.

    A file loaded by path is named after its ``(define (problem NAME-<n>))`` line, as BEHAVIOR
    names its problems ``<activity>-<instance>``.
    """
    if path is not None:
        if not isinstance(path, str | os.PathLike):
            raise ConfigError(
                f"task_file must be the path of a BDDL problem file (a str or Path), got {path!r} "
                f"({type(path).__name__})"
            )
        if isinstance(path, str) and ("(define" in path or "\n" in path):
            raise TaskDefinitionError(
                f"task_file takes the path of a BDDL file, not its text ({path[:40]!r}...); write the "
                f"text to a file such as problem0.bddl and pass that path"
            )
        if not str(path).strip():
            raise ConfigError("task_file is empty; pass the path of a problem*.bddl file")
        path = Path(path)
        try:
            if path.is_dir():
                found = sorted(p.name for p in path.glob("*.bddl"))
                shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
                hint = f"; it holds {shown}" if found else "; it holds no .bddl file"
                raise TaskDefinitionError(
                    f"task_file {path} is a directory; pass the path of a problem*.bddl file in it{hint}"
                )
            if not path.is_file():
                what = "is not a regular file" if path.exists() else "does not exist"
                raise TaskDefinitionError(f"BDDL file {path} {what}; pass the path of a problem*.bddl file")
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise TaskDefinitionError(
                f"BDDL file {path} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8"
            ) from None
        except OSError as exc:  # unreadable, or a name the file system rejects
            raise TaskDefinitionError(
                f"cannot read BDDL file {str(path)[:80]!r}: {exc.strerror or exc}; pass the path of a "
                f"readable problem*.bddl file"
            ) from None
        name, instance = _problem_name(text, fallback=path.stem)
        return parse_activity(text, name=name, instance=instance, source=str(path))
    if activity is None:
        raise TaskDefinitionError("give an activity name (e.g. activity='boil_water') or a task_file path")
    if not isinstance(activity, str):
        raise ConfigError(
            f"activity must be a BEHAVIOR-1K activity name such as 'picking_up_trash', got {activity!r} "
            f"({type(activity).__name__}); ethogym.tasks.activity.supported_activities() lists them"
        )
    if isinstance(instance, bool) or not isinstance(instance, numbers.Integral) or instance < 0:
        raise ConfigError(f"instance must be a non-negative integer (0 for problem0.bddl), got {instance!r}")
    instance = int(instance)
    own = DEFINITIONS_DIR / activity / f"problem{instance}.bddl"
    valid = ACTIVITY_NAME.fullmatch(activity) is not None
    file = own if valid and own.is_file() else activity_path(activity, instance)
    if not valid or not file.is_file():
        names = sorted(set(all_activities()) | {p.name for p in DEFINITIONS_DIR.iterdir() if p.is_dir()})
        close = difflib.get_close_matches(activity, names, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        if activity in names:
            raise TaskDefinitionError(f"activity '{activity}' has no instance {instance} ({file} is missing)")
        raise TaskDefinitionError(
            f"unknown activity '{activity}': bddl {len(names)} definitions do not include it.{hint}"
        )
    return parse_activity(file.read_text(), name=activity, instance=instance, source=str(file))


def _problem_name(text: str, fallback: str) -> tuple[str, int]:
    """The activity name and instance of ``(define (problem NAME-<n>)``; ``fallback`` when absent."""
    match = re.search(r"\(\s*define\s*\(\s*problem\s+([^\s()]+)", text)
    if match is None:
        return fallback, 0
    name, dash, instance = match.group(1).rpartition("-")
    if dash and name and instance.isdigit():
        return name, int(instance)
    return match.group(1), 0


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
        conds = parse_conditions(name, instance, text)
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
    for synset in objects:
        if synset != "agent.n.01" and not synset_info(synset).known:
            raise TaskDefinitionError(
                f"{source}: unknown synset '{synset}' in :objects.{_did_you_mean(synset, known_synsets())} "
                "Object types are WordNet synsets from BEHAVIOR's knowledge base "
                "(bddl/generated_data/synsets.csv), e.g. 'ashcan.n.01'"
            )
    for synset, names in objects.items():
        for inst in names:
            if synset_of(inst) != synset and not inst.endswith("_*"):
                raise TaskDefinitionError(
                    f"{source}: object '{inst}' is declared as {synset}; instance names are '<synset>_<n>'. "
                    f"In :objects every name before '- <synset>' takes that type: end the names of "
                    f"{synset_of(inst)} with their own '- {synset_of(inst)}'"
                )
            if not inst.endswith("_*") and not inst.rpartition("_")[2].isdigit():
                raise TaskDefinitionError(
                    f"{source}: object '{inst}' needs a number after its synset: '{synset}_<n>', "
                    f"e.g. {synset}_1"
                )
    for literal in init:
        _check_atom(_init_atom(literal, source), literal, ":init", source)
    for expr in goal:
        for atom in _goal_atoms(expr):
            _check_atom(atom, atom, ":goal", source)
            if atom[0] == "inroom":
                raise TaskDefinitionError(
                    f"{source}: the goal uses {literal_text(atom)}; inroom only fixes where a scene object "
                    "stands in :init, so a goal cannot ask for it (use ontop/inside/nextto instead)"
                )
    for literal in init:
        atom = _init_atom(literal, source)
        objects_of = atom[1:2] if atom[0] == "inroom" else atom[1:]
        for term in objects_of:
            if term not in declared:
                raise TaskDefinitionError(
                    f"{source}: :init mentions '{term}', which :objects does not declare"
                )
        if atom[0] == "inroom" and atom[2] not in room_types():
            raise TaskDefinitionError(_unknown_room(atom, source))
    _check_goal_terms(goal, declared, objects, source)
    activity = Activity(name, instance, text, objects, init, goal, source)
    for literal in init:
        if literal[0] == "inroom":
            activity.scene_objects.append((literal[1], synset_of(literal[1]), literal[2]))
    activity.agents = [i for i in declared if synset_of(i) == "agent.n.01"]
    activity.substances = [i for i in declared if synset_info(synset_of(i)).is_substance]
    _check_placed(activity, source)
    return activity


def literal_text(expr) -> str:
    """A parsed BDDL expression written back as BDDL, e.g. ``(not (open fridge.n.01_1))``."""
    if isinstance(expr, list):
        return "(" + " ".join(literal_text(term) for term in expr) + ")"
    return str(expr)


def _init_atom(literal, source: str) -> list:
    """The atom of an :init literal (under its ``not``); :init holds only ground literals."""
    atom = literal[1] if literal and literal[0] == "not" and len(literal) == 2 else literal
    if not isinstance(atom, list) or not atom or not all(isinstance(term, str) for term in atom):
        raise TaskDefinitionError(
            f"{source}: :init literal {literal_text(literal)} is not a ground literal; :init holds only "
            "(predicate object ...) and (not (predicate object ...)), without and/or/forall"
        )
    return atom


def _goal_atoms(expr) -> Iterator[list]:
    """The atomic formulas of a goal expression (under operators, skipping their parameters)."""
    return (atom for atom, _, _ in goal_literals(expr))


def goal_literals(
    expr: list, negated: bool = False, types: dict[str, str] | None = None
) -> Iterator[tuple[list, bool, dict[str, str]]]:
    """Each atomic formula of a goal expression with whether the goal wants it false (under an odd
    number of ``not`` and ``imply`` premises) and the types of the quantified variables over it."""
    types = types or {}
    if not isinstance(expr, list) or not expr:
        return
    head = expr[0]
    if not isinstance(head, str):
        for sub in expr:
            yield from goal_literals(sub, negated, types)
        return
    if head not in OPERATORS:
        yield expr, negated, types
        return
    # Quantifier parameters look like (?x - type) and forn counts like (2).
    params = [p for p in expr[1:] if isinstance(p, list) and ("-" in p or all(str(t).isdigit() for t in p))]
    bound = {**types, **{p[0].lstrip("?"): p[2] for p in params if "-" in p}}
    subs = [p for p in expr[1:] if isinstance(p, list) and not any(p is q for q in params)]
    for k, sub in enumerate(subs):
        flip = head == "not" or (head == "imply" and k == 0)
        yield from goal_literals(sub, negated != flip, bound)


def _check_atom(atom: list, literal, where: str, source: str) -> None:
    """The predicate is BDDL's and has its number of arguments, each an object or variable name."""
    predicate, terms = atom[0], atom[1:]
    arity = domain_predicates().get(predicate)
    if arity is None:
        if str(predicate).startswith("?") or not terms:
            raise TaskDefinitionError(
                f"{source}: {where} has a quantifier parameter without a type, or a forn count not "
                f"in parentheses, near {literal_text(literal)}; write (forall (?x - synset) ...) and "
                f"(forn (2) (?x - synset) ...)"
            )
        hint = _did_you_mean(str(predicate), list(domain_predicates()))
        raise TaskDefinitionError(
            f"{source}: unknown predicate '{predicate}' in {where} literal {literal_text(literal)}; "
            f"BDDL predicates are: {', '.join(sorted(domain_predicates()))}.{hint}"
        )
    if len(terms) != arity or not all(isinstance(term, str) for term in terms):
        args = ("OBJECT", "ROOM") if predicate == "inroom" else ("OBJECT", "OTHER")[:arity]
        raise TaskDefinitionError(
            f"{source}: {where} literal {literal_text(literal)} gives '{predicate}' {len(terms)} "
            f"argument(s); {predicate} takes {arity} object name(s): ({predicate} {' '.join(args)})"
        )


def _did_you_mean(word: str, names: list[str]) -> str:
    """`` Did you mean 'a' or 'b'?`` for the names closest to a misspelt ``word``, or ''."""
    close = difflib.get_close_matches(word, names, n=2)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _unknown_room(atom: list, source: str) -> str:
    room = atom[2]
    hint = _did_you_mean(room, room_types())
    return (
        f"{source}: unknown room '{room}' in {literal_text(atom)}.{hint} The scene generator builds "
        f"every apartment with {', '.join(BASE_ROOMS)} and a garden, and adds any other BEHAVIOR room "
        f"type: {', '.join(room_types())}"
    )


def _check_placed(activity: Activity, source: str) -> None:
    """Every object except the agent and substances must be placed relative to a room, directly
    (``inroom``) or through a chain of placement literals, as BEHAVIOR's definitions require;
    anything else would be left out of the scene."""
    future = {lit[1] for lit in activity.init if lit[0] == "future"}
    agents, substances = set(activity.agents), set(activity.substances)
    needed = {
        name
        for name in activity.instances
        if name not in agents and name not in substances and name not in future and not name.endswith("_*")
    }
    placed = {name for name, _, _ in activity.scene_objects}
    relations = [(lit[1], lit[2]) for lit in activity.init if lit[0] in BEHAVIOR_PLACEMENTS]
    grew = True
    while grew:
        new = {obj for obj, ref in relations if ref in placed and obj not in placed}
        placed |= new
        grew = bool(new)
    missing = sorted(needed - placed)
    if not missing:
        return
    related = {obj for obj, _ in relations}
    problems = []
    loose = [name for name in missing if name not in related]
    if loose:
        problems.append(f"{', '.join(loose)} {'has' if len(loose) == 1 else 'have'} no placement")
    chained = [name for name in missing if name in related]
    if chained:
        problems.append(
            f"{', '.join(chained)} {'is' if len(chained) == 1 else 'are'} placed only relative to objects "
            "that are themselves not placed (a cycle or a missing link)"
        )
    raise TaskDefinitionError(
        f"{source}: {'; '.join(problems)} in :init. Every object except the agent and substances needs "
        f"(inroom OBJECT ROOM) for furniture, or ({' | '.join(PLACEMENTS)} OBJECT OTHER) relative to a "
        f"placed object, e.g. (ontop {missing[0]} floor.n.01_1)"
    )


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
            if head in ("forn", "fornpairs"):
                _check_count(expr, params, objects, source)
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


def _check_count(expr: list, params: list[list], objects: dict[str, list[str]], source: str) -> None:
    """A ``forn`` / ``fornpairs`` count must not exceed the objects it counts over: such a goal
    could never hold (and ``bddl`` fails with an IndexError grounding it)."""
    count = expr[1][0] if isinstance(expr[1], list) and len(expr[1]) == 1 else None
    if count is None or not count.isdigit() or not params:
        return  # _check_atom names a malformed count or parameter
    available = min(len(objects[p[2]]) for p in params)
    if int(count) > available:
        types = " and ".join(f"{len(objects[p[2]])} {p[2]}" for p in params)
        raise TaskDefinitionError(
            f"{source}: the goal's ({expr[0]} ({count}) ...) asks for {count}, but :objects declares only "
            f"{types}; lower the count or declare more objects"
        )


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
            problems.append(f"predicate '{pred}' is not simulated")
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
    problems += _shared_grounds(activity)
    problems += _placed_twice(activity)
    problems += _cleaning_gaps(activity)
    problems += _unfitting(activity)
    problems += _repairs(activity)
    problems += _out_of_range_temperatures(activity)
    problems += _crowded_rooms(activity)
    if problems:
        raise UnsupportedActivityError(
            f"activity '{activity.name}' needs what ethogym does not simulate yet: "
            + "; ".join(problems)
            + ". Pick another activity (ethogym.tasks.activity.supported_activities() lists those that run)."
        )


def describe_objects(activity: Activity) -> list[SimObject]:
    """Body-less descriptors of the task's physical objects as ethogym builds them (template, size,
    inside), in a fixed order: sorted by instance name. Containers :init loads beyond ``INIT_FILL``
    come at the size ``loaded_size`` gives them."""
    scene_names = {name for name, _, _ in activity.scene_objects}
    containers = activity.containers()
    out = {}
    for name in sorted(activity.instances):
        synset = synset_of(name) if not name.endswith("_*") else name[:-2]
        if synset == "agent.n.01" or name in activity.substances:
            continue
        info = synset_info(synset)
        template, size = resolve_template(info, name in containers)
        if synset in FLOOR_SYNSETS:
            template = "floor"
        out[name] = _descriptor(name, synset, info, template, size, static=name in scene_names)
    loads: dict[str, list[SimObject]] = {}
    for pred, *args in activity.init:
        if pred == "inside" and len(args) == 2 and set(args) <= out.keys() and args[1] not in scene_names:
            loads.setdefault(args[1], []).append(out[args[0]])
    for name, contents in loads.items():
        box = out[name]
        if box.interior is not None:
            out[name] = _descriptor(name, box.synset, box.info, box.template, loaded_size(box, contents))
    return list(out.values())


def _descriptor(
    name: str, synset: str, info, template: str, size: np.ndarray, static: bool = False
) -> SimObject:
    interior, shelves = container_inside(template, size) if template in CONTAINER_TEMPLATES else (None, ())
    return SimObject(
        name=name,
        synset=synset,
        label=label_of(name),
        info=info,
        body=-1,
        template=template,
        size=size,
        static=static,
        mass=info.mass,
        interior=interior,
        shelves=shelves,
        door_joint=0 if template == "cabinet" else None,
    )


def loaded_size(box: SimObject, contents: list[SimObject]) -> np.ndarray:
    """The size a container is built at to take what :init puts inside it: its template's, or, where
    the contents' boxes would fill more than ``INIT_FILL`` of the room inside it, that grown in
    proportion until they fill ``INIT_FILL`` (BEHAVIOR's cartons are as big as their loads; a
    template-sized one packed fuller never sampled)."""
    load = sum(float(np.prod(obj.size)) for obj in contents)
    grown = box
    for _ in range(GROWTH_STEPS):
        lo, hi = grown.placing_room()
        if load <= INIT_FILL * float(np.prod(hi - lo)) * len(grown.shelves):
            break
        grown = _descriptor(box.name, box.synset, box.info, box.template, grown.size * GROWTH_RATE)
    return grown.size


def _unfitting(activity: Activity) -> list[str]:
    """:init or the goal puts things inside containers they do not fit in with ethogym's primitive
    sizes (``fits_inside``), where no alternative the goal allows avoids that, or :init rests a
    thing on an open bin whose opening it falls through."""
    objects = {o.name: o for o in describe_objects(activity)}
    misfits: dict[tuple[str, str], bool] = {}
    problems = []
    for pred, a, b in (lit for lit in activity.init if lit[0] in ("inside", "ontop") and len(lit) == 3):
        obj, box = objects.get(a), objects.get(b)
        if obj is None or box is None or box.interior is None:
            continue
        if pred == "inside" and not fits_inside(obj, box):
            problems.append(f":init puts {_misfit_text(obj, box)}")
        elif pred == "ontop" and box.template == "bin" and _drops_into(obj, box, activity):
            problems.append(
                f":init rests {obj.label} ({dims(obj.size)}) on {box.label}, built as a bin open at the "
                f"top ({room_inside(box)}), which it falls into"
            )

    def fits(atom: list, bound: dict[str, str]) -> bool:
        obj, box = (objects.get(bound.get(t.lstrip("?"), t.lstrip("?"))) for t in atom[1:3])
        if obj is None or box is None or box.interior is None:
            return True
        key = (obj.name, box.name)
        if key not in misfits:
            misfits[key] = not fits_inside(obj, box)
        return not misfits[key]

    def can(expr, value: bool, bound: dict[str, str]) -> bool:
        """Can ``expr`` take ``value``, when only the sizes are known (and they rule out only
        ``inside`` atoms)?"""
        head = expr[0]
        if head not in OPERATORS:
            return not (value and head == "inside" and len(expr) == 3) or fits(expr, bound)
        if head == "not":
            return can(expr[1], not value, bound)
        if head == "imply":
            premise, then = expr[1], expr[2]
            if value:
                return can(premise, False, bound) or can(then, True, bound)
            return can(premise, True, bound) and can(then, False, bound)
        if head in ("and", "or"):
            every = (head == "and") == value  # and-true and or-false need every part
            parts = (can(sub, value, bound) for sub in expr[1:])
            return all(parts) if every else any(parts)
        if head in ("forall", "exists", "forn"):
            var, _, kind = expr[-2]
            cases = [
                can(expr[-1], value, {**bound, var.lstrip("?"): name})
                for name in activity.objects.get(kind, ())
            ]
            if head == "forn":
                return not value or sum(cases) >= int(expr[1][0])
            return all(cases) if (head == "forall") == value else any(cases)
        if head in ("forpairs", "fornpairs"):
            (var, _, kind), (other, _, other_kind) = expr[-3], expr[-2]
            firsts, seconds = activity.objects.get(kind, ()), activity.objects.get(other_kind, ())
            cells = {
                (a, b): can(expr[-1], value, {**bound, var.lstrip("?"): a, other.lstrip("?"): b})
                for a in firsts
                for b in seconds
                if a != b  # bddl pairs a thing with others only
            }
            if not value:
                return any(cells.values())
            # As bddl judges them: `need` first things and `need` second things in pairs that hold.
            need = (
                int(expr[1][0])
                if head == "fornpairs"
                else min(len(firsts), len(seconds) - (kind == other_kind))
            )
            rows = sum(any(cells.get((a, b), False) for b in seconds) for a in firsts)
            columns = sum(any(cells.get((a, b), False) for a in firsts) for b in seconds)
            return rows >= need and columns >= need
        return True

    if all(can(expr, True, {}) for expr in activity.goal):
        return problems
    bad = [pair for pair, misfit in sorted(misfits.items()) if misfit]
    # Two examples: a goal over eight pots and four flowers would list 32 pairs.
    texts = [f"the goal puts {_misfit_text(objects[a], objects[b])}" for a, b in bad[:2]]
    if len(bad) > 2:
        texts.append(f"{len(bad) - 2} more such pairs")
    return problems + texts


def _drops_into(obj: SimObject, box: SimObject, activity: Activity) -> bool:
    """Would ``obj``, set on the open top of the empty bin ``box``, fall in (it fits the opening
    either way round, and :init puts nothing inside the bin to hold it up)?"""
    lo, hi = box.interior
    if fit_margins(obj.size[:2] / 2, 0.0, hi[:2] - lo[:2], 0.0, 0.0) is None:
        return False  # it spans the opening and rests on the rim
    return not any(lit[0] == "inside" and lit[2:3] == [box.name] for lit in activity.init)


def _misfit_text(obj: SimObject, box: SimObject) -> str:
    return (
        f"{obj.label} ({dims(obj.size)}) inside {box.label} ({room_inside(box)}), which it does not fit "
        "in either way round with ethogym's primitive sizes"
    )


def _repairs(activity: Activity) -> list[str]:
    """Objects broken in :init that the goal wants whole: nothing mends a broken object here."""
    broken = {literal[1] for literal in activity.init if literal[0] == "broken" and len(literal) == 2}
    mended = set()
    for expr in activity.goal:
        for atom, negated, types in goal_literals(expr):
            if atom[0] == "broken" and negated and len(atom) == 2:
                mended.update(broken & set(activity.instances_of(atom[1], types)))
    return [
        f"the goal mends {label_of(name)}, broken in :init (repairing is not simulated)"
        for name in sorted(mended)
    ]


def _out_of_range_temperatures(activity: Activity) -> list[str]:
    """Objects the goal wants hot, cooked or frozen past what any heat or cold source of the task
    reaches (sources pull an object toward their own temperature and no further)."""

    def reach(kind: str, default: float) -> list[float]:
        sources = (synset_info(synset) for synset in activity.objects)
        return [float(i.params[kind].get("temperature", default)) for i in sources if i.has(kind)]

    hottest, coldest = (
        max(reach("heatSource", HEAT_DEFAULT), default=None),
        min(reach("coldSource", COLD_DEFAULT), default=None),
    )
    problems = set()
    for expr in activity.goal:
        for atom, negated, types in goal_literals(expr):
            if negated or atom[0] not in ("hot", "cooked", "frozen") or len(atom) != 2:
                continue
            info = synset_info(activity.synset_of_term(atom[1], types))
            if atom[0] == "frozen":
                if coldest is None or coldest >= FREEZE_AT:
                    problems.add(
                        f"the goal wants {info.category} frozen, and no cold source of the task gets "
                        f"below {FREEZE_AT:g} C"
                    )
                continue
            need = cook_temperature(info) if atom[0] == "cooked" else HOT_AT
            if hottest is None or hottest <= need:
                problems.add(
                    f"the goal wants {info.category} {atom[0]} (at {need:g} C), and no heat source of the "
                    "task gets that hot"
                )
    return sorted(problems)


def _cleaning_gaps(activity: Activity) -> list[str]:
    """Substances the goal wants gone that nothing in the task can take off here. ethogym wipes a
    substance off only with a particle remover (bddl data) whose condition for it is none or being
    switched on; soaking a tool in a liquid, and washing machines, are not simulated."""
    wanted = {
        activity.synset_of_term(atom[2], types)
        for expr in activity.goal
        for atom, negated, types in goal_literals(expr)
        if atom[0] == "covered" and negated and len(atom) == 3
    }
    problems = []
    for substance in sorted(wanted):
        if not any(_removes(synset, substance) for synset in activity.objects):
            problems.append(
                f"the goal takes {substance} off, and no object of the task removes it without a liquid "
                "or a washing machine"
            )
    return problems


def _removes(tool: str, substance: str) -> bool:
    """Can ``tool`` take ``substance`` off here: it removes it with no condition, or once on."""
    if not synset_info(tool).has("particleRemover"):
        return False
    needs = removable_substances(tool).get(substance)
    return needs is not None and (not needs or any(kind == "toggled_on" for kind, _ in needs))


def _placed_twice(activity: Activity) -> list[str]:
    """Things :init places by more than one literal (``buy_meat_from_a_butcher``: a steak on the
    shelf and on another steak): the sampler places each thing once, by one literal."""
    fixed = {name for name, _, _ in activity.scene_objects} | set(activity.agents)
    places: dict[str, list[str]] = {}
    for literal in activity.init:
        if literal[0] in PLACEMENTS and literal[1] not in fixed:
            places.setdefault(literal[1], []).append(literal_text(literal))
    return [
        f"{label_of(thing)} is placed twice in :init ({' and '.join(texts)}); the sampler places each "
        "thing by one literal"
        for thing, texts in sorted(places.items())
        if len(texts) > 1
    ]


def _crowded_rooms(activity: Activity) -> list[str]:
    """Rooms asked for more furniture than fits along their walls, where the scene generator
    stands all of it (the ten tables and ten chairs of a classroom)."""
    containers = set(activity.containers())
    runs: dict[str, list[float]] = {}
    for name, synset, room in activity.scene_objects:
        if synset not in FLOOR_SYNSETS:
            runs.setdefault(room, []).append(wall_run(synset, name in containers))
    return [
        f"the {room.replace('_', ' ')} has {len(run)} pieces of furniture needing {sum(run):.1f} m of "
        f"wall, and ethogym stands furniture along the walls of rooms that hold {WALL_RUN_LIMIT} m"
        for room, run in sorted(runs.items())
        if sum(run) > WALL_RUN_LIMIT
    ]


def _shared_grounds(activity: Activity) -> list[str]:
    """Ground instances (floor, lawn) that stand for the same room's floor slab, as ethogym builds one
    per room, while the task uses more than one of them (beyond ``inroom`` and the agent's start):
    the task would tell apart what is one object here."""
    by_room: dict[str, list[str]] = {}
    for name, synset, room in activity.scene_objects:
        if synset in FLOOR_SYNSETS:
            by_room.setdefault(room, []).append(name)
    goal = activity.text[activity.text.find("(:goal") :]
    agents = set(activity.agents)

    def used(name: str) -> bool:
        pattern = re.compile(r"(?<![\w.])" + re.escape(name) + r"(?!\w)")
        in_init = any(
            name in literal[1:] and literal[0] != "inroom" and not agents & set(literal[1:])
            for literal in activity.init
        )
        return in_init or bool(pattern.search(goal))

    problems = []
    for room, names in sorted(by_room.items()):
        named = [label_of(name) for name in names if used(name)]
        if len(named) > 1:
            problems.append(
                f"{' and '.join(named)} are both the {room}'s ground, which ethogym builds as one floor slab "
                "(a task that tells them apart)"
            )
    return problems


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
