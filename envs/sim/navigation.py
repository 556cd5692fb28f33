"""2-D occupancy grid of the floor and the shortest-path search for the robot base."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

SQRT2 = math.sqrt(2.0)
TIE_BREAK = 1e-6  # cost per metre from the aim point: orders equal-cost stands, changes no other choice
ESCAPE_RADIUS = 0.35  # m: how far a start in a blocked cell may step to free floor
# The 8 moves (di, dj, length), in the order of their flat index offset, so each cell's edges come
# out sorted by target as compressed sparse rows want them.
_MOVES = (
    (-1, -1, SQRT2),
    (0, -1, 1.0),
    (1, -1, SQRT2),
    (-1, 0, 1.0),
    (1, 0, 1.0),
    (-1, 1, SQRT2),
    (0, 1, 1.0),
    (1, 1, SQRT2),
)
SEARCH_SLACK = 1.5  # the first search admits paths this much longer than the straight line
SEARCH_MARGIN = 20.0  # plus this many cell steps (detours, penalties)
HIDDEN_BATCH = 16  # shortcuts from one waypoint tested in the first batch (see first_hidden)
GRAPH_CACHE = 16  # grid graphs kept: a navigate's grid often repeats one seen a few skills before


class NavGrid:
    """Cells of ``resolution`` metres over the floor; a cell is free when a disc of ``clearance``
    around its centre touches no obstacle rectangle."""

    def __init__(
        self, bounds: tuple[float, float, float, float], resolution: float, clearance: float
    ) -> None:
        x0, y0, x1, y1 = bounds
        self.origin = np.array([x0, y0])
        self._x0, self._y0 = float(x0), float(y0)  # plain floats for the per-point lookups below
        self.resolution = resolution
        self.clearance = clearance
        self.nx = int(math.ceil((x1 - x0) / resolution))
        self.ny = int(math.ceil((y1 - y0) / resolution))
        self.xs = x0 + (np.arange(self.nx) + 0.5) * resolution
        self.ys = y0 + (np.arange(self.ny) + 0.5) * resolution
        self.free = np.zeros((self.ny, self.nx), dtype=bool)

    def mark(
        self, rects: Iterable[tuple[float, float, float, float]], free: bool, inflate: float | None = None
    ) -> None:
        """Set every cell whose centre lies in a rectangle (grown by ``inflate``) to ``free``."""
        grow = self.clearance if inflate is None else inflate
        for x0, y0, x1, y1 in rects:
            self.free[self.window(x0 - grow, y0 - grow, x1 + grow, y1 + grow)] = free
        self.__dict__.pop("_free_radius", None)

    def window(self, x0: float, y0: float, x1: float, y1: float) -> tuple[slice, slice]:
        """(rows, columns) slices of the cells whose centre lies in the rectangle."""
        i0, i1 = np.searchsorted(self.xs, [x0, x1])
        j0, j1 = np.searchsorted(self.ys, [y0, y1])
        return slice(int(j0), int(j1)), slice(int(i0), int(i1))

    def copy(self) -> NavGrid:
        other = NavGrid.__new__(NavGrid)
        other.__dict__.update(self.__dict__)
        other.free = self.free.copy()
        other.__dict__.pop("_free_radius", None)
        # The first grid copied from lends its search graph to the copies (see _Graph).
        other._base = self.__dict__.get("_base", self.free)
        return other

    def cell(self, x: float, y: float) -> tuple[int, int]:
        i = int((x - self._x0) / self.resolution)
        j = int((y - self._y0) / self.resolution)
        return min(max(i, 0), self.nx - 1), min(max(j, 0), self.ny - 1)

    def centre(self, i: int, j: int) -> tuple[float, float]:
        return float(self.xs[i]), float(self.ys[j])

    def is_free(self, x: float, y: float) -> bool:
        # People probe walls with it many times per tick: plain floats and ndarray.item are quickest.
        i = int((x - self._x0) / self.resolution)
        j = int((y - self._y0) / self.resolution)
        return 0 <= i < self.nx and 0 <= j < self.ny and self.free.item(j, i)

    def free_radius(self, x: float, y: float) -> float:
        """A radius (m) around (x, y) inside which every point lies in a free cell: the distance
        from (x, y)'s cell centre to the nearest blocked cell centre (beyond the grid counts as
        blocked) less a cell diagonal; 0 outside the grid."""
        field = self.__dict__.get("_free_radius")
        if field is None:
            blocked_border = np.pad(self.free, 1)
            field = self._free_radius = (
                ndimage.distance_transform_edt(blocked_border)[1:-1, 1:-1] * self.resolution
            )
        i = int((x - self._x0) / self.resolution)
        j = int((y - self._y0) / self.resolution)
        if not (0 <= i < self.nx and 0 <= j < self.ny):
            return 0.0
        return max(0.0, float(field[j, i]) - self.resolution * SQRT2)

    def near_path(self, points: list[tuple[float, float]] | np.ndarray, width: float) -> np.ndarray:
        """Cells whose centre lies within ``width`` of the polyline through ``points`` (to within
        half a cell: the polyline is rasterised every half cell)."""
        pts = np.asarray(points, dtype=float)
        marks = np.ones(self.free.shape, dtype=bool)
        for p, q in zip(pts, pts[1:], strict=False):
            n = int(np.hypot(*(q - p)) / (0.5 * self.resolution)) + 2
            line = p + (q - p) * np.linspace(0.0, 1.0, n)[:, None]
            i = np.clip(((line[:, 0] - self.origin[0]) / self.resolution).astype(int), 0, self.nx - 1)
            j = np.clip(((line[:, 1] - self.origin[1]) / self.resolution).astype(int), 0, self.ny - 1)
            marks[j, i] = False
        return ndimage.distance_transform_edt(marks) * self.resolution < width

    def nearest_free(self, x: float, y: float, max_radius: float = 1.0) -> tuple[int, int] | None:
        i, j = self.cell(x, y)
        if self.free[j, i]:
            return i, j
        r = int(max_radius / self.resolution)
        best, best_d = None, float("inf")
        for dj in range(-r, r + 1):
            for di in range(-r, r + 1):
                a, b = i + di, j + dj
                if 0 <= a < self.nx and 0 <= b < self.ny and self.free[b, a]:
                    d = di * di + dj * dj
                    if d < best_d:
                        best, best_d = (a, b), d
        return best

    def components(self, free: np.ndarray | None = None) -> np.ndarray:
        """Connected-component label of every free cell (0 = blocked), 4-connected; ``free``
        overrides the grid's own mask (e.g. with clutter marked on it)."""
        labels, _ = ndimage.label(self.free if free is None else free)
        return labels

    def keeps_connected(self, rects: Iterable[tuple[float, float, float, float]], inflate: float) -> bool:
        """Would blocking ``rects`` (grown by ``inflate``) leave the free cells in no more pieces than now?"""
        grown = self.copy()
        grown.mark(rects, free=False, inflate=inflate)
        return int(grown.components().max()) <= int(self.components().max())

    def plan(
        self,
        start: tuple[float, float],
        goal_cells: np.ndarray,
        heuristic_to: tuple[float, float],
        penalty: np.ndarray | None = None,
        stand_penalty: np.ndarray | None = None,
    ) -> list[tuple[float, float]] | None:
        """Cheapest path from ``start`` to any cell where ``goal_cells`` (bool grid) is true.

        Steps go to the 8 neighbours (1 straight, sqrt 2 diagonal, no cutting corners of blocked
        cells). ``penalty`` (>= 0 per cell, in cell steps) is added on entering a cell, so the path
        trades length against it; ``stand_penalty`` is added once for the goal cell the path ends
        on (where the robot will stand). Among paths of equal cost the one ending nearest
        ``heuristic_to`` wins. Returns world waypoints (start excluded) or None.

        Dijkstra over the grid graph in compiled code (scipy.sparse.csgraph): a virtual source
        links to the start cells at their cost, and the best goal cell is the one whose distance
        plus stand cost is least, so one search finds the best start, path and stand together.
        The search stops at a cost ``bound`` (every path of that cost stays near the straight line
        from the start to the goals); when no goal is found within it, it runs again without. Either
        way the path is a cheapest one.
        """
        seeds = self.start_cells(*start)
        if not seeds or not goal_cells.any():
            return None
        cost_of = penalty if penalty is not None and penalty.any() else None
        graph = _graph(self.free, self.__dict__.get("_base"))
        width = self.nx + 2
        keys = np.array([(j + 1) * width + i + 1 for (i, j), _ in seeds])
        seed_costs = np.array([cost for _, cost in seeds], dtype=float) + TIE_BREAK  # no zero weights
        gj, gi = np.nonzero(goal_cells & self.free)
        if not len(gj):
            return None
        goal = (gj + 1) * width + gi + 1
        xs, ys = self.mesh()
        gx, gy = xs[gj, gi], ys[gj, gi]
        # Stand costs, plus a sliver for the distance to ``heuristic_to`` that breaks ties only.
        end_cost = np.hypot(gx - heuristic_to[0], gy - heuristic_to[1]) * TIE_BREAK
        if stand_penalty is not None:
            end_cost = end_cost + stand_penalty[gj, gi]
        # A step costs at least its length: the straight line to the nearest goal bounds from below.
        direct = float(np.hypot(gx - start[0], gy - start[1]).min()) / self.resolution
        bound = SEARCH_SLACK * direct + SEARCH_MARGIN + float(end_cost.min())
        matrix = graph.matrix(cost_of, keys, seed_costs)
        source = graph.size
        dist, parent = dijkstra(matrix, indices=source, return_predecessors=True, limit=bound)
        total = dist[goal] + end_cost
        best = int(np.argmin(total))
        if not total[best] <= bound:
            # A path beyond the bound may still end with a smaller stand cost: search without it.
            dist, parent = dijkstra(matrix, indices=source, return_predecessors=True)
            total = dist[goal] + end_cost
            best = int(np.argmin(total))
        if not np.isfinite(total[best]):
            return None
        key = int(goal[best])
        path = []
        while key != source:
            path.append((key % width - 1, key // width - 1))
            key = int(parent[key])
        path.reverse()
        return simplify([self.centre(i, j) for i, j in path], self, cost_of)

    def distances_to(self, x: float, y: float) -> np.ndarray:
        """Metres along free cells from every cell to (x, y)'s nearest free cell (inf where it cannot
        be reached), moving as :meth:`plan` does."""
        out = np.full(self.free.shape, np.inf)
        cell = self.nearest_free(x, y, max_radius=1.0)
        if cell is None:
            return out
        graph = _graph(self.free, self.__dict__.get("_base"))
        i, j = cell
        # The moves are symmetric: distances from the cell are the distances to it.
        dist = dijkstra(graph.matrix(), indices=(j + 1) * (self.nx + 2) + i + 1)[: graph.size]
        return dist.reshape(self.ny + 2, self.nx + 2)[1:-1, 1:-1] * self.resolution

    def mesh(self) -> tuple[np.ndarray, np.ndarray]:
        """World x and y of every cell centre, as two (ny, nx) arrays (computed once per grid)."""
        mesh = self.__dict__.get("_mesh")
        if mesh is None:
            mesh = self._mesh = np.meshgrid(self.xs, self.ys)
        return mesh

    def start_cells(self, x: float, y: float) -> list[tuple[tuple[int, int], float]]:
        """Search seeds with their cost in cells: the robot's own cell, or, when it stands in a
        blocked one (its margins overlap a door it just opened, a person, a dropped object), every
        free cell within ESCAPE_RADIUS. That is too short a step to cross a wall, a piece of
        furniture or an object (each blocks a band at least twice the clearance wide), so it picks
        the side of the obstacle the robot is really on. Failing that, the nearest free cell."""
        i, j = self.cell(x, y)
        if self.free[j, i]:
            return [((i, j), 0.0)]
        r = int(math.ceil(ESCAPE_RADIUS / self.resolution))
        seeds = []
        for b in range(max(j - r, 0), min(j + r + 1, self.ny)):
            for a in range(max(i - r, 0), min(i + r + 1, self.nx)):
                d = math.hypot(self.xs[a] - x, self.ys[b] - y)
                if self.free[b, a] and d <= ESCAPE_RADIUS:
                    seeds.append(((a, b), d / self.resolution))
        if seeds:
            return seeds
        s = self.nearest_free(x, y, max_radius=0.6)
        return [] if s is None else [(s, 0.0)]


def simplify(
    points: list[tuple[float, float]], grid: NavGrid, penalty: np.ndarray | None = None
) -> list[tuple[float, float]]:
    """Drop waypoints whose straight shortcut stays on free cells (string pulling) and, with a
    ``penalty``, costs no more per cell than its ends (a shortcut must not cut through what the
    path went around). From each kept waypoint the path goes straight to the last point before
    the first one it cannot see (:func:`first_hidden`)."""
    if len(points) <= 2:
        return points[1:] if len(points) == 2 else points
    pts = np.asarray(points, dtype=float)
    out = [points[0]]
    anchor = 0
    while anchor + 2 < len(points):
        hidden = first_hidden(grid, pts[anchor], pts[anchor + 2 :], penalty)
        if hidden is None:
            break
        anchor = anchor + 1 + hidden  # the point before the first hidden one
        out.append(points[anchor])
    out.append(points[-1])
    return out[1:]


def first_hidden(
    grid: NavGrid, a: np.ndarray, ends: np.ndarray, penalty: np.ndarray | None = None
) -> int | None:
    """Index of the first row of ``ends`` that :func:`lines_free` finds hidden from ``a``, or None.
    The ends are tested in batches that double in size: the first hidden end is usually near, and
    a batch of short segments costs far less than one that reaches the far end of the path."""
    start, size = 0, HIDDEN_BATCH
    while start < len(ends):
        visible = lines_free(grid, a, ends[start : start + size], penalty)
        if not visible.all():
            return start + int(np.argmin(visible))
        start, size = start + size, 2 * size
    return None


def lines_free(
    grid: NavGrid, a: np.ndarray, ends: np.ndarray, penalty: np.ndarray | None = None
) -> np.ndarray:
    """For each end b in ``ends`` (k x 2): does the straight segment a-b stay on free cells (and,
    with a ``penalty``, on cells costing no more than its ends)? Sampled every half cell."""
    ends = np.atleast_2d(ends)
    delta = ends - a
    counts = (np.hypot(delta[:, 0], delta[:, 1]) / (grid.resolution * 0.5)).astype(int) + 1
    # Row r samples its segment at 0, 1/n_r, ..., 1 and repeats the end beyond that.
    t = np.minimum(np.arange(int(counts.max()) + 1)[None, :] / counts[:, None], 1.0)
    i = np.floor((a[0] + delta[:, :1] * t - grid.origin[0]) / grid.resolution).astype(np.intp)
    j = np.floor((a[1] + delta[:, 1:] * t - grid.origin[1]) / grid.resolution).astype(np.intp)
    # Cells as flat indices (one gather each from the free mask and the penalty, the hot spots).
    cells = j * grid.nx + i
    outside = ((i < 0) | (j < 0) | (i >= grid.nx) | (j >= grid.ny)).any(axis=1)
    if outside.any():  # those rows fail; any cell will do for them
        cells[outside] = 0
    ok = ~outside & grid.free.ravel()[cells].all(axis=1)
    if penalty is None:
        return ok
    cost = penalty.ravel()[cells]
    limit = np.maximum(cost[:, 0], cost[:, -1])
    return ok & (cost <= limit[:, None]).all(axis=1)


class _Graph:
    """The grid graph of one free mask, over the cells padded with one blocked cell all round (flat
    index (j + 1) * (nx + 2) + i + 1): each free cell links to its free neighbours (1 straight,
    sqrt 2 diagonal, no cutting corners of blocked cells), as compressed sparse rows.

    A mask with a few more cells blocked than one already built (a scene's static grid with the
    clutter of the moment marked on it) shares that graph's rows and closes the moves the new
    cells forbid (infinite weight) instead of building its own."""

    def __init__(self, free: np.ndarray) -> None:
        width = free.shape[1] + 2
        padded = np.pad(free, 1).ravel()
        self.free = padded
        self.size = padded.size
        self.closed: np.ndarray | None = None
        cells = np.flatnonzero(padded)
        self.offsets = np.array([di + dj * width for di, dj, _ in _MOVES])
        valid = np.empty((len(cells), len(_MOVES)), dtype=bool)
        for k, (di, dj, _) in enumerate(_MOVES):
            ok = padded[cells + self.offsets[k]]
            if di and dj:
                ok &= padded[cells + di] & padded[cells + dj * width]
            valid[:, k] = ok
        self.indices = (cells[:, None] + self.offsets[None, :])[valid].astype(np.int32)
        self.steps = np.broadcast_to(np.array([step for _, _, step in _MOVES]), valid.shape)[valid]
        counts = np.zeros(self.size, dtype=np.int64)
        counts[cells] = valid.sum(axis=1)
        self.indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        # Each move's target as a flat index of the unpadded grid (where per-cell costs are read).
        self.targets = (self.indices // width - 1) * (width - 2) + self.indices % width - 1
        # Each cell's edge number for each move (-1: no such move), to find the moves a cell closes.
        self.edge_of = np.full((self.size, len(_MOVES)), -1, dtype=np.int64)
        self.edge_of[cells[:, None].repeat(len(_MOVES), 1)[valid], np.nonzero(valid)[1]] = np.arange(
            len(self.indices)
        )
        self.width = width

    def narrowed(self, free: np.ndarray) -> _Graph:
        """This graph with the cells free here but blocked in ``free`` closed: no move enters them
        or cuts one of their corners."""
        other = _Graph.__new__(_Graph)
        other.__dict__.update(self.__dict__)
        other.free = np.pad(free, 1).ravel()
        blocked = np.flatnonzero(self.free & ~other.free)
        closed = []
        for k, (di, dj, _) in enumerate(_MOVES):
            closed.append(self.edge_of[blocked - self.offsets[k], k])  # moves into a blocked cell
            if di and dj:  # diagonal moves past a blocked corner
                closed.append(self.edge_of[blocked - di, k])
                closed.append(self.edge_of[blocked - dj * self.width, k])
        edges = np.concatenate(closed)
        other.closed = edges[edges >= 0]
        return other

    def matrix(
        self,
        extra: np.ndarray | None = None,
        seeds: np.ndarray | None = None,
        seed_costs: np.ndarray | None = None,
    ) -> csr_matrix:
        """The weighted graph: each move costs its length plus ``extra`` (per cell) of the cell it
        enters. With ``seeds``, one more node (index ``size``) links to those flat cell indices at
        ``seed_costs``: a virtual source for a search from several start cells."""
        weights = self.steps if extra is None else self.steps + extra.ravel().take(self.targets)
        if self.closed is not None and len(self.closed):
            weights = weights.copy() if extra is None else weights
            weights[self.closed] = np.inf
        if seeds is None:
            return csr_matrix((weights, self.indices, self.indptr), shape=(self.size, self.size))
        order = np.argsort(seeds)
        indptr = np.append(self.indptr, self.indptr[-1] + len(seeds)).astype(np.int32)
        return csr_matrix(
            (
                np.concatenate([weights, np.asarray(seed_costs, dtype=float)[order]]),
                np.concatenate([self.indices, np.asarray(seeds)[order].astype(np.int32)]),
                indptr,
            ),
            shape=(self.size + 1, self.size + 1),
        )


_GRAPHS: OrderedDict[tuple, _Graph] = OrderedDict()


def _graph(free: np.ndarray, base: np.ndarray | None = None) -> _Graph:
    """The graph of a free mask, kept for the GRAPH_CACHE masks last used. ``base``, a mask with
    every cell of ``free`` free and a few more, lends its graph (see :class:`_Graph`)."""
    key = (free.shape, free.tobytes())
    graph = _GRAPHS.get(key)
    if graph is not None:
        _GRAPHS.move_to_end(key)
        return graph
    if base is not None and base.shape == free.shape and not (free & ~base).any():
        graph = _graph(base).narrowed(free)
    else:
        graph = _Graph(free)
    _GRAPHS[key] = graph
    if len(_GRAPHS) > GRAPH_CACHE:
        _GRAPHS.popitem(last=False)
    return graph
