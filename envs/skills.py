"""Grounded skills: the table of (skill, object) pairs and their execution, physical or teleport.

``physical`` drives the base along a planned path and moves the end effector through the physics,
so a skill can knock things over and bump into people. ``teleport`` jumps poses to the result after
collision-checking it, for fast planning and RL pre-training; the same precondition and state
checks run in both. A failed skill reports PRE_CONDITION / EXECUTION / POST_CONDITION with a reason.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import numpy as np

from ethogym.errors import InvalidActionError

from .sim.knowledge import removable_substances
from .sim.navigation import NavGrid
from .sim.objects import (
    INSIDE_PAD,
    UNDER_TEMPLATES,
    WALL,
    DoorSwing,
    SimObject,
    door_angle,
    door_hinge,
    door_swing,
    local_box,
    packed_spots,
    pose,
    resting_span,
    set_door,
    snug_spots,
    to_local,
    to_world,
)
from .sim.robot import BASE_RADIUS, CLUTTER_CLEARANCE, MAX_PAYLOAD, REACH, SHOULDER_HEIGHT, Robot
from .sim.scene import Room
from .sim.states import OPEN_ANGLE, UNDER_GAP, StateQuery
from .sim.transitions import conditions_met, describe_conditions, removes
from .sim.world import World, first_entry, into_frame, segments_meet, yaw_quaternion

OBJECT_SKILLS = (
    "navigate_to",
    "pick",
    "place_on",
    "place_in",
    "place_next_to",
    "place_under",
    "open",
    "close",
    "toggle_on",
    "toggle_off",
    "clean",
    "slice",
)
HELD_FIRST = {"place_on", "place_in", "place_next_to", "place_under", "hand_over"}
PERSON_SKILLS = ("navigate_to", "hand_over")
GESTURE_KINDS = ("wave", "point", "stop")
FRONT_OPEN = ("cabinet", "shelf")  # furniture reached into through its front, not from above
LIFT = 0.15  # m a pick lifts a thing straight up at least
LEVEL_SLACK = 0.02  # m of height difference a move of the end effector takes in one straight line
GRIP_HEIGHT = 0.045  # m above a thing's top where the end effector's centre grasps it (its sphere clears it)
LIFT_MARGIN = 0.25  # m around a grasped object where the tops of other things are lifted clear of
DRIVE_SPEED = 1.2  # m/s
TURN_SPEED = 2.5  # rad/s
GAZE_MARGIN = math.radians(10.0)  # rad beyond the camera's view a physical drive keeps privacy out of
GAZE_STEP = math.radians(10.0)  # rad between the headings a drive tries when turning away from a privacy zone
GAZE_SEARCH = 18  # such headings tried either way (to 180 degrees)
GAZE_LOOKAHEAD = 0.25  # m further along its path where a drive also keeps privacy zones out of view
GAZE_PATIENCE = 3.0  # s a drive turns away from privacy zones without getting closer before it gives up
GAZE_PROGRESS = 0.05  # m closer to the waypoint that counts as getting closer
EE_SPEED = 1.2  # m/s
OPEN_TARGET = 1.35  # rad
CLUTTER_HEIGHT = 0.5  # m: movable things resting below this block the base
ACCESS_RANGE = 2.0  # m: farther than this, a dropped object cannot take away where to stand for a thing
NEXT_TO_MAX_GAP = 0.45  # m: widest gap tried when placing next to something
# Only tables leave room underneath (``UNDER_TEMPLATES``); their top slab is TABLE_TOP thick, and
# ``under`` wants the object's top UNDER_GAP below the table's.
TABLE_TOP = 0.04  # m
UNDER_INSET = 0.1  # m in from a table's edge that a spot under it must be in reach: clear of the legs
STAND_DEPTH = 0.03  # m below a thing set down within which something must be under its centre
NARROW_TRIES = 30  # spots tried on a top narrower than the object (its middle half), against 150
SET_DOWN_GAP = 0.002  # m above its support a thing is let go: it settles within the skill's last steps
# Turns from the robot's heading tried, in order, when the floor ahead is taken: beside, then behind.
FLOOR_TURNS = (
    math.pi / 4,
    -math.pi / 4,
    math.pi / 2,
    -math.pi / 2,
    3 * math.pi / 4,
    -3 * math.pi / 4,
    math.pi,
)
FLOOR_TRIES_PER_TURN = 20
FLOOR_STAND_OFF = 0.25  # m between the robot's base and a thing it sets down on the floor
FLOOR_JITTER = 0.15  # m either way that spots on the floor are drawn around the chosen point
LINE_UP = 0.004  # m from the point over an opening the end effector settles to before it goes in
EE_TURN_STEP = math.radians(10.0)  # rad the end effector turns a held object every two substeps
_CORNERS = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float)
ROOM_INSET = 0.8  # m from the walls where navigate_to(a bare room's floor) stops
FLOOR_AHEAD = 0.7  # m ahead of the base where the arm works on the floor it stands on (clear of the base)
NOMINAL = {
    "pick": 1.5,
    "place_on": 1.5,
    "place_in": 1.5,
    "place_next_to": 1.5,
    "place_under": 2.0,
    "open": 1.5,
    "close": 1.5,
    "toggle_on": 0.8,
    "toggle_off": 0.8,
    "clean": 1.5,
    "slice": 1.5,
    "hand_over": 1.5,
    "gesture": 1.0,
    "wait": 2.0,
    "done": 0.0,
}
_SKILL_TEXT = re.compile(r"^\s*([a-z_]+)\s*\(\s*([^()]*?)\s*\)\s*$")


@dataclass(frozen=True)
class Skill:
    name: str
    target: str | None = None  # object label, person name or gesture kind

    def text(self, held: str | None = None) -> str:
        if self.target is None:
            return f"{self.name}()"
        if self.name in HELD_FIRST and held:
            return f"{self.name}({held}, {self.target})"
        return f"{self.name}({self.target})"


@dataclass
class SkillResult:
    skill: str
    success: bool
    status: str = "ok"  # ok | PRE_CONDITION | EXECUTION | POST_CONDITION | INVALID
    reason: str = ""
    duration: float = 0.0
    #: Seconds of ``duration`` a teleported skill already advanced the rules by itself (a wipe ticks
    #: while the tool touches), so that ``execute`` does not run them twice.
    elapsed: float = 0.0

    def as_info(self) -> dict:
        text = f"{self.skill}: {'ok' if self.success else self.status + ' - ' + self.reason}"
        return {
            "skill": self.skill,
            "success": self.success,
            "status": self.status,
            "reason": self.reason,
            "duration": self.duration,
            "text": text,
        }


class SkillTable:
    """Every statically meaningful (skill, target) pair of a task, in a fixed order.

    The order depends only on the task definition, so ``Discrete(len(table))`` is the same space
    for every seed of an environment id. ``covered`` names the objects a ``covered`` literal of the
    task mentions (they get ``clean``); ``goal`` is the task's parsed goal: ``place_under`` pairs
    (one per table) exist only when it has an ``under`` literal, so tasks without one keep their
    action space. A floor spans its room and is in reach from anywhere in it, so it takes
    ``navigate_to`` only where the goal names it and the task puts no furniture in its room
    (``bare_floors``, labels, from ``Activity.bare_floors``).
    """

    def __init__(
        self,
        objects: list[SimObject],
        people: list[str],
        covered: set[str],
        goal: list | None = None,
        bare_floors: AbstractSet[str] = frozenset(),
    ) -> None:
        skills: list[Skill] = []
        self.under = mentions(goal, "under")  # tables take place_under
        self.bare_floors = frozenset(bare_floors)
        for obj in objects:
            floor = obj.template == "floor"
            for name in OBJECT_SKILLS:
                if _applicable(name, obj, floor, covered, self.under, obj.label in self.bare_floors):
                    skills.append(Skill(name, obj.label))
        for person in people:
            skills.extend(Skill(name, person) for name in PERSON_SKILLS)
        if people:
            skills.extend(Skill("gesture", kind) for kind in GESTURE_KINDS)
        skills += [Skill("wait"), Skill("done")]
        self.skills = skills
        self.index = {(s.name, s.target): i for i, s in enumerate(skills)}
        self.names = frozenset(s.name for s in skills)
        self.labels = {obj.label for obj in objects} | set(people)
        self._templates = {obj.label: obj.template for obj in objects}

    def __len__(self) -> int:
        return len(self.skills)

    def __getitem__(self, i: int) -> Skill:
        return self.skills[i]

    def parse(self, text: str) -> tuple[int, str | None]:
        """Text form -> (index, claimed held object). Strict: no eval, exact names only."""
        if not isinstance(text, str):
            raise InvalidActionError(f"a text skill must be a string, got {type(text).__name__}")
        match = _SKILL_TEXT.match(text)
        if not match:
            raise InvalidActionError(
                f"cannot parse skill {text!r}:{self._did_you_mean(text)} expected the form name(), "
                f"name(arg) or name(arg1, arg2) in lower case, e.g. 'wait()', 'pick(apple_1)' or "
                f"'place_on(apple_1, table_1)'"
            )
        name, inner = match.group(1), match.group(2)
        args = [a.strip() for a in inner.split(",")] if inner.strip() else []
        if "" in args:  # 'pick(apple_1,)' or 'wait(,)': a slip, not a skill to guess at
            raise InvalidActionError(
                f"empty argument in {text!r}: separate arguments by one comma, e.g. "
                f"'place_on(apple_1, table_1)', and give none to wait() and done()"
            )
        if name not in self.names:
            raise InvalidActionError(
                f"unknown skill '{name}' in {text!r};{self._did_you_mean(text)} this task's skills are "
                f"{', '.join(sorted(self.names))}"
            )
        held_claim = None
        if name in HELD_FIRST and len(args) == 2:
            held_claim, args = args[0], args[1:]
            if held_claim not in self.labels:
                raise InvalidActionError(f"unknown object '{held_claim}' in {text!r}")
        expected = 0 if name in ("wait", "done") else 1
        if len(args) != expected:
            raise InvalidActionError(
                f"skill '{name}' takes {expected + (name in HELD_FIRST)} argument(s), "
                f"got {len(args) + (held_claim is not None)} in {text!r}"
            )
        target = args[0] if args else None
        key = (name, target)
        if key not in self.index:
            if name == "gesture":
                raise InvalidActionError(
                    f"unknown gesture '{target}' in {text!r}; the gestures are {', '.join(GESTURE_KINDS)}, "
                    f"e.g. 'gesture({GESTURE_KINDS[0]})'"
                )
            if target is not None and target not in self.labels:
                raise InvalidActionError(
                    f"unknown object '{target}' in {text!r}; objects here: {', '.join(sorted(self.labels))}"
                )
            if name == "place_under" and self._templates.get(target) not in UNDER_TEMPLATES:
                raise InvalidActionError(
                    f"nothing fits under '{target}' ({text!r}): only tables leave room underneath"
                )
            raise InvalidActionError(f"'{name}' does not apply to '{target}' in this task ({text!r})")
        return self.index[key], held_claim

    def _did_you_mean(self, text: str) -> str:
        """`` did you mean '<skill>'?`` for the valid skill text closest to ``text`` (case, spaces and
        missing parentheses forgiven), or '' when none is close. Only a hint: parsing stays strict."""
        written = [s.text() for s in self.skills]
        key = "".join(text.split()).lower()
        exact = [w for w in written if key in (w.lower(), w.lower().removesuffix("()"))]
        close = exact or difflib.get_close_matches(key, written, n=1, cutoff=0.75)
        return f" did you mean '{close[0]}'?" if close else ""


def _room_goals(grid: NavGrid, room: Room) -> np.ndarray:
    """Free cells ``ROOM_INSET`` or more inside ``room``'s walls (clear of its doorways, with floor
    around to set things down), or any free cell in it where it is too small for that."""
    deep = grid.free & room.mask(grid, ROOM_INSET)
    return deep if deep.any() else grid.free & room.mask(grid)


def mentions(expr: object, predicate: str) -> bool:
    """Does the parsed BDDL expression ``expr`` (nested lists) use ``predicate`` anywhere?"""
    if not isinstance(expr, list):
        return False
    if expr and expr[0] == predicate:
        return True
    return any(mentions(sub, predicate) for sub in expr)


def _applicable(name: str, obj: SimObject, floor: bool, covered: set[str], under: bool, bare: bool) -> bool:
    if name == "navigate_to":
        return not floor or bare
    if name == "place_next_to":
        return not floor
    if name == "pick":
        return not obj.static
    if name == "place_on":
        return True
    if name == "place_in":
        return obj.interior is not None
    if name == "place_under":
        return under and obj.template in UNDER_TEMPLATES
    if name in ("open", "close"):
        return obj.openable
    if name in ("toggle_on", "toggle_off"):
        return obj.has("toggleable")
    if name == "clean":
        return obj.name in covered
    if name == "slice":
        return obj.has("sliceable")
    return False


class SkillExecutor:
    """Runs skills for one robot in one world."""

    def __init__(
        self,
        world: World,
        robot: Robot,
        query: StateQuery,
        grid: NavGrid,
        objects: list[SimObject],
        mode: str,
        tick: Callable[[float], None],
        obstacles: Callable[[], list[tuple]],
        rng: np.random.Generator,
    ) -> None:
        self.world = world
        self.robot = robot
        self.query = query
        self.static_grid = grid
        self.objects = objects
        self.by_label = {o.label: o for o in objects}
        self.mode = mode
        self.tick = tick  # advance transition rules by dt (teleport mode)
        self.obstacles = obstacles  # extra (x0, y0, x1, y1) rectangles: people, other agents
        self.rng = rng
        self.grasp_offset = np.zeros(3)
        self.people: dict[str, object] = {}
        self.rooms: dict[str, object] = {}
        self.wall_boxes = np.zeros((0, 2, 3))  # the scene's wall parts (low and high corners)
        # Extra costs for the base's path planner, per grid cell (a free step costs 1): for driving
        # through a cell and for ending there (facing the target point), e.g. a planner's wish to
        # keep out of private rooms and people's way. Called with the grid and the target point;
        # returns (path, stand) arrays, either may be None. None: shortest paths.
        self.nav_costs: (
            Callable[[NavGrid, np.ndarray], tuple[np.ndarray | None, np.ndarray | None]] | None
        ) = None
        # Top speed (m/s, at most DRIVE_SPEED) of the physically driven base at a position heading
        # a direction (unit 2-vector), e.g. slower towards people; None: always DRIVE_SPEED.
        self.speed_limit: Callable[[np.ndarray, np.ndarray], float] | None = None
        # May the camera face ``yaw`` with the base at ``xy``? (social navigation: not into privacy)
        self.gaze_ok: Callable[[np.ndarray, float], bool] | None = None
        # Is the base within this many metres of where looking could count as spying (None: never)?
        self.privacy_near: Callable[[np.ndarray, float], bool] | None = None
        # Heading (unit 2-vector) at the end of the last teleported drive (None for other skills).
        self.arrival_heading: np.ndarray | None = None
        # Whether tables take place_under in this task (the SkillTable's ``under``): then
        # navigate_to(table) with something in hand stands where the floor under it is in reach too.
        self.reach_under = False
        # Floors that take navigate_to (the SkillTable's ``bare_floors``): nothing else in their room.
        self.bare_floors: frozenset[str] = frozenset()
        self._swings: list[DoorSwing] | None = None  # of the furniture's doors, found on first use

    # --- helpers ---------------------------------------------------------------------------------
    def fail(self, skill: str, status: str, reason: str, duration: float = 0.0) -> SkillResult:
        return SkillResult(skill, False, status, reason, duration)

    def dynamic_grid(self, ignore: tuple[int, ...] = ()) -> NavGrid:
        grid = self.static_grid.copy()
        rects = []
        for obj in self.objects:
            if obj.template == "floor" or self.query.is_held(obj):
                continue
            lo, hi = self.query.aabb(obj)
            if not obj.static and lo[2] < CLUTTER_HEIGHT and obj.body not in ignore:
                rects.append((lo[0], lo[1], hi[0], hi[1]))
            if obj.door_joint is not None and door_angle(self.world, obj) > 0.05:
                dlo, dhi = self.world.client.getAABB(obj.body, obj.door_joint)
                rects.append((dlo[0], dlo[1], dhi[0], dhi[1]))
        rects.extend(self.obstacles())
        # Movable things get a tighter margin than walls so small clutter does not wall the robot in.
        grid.mark(rects, free=False, inflate=CLUTTER_CLEARANCE)
        return grid

    def containers_of(self, obj: SimObject, closed: bool = False) -> Iterator[SimObject]:
        """The things with an interior that ``obj`` is inside (none while it is held); with
        ``closed``, only those that are closed (the cheap test first: masks ask for every skill)."""
        query = self.query
        for box in self.objects:
            if box.interior is None or box is obj:
                continue
            if closed and (not box.openable or query.is_open(box)):
                continue
            if query.inside(obj, box):
                yield box

    def container_of(self, obj: SimObject) -> SimObject | None:
        """The furniture ``obj`` is inside (a cabinet, a shelf, a fridge), if any."""
        return next((box for box in self.containers_of(obj) if box.static), None)

    def front_of(self, obj: SimObject) -> SimObject | None:
        """The cabinet or shelf ``obj`` is in, if any: the hand reaches it through that front."""
        box = self.container_of(obj)
        return box if box is not None and box.template in FRONT_OPEN else None

    def _inside_point(self, obj: SimObject) -> np.ndarray:
        """Where the arm reaches into an open cabinet: just over its bottom shelf."""
        return to_world(self.world, obj, (0.0, 0.0, obj.shelves[0] + 0.05))

    def interaction_point(self, obj: SimObject) -> np.ndarray:
        lo, hi = self.query.aabb(obj)
        centre = (lo + hi) / 2
        if obj.template == "cabinet":
            if self.query.is_open(obj):  # reach into it
                return self._inside_point(obj)
            return to_world(self.world, obj, (obj.size[0] / 2, 0.0, obj.size[2] / 2))
        if obj.template == "floor":
            return np.array([centre[0], centre[1], 0.0])
        return np.array([centre[0], centre[1], hi[2]])

    def approach_goals(
        self, obj: SimObject, grid: NavGrid, point: np.ndarray | None = None, door_open: bool | None = None
    ) -> np.ndarray:
        """Free cells from which the robot reaches ``obj`` (in front of containers, clear of doors);
        ``door_open`` asks as if its door stood so (None: as it stands)."""
        point = self.interaction_point(obj) if point is None else point
        if obj.template == "bin":  # things go in at the bottom
            point = np.array([point[0], point[1], self.query.aabb(obj)[0][2] + 0.15])
        dz = abs(point[2] - SHOULDER_HEIGHT)
        lift = self.lift_point(obj)
        if lift is not None:  # and a pick lifts it out of its box to there
            dz = max(dz, abs(lift[2] - SHOULDER_HEIGHT))
        horizontal = math.sqrt(max(REACH**2 - dz**2, 0.0)) - 0.1
        lo, hi = self.query.aabb(obj)
        # Every goal lies within ``horizontal`` of the object's box: work on that window of the grid.
        grow = horizontal + grid.resolution
        win = grid.window(lo[0] - grow, lo[1] - grow, hi[0] + grow, hi[1] + grow)
        xs, ys = (m[win] for m in grid.mesh())
        gx = np.maximum(0.0, np.maximum(lo[0] - xs, xs - hi[0]))
        gy = np.maximum(0.0, np.maximum(lo[1] - ys, ys - hi[1]))
        # Stand close to furniture so spots across its top stay in reach (paths end at the cheapest goal).
        near_box = np.hypot(gx, gy) <= (min(horizontal, 0.7) if obj.static else horizontal)
        # The planner's grid leaves the target itself out: do not stand on it.
        goals = grid.free[win] & near_box & (np.hypot(gx, gy) > BASE_RADIUS + 0.05)
        # Arms do not reach through walls: stand in the object's room.
        centre = (lo + hi) / 2
        for room in self.rooms.values():
            if room.contains(centre[0], centre[1]):
                x0, y0, x1, y1 = room.rect
                goals &= (xs > x0) & (xs < x1) & (ys > y0) & (ys < y1)
                break
        if not obj.static or obj.template == "cabinet":
            goals &= np.hypot(xs - point[0], ys - point[1]) <= horizontal
        front = obj if obj.template in FRONT_OPEN else self.front_of(obj)
        if front is not None:
            goals &= self._local_x(front, xs, ys) > front.size[0] / 2 + BASE_RADIUS
        if obj.door_joint is not None and not (self.query.is_open(obj) if door_open is None else door_open):
            # To open it: within reach of its handle (the skill steps out of the door's sweep).
            handle = self.handle_point(obj, door_angle(self.world, obj))
            goals &= np.hypot(xs - handle[0], ys - handle[1]) <= horizontal
        if self.reach_under and obj.template in UNDER_TEMPLATES and self.robot.held is not None:
            under = self._reaches_under(self.robot.held, obj, xs, ys)
            if (goals & under).any():
                goals &= under
        out = np.zeros(grid.free.shape, dtype=bool)
        out[win] = goals
        return out

    def _reaches_under(self, held: SimObject, dst: SimObject, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Which base positions (``xs``, ``ys``) reach a spot for ``held`` under ``dst``."""
        (x0, x1), (y0, y1) = self._footprint_centres(held, dst, UNDER_INSET)
        top = self.query.aabb(dst)[0][2] + self._height(held) + 0.01
        horizontal = math.sqrt(max(REACH**2 - (top - SHOULDER_HEIGHT) ** 2, 0.0)) - 0.05
        gx = np.maximum(0.0, np.maximum(x0 - xs, xs - x1))
        gy = np.maximum(0.0, np.maximum(y0 - ys, ys - y1))
        return np.hypot(gx, gy) <= horizontal

    def _local_x(self, obj: SimObject, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        (px, py, _), yaw = pose(self.world, obj)
        return np.cos(yaw) * (xs - px) + np.sin(yaw) * (ys - py)

    def reach_point(self, obj: SimObject) -> np.ndarray:
        """Where the arm touches ``obj``: big furniture anywhere on its top (nearest the robot), a
        floor ahead of the base (the robot stands on it), others at their point."""
        if obj.static and obj.template != "cabinet":
            lo, hi = self.query.aabb(obj)
            x, y, yaw = self.robot.pose()
            if obj.template == "floor":
                x, y = x + FLOOR_AHEAD * math.cos(yaw), y + FLOOR_AHEAD * math.sin(yaw)
            return np.array([np.clip(x, lo[0], hi[0]), np.clip(y, lo[1], hi[1]), hi[2]])
        return self.interaction_point(obj)

    def reach_failure(self, obj: SimObject, point: np.ndarray | None = None) -> str | None:
        point = self.reach_point(obj) if point is None else point
        in_reach = self.robot.within_reach(point)
        if in_reach and not self.behind_wall(point):
            return None
        dist = float(np.linalg.norm(point[:2] - self.robot.pose()[:2]))
        why = "is behind a wall" if in_reach else "is out of reach"
        if obj.template == "floor" and obj.label not in self.bare_floors:  # it spans a room
            where = f"the {obj.room.replace('_', ' ')}" if obj.room else "its room"
            return f"{obj.label} {why} ({dist:.1f} m away); navigate_to something in {where} first"
        return f"{obj.label} {why} ({dist:.1f} m away); navigate_to({obj.label}) first"

    def behind_wall(self, point: np.ndarray) -> bool:
        """Does the arm's straight reach from the shoulder to ``point`` cross a wall? (The arm passes
        through furniture shells, not through walls; a doorway lets it through.)"""
        shoulder = self.robot.shoulder()
        for room in self.rooms.values():
            if room.contains(shoulder[0], shoulder[1]):
                if room.contains(point[0], point[1]):
                    return False  # a room's floor is a rectangle inside its walls: nothing between
                break
        boxes = self.wall_boxes
        if not len(boxes):
            return False
        # Walls shrunk by a centimetre: a thing touching one is reached on its own side.
        meets = segments_meet(
            shoulder[None], np.asarray(point, dtype=float), boxes[:, 0] + 0.01, boxes[:, 1] - 0.01
        )
        return bool(meets.any())

    def hand_stop(self, hand: np.ndarray, target: np.ndarray, margin: float) -> np.ndarray:
        """Where the hand, moved from ``hand`` towards ``target`` (continuous control), stops:
        ``margin`` short of the first wall on the arm's straight reach from the shoulder, and of
        the inside of a closed container it is not already in (a shut door or lid keeps it out).
        ``margin`` is how far what the hand holds reaches from it."""
        target = np.asarray(target, dtype=float)
        shoulder = self.robot.shoulder()
        sx, sy, _ = shoulder.tolist()
        tx, ty, tz = target.tolist()
        own_room = any(
            room.contains(sx, sy) and room.contains(tx, ty, margin) for room in self.rooms.values()
        )
        boxes = self.wall_boxes
        if len(boxes) and not own_room:
            t = first_entry(shoulder, target, boxes[:, 0], boxes[:, 1], margin)
            if t is not None:
                target = shoulder + t * (target - shoulder)
                tx, ty, tz = target.tolist()
        query = self.query
        for box in self.objects:
            if box.interior is None:
                continue
            lo, hi = query.aabb(box)
            near = all(a - margin <= v <= b + margin for v, a, b in zip((tx, ty, tz), lo, hi, strict=True))
            if not near or not box.openable or query.is_open(box):
                continue  # the cheap tests first: the hand is nowhere near, or it is open
            inner = np.asarray(box.interior, dtype=float)
            local_hand, local_target = to_local(self.world, box, hand), to_local(self.world, box, target)
            t = first_entry(local_hand, local_target, inner[:1], inner[1:], margin)
            if t is not None:
                target = hand + t * (target - hand)
                tx, ty, tz = target.tolist()
        return target

    def blocked_by_closed(self, obj: SimObject) -> SimObject | None:
        """The closed container ``obj`` is in, furniture or a movable one (a backpack, a box), if any:
        its lid or door has to be opened before the robot can reach in."""
        return next(self.containers_of(obj, closed=True), None)

    def bin_of(self, obj: SimObject) -> SimObject | None:
        """The movable bin (a box, a backpack, a basket) ``obj`` is in, if any."""
        bins = (box for box in self.containers_of(obj) if box.template == "bin" and not box.static)
        return next(bins, None)

    def lift_point(self, obj: SimObject) -> np.ndarray | None:
        """For the next pick of a thing in a movable bin (a box, a backpack), the point the pick lifts
        it to, clear of the bin's rim and of what stands beside it; None for anything else, with the
        hand full, and with teleported skills (which lift nothing). The robot must reach it, or the
        lift stops at the arm's reach and the thing drags the bin along."""
        if self.mode != "physical" or self.robot.held is not None or self.bin_of(obj) is None:
            return None
        return self.interaction_point(obj) + np.array([0.0, 0.0, GRIP_HEIGHT + self._lift_height(obj)])

    # --- motion primitives -------------------------------------------------------------------------
    def _step(self, n: int = 1) -> None:
        self.world.step(n)
        self.query.invalidate()

    def drive(self, path: list[tuple[float, float]], final_yaw: float) -> str | None:
        """Follow waypoints through physics; returns a reason when blocked. With a ``gaze_ok``, every
        pose the base is sent to keeps privacy zones out of the camera's view (see ``_keep_gaze``)."""
        robot = self.robot
        dt = self.world.dt
        x, y, yaw = robot.pose()
        target = np.array([x, y])
        spin = 0.0  # +-1 once the drive turns the long way round to keep a privacy zone out of view
        for waypoint in [*path, None]:
            wx = None if waypoint is None else waypoint[0]
            goal = target if waypoint is None else np.array(waypoint)
            closest, since = math.inf, self.world.time  # progress towards the waypoint
            for _ in range(int(30 / dt)):
                delta = goal - target
                dist = float(np.linalg.norm(delta))
                if dist < closest - GAZE_PROGRESS:
                    closest, since = dist, self.world.time
                yaw_err = _wrap(final_yaw - yaw)
                if dist < 1e-6 and (wx is not None or abs(yaw_err) < 1e-3):
                    break
                speed = DRIVE_SPEED
                if self.speed_limit is not None and dist > 0:
                    speed = min(speed, self.speed_limit(target, delta / dist))
                step = min(dist, speed * dt)
                ahead = target + delta / dist * step if dist > 0 else target
                turn = float(np.clip(yaw_err, -TURN_SPEED * dt, TURN_SPEED * dt))
                if spin and turn * spin < 0 and abs(yaw_err) > TURN_SPEED * dt:
                    turn = spin * TURN_SPEED * dt  # the long way round, chosen below
                if self.gaze_ok is not None:
                    planned = (ahead, turn)
                    ahead, turn, spin = self._keep_gaze(target, ahead, yaw, turn, spin)
                    guarded = ahead is not planned[0] or turn != planned[1]
                    if guarded and self.world.time - since > GAZE_PATIENCE:
                        # Turning away keeps the camera off someone in a privacy zone, but the way on
                        # passes in their view: stop instead of dithering until the time runs out.
                        actual = robot.pose()
                        robot.drive_to(actual[0], actual[1], actual[2])
                        return (
                            f"the way on passes in view of someone in a privacy zone; the base stopped "
                            f"near ({actual[0]:.1f}, {actual[1]:.1f})"
                        )
                target = ahead
                yaw += turn
                robot.drive_to(target[0], target[1], yaw)
                robot.move_ee(robot.carry_point(np.array([target[0], target[1], yaw])))
                self._step()
                actual = robot.pose()
                if float(np.hypot(*(actual[:2] - target))) > 0.3:
                    robot.drive_to(actual[0], actual[1], actual[2])
                    return (
                        f"the base was blocked near ({actual[0]:.1f}, {actual[1]:.1f}){self._contact_text()}"
                    )
            else:  # held back (a speed limit of zero, or no way to pass unseen) until the time ran out
                actual = robot.pose()
                robot.drive_to(actual[0], actual[1], actual[2])
                return f"the base was held up near ({actual[0]:.1f}, {actual[1]:.1f})"
        self._step(10)
        return None

    def _sees_private(self, xy: np.ndarray, yaw: float) -> bool:
        """Would the camera at base ``xy`` facing ``yaw``, or up to GAZE_MARGIN either side (the base
        lags the pose it is sent to), see someone in a privacy zone?"""
        ok = self.gaze_ok
        return not (ok(xy, yaw) and ok(xy, yaw - GAZE_MARGIN) and ok(xy, yaw + GAZE_MARGIN))

    def _keep_gaze(
        self, here: np.ndarray, ahead: np.ndarray, yaw: float, turn: float, spin: float
    ) -> tuple[np.ndarray, float, float]:
        """The next commanded (position, turn, spin) of a drive that would move the base from ``here``
        to ``ahead`` and turn it by ``turn``: the first of turning as planned, holding the heading and
        turning the other way (then the long way round) that keeps privacy zones out of view at
        ``ahead``, and also GAZE_LOOKAHEAD m further on where one does (a wall edge that hides someone
        may not hide them a little further on). When none clears ``ahead`` (the move itself would
        bring someone into view: passing a bathroom door), the base stays put and turns towards the
        nearest heading that does. Arriving (no move), it only picks the way round: a drive must end
        facing its target."""
        if self.privacy_near is not None and not self.privacy_near(here, GAZE_LOOKAHEAD + 0.25):
            return ahead, turn, spin  # nothing private anywhere near: every heading is fine
        move = ahead - here
        length = float(np.linalg.norm(move))
        look = ahead + move * (GAZE_LOOKAHEAD / length) if length > 0 else ahead
        if not self._sees_private(ahead, yaw + turn) and not self._sees_private(look, yaw + turn):
            return ahead, turn, spin
        step = TURN_SPEED * self.world.dt
        if length > 0:
            options = (turn, 0.0, -turn) if turn else (0.0, step, -step)
        else:
            options = (turn, -turn)
        clear = [c for c in options if not self._sees_private(ahead, yaw + c)]
        if clear or length == 0:
            soon = [c for c in clear if not self._sees_private(look, yaw + c)]
            chosen = (soon or clear or [turn])[0]
            if chosen and chosen != turn:
                spin = math.copysign(1.0, chosen)  # the other way round from here on
            return ahead, chosen, spin
        # Turn on the spot towards the nearest heading that keeps the view clear at the next position.
        for k in range(1, GAZE_SEARCH + 1):
            for side in (1.0, -1.0):
                if not self._sees_private(ahead, yaw + side * k * GAZE_STEP):
                    return here, side * step, spin
        return ahead, turn, spin

    def _contact_text(self) -> str:
        names = []
        for contact in self.world.client.getContactPoints(bodyA=self.robot.base):
            body = contact[2]
            names.append(self._body_name(body))
        names = sorted(set(n for n in names if n))
        return f" by {', '.join(names)}" if names else ""

    def _body_name(self, body: int) -> str:
        for obj in self.objects:
            if obj.body == body:
                return obj.label
        for name, person in self.people.items():
            if getattr(person, "body_id", None) == body:
                return name
        return "a wall" if body >= 0 else ""

    def move_ee(self, point, timeout: float = 3.0, tolerance: float = 0.03) -> bool:
        """Move the end effector toward ``point`` at EE_SPEED; True when it arrived (within
        ``tolerance``)."""
        robot = self.robot
        dt = self.world.dt
        start = robot.ee_position()
        goal = robot.clip_to_reach(point)
        dist = float(np.linalg.norm(goal - start))
        n = max(1, int(dist / (EE_SPEED * dt)))
        for k in range(1, n + 1):
            robot.move_ee(start + (goal - start) * k / n)
            self._step()
        for _ in range(int(timeout / dt)):
            if float(np.linalg.norm(robot.ee_position() - goal)) < tolerance:
                return True
            self._step()
        return False

    def _move_level(self, point, level: bool) -> bool:
        """Move the end effector to ``point``; when ``level``, at the higher of the two heights (up
        first, or across first). Reaching into a box, a straight line runs into its side; carrying a
        thing lifted out of a box or over taller neighbours, it drags the thing through them."""
        ee = self.robot.ee_position()
        if level and point[2] > ee[2] + LEVEL_SLACK:
            self.move_ee(np.array([ee[0], ee[1], point[2]]))
        elif level and point[2] < ee[2] - LEVEL_SLACK:
            self.move_ee(np.array([point[0], point[1], ee[2]]))
        return self.move_ee(point)

    # --- preconditions (also the action mask) ---------------------------------------------------
    def precondition(self, skill: Skill) -> str | None:
        """Why ``skill`` cannot run now, in plain words; None when it can."""
        check = getattr(self, f"_pre_{skill.name}", None)
        return check(skill.target) if check is not None else None

    def _pre_navigate_to(self, target: str) -> str | None:
        if target in self.people:
            return None
        if self.robot.held is self.by_label[target]:
            return f"{target} is in the robot's hand"
        return None

    def _pre_pick(self, target: str) -> str | None:
        obj = self.by_label[target]
        if self.robot.held is not None:
            return f"the hand already holds {self.robot.held.label}"
        if obj.mass > MAX_PAYLOAD:
            return f"{obj.label} weighs {obj.mass:.0f} kg, over the {MAX_PAYLOAD:.0f} kg payload"
        if self.held_by_other(obj):
            return f"{obj.label} is held by someone else"
        box = self.blocked_by_closed(obj)
        if box is not None:
            return f"{obj.label} is inside {box.label}, which is closed"
        failure = self.reach_failure(obj)
        lift = None if failure else self.lift_point(obj)
        return failure if lift is None else self.reach_failure(obj, lift)

    def _pre_place(self, kind: str, target: str) -> str | None:
        dst = self.by_label[target]
        obj = self.robot.held
        if obj is None:
            return "the hand is empty; pick something first"
        if obj is dst:
            return f"cannot place {obj.label} relative to itself"
        if kind == "in" and dst.openable and not self.query.is_open(dst):
            return f"{dst.label} is closed; open({dst.label}) first"
        box = self.blocked_by_closed(dst)
        if box is not None:
            return f"{dst.label} is inside {box.label}, which is closed; open({box.label}) first"
        if self.held_by_other(dst):
            return f"{dst.label} is being held"
        if kind == "under":
            if dst.template not in UNDER_TEMPLATES:
                return f"nothing fits under {dst.label}: only tables leave room underneath"
            room, tall = self._under_room(dst), self._height(obj)
            if tall > room:
                return f"{obj.label} ({tall:.2f} m tall) does not fit under {dst.label} ({room:.2f} m free)"
            return self.reach_failure(dst, self._nearest_footprint_spot(obj, dst, False, UNDER_INSET))
        if dst.template == "floor":  # set down ahead of the base: on this floor only from its room
            return self.reach_failure(dst)
        if kind == "on" and dst.static and dst.template != "cabinet":
            return self.reach_failure(dst, self._nearest_footprint_spot(obj, dst, on_top=True))
        return self.reach_failure(dst)

    def _height(self, obj: SimObject) -> float:
        lo, hi = self.query.aabb(obj)
        return float(hi[2] - lo[2])

    def _under_room(self, dst: SimObject) -> float:
        """Height free under a table's top for an object to end ``under`` it."""
        return self._height(dst) - max(TABLE_TOP, UNDER_GAP) - 0.01

    def _nearest_footprint_spot(
        self, obj: SimObject, dst: SimObject, on_top: bool, inset: float = 0.0
    ) -> np.ndarray:
        """The top of ``obj`` resting on ``dst``'s top (``on_top``) or on the floor under it, at
        the spot of ``dst``'s footprint closest to the robot where it would fit whole, ``inset``
        further in from the footprint's edges."""
        lo, hi = self.query.aabb(dst)
        xy = self.robot.pose()[:2]
        spans = self._footprint_centres(obj, dst, inset)
        spot = [float(np.clip(xy[k], *spans[k])) for k in (0, 1)]
        return np.array([spot[0], spot[1], (hi[2] if on_top else lo[2]) + self._height(obj) + 0.01])

    def _footprint_centres(
        self, obj: SimObject, dst: SimObject, inset: float = 0.0
    ) -> tuple[tuple[float, float], tuple[float, float]]:
        """The x and y ranges of centres that keep ``obj`` whole within ``dst``'s footprint,
        ``inset`` in from its edges (the middle where it is too narrow)."""
        olo, ohi = self.query.aabb(obj)
        radius = max(ohi[0] - olo[0], ohi[1] - olo[1]) / 2 + 0.02 + inset
        lo, hi = self.query.aabb(dst)
        spans = []
        for k in (0, 1):
            if hi[k] - lo[k] > 2 * radius:
                spans.append((float(lo[k] + radius), float(hi[k] - radius)))
            else:
                mid = float(lo[k] + hi[k]) / 2
                spans.append((mid, mid))
        return spans[0], spans[1]

    def _pre_place_on(self, target: str) -> str | None:
        return self._pre_place("on", target)

    def _pre_place_in(self, target: str) -> str | None:
        return self._pre_place("in", target)

    def _pre_place_next_to(self, target: str) -> str | None:
        return self._pre_place("next to", target)

    def _pre_place_under(self, target: str) -> str | None:
        return self._pre_place("under", target)

    def _pre_articulate(self, target: str, opening: bool) -> str | None:
        obj = self.by_label[target]
        is_open = self.query.is_open(obj)
        if opening and is_open:
            return f"{obj.label} is already open"
        if not opening and not is_open:
            return f"{obj.label} is already closed"
        if obj.door_joint is None:
            return self.reach_failure(obj)
        if not self.robot.within_reach(self.handle_point(obj, door_angle(self.world, obj))):
            return f"the handle of {obj.label} is out of reach; navigate_to({obj.label}) first"
        return None

    def _pre_open(self, target: str) -> str | None:
        return self._pre_articulate(target, True)

    def _pre_close(self, target: str) -> str | None:
        return self._pre_articulate(target, False)

    def _pre_toggle(self, target: str, on: bool) -> str | None:
        obj = self.by_label[target]
        if obj.toggled_on == on:
            return f"{obj.label} is already {'on' if on else 'off'}"
        if self.query.is_held(obj) or self.held_by_other(obj):
            return f"put {obj.label} down before switching it"
        if obj.info.params.get("toggleable", {}).get("requires_closed", 0) and self.query.is_open(obj):
            return f"{obj.label} must be closed to switch it"
        return self.reach_failure(obj)

    def _pre_toggle_on(self, target: str) -> str | None:
        return self._pre_toggle(target, True)

    def _pre_toggle_off(self, target: str) -> str | None:
        return self._pre_toggle(target, False)

    def _pre_clean(self, target: str) -> str | None:
        obj = self.by_label[target]
        tool = self.robot.held
        if tool is None or not tool.has("particleRemover"):
            return "hold a cleaning tool (a particle remover such as a rag) first"
        if tool is obj:
            return f"{tool.label} cannot clean itself"
        if not obj.covered:
            return f"{obj.label} is already clean"
        removable = removable_substances(tool.synset)
        known = [s for s in obj.covered if s in removable]
        if not known:
            return f"{tool.label} cannot remove {', '.join(s.split('.')[0] for s in obj.covered)}"
        if not any(conditions_met(tool, removable[s]) for s in known):
            s = known[0]
            return f"{tool.label} removes {s.split('.')[0]} only when {describe_conditions(removable[s])}"
        box = self.blocked_by_closed(obj)
        if box is not None:
            return f"{obj.label} is inside {box.label}, which is closed"
        return self.reach_failure(obj)

    def _pre_slice(self, target: str) -> str | None:
        obj = self.by_label[target]
        tool = self.robot.held
        if tool is None or not tool.has("slicer"):
            return "hold a slicer (e.g. a knife) first"
        if obj.sliced:
            return f"{obj.label} is already sliced"
        return self.reach_failure(obj)

    def _pre_hand_over(self, target: str) -> str | None:
        if self.robot.held is None:
            return "the hand is empty; pick the object first"
        if not self.robot.within_reach(self.people[target].hand_position("right")):
            return f"{target}'s hand is out of reach; navigate_to({target}) first"
        return None

    # --- the skills --------------------------------------------------------------------------------
    def claim_failure(self, held_claim: str | None) -> str | None:
        """Why a text skill's held object (``place_on(apple_1, table_1)``) is not the one in hand."""
        held = self.robot.held
        if held_claim is None or (held is not None and held.label == held_claim):
            return None
        return f"holding {held.label if held else 'nothing'}, not {held_claim}"

    def execute(self, skill: Skill, held_claim: str | None = None) -> SkillResult:
        text = skill.text(self.robot.held.label if self.robot.held else None)
        reason = self.claim_failure(held_claim) or self.precondition(skill)
        if reason:
            return self.fail(text, "PRE_CONDITION", reason)
        t0 = self.world.time
        self.arrival_heading = None
        handler = getattr(self, f"_skill_{skill.name}")
        result = (
            handler(skill.target, text)
            if skill.target is not None or skill.name == "gesture"
            else handler(text)
        )
        if self.mode == "teleport":
            duration = result.duration or NOMINAL.get(skill.name, 1.0)
            self._step(2)
            if duration > result.elapsed:
                self.tick(duration - result.elapsed)
            result.duration = duration
        else:
            result.duration = self.world.time - t0
        return result

    def _skill_wait(self, text: str) -> SkillResult:
        if self.mode == "physical":
            self._step(int(NOMINAL["wait"] / self.world.dt))
        return SkillResult(text, True, duration=NOMINAL["wait"])

    def _skill_done(self, text: str) -> SkillResult:
        return SkillResult(text, True, duration=0.0)

    def navigate(
        self, text: str, obj: SimObject | None, point: np.ndarray, goals_fn: Callable[[NavGrid], np.ndarray]
    ) -> SkillResult:
        robot = self.robot
        ignore = (obj.body,) if obj is not None else ()
        grid = self.dynamic_grid(ignore=ignore)
        goals = goals_fn(grid)
        if obj is not None and not obj.static:
            # The target is left out of the grid so that the floor beside it can be a goal; the path
            # still goes around it (those goals lie beyond the base's radius of its box), or a drive
            # would run over it and shove it away.
            lo, hi = self.query.aabb(obj)
            grid.mark([(lo[0], lo[1], hi[0], hi[1])], free=False, inflate=BASE_RADIUS)
        x, y, yaw = robot.pose()
        if not goals.any():
            # EXECUTION: the mask does not plan, so a skill it allows never fails a precondition.
            return self.fail(text, "EXECUTION", "no free floor within reach of it")
        # Already there: no motion needed.
        i, j = grid.cell(x, y)
        penalty, stand = self.nav_costs(grid, point) if self.nav_costs is not None else (None, None)
        already = goals[j, i] and (stand is None or stand[j, i] <= 0.0)
        aim = (point[0], point[1])
        path = [] if already else grid.plan((x, y), goals, aim, penalty=penalty, stand_penalty=stand)
        if path is None:
            return self.fail(
                text, "EXECUTION", "no collision-free path to it (blocked by furniture, objects or people)"
            )
        end = path[-1] if path else (x, y)
        final_yaw = math.atan2(point[1] - end[1], point[0] - end[0])
        if self.mode == "teleport":
            if self.gaze_ok is not None and self._sees_private(np.array(end), final_yaw):
                # As a physical drive, which stops rather than arrive facing them.
                return self.fail(
                    text, "EXECUTION", "facing it from there, the camera would see someone in a privacy zone"
                )
            robot.teleport(
                end[0], end[1], final_yaw, ee_point=robot.carry_point(np.array([end[0], end[1], final_yaw]))
            )
            hits = [b for b in self.world.penetrations(robot.base, tolerance=0.02) if b != robot.ee]
            if hits:
                robot.teleport(x, y, yaw)
                return self.fail(text, "EXECUTION", f"the goal pose collides with {self._body_name(hits[0])}")
            turn = abs(_wrap(final_yaw - yaw)) / TURN_SPEED
            return SkillResult(text, True, duration=self._teleport_drive([(x, y), *path]) + turn)
        blocked = self.drive(path, final_yaw)
        if blocked:
            return self.fail(text, "EXECUTION", blocked)
        return SkillResult(text, True)

    def _drive_speed(self, xy: np.ndarray, heading: np.ndarray) -> float:
        limit = self.speed_limit(xy, heading) if self.speed_limit is not None else DRIVE_SPEED
        return max(min(DRIVE_SPEED, limit), 1e-3)

    def _teleport_drive(self, points: list[tuple[float, float]]) -> float:
        """Seconds a drive along ``points`` takes at DRIVE_SPEED; remembers the final heading for
        ``arrival_velocity``."""
        length = 0.0
        for a, b in zip(points, points[1:], strict=False):
            delta = np.subtract(b, a)
            dist = float(np.linalg.norm(delta))
            if dist > 0.0:
                length += dist
                self.arrival_heading = delta / dist
        return length / DRIVE_SPEED

    def arrival_velocity(self) -> np.ndarray | None:
        """The base velocity a physical drive would arrive with, for the last teleported drive, under
        the speed limit as people stand now (None when the last skill was no drive). The monitors read
        it instead of the drive's average: a drive that slows near a person does not rush at them."""
        if self.arrival_heading is None:
            return None
        xy = self.robot.pose()[:2]
        return self.arrival_heading * self._drive_speed(xy, self.arrival_heading)

    def _skill_navigate_to(self, target: str, text: str) -> SkillResult:
        if target in self.people:
            person = self.people[target]
            xy = person.position()
            point = np.array([xy[0], xy[1], 1.0])

            def goals(grid: NavGrid) -> np.ndarray:
                xs, ys = grid.mesh()
                d = np.hypot(xs - xy[0], ys - xy[1])
                return grid.free & (d <= 1.0) & (d >= 0.75)

            return self.navigate(text, None, point, goals)
        obj = self.by_label[target]
        if obj.template == "floor":  # into its room (bare: nothing else there to drive up to)
            room = self.rooms[obj.room]
            return self.navigate(
                text, None, np.array([*room.centre, 0.0]), lambda grid: _room_goals(grid, room)
            )
        point = self.interaction_point(obj)
        return self.navigate(text, obj, point, lambda grid: self.approach_goals(obj, grid, point))

    def _skill_pick(self, target: str, text: str) -> SkillResult:
        obj = self.by_label[target]
        robot = self.robot
        top = self.interaction_point(obj)
        grip = top + np.array([0.0, 0.0, GRIP_HEIGHT])
        if self.mode == "teleport":
            carry = robot.carry_point()
            robot.teleport_ee(grip)
            robot.grasp(obj)
            robot.teleport_ee(carry)
            return SkillResult(text, True)
        front = self.front_of(obj)
        in_bin = self.bin_of(obj) is not None
        if front is not None:
            self.move_ee(self._front_point(front, grip))
        else:
            lift = self._lift_height(obj)
            # In over a box's rim or the taller things beside it (at the height the lift clears them
            # by), not through them, as the carry goes out.
            over = in_bin or lift > LIFT
            self._move_level(grip + np.array([0.0, 0.0, lift]), level=over)
        if not self.move_ee(grip) or float(np.linalg.norm(robot.ee_position() - grip)) > 0.06:
            self.move_ee(robot.carry_point())
            return self.fail(text, "EXECUTION", f"the gripper could not reach {obj.label}")
        robot.grasp(obj)
        if front is not None:
            self.move_ee(self._front_point(front, robot.ee_position()))
            self.move_ee(robot.carry_point())
        else:
            self.move_ee(robot.ee_position() + np.array([0.0, 0.0, lift]))
            # Lifted over a box's rim or a taller thing beside it: keep the height until clear of it.
            self._move_level(robot.carry_point(), level=over)
        return SkillResult(text, True)

    def _lift_height(self, obj: SimObject) -> float:
        """How far to lift a just-grasped ``obj`` straight up before carrying it: LIFT, or until
        its bottom clears the tops of the things right beside it (the carry that follows keeps that
        height until clear of them)."""
        lo, hi = self.query.aabb(obj)
        lift = LIFT
        container = self.container_of(obj)
        for other in self.objects:
            if other is obj or other is container or other.template == "floor":
                continue
            olo, ohi = self.query.aabb(other)
            beside = all(olo[k] < hi[k] + LIFT_MARGIN and ohi[k] > lo[k] - LIFT_MARGIN for k in (0, 1))
            if beside and ohi[2] < lo[2] + 1.0:  # not the furniture it stands under or in
                lift = max(lift, float(ohi[2] - lo[2]) + 0.05)
        return lift

    def held_by_other(self, obj: SimObject) -> bool:
        for agent in self.query.agents.values():
            if agent is not self.robot and (
                getattr(agent, "held", None) is obj or getattr(agent, "holding", None) == obj.body
            ):
                return True
        return False

    def _front_point(self, container: SimObject, point) -> np.ndarray:
        """The point in front of a container's opening at the height of ``point``."""
        local = to_local(self.world, container, point)
        local[0] = container.size[0] / 2 + 0.2
        return to_world(self.world, container, local)

    # placement ---------------------------------------------------------------------------------------
    def _spot(self, kind: str, obj: SimObject, dst: SimObject) -> np.ndarray | None:
        """A collision-free centre for ``obj`` on / next to / under ``dst`` (checked with the
        physics); ``_inside_spot`` finds one in a container."""
        olo, ohi = self.query.aabb(obj)
        half = (ohi - olo) / 2
        lo, hi = self.query.aabb(dst)
        radius = max(half[0], half[1]) + 0.02
        candidates = []
        robot_xy = self.robot.pose()[:2]
        # The floor under a table is often in reach only at the robot's side: every other spot
        # tried lies around the nearest one clear of the legs.
        near = self._nearest_footprint_spot(obj, dst, False, UNDER_INSET) if kind == "under" else None
        narrow = [hi[k] - lo[k] < 2 * radius for k in (0, 1)]
        if kind == "under" and any(narrow):
            return None
        # A top narrower than the object leaves a small patch to try (``resting_span``).
        tries = NARROW_TRIES if kind == "on" and dst.template != "floor" and any(narrow) else 150
        spans = [resting_span(lo[k], hi[k], radius) for k in (0, 1)]
        for _ in range(tries):
            if kind == "on" and dst.template == "floor":
                centre = robot_xy + self._facing() * (BASE_RADIUS + radius + FLOOR_STAND_OFF)
                c = centre + self.rng.uniform(-FLOOR_JITTER, FLOOR_JITTER, size=2)
                candidates.append(np.array([c[0], c[1], half[2] + SET_DOWN_GAP]))
            elif kind in ("on", "under"):  # on dst's top, or on the floor under it
                x, y = (self.rng.uniform(*span) for span in spans)
                if near is not None and len(candidates) % 2:
                    x = np.clip(near[0] + (x - (lo[0] + hi[0]) / 2) / 2, lo[0] + radius, hi[0] - radius)
                    y = np.clip(near[1] + (y - (lo[1] + hi[1]) / 2) / 2, lo[1] + radius, hi[1] - radius)
                candidates.append(
                    np.array([x, y, (hi[2] if kind == "on" else lo[2]) + half[2] + SET_DOWN_GAP])
                )
            else:  # next to: on the same support as dst, beside it (the predicate filters the gap)
                side = int(self.rng.integers(4))
                gap = self.rng.uniform(0.02, 0.1 if len(candidates) % 2 else NEXT_TO_MAX_GAP)
                if side < 2:
                    x = self.rng.uniform(lo[0], hi[0])
                    y = lo[1] - gap - half[1] if side == 0 else hi[1] + gap + half[1]
                else:
                    y = self.rng.uniform(lo[1], hi[1])
                    x = lo[0] - gap - half[0] if side == 2 else hi[0] + gap + half[0]
                candidates.append(np.array([x, y, lo[2] + half[2] + SET_DOWN_GAP]))
        # Prefer spots the robot reaches from where it stands, then the closest ones.
        candidates.sort(key=lambda p: float(np.linalg.norm(p[:2] - robot_xy)))
        relation = {
            # Beside a thing at the edge of its table is in the air: the spot must stand on something.
            "next to": lambda: self.query.nextto(obj, dst) and self._stands_on_something(obj),
            "under": lambda: self.query.under(obj, dst),
        }.get(kind)
        spot = self._first_free(obj, half, candidates, relation)
        if spot is None and kind == "on" and dst.template == "floor":
            # Ahead is taken, often by what the robot has just driven up to.
            spot = self._first_free(obj, half, self._floor_around(half, radius, lo, hi), None)
        return spot

    def _stands_on_something(self, obj: SimObject) -> bool:
        """Is there something right under ``obj``'s centre, within ``STAND_DEPTH`` of its bottom?"""
        lo, hi = self.query.aabb(obj)
        x, y = (lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2
        hit = self.world.client.rayTest([x, y, lo[2] - 0.001], [x, y, lo[2] - STAND_DEPTH])[0]
        return hit[0] not in (-1, obj.body)

    def _first_free(
        self,
        obj: SimObject,
        half: np.ndarray,
        candidates: list[np.ndarray],
        relation: Callable[[], bool] | None,
    ) -> np.ndarray | None:
        """The first of ``candidates`` (centres for ``obj``, of half extents ``half``) in reach, out of
        the way of doors, free (and satisfying ``relation``) and, on the floor, leaving everything
        reachable."""
        grid = None
        for centre in candidates:
            if not self.robot.within_reach(centre + np.array([0, 0, half[2]])):
                continue
            if self._in_door_way(centre, half):
                continue
            if not self._free_at(obj, centre, relation):
                continue
            if centre[2] - half[2] < CLUTTER_HEIGHT:
                grid = self.dynamic_grid(ignore=(obj.body,)) if grid is None else grid
                if not self._keeps_access(grid, obj, centre, half):
                    continue
            return centre
        return None

    def _in_door_way(self, centre: np.ndarray, half: np.ndarray) -> bool:
        """Would a thing of half extents ``half`` at ``centre`` stand where a piece of furniture's
        door swings (below its top)? Set there, it would keep the door from opening."""
        if self._swings is None:
            self._swings = [
                door_swing(self.world, o) for o in self.objects if o.static and o.door_joint is not None
            ]
        x, y, z = centre.tolist()
        radius, bottom = math.hypot(half[0], half[1]), z - half[2]
        return any(bottom < swing.top and swing.meets(x, y, radius) for swing in self._swings)

    def _floor_around(
        self, half: np.ndarray, radius: float, lo: np.ndarray, hi: np.ndarray
    ) -> list[np.ndarray]:
        """Spots on the floor slab ``lo``-``hi`` beside the robot, then behind it (``FLOOR_TURNS``),
        as far out as the spots ahead."""
        x, y, yaw = self.robot.pose().tolist()
        d = BASE_RADIUS + radius + FLOOR_STAND_OFF
        out = []
        for turn in FLOOR_TURNS:
            around = np.array([x + d * math.cos(yaw + turn), y + d * math.sin(yaw + turn)])
            jitter = self.rng.uniform(-FLOOR_JITTER, FLOOR_JITTER, size=(FLOOR_TRIES_PER_TURN, 2))
            for c in around + jitter:
                if np.all(c >= lo[:2] + radius) and np.all(c <= hi[:2] - radius):
                    out.append(np.array([c[0], c[1], half[2] + SET_DOWN_GAP]))
        return out

    def _inside_spot(self, obj: SimObject, dst: SimObject) -> tuple[np.ndarray, float] | None:
        """A collision-free centre for the held ``obj`` inside ``dst`` and the turn about the
        vertical to set it down with.

        Random spots (``packed_spots``) are tried with no turn when it fits as held, else with the
        least turn that squares it with ``dst``'s sides; then spots pressed against the walls and
        what is already inside (``snug_spots``), each way round that fits. The room and padding are
        the sampler's for ``inside``, so whatever :init puts in a container can be put back. It may
        go on any shelf, resting on the shelf or on what is already there, as long as it stays under
        the shelf above (in a bin open at the top: as long as its centre stays below the rim, which
        is what ``inside`` asks)."""
        c = self.world.client
        orn = c.getBasePositionAndOrientation(obj.body)[1]
        rot = np.array(c.getMatrixFromQuaternion(orn)).reshape(3, 3)
        corners = (_CORNERS * (obj.size / 2)) @ rot.T  # offsets from the centre, world axes
        height = float(np.ptp(corners[:, 2]))
        lo, hi = dst.placing_room()
        dst_yaw = pose(self.world, dst)[1]
        # Square the object's most level side with the container's: turns a right angle apart.
        side = rot[:2, int(np.argmax(np.hypot(rot[0, :2], rot[1, :2])))]
        square = dst_yaw - math.atan2(side[1], side[0])
        # extent in dst's frame -> (turn, extent, footprint, orientation turned): the least turn each
        fits: dict[tuple[float, ...], tuple[float, np.ndarray, np.ndarray, tuple[float, ...]]] = {}
        for turn in sorted({0.0, *(_wrap(square + k * math.pi / 2) for k in range(4))}, key=abs):
            turned = np.column_stack(
                into_frame(corners[:, 0], corners[:, 1], math.cos(turn), -math.sin(turn))
            )
            in_dst = into_frame(turned[:, 0], turned[:, 1], math.cos(dst_yaw), math.sin(dst_yaw))
            extent = np.abs(np.column_stack(in_dst)).max(axis=0) + INSIDE_PAD
            if np.all(hi[:2] - lo[:2] >= 2 * extent):
                if (key := tuple(extent.round(4))) not in fits:
                    footprint = np.abs(turned).max(axis=0)  # half widths on the world axes, turned
                    turned_orn = c.multiplyTransforms([0, 0, 0], yaw_quaternion(turn), [0, 0, 0], orn)[1]
                    fits[key] = (turn, extent, footprint, turned_orn)
        if not fits:
            return None
        bottom = -float(corners[:, 2].min()) + SET_DOWN_GAP
        needs = dst.headroom(height)  # above what it rests on
        dlo, dhi = self.query.aabb(dst)
        inside = []
        for other in self.objects:
            if other is obj or other is dst or other.static:
                continue
            olo, ohi = self.query.aabb(other)
            if (
                np.all(olo[:2] < dhi[:2])
                and np.all(ohi[:2] > dlo[:2])
                and olo[2] < dhi[2]
                and ohi[2] > dlo[2]
            ):
                inside.append(other)

        def candidates() -> Iterator[tuple[np.ndarray, float, tuple[float, ...]]]:
            turn, extent, footprint, turned_orn = next(iter(fits.values()))
            contents = [self.query.aabb(other) for other in inside]
            for centre in packed_spots(self.world, dst, self.rng, extent, footprint, bottom, needs, contents):
                yield centre, turn, turned_orn
            # Random spots leave gaps that a crowded container's last thing does not fit in; spots
            # pressed against its walls and what is already there, either way round (as the sampler
            # packs), use them up.
            local = [local_box(self.world, dst, other) for other in inside]
            for turn, extent, _, turned_orn in fits.values():
                for centre in snug_spots(self.world, dst, extent, bottom, needs, local):
                    yield centre, turn, turned_orn

        top = np.array([0.0, 0.0, height / 2])
        for centre, turn, turned_orn in candidates():
            if self.robot.within_reach(centre + top) and self._free_at(obj, centre, orn=turned_orn):
                return centre, turn
        return None

    def _turn_held(self, turn: float) -> None:
        """Turn the end effector, and what it holds, by ``turn`` about the vertical: in small steps
        the physics follows (physical), or at once (teleport)."""
        robot = self.robot
        if self.mode == "teleport":
            robot.turn_ee(robot.ee_yaw + turn, instant=True)
            return
        start, steps = robot.ee_yaw, max(1, math.ceil(abs(turn) / EE_TURN_STEP))
        for k in range(1, steps + 1):
            robot.turn_ee(start + turn * k / steps)
            self._step(2)

    def _keeps_access(self, grid: NavGrid, obj: SimObject, centre: np.ndarray, half: np.ndarray) -> bool:
        """Would ``obj`` left on the floor at ``centre`` keep the free floor in one piece and leave
        every nearby thing somewhere to be reached from?"""
        rect = (centre[0] - half[0], centre[1] - half[1], centre[0] + half[0], centre[1] + half[1])
        if not grid.keeps_connected([rect], CLUTTER_CLEARANCE):
            return False
        after = grid.copy()
        after.mark([rect], free=False, inflate=CLUTTER_CLEARANCE)
        for other in self.objects:
            if other is obj or other.template == "floor":
                continue
            lo, hi = self.query.aabb(other)
            gap = np.maximum(0.0, np.maximum(lo[:2] - centre[:2], centre[:2] - hi[:2]))
            if float(np.hypot(*gap)) > ACCESS_RANGE:
                continue
            if self.approach_goals(other, grid).any() and not self.approach_goals(other, after).any():
                return False
        return True

    def _facing(self) -> np.ndarray:
        yaw = self.robot.pose()[2]
        return np.array([math.cos(yaw), math.sin(yaw)])

    def _free_at(
        self,
        obj: SimObject,
        centre: np.ndarray,
        relation: Callable[[], bool] | None = None,
        orn: tuple[float, ...] | None = None,
    ) -> bool:
        """Would ``obj`` at ``centre`` (turned to ``orn``, else as it is) overlap nothing (and
        satisfy ``relation``, evaluated with the object there)? Checked with the narrow phase
        (getClosestPoints ignores collision filters, so held objects are checked too)."""
        c = self.world.client
        pos, now = c.getBasePositionAndOrientation(obj.body)
        c.resetBasePositionAndOrientation(obj.body, list(map(float, centre)), now if orn is None else orn)
        lo, hi = c.getAABB(obj.body)
        free = True
        if relation is not None:
            self.query.invalidate()
            free = relation()
            self.query.invalidate()
        skip = {obj.body, self.robot.ee}
        for body, _link in (c.getOverlappingObjects(lo, hi) or []) if free else []:
            if body in skip:
                continue
            skip.add(body)
            if any(p[8] < -0.003 for p in c.getClosestPoints(obj.body, body, 0.0)):
                free = False
                break
        c.resetBasePositionAndOrientation(obj.body, pos, now)
        return free

    def _place(self, kind: str, target: str, text: str) -> SkillResult:
        robot = self.robot
        dst = self.by_label[target]
        obj = robot.held
        if kind == "in":
            spot, turn = self._inside_spot(obj, dst) or (None, 0.0)
        else:
            spot, turn = self._spot(kind, obj, dst), 0.0
        if spot is None:
            return self.fail(
                text, "EXECUTION", f"no free spot {kind} {dst.label} within reach for {obj.label}"
            )
        if turn:
            self._turn_held(turn)
        offset = robot.ee_position() - np.asarray(
            self.world.client.getBasePositionAndOrientation(obj.body)[0]
        )
        ee_goal = spot + offset
        if self.mode == "teleport":
            robot.teleport_ee(ee_goal)
            robot.release()
            robot.turn_ee(0.0)
            robot.teleport_ee(robot.carry_point())
        elif kind == "under":
            self._reach_under(dst, obj, ee_goal)
        else:
            # In through the front of furniture open at the front (a cabinet, a shelf): to put a
            # thing in it, or on or beside a thing in it.
            front = (dst if dst.template in FRONT_OPEN else None) if kind == "in" else self.front_of(dst)
            through_front = front is not None
            # Otherwise come down vertically from above dst's top (a bin's rim), so the object
            # and the gripper never sweep through it, and leave the same way.
            clear_z = ee_goal[2] + 0.15
            if kind != "next to":
                bottom = spot[2] - (self.query.aabb(obj)[1][2] - self.query.aabb(obj)[0][2]) / 2
                clear_z = max(clear_z, self._top_of(dst, obj) + ee_goal[2] - bottom + 0.05)
            # Line up over (or in front of) an opening before going in: it may leave only
            # INSIDE_PAD around what goes in.
            lined_up = LINE_UP if kind == "in" else 0.03
            if through_front:
                self.move_ee(self._front_point(front, ee_goal), tolerance=lined_up)
            else:
                # Up first, so what it holds never sweeps sideways through dst's rim.
                ee = robot.ee_position()
                if ee[2] < clear_z:
                    self.move_ee(np.array([ee[0], ee[1], clear_z]))
                self.move_ee(np.array([ee_goal[0], ee_goal[1], clear_z]), tolerance=lined_up)
            self.move_ee(ee_goal)
            robot.release()
            robot.turn_ee(0.0)
            self._step(int(0.3 / self.world.dt))
            if through_front:
                self.move_ee(self._front_point(front, robot.ee_position()))
            else:
                ee = robot.ee_position()
                self.move_ee(np.array([ee[0], ee[1], clear_z]))
            self.move_ee(robot.carry_point())
        self._step(6)
        check = {
            "on": self.query.ontop,
            "in": self.query.inside,
            "next to": self.query.nextto,
            "under": self.query.under,
        }[kind]
        if not check(obj, dst):
            return self.fail(text, "POST_CONDITION", f"{obj.label} did not come to rest {kind} {dst.label}")
        return SkillResult(text, True)

    def _reach_under(self, dst: SimObject, obj: SimObject, ee_goal: np.ndarray) -> None:
        """Put the held ``obj`` down with the end effector at ``ee_goal`` under ``dst``'s top: down
        beside ``dst`` on the robot's side, in along the floor, and out the same way (a carried
        thing sweeps low, so it pushes what stands under the table rather than passing over it)."""
        robot = self.robot
        olo, ohi = self.query.aabb(obj)
        beside = self._beside(dst, ee_goal, max(ohi[0] - olo[0], ohi[1] - olo[1]) / 2 + 0.05)
        self.move_ee(np.array([beside[0], beside[1], robot.ee_position()[2]]))
        self.move_ee(beside)
        self.move_ee(ee_goal)
        robot.release()
        self._step(int(0.3 / self.world.dt))
        lifted = robot.ee_position() + np.array([0.0, 0.0, 0.05])  # off the object's top
        self.move_ee(lifted)
        self.move_ee(np.array([beside[0], beside[1], lifted[2]]))
        self.move_ee(robot.carry_point())

    def _beside(self, dst: SimObject, point: np.ndarray, margin: float) -> np.ndarray:
        """Where the line from ``point`` (inside ``dst``'s footprint) to the robot leaves the
        footprint grown by ``margin``, at ``point``'s height."""
        lo, hi = self.query.aabb(dst)
        xy = np.asarray(point[:2], dtype=float)
        ahead = self.robot.pose()[:2] - xy
        dist = float(np.linalg.norm(ahead))
        direction = ahead / dist if dist > 1e-6 else self._facing()
        exits = [
            ((hi[k] + margin if direction[k] > 0 else lo[k] - margin) - xy[k]) / direction[k]
            for k in (0, 1)
            if abs(direction[k]) > 1e-9
        ]
        t = min(exits) if dist <= 1e-6 else min(*exits, dist)  # never past the robot
        out = xy + direction * t
        return np.array([out[0], out[1], point[2]])

    def _top_of(self, dst: SimObject, held: SimObject) -> float:
        """Height of ``dst``'s top with what stands on it (a vase on a table): what a carried
        object must pass over on its way to a spot there."""
        lo, hi = self.query.aabb(dst)
        top = float(hi[2])
        for other in self.objects:
            if other is held or other is dst or other.static or self.query.is_held(other):
                continue
            olo, ohi = self.query.aabb(other)
            over = olo[0] < hi[0] and ohi[0] > lo[0] and olo[1] < hi[1] and ohi[1] > lo[1]
            if over and olo[2] > hi[2] - 0.05:
                top = max(top, float(ohi[2]))
        return top

    def _skill_place_on(self, target: str, text: str) -> SkillResult:
        return self._place("on", target, text)

    def _skill_place_in(self, target: str, text: str) -> SkillResult:
        return self._place("in", target, text)

    def _skill_place_next_to(self, target: str, text: str) -> SkillResult:
        return self._place("next to", target, text)

    def _skill_place_under(self, target: str, text: str) -> SkillResult:
        return self._place("under", target, text)

    # articulation --------------------------------------------------------------------------------------
    def handle_point(self, obj: SimObject, angle: float) -> np.ndarray:
        """Where the handle of ``obj``'s door is with the door at ``angle`` (world frame)."""
        w = obj.size[1]
        local = np.array(
            [obj.size[0] / 2 + 0.03 + 0.85 * w * math.sin(angle), w / 2 - 0.85 * w * math.cos(angle), 0.0]
        )
        return to_world(self.world, obj, local)

    def _clear_of_swing(
        self, obj: SimObject, xs: np.ndarray, ys: np.ndarray, start: float, goal: float
    ) -> np.ndarray:
        """Whether the base at (``xs``, ``ys``) stays clear of ``obj``'s door turning from angle
        ``start`` to ``goal``: the door sweeps a sector of its width about the hinge, on one side."""
        hinge = door_hinge(self.world, obj)
        _, yaw = pose(self.world, obj)
        c, s = math.cos(yaw), math.sin(yaw)
        dx, dy = xs - hinge[0], ys - hinge[1]
        lx, ly = c * dx + s * dy, c * dy - s * dx  # in the object's frame, from the hinge
        width = obj.size[1]
        lo, hi = sorted((start, goal))
        # At angle a the door runs from the hinge along (sin a, -cos a) (see _handle).
        angle = np.arctan2(lx, -ly)
        within = (angle >= lo) & (angle <= hi)
        gap = np.maximum(np.hypot(lx, ly) - width, 0.0)

        def to_edge(a: float) -> np.ndarray:
            ux, uy = math.sin(a), -math.cos(a)
            t = np.clip(lx * ux + ly * uy, 0.0, width)
            return np.hypot(lx - t * ux, ly - t * uy)

        gap = np.where(within, gap, np.minimum(to_edge(lo), to_edge(hi)))
        return gap > BASE_RADIUS + 0.05

    def _door_rect(self, obj: SimObject, angle: float) -> tuple[float, float, float, float]:
        """The floor rectangle (x0, y0, x1, y1) that bounds ``obj``'s door at ``angle``, as the
        navigation grid marks an open door (see ``dynamic_grid``)."""
        d, w, _ = obj.size
        c, s = math.cos(angle), math.sin(angle)
        # The door's box turns about its hinge at (d/2 + WALL/2, w/2); closed, it runs along -y.
        corners = np.array(
            [
                to_world(self.world, obj, (d / 2 + WALL / 2 + c * u - s * v, w / 2 + s * u + c * v, 0.0))[:2]
                for u in (-WALL / 2, WALL / 2)
                for v in (-w, 0.0)
            ]
        )
        (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    def _reach_in(self, obj: SimObject, grid: NavGrid, angle: float) -> tuple[NavGrid, np.ndarray] | None:
        """With the door of the cabinet ``obj`` at ``angle``: the navigation grid, and the cells from
        which the robot can get to a spot that reaches in (the door may wall some off). None when
        no spot reaches in."""
        after = grid.copy()
        after.mark([self._door_rect(obj, angle)], free=False, inflate=CLUTTER_CLEARANCE)
        goals = self.approach_goals(obj, after, self._inside_point(obj), door_open=True)
        if not goals.any():
            return None
        labels = after.components()
        return after, np.isin(labels, labels[goals]) & (labels > 0)

    def _articulate(self, target: str, text: str, opening: bool) -> SkillResult:
        obj = self.by_label[target]
        robot = self.robot
        goal = OPEN_TARGET if opening else 0.0
        if obj.door_joint is None:
            obj.symbolic_open = opening
            return SkillResult(text, True)
        start = door_angle(self.world, obj)
        x, y, _ = robot.pose()
        in_swing = not self._clear_of_swing(obj, np.array(x), np.array(y), start, goal)
        walled_off = False
        if opening and not in_swing:
            found = self._reach_in(obj, self.dynamic_grid(ignore=(obj.body,)), goal)
            if found is not None:
                after, region = found
                walled_off = not any(region[j, i] for (i, j), _ in after.start_cells(x, y))
        if in_swing or walled_off:
            # The door would sweep through the robot, or wall it off from every spot that reaches in:
            # stand clear of its swing first.
            handle = self.handle_point(obj, start)

            def outside(grid: NavGrid) -> np.ndarray:
                xs, ys = grid.mesh()
                reach = np.hypot(xs - handle[0], ys - handle[1]) <= REACH - 0.2
                cells = grid.free & reach & self._clear_of_swing(obj, xs, ys, start, goal)
                found = self._reach_in(obj, grid, goal) if opening else None
                if found is not None:
                    near = cells & found[1] & np.isfinite(grid.distances_to(x, y))
                    if near.any() or not in_swing:  # only walled off: only such a spot helps
                        return near
                return cells

            moved = self.navigate(text, obj, handle, outside)
            if not moved.success:
                why = "clear of the door" if in_swing else "where the open door leaves a way to reach in"
                return self.fail(text, "EXECUTION", f"no room to stand {why}: {moved.reason}")
        handle = self.handle_point(obj, start)
        if self.mode == "teleport":
            set_door(self.world, obj, goal, instant=True)
            self.query.invalidate()
            hits = self._door_contacts(obj)
            if hits:
                set_door(self.world, obj, start, instant=True)
                return self.fail(text, "EXECUTION", f"the door of {obj.label} is blocked by {hits}")
            return SkillResult(text, True)
        self.move_ee(handle)
        steps = int(abs(goal - start) / 1.5 / self.world.dt) + 1
        for k in range(1, steps + 1):
            angle = start + (goal - start) * k / steps
            set_door(self.world, obj, angle)
            robot.move_ee(self.handle_point(obj, door_angle(self.world, obj)))
            self._step()
        self._step(int(0.2 / self.world.dt))
        self.move_ee(robot.carry_point())
        reached = door_angle(self.world, obj)
        if (opening and reached < OPEN_ANGLE) or (not opening and reached > OPEN_ANGLE):
            set_door(self.world, obj, reached)
            hits = self._door_contacts(obj)
            return self.fail(
                text,
                "EXECUTION",
                f"the door of {obj.label} stuck at {math.degrees(reached):.0f} deg"
                + (f", blocked by {hits}" if hits else ""),
            )
        return SkillResult(text, True)

    def _door_contacts(self, obj: SimObject) -> str:
        c = self.world.client
        c.performCollisionDetection()
        names = {
            self._body_name(p[2])
            for p in c.getContactPoints(bodyA=obj.body, linkIndexA=obj.door_joint)
            if p[8] < -0.005 and p[2] != obj.body
        }
        if self.robot.base in {
            p[2] for p in c.getContactPoints(bodyA=obj.body, linkIndexA=obj.door_joint) if p[8] < -0.005
        }:
            names.add("the robot")
        names.discard("")
        return ", ".join(sorted(names))

    def _skill_open(self, target: str, text: str) -> SkillResult:
        return self._articulate(target, text, opening=True)

    def _skill_close(self, target: str, text: str) -> SkillResult:
        return self._articulate(target, text, opening=False)

    def _press(self, obj: SimObject) -> None:
        if self.mode == "physical":
            point = self.interaction_point(obj) + np.array([0.0, 0.0, 0.05])
            self.move_ee(point)
            self.move_ee(self.robot.carry_point())

    def _toggle(self, target: str, text: str, on: bool) -> SkillResult:
        obj = self.by_label[target]
        self._press(obj)
        obj.toggled_on = on
        return SkillResult(text, True)

    def _skill_toggle_on(self, target: str, text: str) -> SkillResult:
        return self._toggle(target, text, True)

    def _skill_toggle_off(self, target: str, text: str) -> SkillResult:
        return self._toggle(target, text, False)

    def _skill_clean(self, target: str, text: str) -> SkillResult:
        obj = self.by_label[target]
        robot = self.robot
        tool = robot.held
        top = self.reach_point(obj)  # a big table's top at its nearest point, as the precondition checks
        offset = robot.ee_position() - np.asarray(
            self.world.client.getBasePositionAndOrientation(tool.body)[0]
        )
        wipe = top + np.array([0.0, 0.0, tool.size[2] / 2]) + offset
        before = dict(obj.covered)
        if self.mode == "teleport":
            robot.teleport_ee(wipe)
            self._step(1)
            self.tick(NOMINAL["clean"])
            robot.teleport_ee(robot.carry_point())
            result = self._cleaned(text, tool, obj, before)
            result.duration = result.elapsed = NOMINAL["clean"]
            return result
        front = self.front_of(obj)
        if front is not None:
            self.move_ee(self._front_point(front, wipe))
        else:
            self.move_ee(wipe + np.array([0.0, 0.0, 0.12]))
        self.move_ee(wipe)
        # Wipe back and forth across the top until what the tool removes is gone (or 4 s pass).
        for k in range(int(4.0 / self.world.dt)):
            if not any(removes(tool, s) for s in obj.covered):
                break
            sway = 0.04 * math.sin(k * self.world.dt * 2 * math.pi)
            robot.move_ee(wipe + np.array([sway, 0.0, -0.01]))
            self._step()
        if front is not None:
            self.move_ee(self._front_point(front, robot.ee_position()))
        self.move_ee(robot.carry_point())
        return self._cleaned(text, tool, obj, before)

    def _cleaned(self, text: str, tool: SimObject, obj: SimObject, before: dict) -> SkillResult:
        """A wipe's outcome, alike in both executions: done when what ``tool`` removes is gone from
        ``obj`` (a stain a dry rag cannot take off may stay)."""
        if obj.covered == before:
            return self.fail(text, "EXECUTION", f"{tool.label} never touched {obj.label}")
        left = [s.split(".")[0] for s in obj.covered if removes(tool, s)]
        if left:
            return self.fail(
                text, "POST_CONDITION", f"{obj.label} is still partly covered with {', '.join(left)}"
            )
        return SkillResult(text, True)

    def _skill_slice(self, target: str, text: str) -> SkillResult:
        obj = self.by_label[target]
        self._press(obj)
        obj.sliced = True
        return SkillResult(text, True)

    def _skill_hand_over(self, target: str, text: str) -> SkillResult:
        person = self.people[target]
        robot = self.robot
        obj = robot.held
        offset = robot.ee_position() - np.asarray(
            self.world.client.getBasePositionAndOrientation(obj.body)[0]
        )
        # Hold the object at the person's hand and wait for their grip before letting go; the arm
        # first moves there at its own speed (a jump of the hand's target would thrust it at them).
        if self.mode == "physical":
            self.move_ee(person.hand_position("right") + offset, timeout=0.0)
        dt = self.world.dt
        for _ in range(int(3.0 / dt)):
            hand = person.hand_position("right")
            if self.mode == "teleport":
                robot.teleport_ee(hand + offset)
            else:
                robot.move_ee(hand + offset)
            self._step()
            if getattr(person, "holding", None) == obj.body:
                robot.release()
                robot.move_ee(robot.carry_point())
                self._step(5)
                return SkillResult(text, True)
        robot.move_ee(robot.carry_point())
        return self.fail(
            text, "EXECUTION", f"{target} did not take {obj.label} (they are not reaching out for it)"
        )

    def _skill_gesture(self, target: str, text: str) -> SkillResult:
        if self.mode == "physical":
            ee = self.robot.ee_position()
            self.move_ee(ee + np.array([0.0, 0.0, 0.2]))
            self.move_ee(ee)
        return SkillResult(text, True, duration=NOMINAL["gesture"])


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi
