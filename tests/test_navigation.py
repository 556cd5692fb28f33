"""The floor grid and the base's path search (ethogym.envs.sim.navigation)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ethogym.envs.sim import navigation
from ethogym.envs.sim.navigation import NavGrid, lines_free


def _room(size: float = 4.0) -> NavGrid:
    grid = NavGrid((0.0, 0.0, size, size), resolution=0.1, clearance=0.0)
    grid.mark([(0.0, 0.0, size, size)], free=True, inflate=0.0)
    return grid


def _goal_near(grid: NavGrid, x: float, y: float, radius: float = 0.15) -> np.ndarray:
    xs, ys = grid.mesh()
    return grid.free & (np.hypot(xs - x, ys - y) < radius)


def _length(start, path) -> float:
    points = [start, *path]
    return sum(math.dist(a, b) for a, b in zip(points, points[1:], strict=False))


def _segment_free(grid: NavGrid, a, b) -> bool:
    """Brute force: every point of the segment, 1 cm apart, lies in a free cell."""
    n = int(math.dist(a, b) / 0.01) + 1
    for t in np.linspace(0.0, 1.0, n + 1):
        if not grid.is_free(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t):
            return False
    return True


def test_plan_goes_around_a_wall_on_free_cells() -> None:
    grid = _room()
    grid.mark([(1.9, 0.0, 2.1, 3.0)], free=False, inflate=0.0)  # a wall with a gap at the top
    start = (0.5, 0.5)
    path = grid.plan(start, _goal_near(grid, 3.5, 0.5), (3.5, 0.5))
    assert path is not None and math.dist(path[-1], (3.5, 0.5)) < 0.2
    assert max(p[1] for p in path) > 3.0  # through the gap
    for a, b in zip([start, *path], path, strict=False):
        assert _segment_free(grid, a, b)
    # Round the wall's end and back down: the shortest way is a little over 2 x 2.5 + 1.4 m.
    assert 6.0 < _length(start, path) < 7.5


def test_plan_answers_none_when_the_goal_is_walled_off() -> None:
    grid = _room()
    grid.mark([(1.9, 0.0, 2.1, 4.0)], free=False, inflate=0.0)
    assert grid.plan((0.5, 0.5), _goal_near(grid, 3.5, 0.5), (3.5, 0.5)) is None
    assert grid.plan((0.5, 0.5), np.zeros_like(grid.free), (3.5, 0.5)) is None


def test_plan_trades_length_against_cell_costs() -> None:
    grid = _room()
    penalty = np.zeros(grid.free.shape)
    penalty[grid.window(1.5, 0.0, 2.5, 2.5)] = 50.0  # a costly patch on the straight line
    start = (0.5, 1.0)
    straight = grid.plan(start, _goal_near(grid, 3.5, 1.0), (3.5, 1.0))
    around = grid.plan(start, _goal_near(grid, 3.5, 1.0), (3.5, 1.0), penalty=penalty)
    assert straight is not None and around is not None
    assert _length(start, straight) < 3.2
    assert max(p[1] for p in around) > 2.5  # went round the patch


def test_stand_penalty_chooses_where_the_path_ends() -> None:
    grid = _room()
    xs, ys = grid.mesh()
    goals = grid.free & (np.abs(ys - 2.0) < 0.05) & (xs > 1.0) & (xs < 3.0)
    stand = np.where(xs < 2.5, 100.0, 0.0)  # everywhere but the far end is costly to stand on
    path = grid.plan((1.0, 0.5), goals, (2.0, 2.0), stand_penalty=stand)
    assert path is not None and path[-1][0] > 2.5
    plain = grid.plan((1.0, 0.5), goals, (2.0, 2.0))
    assert plain is not None and plain[-1][0] < 1.5  # the nearest goal cell without it


def test_lines_free_matches_a_brute_force_check() -> None:
    rng = np.random.default_rng(0)
    grid = _room()
    grid.mark([(1.0, 1.0, 1.4, 3.0), (2.5, 0.5, 3.0, 1.0)], free=False, inflate=0.0)
    disagree = 0
    for _ in range(200):
        a = rng.uniform(0.05, 3.95, 2)
        ends = rng.uniform(0.05, 3.95, (3, 2))
        batch = lines_free(grid, a, ends)
        for end, ok in zip(ends, batch, strict=True):
            disagree += bool(ok) != _segment_free(grid, a, end)
    # Sampling every half cell can miss a corner a segment barely clips: rare, never common.
    assert disagree <= 6


def test_lines_free_fails_segments_that_leave_the_grid_or_cross_costlier_cells() -> None:
    grid = _room()
    penalty = np.zeros(grid.free.shape)
    penalty[grid.window(1.8, 0.0, 2.2, 4.0)] = 5.0  # a costly band across the room
    a = np.array([0.5, 2.0])
    ends = np.array([[1.5, 2.0], [3.5, 2.0], [2.0, 2.0], [4.5, 2.0], [0.5, -0.5]])
    assert lines_free(grid, a, ends).tolist() == [True, True, True, False, False]
    # Across the band: hidden; into it (an end that costs as much): visible.
    assert lines_free(grid, a, ends, penalty).tolist() == [True, False, True, False, False]


def test_the_first_hidden_shortcut_is_found_batch_by_batch() -> None:
    """first_hidden tests the ends in batches that double in size; it names the same end as one
    test of them all, wherever that end lies."""
    rng = np.random.default_rng(3)
    grid = _room()
    grid.mark([(1.0, 1.0, 1.4, 3.0), (2.5, 0.5, 3.0, 1.0)], free=False, inflate=0.0)
    penalty = np.zeros(grid.free.shape)
    penalty[grid.window(3.2, 2.0, 4.0, 4.0)] = 5.0
    past_first_batch = 0
    for _ in range(300):
        a = rng.uniform(0.05, 0.95, 2)  # left of the long block
        near = rng.uniform(0.05, 0.95, (rng.integers(1, 80), 2))  # in view
        anywhere = rng.uniform(0.05, 3.95, (rng.integers(0, 3), 2))
        ends = np.concatenate([near, anywhere]) if rng.random() < 0.8 else anywhere
        if not len(ends):
            continue
        for cost in (None, penalty):
            visible = lines_free(grid, a, ends, cost)
            expected = None if visible.all() else int(np.argmin(visible))
            assert navigation.first_hidden(grid, a, ends, cost) == expected
            past_first_batch += expected is not None and expected >= navigation.HIDDEN_BATCH
    assert past_first_batch > 20


def test_free_radius_is_all_free_and_follows_marks() -> None:
    rng = np.random.default_rng(1)
    grid = _room()
    grid.mark([(1.8, 1.8, 2.2, 2.2)], free=False, inflate=0.0)
    for x, y in rng.uniform(0.1, 3.9, (60, 2)):
        r = grid.free_radius(x, y)
        for angle in np.linspace(0.0, 2 * math.pi, 16, endpoint=False):
            px, py = x + r * math.cos(angle), y + r * math.sin(angle)
            assert grid.is_free(px, py) or r == 0.0
    assert grid.free_radius(2.0, 2.0) == 0.0 and grid.free_radius(-1.0, 0.5) == 0.0
    before = grid.free_radius(1.0, 2.0)
    grid.mark([(1.2, 1.9, 1.4, 2.1)], free=False, inflate=0.0)  # the cached field is dropped
    assert grid.free_radius(1.0, 2.0) < before


def test_near_path_marks_cells_within_the_width() -> None:
    grid = _room()
    cells = grid.near_path([(0.5, 0.5), (3.5, 0.5), (3.5, 3.5)], 0.3)
    xs, ys = grid.mesh()
    # Distance from each cell centre to the L-shaped polyline.
    d = np.minimum(
        np.where(
            (xs >= 0.5) & (xs <= 3.5),
            np.abs(ys - 0.5),
            np.hypot(np.minimum(np.abs(xs - 0.5), np.abs(xs - 3.5)), ys - 0.5),
        ),
        np.where(
            (ys >= 0.5) & (ys <= 3.5),
            np.abs(xs - 3.5),
            np.hypot(xs - 3.5, np.minimum(np.abs(ys - 0.5), np.abs(ys - 3.5))),
        ),
    )
    assert cells[d < 0.3 - 0.08].all()  # within the width (less the rasterising error)
    assert not cells[d > 0.3 + 0.08].any()


def test_window_and_distances_to() -> None:
    grid = _room()
    rows, cols = grid.window(1.0, 2.0, 1.5, 2.3)
    assert np.allclose(grid.xs[cols], [1.05, 1.15, 1.25, 1.35, 1.45])
    assert np.allclose(grid.ys[rows], [2.05, 2.15, 2.25])
    grid.mark([(1.9, 0.0, 2.1, 3.0)], free=False, inflate=0.0)
    dist = grid.distances_to(3.55, 0.55)
    i, j = grid.cell(0.55, 0.55)
    path = grid.plan((0.55, 0.55), _goal_near(grid, 3.55, 0.55, 0.05), (3.55, 0.55))
    assert dist[j, i] == pytest.approx(_length((0.55, 0.55), path), rel=0.1)
    i, j = grid.cell(2.0, 1.0)
    assert np.isinf(dist[j, i])  # inside the wall


def test_copies_plan_as_grids_built_afresh(monkeypatch) -> None:
    """A copy with clutter marked on it borrows the original's search graph and closes the moves the
    clutter forbids; its plans, with the bounded first search, must equal those of a grid built
    with the same cells from scratch and searched without a bound."""
    rng = np.random.default_rng(1)
    room = _room(6.0)
    room.mark([(2.9, 0.0, 3.1, 4.5)], free=False, inflate=0.0)  # a wall with a gap at the top
    compared = 0
    for _ in range(12):
        grid = room.copy()
        corners = rng.uniform(0.2, 5.5, (6, 2))
        grid.mark([(x, y, x + 0.4, y + 0.3) for x, y in corners], free=False, inflate=0.0)
        fresh = NavGrid((0.0, 0.0, 6.0, 6.0), resolution=0.1, clearance=0.0)
        fresh.free = grid.free.copy()
        xs, ys = grid.mesh()
        for _ in range(4):
            start = tuple(rng.uniform(0.3, 5.7, 2))
            aim = tuple(rng.uniform(0.3, 5.7, 2))
            goals = grid.free & (np.hypot(xs - aim[0], ys - aim[1]) < 0.6)
            penalty = np.where(rng.random(grid.free.shape) < 0.05, 30.0, 0.0)
            # Costly stands near the aim: the cheapest stand may lie beyond the first search's bound.
            stand = np.where(np.hypot(xs - aim[0], ys - aim[1]) < 0.4, 500.0, 0.0)
            for kwargs in ({}, {"penalty": penalty}, {"penalty": penalty, "stand_penalty": stand}):
                path = grid.plan(start, goals, aim, **kwargs)
                with monkeypatch.context() as patch:
                    patch.setattr(navigation, "SEARCH_MARGIN", math.inf)
                    assert path == fresh.plan(start, goals, aim, **kwargs)
                compared += path is not None
    assert compared > 60


def test_a_long_detour_is_found_past_the_first_bound() -> None:
    """The first search stops at a cost bound near the straight line; a goal reachable only by a
    much longer way round is still found, by the second search."""
    grid = _room(6.0)
    grid.mark([(2.9, 0.0, 3.1, 5.7)], free=False, inflate=0.0)  # the only way round is at the top
    start = (2.5, 0.5)
    path = grid.plan(start, _goal_near(grid, 3.5, 0.5), (3.5, 0.5))
    assert path is not None and math.dist(path[-1], (3.5, 0.5)) < 0.2
    assert _length(start, path) > 10.0  # 1 m apart on the straight line
