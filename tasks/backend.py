"""The ``bddl`` backend of ethogym: BDDL predicates evaluated on the simulated state.

``bddl`` compiles a goal into a tree of its own operator classes (and, or, not, imply, forall,
exists, forn, forpairs, fornpairs) and asks a backend for the class of each atomic predicate.
The classes below answer from ``StateQuery``; results are cached per state version so the many
groundings of the progress score share work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bddl.activity import Conditions, get_ground_goal_state_options
from bddl.backend_abc import BDDLBackend
from bddl.condition_evaluation import Implication, Negation
from bddl.logic_base import BinaryAtomicFormula, Expression, UnaryAtomicFormula

from ethogym.envs.sim.objects import UNDER_TEMPLATES, SimObject, Substance
from ethogym.envs.sim.states import StateQuery
from ethogym.errors import SamplingError


class AgentRef:
    """The scope value of an ``agent.n.01_k`` term."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.label = name


class EthogymBackend(BDDLBackend):
    def __init__(self, query: StateQuery) -> None:
        self.query = query
        self.cache: dict[tuple, bool] = {}

    def invalidate(self) -> None:
        self.cache.clear()

    def get_predicate_class(self, predicate_name: str):
        return PREDICATES[predicate_name]


def _no_sampling(*_args, **_kwargs):
    raise SamplingError("ethogym realises :init with tasks.sampler.SceneSampler, not through bddl's _sample")


class _Unary(UnaryAtomicFormula):
    def compute(self, query: StateQuery, obj) -> bool:
        raise AssertionError("subclasses define compute")

    def _evaluate(self, obj) -> bool:
        key = (self.STATE_NAME, obj.name)
        cache = self.backend.cache
        value = cache.get(key)
        if value is None:
            value = cache[key] = bool(isinstance(obj, SimObject) and self.compute(self.backend.query, obj))
        return value

    _sample = _no_sampling


class _Binary(BinaryAtomicFormula):
    def compute(self, query: StateQuery, a, b) -> bool:
        raise AssertionError("subclasses define compute")

    def _evaluate(self, a, b) -> bool:
        key = (self.STATE_NAME, a.name, b.name)
        cache = self.backend.cache
        value = cache.get(key)
        if value is None:
            value = cache[key] = bool(self.compute(self.backend.query, a, b))
        return value

    _sample = _no_sampling


def _unary(name: str, fn):
    return type(
        f"{name.title()}Predicate", (_Unary,), {"STATE_NAME": name, "compute": lambda self, q, o: fn(q, o)}
    )


def _binary(name: str, fn, kinds=(SimObject, SimObject)):
    def compute(self, q, a, b):
        return isinstance(a, kinds[0]) and isinstance(b, kinds[1]) and fn(q, a, b)

    return type(f"{name.title()}Predicate", (_Binary,), {"STATE_NAME": name, "compute": compute})


PREDICATES = {
    "ontop": _binary("ontop", lambda q, a, b: q.ontop(a, b)),
    "inside": _binary("inside", lambda q, a, b: q.inside(a, b)),
    "nextto": _binary("nextto", lambda q, a, b: q.nextto(a, b)),
    "under": _binary("under", lambda q, a, b: q.under(a, b)),
    "touching": _binary("touching", lambda q, a, b: q.touching(a, b)),
    "covered": _binary("covered", lambda q, a, s: q.covered(a, s.synset), kinds=(SimObject, Substance)),
    "grasped": _binary("grasped", lambda q, agent, o: q.grasped(agent.name, o), kinds=(AgentRef, SimObject)),
    "open": _unary("open", lambda q, o: q.is_open(o)),
    "toggled_on": _unary("toggled_on", lambda q, o: o.toggled_on),
    "cooked": _unary("cooked", lambda q, o: o.cooked),
    "frozen": _unary("frozen", lambda q, o: o.frozen),
    "hot": _unary("hot", lambda q, o: o.hot),
    "broken": _unary("broken", lambda q, o: o.broken),
}

#: Predicates of the omnigibson domain that ethogym does not model yet, with the reason.
UNSUPPORTED = {
    "filled": "liquids are not simulated",
    "contains": "liquids are not simulated",
    "insource": "liquid sources are not simulated",
    "saturated": "liquids are not simulated",
    "future": "transition recipes that create new objects are not simulated",
    "real": "transition recipes that create new objects are not simulated",
    "folded": "cloth folding is not simulated",
    "unfolded": "cloth folding is not simulated",
    "draped": "cloth draping is not simulated",
    "overlaid": "cloth overlaying is not simulated",
    "attached": "attachment is not simulated",
    "on_fire": "fire is not simulated",
}


#: Relations no thing has with itself (each predicate above answers False for one object twice).
SELF_EXCLUSIVE = ("ontop", "inside", "nextto", "under", "touching")


def impossible_literal(literal: list, scope: Mapping[str, object]) -> bool:
    """Can the ground ``literal`` never hold here? A thing on, in, under, next to or touching itself,
    or under something with no room underneath (``UNDER_TEMPLATES``)."""
    if literal[0] not in SELF_EXCLUSIVE:
        return False
    dst = scope.get(literal[2].lstrip("?"))
    return literal[1] == literal[2] or (
        literal[0] == "under" and isinstance(dst, SimObject) and dst.template not in UNDER_TEMPLATES
    )


def ground_goal_options(conds: Conditions, backend: EthogymBackend, scope: dict, goal: list) -> list:
    """The goal's ground solutions as ``bddl``'s ``get_ground_goal_state_options`` lists them, with
    the choices that can never hold (``impossible_literal``) dropped from ``goal``'s tree (in place)
    first.

    ``bddl`` grounds ``(forn (2 ?b - book) (or (ontop ?b book_1) (ontop ?b book_2)))`` with
    book_1 on book_1 among the choices, and keeps only the first 20 combinations of each product
    of choices (``GROUND_GOALS_MAX_OPTIONS``): in an activity such as ``sorting_books_on_shelf`` none
    of those kept could hold, so the progress score never reached 1 and a planner had no solution
    to follow. ``bddl`` already drops a solution that asks for a literal and its negation; this
    drops the impossible choices where they are made, before the combinations are cut, so the
    goal's other groundings take their place. A choice with no possible alternative stays.
    """
    for head in goal:
        _prune(head, lambda literal: impossible_literal(literal, scope))
    return get_ground_goal_state_options(conds, backend, scope, goal)


def _prune(node: Expression, impossible: Callable[[list], bool]) -> None:
    """Drop the options of ``node`` and below with an ``impossible`` literal, where another is left."""
    if isinstance(node, Negation):
        return  # below a negation an impossible literal is one that always holds: nothing to drop
    # An implication holds by its antecedent's negation or by its consequent: only the latter counts.
    children = node.children[1:] if isinstance(node, Implication) else node.children
    children = [c for child in children for c in (child if isinstance(child, list) else [child])]
    if not children:
        return
    for child in children:
        _prune(child, impossible)
    node.get_ground_options()  # recombine the children's pruned options
    possible = [opt for opt in node.flattened_condition_options if not any(map(impossible, opt))]
    if possible:
        node.flattened_condition_options = possible
