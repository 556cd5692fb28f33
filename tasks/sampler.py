"""Realising a BDDL :init physically: objects sampled onto, into, next to and under others."""

from __future__ import annotations

import math

import numpy as np
from bddl.activity import get_initial_conditions

from ethogym.envs.sim.knowledge import synset_of
from ethogym.envs.sim.navigation import NavGrid
from ethogym.envs.sim.objects import (
    FLOOR_SYNSETS,
    HOT_AT,
    INSIDE_PAD,
    SNUG_GAP,
    UNDER_TEMPLATES,
    ObjectFactory,
    SimObject,
    Substance,
    dims,
    door_swing,
    fit_margins,
    fits_inside,
    label_of,
    local_box,
    packed_spots,
    place,
    pose,
    resting_span,
    room_inside,
    set_door,
    snug_spots,
    square_margins,
    to_world,
    turned_extents,
    uniform_between,
)
from ethogym.envs.sim.robot import BASE_RADIUS, CLUTTER_CLEARANCE, REACH, SHOULDER_HEIGHT
from ethogym.envs.sim.scene import Scene
from ethogym.envs.sim.states import ONTOP_CONTACT, UNDER_GAP, StateQuery
from ethogym.envs.sim.transitions import AMBIENT
from ethogym.envs.sim.world import World, into_frame
from ethogym.errors import SamplingError

from .activity import PLACEMENTS, Activity, literal_text
from .backend import AgentRef, EthogymBackend

INIT_FROZEN = -10.0  # C: what :init's (frozen x) starts at
INIT_HOT = 60.0  # C: what :init's (hot x) starts at, short of cooking it (see _hot_temperature)

ATTEMPTS_PER_OBJECT = 60
FULL_ATTEMPTS = 4
REACH_SLACK = 0.2  # m kept in hand when checking that the robot can reach a sampled pose
UNDER_FOOTPRINT_MARGIN = 0.05  # m kept inside a table's footprint beyond the object's own half width
#: A container whose :init contents cover more than this share of its shelves is packed from a corner
#: from the first thing on: things dropped at random would leave gaps that the last ones need.
CROWDED = 0.5
LIES_SQUARE = 0.7  # m: a floor thing with a longer half diagonal is set square to the walls
WALL_GAP = 0.05  # m between such a thing and the walls


def placement_order(literals: list[list[str]]) -> list[list[str]]:
    """The placement literals ``(pred, thing, ref)`` of :init in the order they are sampled: as
    listed, each put back until what it is placed on (when another literal places that) is placed.
    SamplingError naming them when a whole round places none: they are placed on each other."""
    pending = list(literals)
    movable = {lit[1] for lit in pending}
    placed: set[str] = set()
    order = []
    deferred = 0  # literals put back in a row
    while pending:
        if deferred >= len(pending):
            names = ", ".join(" ".join(lit) for lit in pending)
            raise SamplingError(f"circular placement literals in :init: {names}")
        literal = pending.pop(0)
        if literal[2] in movable and literal[2] not in placed:
            pending.append(literal)
            deferred += 1
            continue
        deferred = 0
        order.append(literal)
        placed.add(literal[1])
    return order


class SceneSampler:
    """Builds an activity's movable objects and samples poses that satisfy its :init."""

    def __init__(
        self, world: World, query: StateQuery, factory: ObjectFactory, rng: np.random.Generator
    ) -> None:
        self.world = world
        self.query = query
        self.factory = factory
        self.rng = rng

    def populate(
        self, activity: Activity, scene: Scene, sizes: dict[str, np.ndarray] | None = None
    ) -> dict[str, object]:
        """The BDDL scope: every instance name mapped to a SimObject, Substance or AgentRef; the
        objects it builds come at ``sizes`` where given (``describe_objects``' sizes)."""
        sizes = sizes or {}
        scope: dict[str, object] = {}
        floors_by_instance = {
            name: room for name, synset, room in activity.scene_objects if synset in FLOOR_SYNSETS
        }
        containers = activity.containers()
        for name in activity.instances:
            synset = synset_of(name) if not name.endswith("_*") else name[:-2]
            if synset == "agent.n.01":
                scope[name] = AgentRef(name)
            elif name in activity.substances:
                scope[name] = Substance(name, synset)
            elif name in floors_by_instance:
                floor = scene.floors[floors_by_instance[name]]
                scope[name] = SimObject(
                    **{**floor.__dict__, "name": name, "synset": synset, "label": label_of(name)}
                )
            elif name in scene.placed:
                scope[name] = scene.placed[name]
            else:
                scope[name] = self.factory.build(
                    name, synset, static=False, container=name in containers, size=sizes.get(name)
                )
        return scope

    def sample(
        self, activity: Activity, scene: Scene, scope: dict[str, object], backend: EthogymBackend, robot_grid
    ) -> tuple[float, float, float]:
        """Place the movable objects and pick the agent's start; returns the start pose (x, y, yaw)."""
        base_state = self.world.save()
        failure = ""
        try:
            for _ in range(FULL_ATTEMPTS):
                self.world.restore(base_state)
                try:
                    self._apply_states(activity, scope)
                    self._place_all(activity, scene, scope)
                    start = self._agent_start(activity, scene, scope, robot_grid)
                except SamplingError as exc:
                    failure = str(exc)
                    continue
                self.world.step(30)
                self.query.invalidate()
                backend.invalidate()
                bad = self._unsatisfied(activity, scope, backend)
                if not bad:
                    return start
                failure = "after settling these :init literals do not hold: " + ", ".join(bad)
        finally:
            self.world.remove_state(base_state)
        raise SamplingError(
            f"could not realise the initial state of '{activity.name}' in {FULL_ATTEMPTS} tries: {failure}"
        )

    # --- states ----------------------------------------------------------------------------------
    def _apply_states(self, activity: Activity, scope) -> None:
        for literal in activity.init:
            positive = literal[0] != "not"
            atom = literal if positive else literal[1]
            pred, *terms = atom
            obj = scope.get(terms[0]) if terms else None
            if not isinstance(obj, SimObject):
                continue
            # A negated thermal literal warms or cools to room temperature only when the state
            # holds, so it cannot undo the other one: (frozen x) (not (hot x)) in either order.
            if pred == "frozen":
                if positive or obj.frozen:
                    obj.temperature = INIT_FROZEN if positive else AMBIENT
            elif pred == "hot":
                if positive or obj.hot:
                    obj.temperature = _hot_temperature(obj) if positive else AMBIENT
            elif pred == "cooked":
                obj.cooked = positive
            elif pred == "toggled_on":
                obj.toggled_on = positive
            elif pred == "broken":
                obj.broken = positive
            elif pred == "open":
                set_door(self.world, obj, 1.3 if positive else 0.0, instant=True)
            elif pred == "covered" and positive:
                substance = scope[terms[1]]
                obj.covered[substance.synset] = 1.0

    # --- placement -------------------------------------------------------------------------------
    def _place_all(self, activity: Activity, scene: Scene, scope) -> None:
        pending = [
            lit
            for lit in activity.init
            if lit[0] in PLACEMENTS and isinstance(scope.get(lit[1]), SimObject) and not scope[lit[1]].static
        ]
        self._floor_rects: list[tuple[tuple[float, float, float, float], float]] = []  # (rect, top)
        self._contents: dict[str, list[SimObject]] = {}  # container name -> what was sampled inside it
        self._raised: list[np.ndarray] = []  # the tops of what was set in or on furniture
        self._floor_free: tuple[int, np.ndarray] | None = None  # (floor objects, free cells) cached
        self._crowded = _crowded_containers(pending, scope)
        # The doors of the containers the task puts things in (in :init or its goal) swing clear of
        # what :init sets on the floor, on it or next to furniture.
        self._swings = [
            door_swing(self.world, scope[name])
            for name in sorted(activity.containers())
            if isinstance(scope.get(name), SimObject)
            and scope[name].static
            and scope[name].door_joint is not None
        ]
        # Into a crowded container the largest things go first (where the literals stand, in turn).
        slots = [
            k for k, lit in enumerate(pending) if lit[0] == "inside" and scope[lit[2]].name in self._crowded
        ]
        largest = sorted((pending[k] for k in slots), key=lambda lit: -_floor_area(scope[lit[1]]))
        for k, lit in zip(slots, largest, strict=True):
            pending[k] = lit
        for pred, name, ref in placement_order(pending):
            obj, target = scope[name], scope[ref]
            if not isinstance(target, SimObject):
                raise SamplingError(f"'{pred} {name} {ref}': {ref} is not a physical object")
            self._place(pred, obj, target, scene)
            if pred == "inside":
                self._contents.setdefault(target.name, []).append(obj)

    def _place(self, pred: str, obj: SimObject, target: SimObject, scene: Scene) -> None:
        checkpoint = self.world.save()
        rejected = 0  # proposals with no reachable or free spot (the rest collided)
        packed = pred == "inside" and target.name in self._crowded
        try:
            for _ in range(0 if packed else ATTEMPTS_PER_OBJECT):
                proposal = self._propose(pred, obj, target, scene)
                if proposal is None:
                    rejected += 1
                    continue
                if self._settle_at(obj, target, *proposal, checkpoint):
                    return
            if pred == "inside" and self._pack_inside(obj, target, scene, checkpoint):
                return
        finally:
            self.world.remove_state(checkpoint)
        held = [other.label for other in self._contents.get(target.name, [])]
        full = f"; {target.label} already holds {', '.join(held)} and may be full" if held else ""
        if packed:
            raise SamplingError(
                f"found no collision-free pose for '{pred} {obj.label} {target.label}' among spots packed "
                f"from a corner{full}"
            )
        tried_packing = ", nor did spots packed from a corner" if pred == "inside" else ""
        raise SamplingError(
            f"found no collision-free pose for '{pred} {obj.label} {target.label}' in "
            f"{ATTEMPTS_PER_OBJECT} tries ({ATTEMPTS_PER_OBJECT - rejected} collided, {rejected} found no "
            f"reachable free spot){tried_packing}{full}"
        )

    def _settle_at(self, obj: SimObject, target: SimObject, xyz, yaw: float, checkpoint: int) -> bool:
        """Put ``obj`` at ``xyz``, ``yaw`` when it overlaps nothing there (else restore ``checkpoint``)."""
        place(self.world, obj, xyz, yaw)
        if self.world.penetrations(obj.body, tolerance=0.003):
            self.world.restore(checkpoint)
            return False
        self.query.invalidate()
        lo, hi = self.query.aabb(obj)
        if target.template == "floor":
            self._floor_rects.append(((lo[0], lo[1], hi[0], hi[1]), float(hi[2])))
        elif target.static:
            self._raised.append(np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hi[2]]))
        return True

    def _pack_inside(self, obj: SimObject, target: SimObject, scene: Scene, checkpoint: int) -> bool:
        """Spots for ``inside`` packed from one corner, square with the container, the way round
        that stands more of its kind side by side first: pressed against the walls and against what
        is already inside (``snug_spots``), then drawn at random and resting on what is there
        (``packed_spots``, as the ``place_in`` skill sets things down). The first chance in a
        crowded container, the second elsewhere."""
        half = obj.size / 2
        lo, hi = target.placing_room()
        target_yaw = pose(self.world, target)[1]
        inside = self._contents.get(target.name, [])
        contents = [self.query.aabb(other) for other in inside]
        local = [local_box(self.world, target, other) for other in inside]
        bottom, needs = half[2] + 0.002, target.headroom(obj.size[2])
        for turn in sorted((0.0, math.pi / 2), key=lambda turn: -_per_layer(half, turn, hi - lo)):
            # Square with the container, so its own extents this way round (as the skill keeps them).
            square = square_margins(half, INSIDE_PAD, hi[:2] - lo[:2], turn)
            if square is None:  # does not fit this way round
                continue
            margins = np.array(square)
            yaw = target_yaw + turn
            footprint = np.array(turned_extents(half, yaw))
            spots = [
                *snug_spots(self.world, target, margins, bottom, needs, local),
                *packed_spots(
                    self.world,
                    target,
                    self.rng,
                    margins,
                    footprint,
                    bottom,
                    needs,
                    contents,
                    tries=ATTEMPTS_PER_OBJECT,
                ),
            ]
            for centre in spots:
                top = centre + np.array([0.0, 0.0, half[2]])
                if self._reachable(scene, top) and self._settle_at(obj, target, centre, yaw, checkpoint):
                    return True
        return False

    def _propose(self, pred: str, obj: SimObject, target: SimObject, scene: Scene):
        """A pose for ``obj`` satisfying ``pred`` with ``target``, or None when this try failed;
        poses off the floor must lie within the robot's reach from free floor."""
        proposal = self._propose_pose(pred, obj, target, scene)
        if proposal is None or target.template == "floor":
            return proposal
        xyz = np.asarray(proposal[0], dtype=float)
        top = np.array([xyz[0], xyz[1], xyz[2] + obj.size[2] / 2])
        return proposal if self._reachable(scene, top) else None

    def _cluttered(self, scene: Scene, rects: list[tuple[float, float, float, float]]) -> NavGrid:
        """The static grid with ``rects`` on the floor blocked as the skills' planner marks clutter."""
        grid = scene.static_grid.copy()
        grid.mark(rects, free=False, inflate=CLUTTER_CLEARANCE)
        return grid

    def _reachable(self, scene: Scene, point: np.ndarray, free: np.ndarray | None = None) -> bool:
        """Is there free floor (``free``; by default the static grid's less the floor objects placed
        so far) in ``point``'s room from which the arm reaches it?"""
        if free is None and self._floor_rects:
            if self._floor_free is None or self._floor_free[0] != len(self._floor_rects):
                rects = [rect for rect, _ in self._floor_rects]
                self._floor_free = (len(rects), self._cluttered(scene, rects).free)
            free = self._floor_free[1]
        horizontal = np.sqrt(max(REACH**2 - (point[2] - SHOULDER_HEIGHT) ** 2, 0.0)) - REACH_SLACK
        room = scene.room_at(point[0], point[1])
        grid = scene.static_grid
        mask = scene.free_cells(room) if room is not None else grid.free
        if free is not None:
            mask = mask & free
        xs, ys = grid.mesh()
        return bool((mask & (np.hypot(xs - point[0], ys - point[1]) <= horizontal)).any())

    def _keeps_floor_connected(
        self, scene: Scene, x: float, y: float, extents: tuple[float, float], top: float
    ) -> bool:
        """Would an object of half widths ``extents`` (x, y) and height ``top`` at (x, y), with the
        floor objects placed so far, leave the robot's free floor in one piece and every one of them,
        and everything set in or on furniture so far, within its reach? (What is set in or on
        furniture after it must be within reach past it: ``_reachable``.)"""
        ex, ey = extents
        placed = [*self._floor_rects, ((x - ex, y - ey, x + ex, y + ey), top)]
        grid = self._cluttered(scene, [rect for rect, _ in placed])
        if int(grid.components().max()) > 1:
            return False
        return all(
            self._reachable(scene, np.array([(r[0] + r[2]) / 2, (r[1] + r[3]) / 2, z]), grid.free)
            for r, z in placed
        ) and all(self._reachable(scene, top, grid.free) for top in self._raised)

    def _propose_pose(self, pred: str, obj: SimObject, target: SimObject, scene: Scene):
        rng = self.rng
        half = obj.size / 2
        lo, hi = self.query.aabb(target)
        target_yaw = pose(self.world, target)[1] if target.template != "floor" else 0.0
        yaw = target_yaw + float(rng.choice([0.0, np.pi / 2, np.pi, -np.pi / 2]))
        reach = max(half[0], half[1]) + 0.02
        if pred == "ontop" and target.template == "floor":
            room = scene.rooms[target.room]
            x0, y0, x1, y1 = room.rect
            radius = float(np.hypot(half[0], half[1]))
            if radius > LIES_SQUARE:
                # A big thing (a mattress) lies square to the walls, and its own rectangle, not the
                # circle it could turn in, must leave the floor in one piece.
                yaw = float(rng.choice([0.0, np.pi / 2]))
                extents = turned_extents(half, yaw)
                x = float(uniform_between(rng, x0 + extents[0] + WALL_GAP, x1 - extents[0] - WALL_GAP))
                y = float(uniform_between(rng, y0 + extents[1] + WALL_GAP, y1 - extents[1] - WALL_GAP))
            else:
                x = float(rng.uniform(x0 + 0.4, x1 - 0.4))
                y = float(rng.uniform(y0 + 0.4, y1 - 0.4))
                extents = (radius, radius)
            # Keep floor objects where the robot can stand within arm's reach of them, and where
            # they leave every part of the floor reachable.
            if scene.static_grid.nearest_free(x, y, max_radius=0.7) is None:
                return None
            if self._near_door(scene, x, y) or self._in_swing(x, y, radius):
                return None
            if not self._keeps_floor_connected(scene, x, y, extents, obj.size[2]):
                return None
            turn = yaw if radius > LIES_SQUARE else float(rng.uniform(-np.pi, np.pi))
            return (x, y, half[2] + 0.002), turn
        if pred == "ontop":
            # Furniture stands square to the walls: its top is its world box. A movable support was
            # set down at any yaw: its top is its own footprint, turned with it.
            square = target.static
            top = hi[:2] - lo[:2] if square else target.size[:2]
            margins = fit_margins(
                half, 0.02, top, target_yaw if square else 0.0, yaw - (0.0 if square else target_yaw)
            )
            if margins is False:
                return None
            # (u, v): the centre on the top, in the world (square) or in the support's frame.
            if margins is None:  # too large to rest on whole either way round: it overhangs
                reach = max(half[0], half[1]) + 0.02
                edges = (lo[:2], hi[:2]) if square else (-top / 2, top / 2)
                u, v = (float(rng.uniform(*resting_span(edges[0][k], edges[1][k], reach))) for k in (0, 1))
            elif square:
                mx, my = margins
                u = float(uniform_between(rng, lo[0] + mx, hi[0] - mx))
                v = float(uniform_between(rng, lo[1] + my, hi[1] - my))
            else:
                mx, my = margins
                u = float(uniform_between(rng, mx - top[0] / 2, top[0] / 2 - mx))
                v = float(uniform_between(rng, my - top[1] / 2, top[1] / 2 - my))
            x, y = u, v
            if not square:
                centre = pose(self.world, target)[0]
                # Back out of the support's frame: the turn the other way.
                dx, dy = into_frame(u, v, math.cos(target_yaw), -math.sin(target_yaw))
                x, y = centre[0] + dx, centre[1] + dy
            return (x, y, hi[2] + half[2] + 0.002), yaw
        if pred == "inside":
            if target.interior is None:
                raise SamplingError(f"'inside {obj.label} {target.label}': {target.label} is not a container")
            ilo, ihi = target.placing_room()
            compartments = target.compartments()
            room = ihi[:2] - ilo[:2]
            # The container's own axes: the object turned by its yaw relative to the container.
            margins = fit_margins(half, INSIDE_PAD, room, 0.0, yaw - target_yaw)
            if margins is None or not fits_inside(obj, target):
                raise SamplingError(
                    f"{obj.label} ({dims(obj.size)}) does not fit inside {target.label} "
                    f"({room_inside(target)}) either way round; put it on or next to the container in :init "
                    "instead"
                )
            if margins is False:
                return None
            mx, my = margins
            level = float(rng.choice(target.shelves))
            if compartments[level] < target.headroom(obj.size[2]):
                return None
            lx = float(uniform_between(rng, ilo[0] + mx, ihi[0] - mx))
            ly = float(uniform_between(rng, ilo[1] + my, ihi[1] - my))
            point = to_world(self.world, target, (lx, ly, level + half[2] + 0.002))
            return point, yaw
        if pred == "nextto":
            support_z = lo[2]
            side = int(rng.integers(4))
            gap = float(rng.uniform(0.03, 0.12))
            if side < 2:
                x = float(rng.uniform(lo[0], hi[0]))
                y = lo[1] - gap - reach if side == 0 else hi[1] + gap + reach
            else:
                y = float(rng.uniform(lo[1], hi[1]))
                x = lo[0] - gap - reach if side == 2 else hi[0] + gap + reach
            if support_z < ONTOP_CONTACT and self._in_swing(x, y, reach):  # set on the floor
                return None
            return (x, y, support_z + half[2] + 0.002), yaw
        if pred == "under":
            if target.template not in UNDER_TEMPLATES:
                raise SamplingError(f"nothing fits under {target.label}: only tables leave room underneath")
            inset = reach + UNDER_FOOTPRINT_MARGIN
            if (
                hi[0] - lo[0] < 2 * inset
                or hi[1] - lo[1] < 2 * inset
                or obj.size[2] > hi[2] - lo[2] - UNDER_GAP
            ):
                raise SamplingError(
                    f"{obj.label} ({dims(obj.size)}) does not fit under {target.label} "
                    f"({dims(hi - lo)}); place it next to the table in :init instead"
                )
            x = float(uniform_between(rng, lo[0] + inset, hi[0] - inset))
            y = float(uniform_between(rng, lo[1] + inset, hi[1] - inset))
            return (x, y, half[2] + 0.002), yaw
        raise SamplingError(f"cannot sample initial relation '{pred}'")

    def _in_swing(self, x: float, y: float, radius: float) -> bool:
        """Would a thing of ``radius`` at (x, y) stand in the way of a door of ``_swings``?"""
        return any(swing.meets(x, y, radius) for swing in self._swings)

    @staticmethod
    def _near_door(scene: Scene, x: float, y: float) -> bool:
        return any(np.hypot(x - dx, y - dy) < 1.0 for dx, dy in scene.doors)

    def _agent_start(self, activity: Activity, scene: Scene, scope, grid) -> tuple[float, float, float]:
        room = None
        for literal in activity.init:
            if literal[0] == "ontop" and isinstance(scope.get(literal[1]), AgentRef):
                floor = scope.get(literal[2])
                room = floor.room if isinstance(floor, SimObject) else None
        candidates = np.argwhere(grid.free)
        if room is not None:
            x0, y0, x1, y1 = scene.rooms[room].rect
            xs = grid.xs[candidates[:, 1]]
            ys = grid.ys[candidates[:, 0]]
            candidates = candidates[(xs > x0) & (xs < x1) & (ys > y0) & (ys < y1)]
        if len(candidates) == 0:
            raise SamplingError(f"no free floor for the robot in the {room or 'apartment'}")
        for _ in range(50):
            j, i = candidates[int(self.rng.integers(len(candidates)))]
            x, y = grid.centre(i, j)
            if self._clear_of_objects(scope, x, y):
                return x, y, float(self.rng.uniform(-np.pi, np.pi))
        raise SamplingError(f"every free spot for the robot in the {room or 'apartment'} is taken by objects")

    def _clear_of_objects(self, scope, x: float, y: float) -> bool:
        for obj in scope.values():
            if isinstance(obj, SimObject) and not obj.static:
                if self.query.distance_xy(obj, np.array([x, y])) < BASE_RADIUS + 0.1:
                    return False
        return True

    def _unsatisfied(self, activity: Activity, scope, backend: EthogymBackend) -> list[str]:
        conds = activity.conditions()
        literals = [lit for lit in conds.parsed_initial_conditions if not _mentions_agent(lit, scope)]
        conds.parsed_initial_conditions = literals
        compiled = get_initial_conditions(conds, backend, scope, generate_ground_options=False) or []
        body = [lit for lit in literals if lit[0] != "inroom"]
        return [literal_text(lit) for lit, cond in zip(body, compiled, strict=True) if not cond.evaluate()]


def _mentions_agent(literal, scope) -> bool:
    atom = literal[1] if literal[0] == "not" else literal
    return any(isinstance(scope.get(t), AgentRef) for t in atom[1:])


def _crowded_containers(literals: list[list[str]], scope: dict) -> set[str]:
    """Containers whose :init contents' footprints add up to more than ``CROWDED`` of their shelves'
    area (every shelf counted), none of them carrying anything (packed things leave no room above
    them)."""
    area_by_container: dict[str, float] = {}
    carrying: set[str] = set()  # containers holding a thing that :init puts something on or in
    carriers = {ref for _, _, ref in literals}
    for pred, name, ref in literals:
        if pred == "inside" and isinstance(scope.get(ref), SimObject) and scope[ref].interior is not None:
            area_by_container[ref] = area_by_container.get(ref, 0.0) + _floor_area(scope[name])
            if name in carriers:
                carrying.add(ref)
    crowded = set()
    for ref, area in area_by_container.items():
        lo, hi = scope[ref].placing_room()
        if ref not in carrying and area > CROWDED * float(np.prod(hi[:2] - lo[:2])) * len(scope[ref].shelves):
            crowded.add(scope[ref].name)
    return crowded


def _per_layer(half: np.ndarray, turn: float, room: np.ndarray) -> int:
    """How many things of half sizes ``half``, turned by ``turn`` (0 or a right angle), stand side by
    side on a container floor ``room`` wide: the way round that takes more packs first."""
    extents = np.array(turned_extents(half, turn))
    free = room[:2] - 2 * INSIDE_PAD + SNUG_GAP
    return int(np.prod(np.floor(free / (2 * extents + SNUG_GAP))))


def _floor_area(obj: SimObject) -> float:
    """The area ``obj`` stands on, m^2."""
    return float(obj.size[0] * obj.size[1])


def _hot_temperature(obj: SimObject) -> float:
    """Where :init's (hot x) starts: ``INIT_HOT``, or for a thing that cooks at or below that (an
    apple at 58 C), halfway between hot and cooked, so the first tick does not cook it."""
    if obj.has("cookable") and obj.cook_temperature <= INIT_HOT:
        return (HOT_AT + obj.cook_temperature) / 2
    return INIT_HOT
