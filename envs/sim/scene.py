"""Procedural apartments: rooms on a grid, walls with doorways, a garden, furniture per room type."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ethogym.errors import SceneError

from .knowledge import synset_info
from .navigation import NavGrid
from .objects import ObjectFactory, SimObject, place, resolve_template
from .world import GROUP_STATIC, World, yaw_quaternion

WALL_T = 0.1
WALL_H = 2.4
HEDGE_H = 0.6
DOOR_W = 1.1
ACCESS_DEPTH = 0.8  # free floor kept in front of furniture for the robot to stand in
CABINET_SIDE_ROOM = 0.45  # extra access width beside a hinged door (its swing and the robot beside it)
FURNITURE_GAP = 0.15  # m kept between two pieces of furniture
#: Furniture along one room's walls (widths and gaps, ``wall_run``) that a room of the smallest
#: size still holds: half of its walls' length, as pieces drawn at random spots leave gaps between
#: them and the corners and doorways take their share. Activities asking for more are unsupported.
WALL_RUN_LIMIT = 7.6
BASE_ROOMS = ("kitchen", "living_room", "bedroom", "bathroom", "private_office")
#: Rooms the layout makes dead ends (people sleep, bathe or keep their things there), so that no
#: route between two other rooms passes through them.
SECLUDED = ("bedroom", "bathroom", "private_office")
LAYOUT_TRIES = 50
#: Arrangements of one room's furniture tried per layout once plain layouts have all failed (see
#: ``SceneBuilder.build``'s ``room_tries``).
ROOM_TRIES = 20

#: Furniture every room of a type gets besides what the task asks for (obstacles and context).
DECOR: dict[str, tuple[str, ...]] = {
    "kitchen": ("countertop.n.01",),
    "living_room": ("sofa.n.01",),
    "bedroom": ("wardrobe.n.01",),
    "bathroom": ("toilet.n.02", "sink.n.01"),
    "private_office": ("desk.n.01",),
    "garden": ("bench.n.01",),
}


@dataclass
class Room:
    name: str
    rect: tuple[float, float, float, float]  # x0, y0, x1, y1 of the floor inside the walls
    outdoor: bool = False
    private: bool = False

    def contains(self, x: float, y: float, margin: float = 0.0) -> bool:
        x0, y0, x1, y1 = self.rect
        return x0 + margin <= x <= x1 - margin and y0 + margin <= y <= y1 - margin

    @property
    def centre(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.rect
        return (x0 + x1) / 2, (y0 + y1) / 2

    def mask(self, grid: NavGrid, margin: float = 0.0) -> np.ndarray:
        """Mask of ``grid``'s cells inside this room, ``margin`` from its walls."""
        x0, y0, x1, y1 = self.rect
        xs, ys = grid.mesh()
        return (xs > x0 + margin) & (xs < x1 - margin) & (ys > y0 + margin) & (ys < y1 - margin)


@dataclass
class Scene:
    rooms: dict[str, Room]
    floors: dict[str, SimObject]
    furniture: list[SimObject]
    doors: list[tuple[float, float]]
    wall_bodies: list[int]
    bounds: tuple[float, float, float, float]
    static_grid: NavGrid
    placed: dict[str, SimObject] = field(default_factory=dict)
    #: the wall parts as boxes (k x 2 x 3: low and high corners), exact: the wall bodies are compounds
    wall_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 2, 3)))

    def free_cells(self, room: str, margin: float = 0.0, away_from=None, min_gap: float = 0.0) -> np.ndarray:
        """Mask of the static grid's free cells inside ``room`` (``margin`` from its walls), at least
        ``min_gap`` from the point ``away_from``."""
        grid = self.static_grid
        mask = grid.free & self.rooms[room].mask(grid, margin)
        if away_from is not None:
            xs, ys = grid.mesh()
            mask &= np.hypot(xs - away_from[0], ys - away_from[1]) > min_gap
        return mask

    def room_at(self, x: float, y: float) -> str | None:
        for room in self.rooms.values():
            if room.contains(x, y, margin=-WALL_T / 2):
                return room.name
        return None


@dataclass
class SceneRequest:
    """Scene objects a task needs: (instance name, synset, room), and those it puts things in."""

    objects: list[tuple[str, str, str]]
    rooms: set[str]
    decor: bool = True
    containers: frozenset[str] = frozenset()


class SceneBuilder:
    """Builds a new apartment in ``world`` from ``rng`` (all randomness comes from it)."""

    def __init__(self, world: World, factory: ObjectFactory, rng: np.random.Generator) -> None:
        self.world = world
        self.factory = factory
        self.rng = rng

    def build(self, request: SceneRequest, robot_clearance: float = 0.3, room_tries: int = 1) -> Scene:
        """The apartment; each room's furniture gets up to ``room_tries`` arrangements
        (``_furnish_room``) before SceneError."""
        indoor = list(dict.fromkeys([*BASE_ROOMS, *sorted(r for r in request.rooms if r != "garden")]))
        if len(indoor) > 10:
            raise SceneError(f"the task needs {len(indoor)} indoor rooms; the generator builds at most 10")
        rooms, doors, walls = self._layout(indoor)
        wall_bodies = self._build_walls(walls)
        floors = {name: self._build_floor(room) for name, room in rooms.items()}
        furniture: list[SimObject] = []
        placed: dict[str, SimObject] = {}
        footprints: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in rooms}
        wanted: dict[str, list[tuple[str, str]]] = {name: [] for name in rooms}
        for name, synset, room in request.objects:
            if room not in rooms:
                raise SceneError(
                    f"object {name} is asked for in room '{room}', which the generator cannot build"
                )
            wanted[room].append((name, synset))
        decor: list[tuple[str, str]] = []
        if request.decor:
            for room, synsets in DECOR.items():
                taken = {s for _, s in wanted[room]}
                for k, synset in enumerate(synsets):
                    if synset not in taken:
                        decor.append((f"decor_{room}_{k}", synset))
                        wanted[room].append(decor[-1])
        decor_names = {name for name, _ in decor}
        for room_name in sorted(wanted):
            arranged, footprints[room_name] = self._furnish_room(
                rooms[room_name], wanted[room_name], decor_names, request.containers, doors, room_tries
            )
            for name, obj in arranged:
                furniture.append(obj)
                placed[name] = obj
        x0 = min(r.rect[0] for r in rooms.values()) - WALL_T
        y0 = min(r.rect[1] for r in rooms.values()) - WALL_T
        x1 = max(r.rect[2] for r in rooms.values()) + WALL_T
        y1 = max(r.rect[3] for r in rooms.values()) + WALL_T
        grid = NavGrid((x0, y0, x1, y1), resolution=0.1, clearance=robot_clearance)
        grid.mark([r.rect for r in rooms.values()], free=True, inflate=-robot_clearance)
        # Doorways: free the gap through the wall.
        for dx, dy, horizontal in doors:
            half = DOOR_W / 2 - robot_clearance
            depth = WALL_T + robot_clearance
            if horizontal:
                grid.mark([(dx - half, dy - depth, dx + half, dy + depth)], free=True, inflate=0.0)
            else:
                grid.mark([(dx - depth, dy - half, dx + depth, dy + half)], free=True, inflate=0.0)
        grid.mark([fp for fps in footprints.values() for fp in fps], free=False)
        self._check_connected(grid, rooms)
        return Scene(
            rooms,
            floors,
            furniture,
            [(d[0], d[1]) for d in doors],
            wall_bodies,
            (x0, y0, x1, y1),
            grid,
            placed,
            np.array([[np.subtract(p, h), np.add(p, h)] for h, p in walls], dtype=float).reshape(-1, 2, 3),
        )

    # --- layout ----------------------------------------------------------------------------------
    def _layout(self, indoor: list[str]):
        rng = self.rng
        n = len(indoor)
        cols = (n + 1) // 2
        widths = rng.uniform(3.8, 5.0, size=cols)
        depths = rng.uniform(3.8, 4.8, size=2)
        xs = np.concatenate([[0.0], np.cumsum(widths)])
        ys = np.concatenate([[0.0], np.cumsum(depths)])
        # Secluded rooms are dead ends: no route between two other rooms runs through one. Some
        # orders of the rooms on the grid allow no such tree; draw another order then.
        for _ in range(LAYOUT_TRIES):
            cell_of = self._cells(indoor, rng.permutation(n), cols)
            edges = sorted(
                {
                    ((r, c), (r + dr, c + dc))
                    for (r, c), name in cell_of.items()
                    for dr, dc in ((0, 1), (1, 0))
                    if cell_of.get((r + dr, c + dc)) not in (None, name)
                }
            )
            rng.shuffle(edges)
            tree = _secluded_tree(edges, cell_of)
            garden_cols = [c for c in range(cols) if cell_of[(0, c)] not in SECLUDED]
            if tree is not None and garden_cols:
                break
        else:
            raise SceneError(f"no layout of {', '.join(indoor)} keeps the secluded rooms at dead ends")
        rooms: dict[str, Room] = {}
        for (r, c), name in sorted(cell_of.items()):
            if name in rooms:  # the stretched room of an odd count spans two cells
                continue
            top = r + 2 if cell_of.get((r + 1, c)) == name and r == 0 else r + 1
            rect = (xs[c] + WALL_T / 2, ys[r] + WALL_T / 2, xs[c + 1] - WALL_T / 2, ys[top] - WALL_T / 2)
            rooms[name] = Room(name, tuple(map(float, rect)), private=name in ("private_office", "bedroom"))
        garden_depth = float(rng.uniform(3.0, 4.0))
        rooms["garden"] = Room(
            "garden", (WALL_T / 2, -garden_depth, float(xs[-1] - WALL_T / 2), -WALL_T / 2), outdoor=True
        )
        doors = [self._door_between(a, b, xs, ys, rooms[cell_of[a]], rooms[cell_of[b]]) for a, b in tree]
        c = int(rng.choice(garden_cols))
        lo, hi = xs[c] + 0.9, xs[c + 1] - 0.9
        doors.append((float(rng.uniform(lo, hi)), 0.0, True))
        walls = self._walls(xs, ys, cell_of, doors, garden_depth)
        return rooms, doors, walls

    @staticmethod
    def _cells(indoor: list[str], order: np.ndarray, cols: int) -> dict[tuple[int, int], str]:
        """Grid cell (row, col) -> room; an odd count leaves the last top cell empty, and the room
        below stretches into it."""
        cell_of = {divmod(slot, cols): indoor[k] for slot, k in enumerate(order)}
        if len(indoor) % 2 == 1:
            cell_of[(1, cols - 1)] = cell_of[(0, cols - 1)]
        return cell_of

    def _door_between(self, a, b, xs, ys, room_a: Room, room_b: Room):
        (ra, ca), (rb, cb) = a, b
        if ra == rb:  # side by side: vertical wall at x = xs[max col]
            x = xs[max(ca, cb)]
            lo = max(room_a.rect[1], room_b.rect[1]) + 0.8
            hi = min(room_a.rect[3], room_b.rect[3]) - 0.8
            return (float(x), float(self.rng.uniform(lo, hi)), False)
        y = ys[max(ra, rb)]
        lo = max(room_a.rect[0], room_b.rect[0]) + 0.8
        hi = min(room_a.rect[2], room_b.rect[2]) - 0.8
        return (float(self.rng.uniform(lo, hi)), float(y), True)

    def _walls(self, xs, ys, cell_of, doors, garden_depth):
        """Wall segments (x0, y0, x1, y1, height) with gaps at the doors."""
        segments = []
        cols = len(xs) - 1
        # Horizontal lines y = ys[k] (k=0 bottom, 1 middle, 2 top), per column span.
        for k, y in enumerate(ys):
            for c in range(cols):
                below = cell_of.get((k - 1, c)) if k > 0 else None
                above = cell_of.get((k, c)) if k < 2 else None
                if below is not None and below == above:
                    continue
                segments.append((xs[c], y, xs[c + 1], y))
        for c, x in enumerate(xs):
            for r in range(2):
                left = cell_of.get((r, c - 1)) if c > 0 else None
                right = cell_of.get((r, c)) if c < cols else None
                if left is not None and left == right:
                    continue
                segments.append((x, ys[r], x, ys[r + 1]))
        walls = []
        for x0, y0, x1, y1 in segments:
            horizontal = abs(y1 - y0) < 1e-9
            gaps = sorted(
                (d[0] if horizontal else d[1])
                for d in doors
                if d[2] == horizontal
                and (abs(d[1] - y0) < 1e-6 if horizontal else abs(d[0] - x0) < 1e-6)
                and (x0 <= d[0] <= x1 if horizontal else y0 <= d[1] <= y1)
            )
            lo = x0 if horizontal else y0
            hi = x1 if horizontal else y1
            cursor = lo
            for g in gaps:
                walls.append(self._segment(horizontal, x0, y0, cursor, g - DOOR_W / 2, WALL_H))
                cursor = g + DOOR_W / 2
            walls.append(self._segment(horizontal, x0, y0, cursor, hi, WALL_H))
        # Hedge around the garden.
        x_end = xs[-1]
        walls.append(self._segment(True, 0, -garden_depth, 0, x_end, HEDGE_H))
        walls.append(self._segment(False, 0, 0, -garden_depth, 0, HEDGE_H))
        walls.append(self._segment(False, x_end, 0, -garden_depth, 0, HEDGE_H))
        return [w for w in walls if w is not None]

    @staticmethod
    def _segment(horizontal: bool, x: float, y: float, a: float, b: float, height: float):
        if b - a < 0.05:
            return None
        if horizontal:
            return ((b - a) / 2 + WALL_T / 2, WALL_T / 2, height / 2), ((a + b) / 2, y, height / 2)
        return (WALL_T / 2, (b - a) / 2 + WALL_T / 2, height / 2), (x, (a + b) / 2, height / 2)

    def _build_walls(self, walls) -> list[int]:
        """Static wall bodies; PyBullet shape arrays hold at most 16 parts, so walls come in chunks."""
        import pybullet

        c = self.world.client
        bodies = []
        for k in range(0, len(walls), 16):
            chunk = walls[k : k + 16]
            halves = [list(map(float, h)) for h, _ in chunk]
            centres = [list(map(float, p)) for _, p in chunk]
            col = c.createCollisionShapeArray(
                shapeTypes=[pybullet.GEOM_BOX] * len(chunk),
                halfExtents=halves,
                collisionFramePositions=centres,
            )
            colors = [[0.9, 0.9, 0.86, 1] if h[2] > 1.0 else [0.3, 0.55, 0.25, 1] for h in halves]
            vis = c.createVisualShapeArray(
                shapeTypes=[pybullet.GEOM_BOX] * len(chunk),
                halfExtents=halves,
                visualFramePositions=centres,
                rgbaColors=colors,
            )
            body = c.createMultiBody(0, col, vis)
            self.world.set_group(body, GROUP_STATIC)
            bodies.append(body)
        return bodies

    def _build_floor(self, room: Room) -> SimObject:
        synset = "lawn.n.01" if room.outdoor else "floor.n.01"
        obj = self.factory.build(f"floor_{room.name}", synset, room=room.name, static=True)
        c = self.world.client
        x0, y0, x1, y1 = room.rect
        size = np.array([x1 - x0 + WALL_T, y1 - y0 + WALL_T, 0.1])
        # Replace the template body with a slab of the room's size.
        c.removeBody(obj.body)
        import pybullet

        col = c.createCollisionShape(pybullet.GEOM_BOX, halfExtents=list(size / 2))
        color = [0.35, 0.6, 0.3, 1] if room.outdoor else [0.72, 0.62, 0.5, 1]
        vis = c.createVisualShape(pybullet.GEOM_BOX, halfExtents=list(size / 2), rgbaColor=color)
        obj.body = c.createMultiBody(0, col, vis, basePosition=[(x0 + x1) / 2, (y0 + y1) / 2, -0.05])
        obj.size = size
        obj.template = "floor"
        self.world.set_group(obj.body, GROUP_STATIC)
        return obj

    # --- furniture -------------------------------------------------------------------------------
    def _furnish_room(
        self, room: Room, pieces: list[tuple[str, str]], decor_names: set[str], containers, doors, tries: int
    ) -> tuple[list[tuple[str, SimObject]], list[tuple[float, float, float, float]]]:
        """Stand ``pieces`` (name, synset) along ``room``'s walls in order; the (name, object) placed
        and their footprints. Decor that finds no room is left out. Task furniture that finds none
        has the room arranged again, up to ``tries`` times, then SceneError: pieces drawn at random
        spots one by one can leave no gap for a later one where another arrangement holds them all.
        Decor comes last, so no later arrangement needs a decor piece removed."""
        built: dict[str, SimObject] = {}
        for attempt in range(tries):
            footprints: list[tuple[float, float, float, float]] = []
            fronts: list[tuple[float, float, float, float]] = []
            arranged: list[tuple[str, SimObject]] = []
            try:
                for name, synset in pieces:
                    obj = built.get(name)
                    if obj is None:
                        obj = built[name] = self.factory.build(
                            name, synset, room=room.name, static=True, container=name in containers
                        )
                    try:
                        self._place_against_wall(obj, room, doors, footprints, fronts)
                    except SceneError:
                        if name not in decor_names:
                            raise
                        # A room full of the task's furniture goes without this decor piece.
                        self.world.client.removeBody(built.pop(name).body)
                        continue
                    arranged.append((name, obj))
            except SceneError:
                if attempt == tries - 1:
                    raise
                continue
            return arranged, footprints
        raise ValueError(f"room_tries must be >= 1, got {tries}")

    def _place_against_wall(self, obj: SimObject, room: Room, doors, footprints, fronts) -> None:
        """Put ``obj`` against a wall of ``room`` with an access zone in front of it that no other
        furniture blocks (and that blocks no other furniture's access zone). A hinged door swings
        into the zone, so a cabinet's zone is wider than the cabinet and must lie inside the room:
        a cabinet wedged into a corner would be reachable only through the gap its open door leaves."""
        depth, width = float(obj.size[0]), float(obj.size[1])
        x0, y0, x1, y1 = room.rect
        margin = 0.02
        reach = ACCESS_DEPTH
        side_room = CABINET_SIDE_ROOM if obj.template == "cabinet" else 0.0
        for _ in range(200):
            side = int(self.rng.integers(4))
            if side in (0, 1):  # south / north wall: width runs along x
                lo, hi = x0 + width / 2 + margin, x1 - width / 2 - margin
                if hi < lo:
                    continue
                cx = float(self.rng.uniform(lo, hi))
                cy = y0 + depth / 2 + margin if side == 0 else y1 - depth / 2 - margin
                yaw = np.pi / 2 if side == 0 else -np.pi / 2
                rect = (cx - width / 2, cy - depth / 2, cx + width / 2, cy + depth / 2)
                a, b = rect[0] - side_room, rect[2] + side_room
                front = (a, rect[3], b, rect[3] + reach) if side == 0 else (a, rect[1] - reach, b, rect[1])
            else:  # west / east wall
                lo, hi = y0 + width / 2 + margin, y1 - width / 2 - margin
                if hi < lo:
                    continue
                cy = float(self.rng.uniform(lo, hi))
                cx = x0 + depth / 2 + margin if side == 2 else x1 - depth / 2 - margin
                yaw = 0.0 if side == 2 else np.pi
                rect = (cx - depth / 2, cy - width / 2, cx + depth / 2, cy + width / 2)
                a, b = rect[1] - side_room, rect[3] + side_room
                front = (rect[2], a, rect[2] + reach, b) if side == 2 else (rect[0] - reach, a, rect[0], b)
            if side_room and not (front[0] >= x0 and front[1] >= y0 and front[2] <= x1 and front[3] <= y1):
                continue
            if any(_overlap(rect, fp, FURNITURE_GAP) or _overlap(front, fp, 0.0) for fp in footprints):
                continue
            if any(_overlap(rect, zone, 0.0) for zone in fronts):
                continue
            if any(_overlap(_door_zone(d), rect, 0.0) for d in doors):
                continue
            footprints.append(rect)
            fronts.append(front)
            place(self.world, obj, (cx, cy, float(obj.size[2]) / 2), yaw)
            self.world.client.resetBasePositionAndOrientation(
                obj.body, [cx, cy, float(obj.size[2]) / 2], yaw_quaternion(yaw)
            )
            return
        raise SceneError(f"no room for {obj.label} along the walls of the {room.name}")

    def _check_connected(self, grid: NavGrid, rooms: dict[str, Room]) -> None:
        labels = grid.components()
        # Pockets behind furniture are unreachable: keep only the largest free region.
        counts = np.bincount(labels.ravel())
        counts[0] = 0
        main = int(np.argmax(counts))
        grid.free &= labels == main
        seen = set()
        for room in rooms.values():
            cx, cy = room.centre
            cell = grid.nearest_free(cx, cy, max_radius=2.0)
            if cell is None:
                raise SceneError(f"the {room.name} has no free floor for the robot")
            seen.add(int(labels[cell[1], cell[0]]))
        if len(seen) != 1:
            raise SceneError("furniture cuts the apartment into parts the robot cannot reach")


def _secluded_tree(edges, cell_of) -> list | None:
    """Door edges forming a spanning tree in which every secluded room is a leaf hanging off an
    open room, or None when the grid order allows none: the open rooms joined among themselves
    first (in ``edges`` order), then each secluded room by its first edge to an open room."""
    names = set(cell_of.values())
    parent = {name: name for name in names}

    def find(a: str) -> str:
        while parent[a] != a:
            a = parent[a]
        return a

    tree = []
    for a, b in edges:
        na, nb = cell_of[a], cell_of[b]
        if na in SECLUDED or nb in SECLUDED or find(na) == find(nb):
            continue
        parent[find(na)] = find(nb)
        tree.append((a, b))
    for room in sorted(names & set(SECLUDED)):
        for a, b in edges:
            na, nb = cell_of[a], cell_of[b]
            other = nb if na == room else na if nb == room else None
            if other is not None and other not in SECLUDED:
                parent[room] = find(other)
                tree.append((a, b))
                break
    return tree if len({find(name) for name in names}) == 1 else None


def wall_run(synset: str, container: bool = False) -> float:
    """The length of wall a piece of furniture of ``synset`` takes: its width and a gap beside it."""
    return float(resolve_template(synset_info(synset), container)[1][1]) + FURNITURE_GAP


def _overlap(a, b, margin: float) -> bool:
    return not (
        a[2] + margin <= b[0] or b[2] + margin <= a[0] or a[3] + margin <= b[1] or b[3] + margin <= a[1]
    )


def _door_zone(door) -> tuple[float, float, float, float]:
    x, y, horizontal = door
    if horizontal:
        return (x - DOOR_W / 2 - 0.2, y - 1.2, x + DOOR_W / 2 + 0.2, y + 1.2)
    return (x - 1.2, y - DOOR_W / 2 - 0.2, x + 1.2, y + DOOR_W / 2 + 0.2)
