"""2-D occupancy grid of the floor and an A* planner for the robot base."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable

import numpy as np

SQRT2 = math.sqrt(2.0)
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

    def components(self) -> np.ndarray:
        """Connected-component label of every free cell (0 = blocked)."""
        labels = np.zeros(self.free.shape, dtype=np.int32)
        current = 0
        free = self.free
        for j0, i0 in zip(*np.nonzero(free), strict=True):
            if labels[j0, i0]:
                continue
            current += 1
            labels[j0, i0] = current
            stack = [(i0, j0)]
            while stack:
                i, j = stack.pop()
                for di, dj, _ in _NEIGHBOURS[:4]:
                    a, b = i + di, j + dj
                    if 0 <= a < self.nx and 0 <= b < self.ny and free[b, a] and not labels[b, a]:
                        labels[b, a] = current
                        stack.append((a, b))
        return labels

    def plan(
        self,
        start: tuple[float, float],
        goal_cells: np.ndarray,
        heuristic_to: tuple[float, float],
        max_expansions: int = 60000,
    ) -> list[tuple[float, float]] | None:
        """A* from ``start`` to any cell where ``goal_cells`` (bool grid) is true.

        The heuristic is the distance to ``heuristic_to`` minus the largest distance from it to a
        goal cell, so it never overestimates. Returns world waypoints (start excluded) or None.
        """
        s = self.nearest_free(*start, max_radius=0.6)
        if s is None:
            return None
        goals = np.argwhere(goal_cells)
        if len(goals) == 0:
            return None
        gx = (goals[:, 1] + 0.5) * self.resolution + self.origin[0]
        gy = (goals[:, 0] + 0.5) * self.resolution + self.origin[1]
        hx, hy = heuristic_to
        slack = float(np.max(np.hypot(gx - hx, gy - hy)))
        res = self.resolution
        ox, oy = self.origin
        nx, ny = self.nx, self.ny
        free = self.free
        goal = goal_cells

        def h(i: int, j: int) -> float:
            d = math.hypot(ox + (i + 0.5) * res - hx, oy + (j + 0.5) * res - hy) - slack
            return d / res if d > 0 else 0.0

        start_key = s[1] * nx + s[0]
        g = {start_key: 0.0}
        parent = {start_key: -1}
        heap = [(h(*s), 0.0, s[0], s[1])]
        expansions = 0
        while heap:
            _, cost, i, j = heapq.heappop(heap)
            key = j * nx + i
            if cost > g.get(key, float("inf")):
                continue
            if goal[j, i]:
                return self._trace(parent, key)
            expansions += 1
            if expansions > max_expansions:
                return None
            for di, dj, step in _NEIGHBOURS:
                a, b = i + di, j + dj
                if not (0 <= a < nx and 0 <= b < ny) or not free[b, a]:
                    continue
                if di and dj and not (free[j, a] and free[b, i]):
                    continue  # no corner cutting
                new = cost + step
                nkey = b * nx + a
                if new < g.get(nkey, float("inf")):
                    g[nkey] = new
                    parent[nkey] = key
                    heapq.heappush(heap, (new + h(a, b), new, a, b))
        return None

    def _trace(self, parent: dict[int, int], key: int) -> list[tuple[float, float]]:
        cells = []
        while key != -1:
            cells.append(key)
            key = parent[key]
        cells.reverse()
        points = [self.centre(k % self.nx, k // self.nx) for k in cells]
        return simplify(points, self)


def simplify(points: list[tuple[float, float]], grid: NavGrid) -> list[tuple[float, float]]:
    """Drop waypoints whose straight shortcut stays on free cells (string pulling)."""
    if len(points) <= 2:
        return points[1:] if len(points) == 2 else points
    out = [points[0]]
    anchor = 0
    for k in range(2, len(points)):
        if not line_free(grid, points[anchor], points[k]):
            out.append(points[k - 1])
            anchor = k - 1
    out.append(points[-1])
    return out[1:]


def line_free(grid: NavGrid, a: tuple[float, float], b: tuple[float, float]) -> bool:
    n = int(math.hypot(b[0] - a[0], b[1] - a[1]) / (grid.resolution * 0.5)) + 1
    for t in np.linspace(0.0, 1.0, n + 1):
        if not grid.is_free(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t):
            return False
    return True
