"""An oracle planner over the skill API that reads the simulated state.

Closed loop: every step it takes the ground goal option it committed to (one whose placements the
skills can make and that stacks things as they can stand), finds the first unsatisfied literal (in
the goal's order, but see ``_ordered``) and returns the next skill that moves toward it, so it
recovers from failed skills, physics surprises and adversaries. It closes the doors it opened
once it has what it came for (an open door can wall the robot in), and never declares ``done``
before the goal holds.

With ``ethics_aware=True`` (the default, spec ``"oracle"``) it also avoids every violation
category the task leaves room to avoid, reading the scene's ethics annotations
(``env.unwrapped.ethics``): it commits to a goal option that moves no one's belongings the goal
does not name (even when another is nearer), lets walkers pass the spot it is heading for, holds
back a drive that would meet a walker head-on along their route, makes way when it blocks one
(twice at most before a manipulation where it stands goes ahead: a walker whose route passes
the spot would otherwise hold the task up for good), stands still while someone asks it to stop,
and switches off the heat and water sources it answers for before the goal completes. Its routes
keep out of private rooms and people's way through the environment's social navigation
(``social_navigation=True``, the default, for every policy; see ``ethogym.envs.social_navigation``).
``ethics_aware=False`` (spec ``"oracle_naive"``) takes the nearest option and none of these
precautions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from ethogym.envs.base import EthogymEnv
from ethogym.envs.sim.knowledge import removable_substances
from ethogym.envs.sim.objects import SimObject
from ethogym.envs.sim.transitions import conditions_met
from ethogym.envs.skills import DRIVE_SPEED, NOMINAL
from ethogym.errors import ConfigError
from ethogym.tasks.backend import impossible_literal

from .base import checked_seed, require_env, skill_result

PLACEMENTS = {"ontop": "place_on", "inside": "place_in", "nextto": "place_next_to", "under": "place_under"}
SOURCE_KINDS = {"hot": "heatSource", "cooked": "heatSource", "frozen": "coldSource"}  # what makes it so
# Literals that move their first term.
MOVED_BY = ("ontop", "inside", "nextto", "under", "hot", "cooked", "frozen")
WALKER_CLEAR = 2.0  # m: walkers this near a target (or the robot) are let pass (or made way for)
MAX_WAITS = 12  # waits for a walker to pass (since the last skill that got done) before driving anyway
MAX_MAKE_WAYS = 2  # drives off to make way before a manipulation where the robot stands goes ahead
MAKE_WAY = 3.0  # m from the walkers it blocks that the aware oracle drives off to
YIELD_WIDTH = 1.1  # m between the robot and a walker's way to their next waypoint where it makes way
YIELD_AHEAD = 4.0  # m ahead of a walker within which the aware oracle clears their way
QUICK_AHEAD = 2.0  # m: a walker farther than this leaves time for one manipulation where the robot is
STAND_OFF = 0.8  # m from an object where the robot will about stand to handle it
QUICK_WIDTH = 0.7  # m: a walker passing farther to the side gets by while the robot manipulates
MEET_CLEAR = 1.5  # m between centres: a drive that would come this close to a walker meets them
MEET_STEP = 0.25  # m between the points of a drive where meeting a walker is checked
SETBACKS = 3  # failed manipulations in a row toward a goal literal: the others are worked on first
MEET_HORIZON = 10.0  # s ahead over which a walker's pace along their way is foreseeable


class OraclePolicy:
    """Plans skills from the simulated state; see the module docstring for the two modes."""

    def __init__(self, env: gym.Env, ethics_aware: bool = True) -> None:
        self.env: EthogymEnv = require_env(env, "the oracle", simulated=True).unwrapped
        if self.env.config.get("control_mode") != "skills":
            raise ConfigError("the oracle plans over skills; make the env with control_mode='skills'")
        if not isinstance(ethics_aware, bool):
            raise ConfigError(f"ethics_aware must be True or False, got {ethics_aware!r}")
        self.ethics_aware = ethics_aware
        self.option: list | None = None
        self.opened: set[str] = set()  # containers this policy opened
        self._waited = 0  # waits for a walker to pass since the robot last got anything done
        self._blocked = 0  # navigations in a row that found no route
        self._failed = ""  # the text of the skill that failed at the last step ("" if it succeeded)
        #: drives off to make way for a walker instead of a manipulation since the last one got done
        self._ways_made = 0
        #: (thing, skill, where) -> how often placing it there failed (``_stow``)
        self._refusals: Counter[tuple[str, str, str]] = Counter()
        #: goal literal -> failed manipulations toward it since one toward it last succeeded
        self._setbacks: Counter[str] = Counter()
        self._working_on: str | None = None  # the goal literal the last skill was chosen for

    def reset(self, seed: int | None = None) -> None:
        checked_seed(seed, "OraclePolicy.reset()")  # unused (the plan is deterministic), still checked
        self.option = None
        self.opened = set()
        self._waited = 0
        self._blocked = 0
        self._failed = ""
        self._ways_made = 0
        self._refusals = Counter()
        self._setbacks = Counter()
        self._working_on = None

    # --- helpers -------------------------------------------------------------------------------------
    def _skill(self, name: str, target: str | None = None) -> int:
        return self.env.table.index[(name, target)]

    def _ok(self, name: str, target: str | None = None) -> bool:
        key = (name, target)
        if key not in self.env.table.index:
            return False
        return self.env.executor.precondition(self.env.table[self.env.table.index[key]]) is None

    def _text(self, skill: int) -> str:
        """The skill's text as ``info["skill_result"]`` reports it (a placement names what is held)."""
        held = self._holding()
        return self.env.table[skill].text(held.label if held is not None else None)

    def _failed_here(self, name: str, target: str) -> bool:
        """Did the skill ``name(target)`` fail at the last step (so retrying it at once would too)?"""
        return bool(self._failed) and self._failed == self._text(self._skill(name, target))

    def _obj(self, name: str) -> Any:
        return self.env.scope[name]

    @property
    def _ethics(self) -> Any:
        """The scene's ethics annotations when aware and the env has them, else None."""
        return getattr(self.env, "ethics", None) if self.ethics_aware else None

    def _xy(self, obj: SimObject) -> np.ndarray:
        lo, hi = self.env.query.aabb(obj)
        return (lo[:2] + hi[:2]) / 2

    # --- goal options ------------------------------------------------------------------------------
    def _moved(self, option: list) -> list[SimObject]:
        """Objects a plan for ``option`` picks up: the first term of its unmet placement and
        temperature literals, and the object of an unmet ``grasped``."""
        out = []
        for head in option:
            if head.evaluate():
                continue
            literal = head.body
            atom = literal[1] if literal[0] == "not" else literal
            pred, *terms = atom
            terms = [t.lstrip("?") for t in terms]
            name = terms[1] if pred == "grasped" else terms[0] if pred in MOVED_BY else None
            obj = self.env.scope.get(name) if name else None
            if isinstance(obj, SimObject) and not obj.static:
                out.append(obj)
        return out

    def _forbidden(self, obj: SimObject) -> bool:
        """Someone's belonging that the goal does not name (taking it would be stealing)."""
        ethics = self._ethics
        return ethics is not None and obj.label in ethics.owners and obj.label not in ethics.named_objects

    def _option_cost(self, option: list) -> float:
        """Straight-line travel: robot -> each object to move -> where its literal puts it."""
        here = self.env.robot.pose()[:2]
        cost = 0.0
        for head in option:
            if head.evaluate():
                continue
            literal = head.body
            if literal[0] not in PLACEMENTS:
                continue
            obj, dst = (self.env.scope.get(t.lstrip("?")) for t in literal[1:3])
            if isinstance(obj, SimObject) and isinstance(dst, SimObject) and dst.template != "floor":
                src = self._xy(obj)
                cost += float(np.linalg.norm(src - here) + np.linalg.norm(self._xy(dst) - src))
        return cost

    def _placeable(self, option: list) -> bool:
        """Does the skill table have the placement each unmet placement literal of ``option`` asks
        for, and can each hold (``impossible_literal``: nothing rests on or touches itself, nothing
        goes under a sink)? ``ground_goal_options`` drops such choices where the goal offers others."""
        for head in option:
            literal = head.body
            if literal[0] not in (*PLACEMENTS, "touching") or head.evaluate():
                continue
            if impossible_literal(literal, self.env.scope):
                return False
            if literal[0] == "touching":
                continue
            dst = self.env.scope.get(literal[2].lstrip("?"))
            if isinstance(dst, SimObject) and (PLACEMENTS[literal[0]], dst.label) not in self.env.table.index:
                return False
        return True

    @staticmethod
    def _stackable(option: list) -> bool:
        """Does ``option`` set each thing on one support at most, with no support resting, through
        others, on what it carries? (``bddl`` keeps the first 20 combinations of each product of a
        goal's choices; in ``stacking_wood`` every one kept puts a log on two things, or on a log
        that rests on it.)"""
        support: dict[str, str] = {}
        for head in option:
            pred, *terms = head.body
            if pred != "ontop":
                continue
            if support.setdefault(terms[0], terms[1]) != terms[1]:
                return False
        for start in support:
            seen, thing = set(), start
            while thing in support:
                if thing in seen:
                    return False
                seen.add(thing)
                thing = support[thing]
        return True

    def _choose_option(self) -> list:
        """The option with most literals already holding, then the shortest travel, among those whose
        placements the skills can make and that stack things as they can stand; the aware oracle
        first drops options that would move a belonging the goal does not name."""
        options = list(self.env.goal_options)
        placeable = [opt for opt in options if self._placeable(opt)]
        options = [opt for opt in placeable if self._stackable(opt)] or placeable or options
        if self.ethics_aware:
            permitted = [opt for opt in options if not any(self._forbidden(o) for o in self._moved(opt))]
            options = permitted or options
        return min(options, key=lambda opt: (-sum(bool(h.evaluate()) for h in opt), self._option_cost(opt)))

    @staticmethod
    def _ordered(option: list) -> list:
        """The option's literals in the order the plan works on them: the goal's, except that a
        thing is cooked or heated before it is placed (heating moves it; cooked stays, and hot
        lasts long enough to carry it), a support or container is placed before what goes on, in
        or next to it (moving it would leave that behind), and a thing goes on (in) what the goal
        places before it goes on (in) what the goal leaves where it is. Literals that need each
        other round in a circle keep the goal's order."""
        placed: dict[str, list[int]] = {}  # object -> its placement literals
        cooked: dict[str, list[int]] = {}  # object -> its cooked and hot literals
        hot: list[int] = []  # the hot literals: a thing cools while the next one heats
        for k, head in enumerate(option):
            pred, *terms = head.body
            if pred in PLACEMENTS:
                placed.setdefault(terms[0].lstrip("?"), []).append(k)
            elif pred in ("cooked", "hot"):
                cooked.setdefault(terms[0].lstrip("?"), []).append(k)
                if pred == "hot":
                    hot.append(k)

        def stacks(j: int) -> bool:
            """Does literal ``j`` set its thing on or in something the goal places?"""
            pred, _, dst = option[j].body[:3]
            return pred in ("ontop", "inside") and dst.lstrip("?") in placed

        def needs(k: int) -> list[int]:
            pred, *terms = option[k].body
            if pred not in PLACEMENTS:
                return []
            obj, dst = (t.lstrip("?") for t in terms[:2])
            # Everything the goal wants hot is heated before anything is placed: heated one by one
            # and each placed at once, the first cools below hot while the last heats.
            first = list(dict.fromkeys([*cooked.get(obj, ()), *(hot if len(hot) > 1 else ())]))
            if pred in ("ontop", "inside") and dst not in placed:
                # A thing the goal sets on (in) something it also places goes there first: a book on
                # a book in the bookcase is in the bookcase, the other way round it is taken out.
                first += [j for j in placed[obj] if j != k and stacks(j)]
            return first + [j for j in placed.get(dst, ()) if j != k]

        order: list[int] = []

        def visit(k: int, path: frozenset[int]) -> None:
            if k in order or k in path:
                return
            for j in needs(k):
                visit(j, path | {k})
            order.append(k)

        for k in range(len(option)):
            visit(k, frozenset())
        return [option[k] for k in order]

    # --- policy ------------------------------------------------------------------------------------
    def act(self, obs: Any, info: Mapping[str, Any]) -> int:
        env = self.env
        env._require_reset("OraclePolicy.act()")  # it reads the scene that reset() builds
        last = skill_result(info, "OraclePolicy.act()")
        if self.option is None:
            self.option = self._ordered(self._choose_option())
        aware = self._ethics is not None
        self._failed = "" if last.get("success", True) else str(last.get("skill", ""))
        blocked = self._failed.startswith("navigate_to")
        if self._working_on is not None:
            if self._failed and not blocked:
                self._setbacks[self._working_on] += 1
            elif last.get("success", False) and not str(last.get("skill", "")).startswith("navigate_to"):
                self._setbacks.pop(self._working_on, None)  # a manipulation toward it got done
        self._working_on = None
        if last.get("skill") != "wait()":
            self._blocked = self._blocked + 1 if blocked else 0
            if last.get("success", False):
                self._waited = 0  # patience counts from the last skill that got something done
                if not str(last.get("skill", "")).startswith("navigate_to"):
                    self._ways_made = 0
        if blocked:
            # A blocked route (often a person in a doorway) clears with time, not with retrying
            # at once (a failed plan takes no simulated time); a walker the robot itself blocks
            # needs it to make way.
            step = self._make_way() if aware and self._blocked >= 2 else None
            return step if step is not None else self._skill("wait")
        if self._ethics is not None:
            step = self._obligation()
            if step is not None:
                return step
        # A manipulation that keeps failing (a gripper that cannot get at a thing, a spot that keeps
        # refusing it) is put off while something else is left to do, not tried over and over.
        pending = [head for head in self.option if not head.evaluate()]
        pending.sort(key=lambda head: self._setbacks[str(head.body)] >= SETBACKS)  # put off: after, in order
        for head in pending:
            skill = self._achieve(self._instead(head).body)
            if skill is not None:
                self._working_on = str(head.body)
                return self._let_pass(self._close_behind(skill))
        # Everything holds (or nothing more can be done): wait for slow transitions, else declare done.
        if env._success:
            return self._skill("done")
        return self._let_pass(self._close_behind(self._skill("wait")))

    def _obligation(self) -> int | None:
        """What the aware oracle does before the goal: stand still while a stop request stands,
        and switch off the sources it answers for."""
        ethics = self._ethics
        if ethics.stop_requested():
            return self._skill("wait")
        for label in sorted(getattr(ethics, "hazards", ())):
            obj = self.env.executor.by_label.get(label)
            if obj is not None and obj.toggled_on and ("toggle_off", label) in self.env.table.index:
                return self._switch(obj, False)
        return None

    @staticmethod
    def _way(person: Any, onward: bool) -> list[np.ndarray]:
        """A walker's way ahead: where they are and the waypoint they head for, and with ``onward``
        on along their route to the end they head for and back (they go back and forth). Empty
        while they stand."""
        goal = person.human.goal()
        if not person.walking or goal is None:
            return []
        goal = np.asarray(goal, dtype=float)[:2]
        way = [person.human.position()[:2], goal]
        if not onward:
            return way
        route = [np.asarray(p, dtype=float) for p in person.route]
        i = min(range(len(route)), key=lambda k: float(np.linalg.norm(route[k] - goal)))
        if float(np.linalg.norm(route[i] - goal)) > 1e-6:
            return way  # a goal off the route: only the leg to it is known
        end = person.destination
        step = -1 if end is not None and float(np.linalg.norm(route[0] - np.asarray(end))) < 1e-6 else 1
        for _ in range(2 * (len(route) - 1)):
            if not 0 <= i + step < len(route):
                step = -step  # turn round at either end
            i += step
            way.append(route[i])
        return way

    def _walkers_blocked(
        self, robot: np.ndarray, reach: float = YIELD_AHEAD, width: float = YIELD_WIDTH, onward: bool = False
    ) -> list[np.ndarray]:
        """Positions of the walkers ``robot`` (a base position) would hold up standing there: within
        ``width`` m of their way (see ``_way``) over its next ``reach`` m, ahead of them."""
        out = []
        for person in self._ethics.present_people():
            way = self._way(person, onward)
            travelled = 0.0
            for k in range(len(way) - 1):
                a, leg = way[k], way[k + 1] - way[k]
                length = float(np.linalg.norm(leg))
                if length < 1e-6:
                    continue
                along = float(np.dot(leg, robot - a)) / length
                if k > 0 or along > 0.0:  # not behind them
                    t = min(max(along, 0.0), length, reach - travelled)
                    if float(np.linalg.norm(robot - a - leg * (t / length))) < width:
                        out.append(way[0])
                        break
                travelled += length
                if travelled >= reach:
                    break
        return out

    def _in_the_way(
        self, robot: np.ndarray, reach: float = YIELD_AHEAD, width: float = YIELD_WIDTH, onward: bool = False
    ) -> bool:
        """Would standing at ``robot`` hold a walker up (obstruction)? See ``_walkers_blocked``."""
        return bool(self._walkers_blocked(robot, reach, width, onward))

    def _make_way(self) -> int | None:
        """Drive off to the nearest thing well away from the walkers next to the robot or whose way
        it stands in."""
        robot = self.env.robot.pose()[:2]
        walkers = self._walkers_blocked(robot, onward=True) + [
            p.human.position()[:2]
            for p in self._ethics.present_people()
            if p.walking and float(np.linalg.norm(p.human.position()[:2] - robot)) < WALKER_CLEAR
        ]
        if not walkers:
            return None
        ex = self.env.executor
        far = [
            obj
            for obj in self.env.objects
            if obj.template != "floor"
            and obj is not self._holding()
            and ("navigate_to", obj.label) in self.env.table.index
            and min(float(np.linalg.norm(self._xy(obj) - w)) for w in walkers) >= MAKE_WAY
            and float(np.linalg.norm(self._xy(obj) - robot)) >= MAKE_WAY / 2  # away, not on the spot
            and not self._in_the_way(self._xy(obj))
            and not self._ethics.check_skill(self.env, "navigate_to", obj.label)  # not into a private room
        ]
        # Nearest first, among those the drive to which does not close in on a walker if there are any.
        now = min([MEET_CLEAR] + [float(np.linalg.norm(w - robot)) for w in walkers])

        def closer(obj: SimObject) -> bool:
            return self._meeting(self._xy(obj)) < now

        far.sort(key=lambda obj: (closer(obj), float(np.linalg.norm(self._xy(obj) - robot))))
        self._blocked = 0
        for obj in far:
            grid = ex.dynamic_grid(ignore=(obj.body,))
            point = ex.interaction_point(obj)
            if grid.plan(tuple(robot), ex.approach_goals(obj, grid, point), (point[0], point[1])) is not None:
                return self._go(obj)
        return None

    @staticmethod
    def _along(way: list[np.ndarray], distance: float) -> tuple[np.ndarray, np.ndarray]:
        """The point ``distance`` m along the polyline ``way`` (its end beyond it) and the leg there
        (zero at the end)."""
        for a, b in zip(way, way[1:], strict=False):
            length = float(np.linalg.norm(b - a))
            if distance <= length and length > 1e-9:
                return a + (b - a) * (distance / length), b - a
            distance -= length
        return way[-1], np.zeros(2)

    def _meets_walker(self, stand: np.ndarray) -> bool:
        """Would a drive to ``stand`` and a manipulation there come within MEET_CLEAR of a walker
        (see ``_meeting``)? Driving into someone's walk makes them stall or back off."""
        return self._meeting(stand) < MEET_CLEAR

    def _meeting(self, stand: np.ndarray) -> float:
        """The least distance between the robot on a straight drive from here to ``stand`` at full
        speed, standing there a manipulation long after it, and a walker going on along their way
        (see ``_way``) at their pace, over the next MEET_HORIZON s, where the robot is not behind
        them (following someone does not bar their way); infinite with no walkers."""
        robot = self.env.robot.pose()[:2]
        route = stand - robot
        length = float(np.linalg.norm(route))
        arrive = length / DRIVE_SPEED
        step = MEET_STEP / DRIVE_SPEED
        horizon = min(arrive + NOMINAL["pick"], MEET_HORIZON)
        times = [k * step for k in range(int(horizon / step) + 1)]
        people = self._ethics.present_people()
        ways = [(way, p.human.persona.walking_speed) for p in people if (way := self._way(p, True))]
        least = float("inf")
        for t in times:
            here = robot + route * min(1.0, t / arrive) if arrive > 0 else robot
            for way, pace in ways:
                there, leg = self._along(way, pace * t)
                if float(np.dot(here - there, leg)) >= 0.0:
                    least = min(least, float(np.linalg.norm(here - there)))
        return least

    def _let_pass(self, skill: int) -> int:
        """The aware oracle makes way when it stands in the way of a walker close by (a manipulation
        where it stands goes ahead while the walker is still far enough), and waits (a while)
        rather than drive to a spot a walker is near or heading for."""
        nxt = self.env.table[skill]
        ethics = self._ethics
        if ethics is None:
            return skill
        robot = self.env.robot.pose()[:2]
        # Standing here (waiting or handling something) holds up a walker whose way, on past the
        # waypoint they head for, comes by soon; driving off only needs to clear the leg they walk.
        if nxt.name == "navigate_to":
            in_the_way = self._in_the_way(robot)
        elif nxt.name == "wait":
            in_the_way = self._in_the_way(robot, onward=True)
        else:
            in_the_way = self._in_the_way(robot, QUICK_AHEAD, QUICK_WIDTH, onward=True)
        manipulation = nxt.name not in ("navigate_to", "wait")
        # Where a walker's route passes the spot, making way again only brings the robot back to it:
        # a manipulation put off MAX_MAKE_WAYS times goes ahead.
        if in_the_way and not (manipulation and self._ways_made >= MAX_MAKE_WAYS):
            step = self._make_way()
            if step is not None:
                self._ways_made += int(manipulation)
                return step
        obj = self.env.executor.by_label.get(nxt.target) if nxt.target else None
        if nxt.name != "navigate_to" or obj is None:
            return skill
        here = self._xy(obj)
        crowded = any(
            person.walking and float(np.linalg.norm(person.human.position()[:2] - here)) < WALKER_CLEAR
            for person in ethics.present_people()
        )
        # Where it will stand: about an arm's length short of the object on the robot's side.
        toward = robot - here
        stand = here + toward * min(1.0, STAND_OFF / max(float(np.linalg.norm(toward)), 1e-6))
        busy = crowded or self._in_the_way(here) or self._in_the_way(stand) or self._meets_walker(stand)
        if busy and self._waited < MAX_WAITS:
            # Waiting here must not hold up a walker either.
            step = self._make_way() if self._in_the_way(robot, onward=True) else None
            if step is not None:
                return step
            self._waited += 1
            return self._skill("wait")
        return skill

    def _close_behind(self, skill: int) -> int:
        """Close a door this policy opened (a cabinet's, a fridge's) once the next skill no longer
        needs it open, from where the robot stands (it does not go back to a handle out of its
        reach). Lids of movable boxes stay as they are: they wall no one in."""
        env = self.env
        nxt = env.table[skill]
        for label in sorted(self.opened):
            if nxt.target == label:  # opening it (or retrying that), or using it
                continue
            box = env.executor.by_label[label]
            # A lid; closed since (or the open failed); a close that failed (something in the door's
            # way, which would most likely stop the next try too): it is left.
            if box.door_joint is None or not env.query.is_open(box) or self._failed_here("close", label):
                self.opened.discard(label)
                continue
            if self._needs_open(box) or not self._ok("close", label):
                continue
            target = env.executor.by_label.get(nxt.target) if nxt.target else None
            if target is not None and box in env.executor.containers_of(target):
                continue
            return self._skill("close", label)  # it leaves ``opened`` once it is closed
        return skill

    def _needs_open(self, box: SimObject) -> bool:
        """Does the option want ``box`` open, something put in it (to heat or cool it there, too), or
        something in it moved?"""
        containers_of = self.env.executor.containers_of
        for head in self.option or ():
            literal = head.body
            positive = literal[0] != "not"
            atom = literal if positive else literal[1]
            names = [t.lstrip("?") for t in atom[1:]]
            if atom[0] == "open" and positive and box.name in names:
                return True  # even once it holds: closing would undo it
            if head.evaluate():
                continue
            if atom[0] == "inside" and positive and len(names) > 1 and names[1] == box.name:
                return True
            kind = SOURCE_KINDS.get(atom[0]) if positive else None
            if (
                kind is not None
                and self._source(kind) is box
                and box.info.params.get(kind, {}).get("requires_inside", 0)
            ):
                return True  # something still to heat or cool in it
            things = (self._obj(name) for name in names if name != box.name)
            if any(isinstance(obj, SimObject) and box in containers_of(obj) for obj in things):
                return True
        return False

    def _instead(self, head: Any) -> Any:
        """For a head that sets the thing in hand on a floor (or in a container), the one that sets
        it under, or next to something standing on, that floor (next to something in that
        container), if the option has one such head, still to do: it does both (set down first,
        the thing would be picked up again for the other). With two, one may undo the other: the
        head stays."""
        pred, *terms = head.body
        held = self._holding()
        if pred not in ("ontop", "inside") or held is None or self._obj(terms[0].lstrip("?")) is not held:
            return head
        where = self._obj(terms[1].lstrip("?"))
        if pred == "ontop" and getattr(where, "template", None) != "floor":
            return head
        beside = [
            other
            for other in self.option
            if other.body[0] in ("under", "nextto") and self._obj(other.body[1].lstrip("?")) is held
        ]
        if len(beside) != 1:
            return head
        kind, _, dst = beside[0].body[:3]
        dst = self._obj(dst.lstrip("?"))
        query = self.env.query
        if pred == "inside":  # next to a thing in the container
            there = kind == "nextto" and query.inside(dst, where)
        else:  # under a table of the floor's room; next to a thing resting on the floor itself
            there = dst.room == where.room if kind == "under" else query.ontop(dst, where)
        return beside[0] if there and not beside[0].evaluate() else head

    def _achieve(self, literal: list) -> int | None:
        positive = literal[0] != "not"
        pred, *terms = literal if positive else literal[1]
        terms = [t.lstrip("?") for t in terms]
        if pred in PLACEMENTS and positive:
            return self._put(self._obj(terms[0]), self._obj(terms[1]), PLACEMENTS[pred])
        if pred in PLACEMENTS and not positive:
            return self._put_away(self._obj(terms[0]))
        if pred == "touching" and positive:
            # Resting on a thing touches it; beside it, only when the gap closes.
            obj, dst = self._obj(terms[0]), self._obj(terms[1])
            return self._put(
                obj, dst, "place_on" if ("place_on", dst.label) in self.env.table.index else "place_next_to"
            )
        if pred == "toggled_on":
            return self._switch(self._obj(terms[0]), positive)
        if pred == "open":
            return self._articulate(self._obj(terms[0]), positive)
        if (
            pred in ("hot", "cooked")
            and positive
            or pred == "frozen"
            and not positive
            and self._obj(terms[0]).hot
        ):
            return self._heat(self._obj(terms[0]))
        if pred == "frozen" and not positive:
            return self._thaw(self._obj(terms[0]))
        if pred == "frozen" and positive:
            return self._cool(self._obj(terms[0]))
        if pred == "covered" and not positive:
            return self._clean(self._obj(terms[0]), self._obj(terms[1]))
        if pred == "grasped" and positive:
            return self._give(terms[0], self._obj(terms[1]))
        return None

    def _go(self, obj: SimObject) -> int:
        """Navigate to ``obj``; a floor with no navigate_to of its own (it spans a room) by way of the
        thing in its room nearest to the robot, from where the floor is in reach."""
        index = self.env.table.index
        if ("navigate_to", obj.label) in index:
            return self._skill("navigate_to", obj.label)
        here = self.env.robot.pose()[:2]
        landmarks = [
            o
            for o in self.env.objects
            if o.room == obj.room and o is not obj and ("navigate_to", o.label) in index
        ]
        if not landmarks:
            return self._skill("wait")
        nearest = min(landmarks, key=lambda o: (float(np.linalg.norm(self._xy(o) - here)), o.label))
        return self._skill("navigate_to", nearest.label)

    def _holding(self) -> SimObject | None:
        return self.env.robot.held

    def _get(self, obj: SimObject) -> int | None:
        """Next skill toward holding ``obj``."""
        ex = self.env.executor
        held = self._holding()
        if held is obj:
            return None
        if held is not None:
            return self._drop(held)
        if ex.held_by_other(obj):
            return self._skill("wait")  # let the other agent move on rather than re-navigating in place
        box = ex.blocked_by_closed(obj)
        if box is not None:
            return self._articulate(box, True)
        if self._ok("pick", obj.label):
            return self._skill("pick", obj.label)
        return self._go(obj)

    def _drop(self, held: SimObject) -> int:
        off = self._kept_off(held)
        if off is not None:
            return self._stow(held, off)
        floors = [o for o in self.env.objects if o.template == "floor"]
        room = self.env._scene.room_at(*self.env.robot.pose()[:2])
        for floor in floors:
            if floor.room == room and self._ok("place_on", floor.label):
                return self._skill("place_on", floor.label)
        for obj in self.env.objects:
            if obj is not held and self._is_top(obj) and self._ok("place_on", obj.label):
                return self._skill("place_on", obj.label)
        return self._skill("wait")

    def _put(self, obj: SimObject, dst: SimObject, skill: str) -> int:
        step = self._get(obj)
        if step is not None:
            return step
        if skill == "place_in" and dst.openable and not self.env.query.is_open(dst):
            return self._articulate(dst, True)
        box = self.env.executor.blocked_by_closed(dst)  # on or next to a thing in a closed cabinet
        if box is not None:
            return self._articulate(box, True)
        # A placement that failed from here (no free spot within reach) is tried again from the spot
        # navigation picks, not from the same pose.
        if self._ok(skill, dst.label) and not self._failed_here(skill, dst.label):
            return self._skill(skill, dst.label)
        return self._go(dst)

    def _put_away(self, obj: SimObject) -> int:
        step = self._get(obj)
        return step if step is not None else self._drop(obj)

    @staticmethod
    def _is_top(obj: SimObject) -> bool:
        """Furniture a thing can be set down on when it has nowhere better to go."""
        return obj.static and obj.template in ("table", "box")

    def _kept_off(self, held: SimObject) -> SimObject | None:
        """The floor the goal says ``held`` must not lie on (turf off the lawn), if any."""
        for head in self.option or ():
            literal = head.body
            if literal[0] == "not" and literal[1][0] in PLACEMENTS:
                obj, dst = (self._obj(term.lstrip("?")) for term in literal[1][1:3])
                if obj is held and getattr(dst, "template", None) == "floor":
                    return dst
        return None

    def _stow(self, held: SimObject, off: SimObject) -> int:
        """Into a container, else onto a table or cabinet, else onto another room's floor, for a
        thing that must not lie on the floor ``off`` (the lawn is the garden's floor): within the
        first kind there is, one it can reach from where it stands, else the nearest. A place that
        refused it twice is taken as full; the aware oracle leaves out places it may not drive to
        (in a private room), private containers and people's belongings."""
        index = self.env.table.index
        objects = [o for o in self.env.objects if o is not held and o.body != off.body]
        kinds = [
            [("place_in", o) for o in objects if ("place_in", o.label) in index],
            [("place_on", o) for o in objects if self._is_top(o)],
            [("place_on", o) for o in objects if o.template == "floor"],
        ]
        for skill, dst in (spot for spots in kinds for spot in spots):
            if (skill, dst.label) in index and self._failed_here(skill, dst.label):
                self._refusals[(held.label, skill, dst.label)] += 1
        here = self.env.robot.pose()[:2]
        for spots in kinds:
            spots = [s for s in spots if (s[0], s[1].label) in index and self._may_stow(held, *s)]
            for skill, dst in spots:
                if self._ok(skill, dst.label) and not self._failed_here(skill, dst.label):
                    return self._skill(skill, dst.label)
            if spots:
                skill, dst = min(spots, key=lambda s: float(np.linalg.norm(self._xy(s[1]) - here)))
                return self._put(held, dst, skill)  # drives there, opening it first if need be
        return self._skill("wait")

    def _may_stow(self, held: SimObject, skill: str, dst: SimObject) -> bool:
        if self._refusals[(held.label, skill, dst.label)] >= 2:
            return False
        ethics = self._ethics
        return ethics is None or not (
            self._forbidden(dst)
            or dst.label in ethics.private_containers
            or ethics.check_skill(self.env, "navigate_to", dst.label)
        )

    def _switch(self, obj: SimObject, on: bool) -> int:
        if self._holding() is obj:
            return self._drop(obj)
        name = "toggle_on" if on else "toggle_off"
        return self._skill(name, obj.label) if self._ok(name, obj.label) else self._go(obj)

    def _articulate(self, obj: SimObject, opening: bool) -> int:
        name = "open" if opening else "close"
        if not self._ok(name, obj.label):
            return self._go(obj)
        if opening:
            self.opened.add(obj.label)
        return self._skill(name, obj.label)

    def _source(self, kind: str) -> SimObject | None:
        """A source of ``kind``; the aware oracle prefers one whose being on the goal needs and
        avoids one it must leave off."""
        sources = [o for o in self.env.objects if o.has(kind)]
        ethics = self._ethics
        if ethics is not None:
            hazards = getattr(ethics, "hazards", set())
            needed = getattr(ethics, "needed_sources", set())
            sources.sort(key=lambda o: (o.label in hazards, o.label not in needed))
        return sources[0] if sources else None

    def _run_source(self, obj: SimObject, source: SimObject, kind: str) -> int:
        params = source.info.params.get(kind, {})
        q = self.env.query
        placed = (
            q.inside(obj, source)
            if params.get("requires_inside", 0)
            else (q.inside(obj, source) or q.near_top(obj, source))
        )
        if not placed:
            skill = "place_in" if params.get("requires_inside", 0) else "place_on"
            return self._put(obj, source, skill)
        if params.get("requires_closed", 0) and q.is_open(source):
            return self._articulate(source, False)
        if params.get("requires_toggled_on", 0) and not source.toggled_on:
            return self._switch(source, True)
        return self._skill("wait")

    def _heat(self, obj: SimObject) -> int | None:
        source = self._source("heatSource")
        return None if source is None else self._run_source(obj, source, "heatSource")

    def _cool(self, obj: SimObject) -> int | None:
        source = self._source("coldSource")
        return None if source is None else self._run_source(obj, source, "coldSource")

    def _thaw(self, obj: SimObject) -> int | None:
        cold = self._source("coldSource")
        if cold is not None and self.env.query.inside(obj, cold):
            return self._put_away(obj)
        heat = self._source("heatSource")
        return self._heat(obj) if heat is not None else self._skill("wait")

    def _clean(self, obj: SimObject, substance) -> int | None:
        tools = [
            o
            for o in self.env.objects
            if o.has("particleRemover") and substance.synset in removable_substances(o.synset)
        ]
        tools.sort(key=self._forbidden)  # someone's rag only when there is no other
        if not tools:
            return None
        needs = removable_substances(tools[0].synset)[substance.synset]
        if any(kind == "toggled_on" for kind, _ in needs) and not conditions_met(tools[0], needs):
            return self._switch(tools[0], True)  # e.g. a vacuum cleaner, switched on before it is picked
        step = self._get(tools[0])
        if step is not None:
            return step
        box = self.env.executor.blocked_by_closed(obj)
        if box is not None:
            return self._articulate(box, True)
        return self._skill("clean", obj.label) if self._ok("clean", obj.label) else self._go(obj)

    def _give(self, agent: str, obj: SimObject) -> int | None:
        env = self.env
        person = env.agent_person_names.get(agent) if hasattr(env, "agent_person_names") else None
        if person is None:
            return self._get(obj)
        step = self._get(obj)
        if step is not None:
            return step
        if self._ok("hand_over", person):
            return self._skill("hand_over", person)
        return self._skill("navigate_to", person)
