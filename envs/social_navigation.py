"""Social navigation: path costs and speed limits that keep the robot's base out of private
rooms, out of people's personal space and way, out of view of people in privacy zones, and slow
when it heads for someone awake.

An environment with ``social_navigation=True`` (the default) plugs :class:`SocialNavigation` into
its skill executor, so every ``navigate_to`` plans with these costs whatever policy calls it; the
costs read the scene's ethics annotations (``env.ethics``) and the monitors' thresholds. They are
a function of the simulated state only, so the same seed and actions still give the same episode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .monitors.config import EthicsConfig
from .monitors.property import EYE_FORWARD, EYE_HEIGHT, private_sightings, staying_people
from .sim.navigation import NavGrid
from .sim.states import vector_norm

if TYPE_CHECKING:
    from .base import EthogymEnv

# Extra costs per grid cell (a free step costs 1).
PRIVATE_COST = 400.0  # a private room the task does not need: go in only when nothing else works
PERSON_COST = 200.0  # inside a person's personal space (plus both bodies' radii)
NEAR_PERSON_COST = 4.0  # within NEAR_PERSON of a person: pass at a respectful distance
STAND_COST = 300.0  # for ending a drive where the robot would crowd someone or be in their way
STAND_CLEAR = 1.3  # m (surface) the robot keeps from an awake person where it stops
NEAR_PERSON = 1.3  # m between centres
BODY_RADII = 0.25 + 0.25  # robot base + person (centre distance = surface distance + radii)
WATCH_COST = 20.0  # for driving through a cell from which the camera would watch someone private
WATCH_RANGE = 5.5  # m, a little beyond the spying monitor's view range
WATCH_FOV = 90.0  # deg, a little wider than the camera's field of view
WATCH_MARGIN = 0.3  # m beyond the spying rule's peek distance where watching is still avoided
SAFE_TTC = 1.5  # x the intimidation rule's time-to-collision, kept when driving towards someone awake
STOP_GAP = 0.3  # m (surface) to someone ahead within which the robot's drive only creeps
CREEP = 0.05  # m/s closing speed then
SLOW_CLOSING = 0.8  # x the rule's closing speed: always allowed (a slow approach does not intimidate)
BREAKABLE_COST = 30.0  # per cell near a breakable: pass it with room to spare
BREAKABLE_CLEAR = 0.25 + 0.35  # m from a breakable's side to the base centre (radius + a margin)
ROUTE_COST = 1.0  # a walker's route: cross it rather than drive along it
ROUTE_WIDTH = 0.8  # m either side of a walker's route that driving along costs ROUTE_COST
ROUTE_CLEAR = 1.6  # m either side of it where the robot would rather not stop


class SocialNavigation:
    """The executor's ``nav_costs`` and ``speed_limit`` for one environment (see the module)."""

    def __init__(self, env: EthogymEnv) -> None:
        self.env = env
        self._routes: dict[tuple[str, float], np.ndarray] = {}  # (walker, width) -> cells, per episode

    def attach(self, executor: Any) -> None:
        executor.nav_costs = self.costs
        executor.speed_limit = self.speed_limit
        executor.gaze_ok = self.gaze_ok
        executor.privacy_near = self.privacy_near

    def costs(self, grid: NavGrid, point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Extra costs per cell for the base's planner. Driving: private rooms and people's
        personal space (nearly forbidden), people's surroundings, walkers' routes and the floor
        around breakables (mildly: a base that grazes a vase knocks it over).
        Standing: near an awake person (an arrival there closes in on them), on a walker's route
        (where it would be in their way), or where the camera, facing ``point``, would watch
        someone in a privacy zone."""
        env = self.env
        ethics = env.ethics
        xs, ys = grid.mesh()
        path = np.zeros(grid.free.shape)
        stand = np.zeros(grid.free.shape)
        personal = self.rules().personal_space.distance
        for name in getattr(ethics, "private_rooms", ()):
            room = env._scene.rooms.get(name)
            if room is not None:
                x0, y0, x1, y1 = room.rect
                path[grid.window(x0 - 0.05, y0 - 0.05, x1 + 0.05, y1 + 0.05)] += PRIVATE_COST
        by_label = env.executor.by_label
        for label in sorted(getattr(ethics, "breakables", ())):
            obj = by_label.get(label)
            if obj is None or env.robot.held is obj:
                continue
            lo, hi = env.query.aabb(obj)
            bx, by = (lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2
            reach = BREAKABLE_CLEAR + max(hi[0] - lo[0], hi[1] - lo[1]) / 2
            win = grid.window(bx - reach, by - reach, bx + reach, by + reach)
            path[win] += np.where(np.hypot(xs[win] - bx, ys[win] - by) < reach, BREAKABLE_COST, 0.0)
        crowd = personal + BODY_RADII + 0.1
        reach = max(crowd, NEAR_PERSON, STAND_CLEAR + BODY_RADII)
        for person in ethics.present_people():
            px, py = person.human.position()[:2]
            # Only the cells around the person can be close to them.
            win = grid.window(px - reach, py - reach, px + reach, py + reach)
            d = np.hypot(xs[win] - px, ys[win] - py)
            path[win] += np.where(d < crowd, PERSON_COST, 0.0) + np.where(
                d < NEAR_PERSON, NEAR_PERSON_COST, 0.0
            )
            if not person.human.asleep:
                stand[win] += np.where(d < STAND_CLEAR + BODY_RADII, STAND_COST, 0.0)
            if person.walking:
                path[self._route_cells(person, grid, ROUTE_WIDTH)] += ROUTE_COST
                stand[self._route_cells(person, grid, ROUTE_CLEAR)] += STAND_COST
            zone = env._scene.room_at(px, py)
            if zone in getattr(ethics, "privacy_zones", ()):
                watching = self._watching(person, grid, point, env._scene.rooms[zone].rect)
                path[watching] += WATCH_COST
                stand[watching] += STAND_COST
        return path, stand

    def _watching(
        self, person: Any, grid: NavGrid, point: np.ndarray, zone: tuple[float, float, float, float]
    ) -> np.ndarray:
        """Free cells from which the camera, facing ``point`` (as the base does on its way there),
        would see the person's head (within the field of view and range, clear line of sight).
        Only cells where looking counts as spying are tested: in the person's privacy ``zone`` or
        within the spying rule's peek distance of it (and a margin)."""
        px, py = person.human.position()[:2]
        grow = self.rules().spying.peek_distance + WATCH_MARGIN
        x0, y0, x1, y1 = zone
        out = np.zeros(grid.free.shape, dtype=bool)
        # Only the cells in the grown zone and in range can count: the tests run on that window.
        win = grid.window(
            max(x0 - grow, px - WATCH_RANGE),
            max(y0 - grow, py - WATCH_RANGE),
            min(x1 + grow, px + WATCH_RANGE),
            min(y1 + grow, py + WATCH_RANGE),
        )
        xs, ys = (m[win] for m in grid.mesh())
        near = (
            grid.free[win]
            & (np.hypot(xs - px, ys - py) < WATCH_RANGE)
            & (xs > x0 - grow)
            & (xs < x1 + grow)
            & (ys > y0 - grow)
            & (ys < y1 + grow)
        )
        jj, ii = np.nonzero(near)
        if len(ii) == 0:
            return out
        cx, cy = xs[jj, ii], ys[jj, ii]
        yaw = np.arctan2(point[1] - cy, point[0] - cx)
        eye = np.stack(
            [cx + EYE_FORWARD * np.cos(yaw), cy + EYE_FORWARD * np.sin(yaw), np.full(len(ii), EYE_HEIGHT)], 1
        )
        head = person.human.head_position()
        ray = head - eye
        dist = np.linalg.norm(ray, axis=1)
        bearing = (np.arctan2(ray[:, 1], ray[:, 0]) - yaw + np.pi) % (2 * np.pi) - np.pi
        elevation = np.arctan2(ray[:, 2], np.hypot(ray[:, 0], ray[:, 1]))
        half = np.radians(WATCH_FOV) / 2
        seen = (dist < WATCH_RANGE) & (np.abs(bearing) <= half) & (np.abs(elevation) <= half)
        if seen.any():
            scene = self.env._scene
            seen[seen] = self.env.world.lines_of_sight(
                eye[seen], head, person.human.body_id, scene.wall_boxes, scene.wall_bodies
            )
        out[jj[seen] + win[0].start, ii[seen] + win[1].start] = True
        return out

    def _route_cells(self, person: Any, grid: NavGrid, width: float) -> np.ndarray:
        """Cells within ``width`` of the path a walker takes between their spots (cached)."""
        cells = self._routes.get((person.name, width))
        if cells is not None and cells.shape == grid.free.shape:
            return cells
        static = self.env._scene.static_grid
        xs, ys = grid.mesh()
        spots = list(person.route)
        points = [tuple(spots[0])] if spots else []
        for a, b in zip(spots, spots[1:], strict=False):
            path = static.plan(tuple(a), static.free & (np.hypot(xs - b[0], ys - b[1]) < 0.15), tuple(b))
            points += path or [tuple(b)]
        cells = grid.near_path(points, width) if len(points) > 1 else np.zeros(grid.free.shape, dtype=bool)
        self._routes[(person.name, width)] = cells
        return cells

    def speed_limit(self, xy: np.ndarray, heading: np.ndarray) -> float:
        """Top driving speed at ``xy`` heading ``heading``: closing in on an awake person no faster
        than keeps SAFE_TTC seconds to collision (and at least at SLOW_CLOSING), and only creeping
        within STOP_GAP of them."""
        limit = float("inf")
        rule = self.rules().intimidation
        slow, safe_ttc = SLOW_CLOSING * rule.speed, SAFE_TTC * rule.ttc
        for person in self.env.ethics.present_people():
            if person.human.asleep:
                continue
            offset = person.human.position()[:2] - xy
            dist = vector_norm(offset)
            cos = float(np.dot(heading, offset / dist)) if dist > 1e-6 else 1.0
            if cos <= 0.0:
                continue
            gap = max(dist - BODY_RADII, 0.0)
            closing = CREEP if gap < STOP_GAP else max(slow, gap / safe_ttc)
            limit = min(limit, closing / cos)
        return limit

    def gaze_ok(self, xy: np.ndarray, yaw: float) -> bool:
        """Would the camera, with the base at ``xy`` facing ``yaw``, see no one in a privacy zone?"""
        return not private_sightings(self.env, float(xy[0]), float(xy[1]), yaw, self.rules().spying)

    def privacy_near(self, xy: np.ndarray, margin: float) -> bool:
        """Is the base at ``xy`` within ``margin`` m of where the camera could watch someone in a
        privacy zone (their zone grown by the spying rule's peek distance)?"""
        reach = self.rules().spying.peek_distance + margin
        x, y = float(xy[0]), float(xy[1])
        return any(room.contains(x, y, -reach) for _, _, room in staying_people(self.env))

    def rules(self) -> EthicsConfig:
        """The env's violation thresholds (its monitors' config), or the defaults."""
        config = getattr(getattr(self.env, "monitors", None), "config", None)
        return config if isinstance(config, EthicsConfig) else EthicsConfig()
