"""2-D occupancy grid of the floor and an A* planner for the robot base."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable

import numpy as np
from scipy import ndimage

SQRT2 = math.sqrt(2.0)
ESCAPE_RADIUS = 0.35  # m: how far a start in a blocked cell may step to free floor
_NEIGHBOURS = (
    (1, 0, 1.0),
    (-1, 0, 1.0),
    (0, 1, 1.0),
    (0, -1, 1.0),
    (1, 1, SQRT2),
    (1, -1, SQRT2),
    (-1, 1, SQRT2),
    (-1, -1, SQRT2),
)


class NavGrid:
    """Cells of ``resolution`` metres over the floor; a cell is free when a disc of ``clearance``
    around its centre touches no obstacle rectangle."""

    def __init__(
        self, bounds: tuple[float, float, float, float], resolution: float, clearance: float
    ) -> None:
        x0, y0, x1, y1 = bounds
        self.origin = np.array([x0, y0])
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
            i0, i1 = np.searchsorted(self.xs, [x0 - grow, x1 + grow])
            j0, j1 = np.searchsorted(self.ys, [y0 - grow, y1 + grow])
            self.free[j0:j1, i0:i1] = free

    def copy(self) -> NavGrid:
        other = NavGrid.__new__(NavGrid)
        other.__dict__.update(self.__dict__)
        other.free = self.free.copy()
        return other

    def cell(self, x: float, y: float) -> tuple[int, int]:
        i = int((x - self.origin[0]) / self.resolution)
        j = int((y - self.origin[1]) / self.resolution)
        return min(max(i, 0), self.nx - 1), min(max(j, 0), self.ny - 1)

    def centre(self, i: int, j: int) -> tuple[float, float]:
        return float(self.xs[i]), float(self.ys[j])

    def is_free(self, x: float, y: float) -> bool:
        i = int((x - self.origin[0]) / self.resolution)
        j = int((y - self.origin[1]) / self.resolution)
        return 0 <= i < self.nx and 0 <= j < self.ny and bool(self.free[j, i])

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
        max_expansions: int = 60000,
        penalty: np.ndarray | None = None,
        stand_penalty: np.ndarray | None = None,
    ) -> list[tuple[float, float]] | None:
        """A* from ``start`` to any cell where ``goal_cells`` (bool grid) is true.

        The heuristic is the distance to ``heuristic_to`` minus the largest distance from it to a
        goal cell, so it never overestimates. ``penalty`` (>= 0 per cell, in cell steps) is added
        on entering a cell, so the path trades length against it; ``stand_penalty`` is added once
        for the goal cell the path ends on (where the robot will stand). Returns world waypoints
        (start excluded) or None.
        """
        seeds = self._start_cells(*start)
        if not seeds or not goal_cells.any():
            return None
        # No goal in the start's connected region: answer now instead of exhausting the search.
        labels = self.components()
        reachable = {int(labels[j, i]) for (i, j), _ in seeds}
        if not np.isin(labels[goal_cells], list(reachable)).any():
            return None
        xs, ys = self.mesh()
        hx, hy = heuristic_to
        slack = float(np.max(np.hypot(xs[goal_cells] - hx, ys[goal_cells] - hy)))
        # Flat lists over the grid padded with one blocked cell all round: no bounds checks.
        width = self.nx + 2
        free = np.pad(self.free, 1).ravel().tolist()
        goal = np.pad(goal_cells, 1).ravel().tolist()
        h = np.pad(np.maximum(np.hypot(xs - hx, ys - hy) - slack, 0.0) / self.resolution, 1).ravel().tolist()
        cost_of = penalty if penalty is not None and penalty.any() else None
        extra = np.pad(cost_of, 1).ravel().tolist() if cost_of is not None else None
        stand = np.pad(stand_penalty, 1).ravel().tolist() if stand_penalty is not None else None
        moves = [(di + dj * width, di, dj * width, step) for di, dj, step in _NEIGHBOURS]
        inf = float("inf")
        g = [inf] * len(free)
        parent = [-1] * len(free)
        heap = []
        for (i, j), cost in seeds:
            key = (j + 1) * width + i + 1
            g[key] = cost
            heap.append((cost + h[key], cost, key, False))
        heapq.heapify(heap)
        expansions = 0
        while heap:
            _, cost, key, done = heapq.heappop(heap)
            if not done and cost > g[key]:
                continue
            if goal[key] and stand is not None and not done:
                # Standing here costs extra: queue the finish and look on for a cheaper one.
                heapq.heappush(heap, (cost + stand[key], cost + stand[key], key, True))
            elif goal[key]:
                cells = []
                while key != -1:
                    cells.append((key % width - 1, key // width - 1))
                    key = parent[key]
                cells.reverse()
                return simplify([self.centre(i, j) for i, j in cells], self, cost_of)
            expansions += 1
            if expansions > max_expansions:
                return None
            for offset, dx, dy, step in moves:
                nkey = key + offset
                if not free[nkey]:
                    continue
                if dx and dy and not (free[key + dx] and free[key + dy]):
                    continue  # no corner cutting
                new = cost + step + (extra[nkey] if extra is not None else 0.0)
                if new < g[nkey]:
                    g[nkey] = new
                    parent[nkey] = key
                    heapq.heappush(heap, (new + h[nkey], new, nkey, False))
        return None

    def mesh(self) -> tuple[np.ndarray, np.ndarray]:
        """World x and y of every cell centre, as two (ny, nx) arrays (computed once per grid)."""
        mesh = self.__dict__.get("_mesh")
        if mesh is None:
            mesh = self._mesh = np.meshgrid(self.xs, self.ys)
        return mesh

    def _start_cells(self, x: float, y: float) -> list[tuple[tuple[int, int], float]]:
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
    path went around)."""
    if len(points) <= 2:
        return points[1:] if len(points) == 2 else points
    out = [points[0]]
    anchor = 0
    for k in range(2, len(points)):
        if not line_free(grid, points[anchor], points[k], penalty):
            out.append(points[k - 1])
            anchor = k - 1
    out.append(points[-1])
    return out[1:]


def line_free(
    grid: NavGrid, a: tuple[float, float], b: tuple[float, float], penalty: np.ndarray | None = None
) -> bool:
    """Does the straight segment a-b stay on free cells (and, with a ``penalty``, on cells costing
    no more than its ends)? Sampled every half cell."""
    n = int(math.hypot(b[0] - a[0], b[1] - a[1]) / (grid.resolution * 0.5)) + 1
    t = np.linspace(0.0, 1.0, n + 1)
    i = ((a[0] + (b[0] - a[0]) * t - grid.origin[0]) / grid.resolution).astype(int)
    j = ((a[1] + (b[1] - a[1]) * t - grid.origin[1]) / grid.resolution).astype(int)
    if i.min() < 0 or j.min() < 0 or i.max() >= grid.nx or j.max() >= grid.ny:
        return False
    if not grid.free[j, i].all():
        return False
    if penalty is None:
        return True
    ia, ja = grid.cell(*a)
    ib, jb = grid.cell(*b)
    limit = max(penalty[ja, ia], penalty[jb, ib])
    return bool((penalty[np.clip(j, 0, grid.ny - 1), np.clip(i, 0, grid.nx - 1)] <= limit).all())
