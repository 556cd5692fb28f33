"""Object states computed from the physics (kinematic relations) and held by objects (symbolic).

The rules follow BEHAVIOR's definitions in spirit, computed on axis-aligned bounding boxes:
``ontop`` = resting on (within 2 cm of) the other's top surface, ``inside`` = centre within a
container's interior, ``nextto`` = horizontally close with overlapping heights, ``under`` = below a
support's top and within its footprint, ``touching`` = surfaces within 5 mm.
"""

from __future__ import annotations

import math

import numpy as np

from .objects import UNDER_TEMPLATES, SimObject, door_angle, to_local
from .world import World

OPEN_ANGLE = 0.25  # rad (~15 deg): a door opened further than this counts as open
ONTOP_TOLERANCE = 0.04
#: ``ontop`` needs the two within this distance: an object just set down (teleported skills leave
#: 1 cm to settle) counts, one on a container's floor (WALL, 3 cm) does not rest on the room's floor.
ONTOP_CONTACT = 0.02
TOUCH_DISTANCE = 0.005
UNDER_GAP = 0.03  # m: ``under`` wants the object's top this far below the table's

Box = tuple[tuple[float, float, float], tuple[float, float, float]]  # (lo, hi) corners, as PyBullet gives


# Monitors, people and predicates measure distances many times per step; np.linalg.norm's argument
# handling costs several times the arithmetic on these short vectors.
def vector_norm(v) -> float:
    """``float(np.linalg.norm(v))`` of a flat vector, bit for bit: the same dot product and root."""
    v = np.asarray(v, dtype=float)
    return math.sqrt(v.dot(v))


def planar_distance(a, b) -> float:
    """The distance between the (x, y) of ``a`` and ``b``, bit for bit as ``np.linalg.norm`` of their
    difference computes it (x*x + y*y, then the root), on plain floats."""
    dx = float(a[0]) - float(b[0])
    dy = float(a[1]) - float(b[1])
    return math.sqrt(dx * dx + dy * dy)


class StateQuery:
    """Predicates over the current simulator state, with bounding boxes cached per state version."""

    def __init__(self, world: World) -> None:
        self.world = world
        #: body -> its box as read (lo, hi tuples of floats); and as (lo, hi) arrays, made when asked
        self._bounds: dict[int, Box] = {}
        self._arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._version = (-1, -1)  # the world's (substeps, edits) when the cache was last dropped
        self.agents: dict[str, object] = {}  # BDDL agent name -> Robot or Human (for grasped)

    def invalidate(self) -> None:
        self._bounds.clear()
        self._arrays.clear()
        self._version = (self.world.substeps, self.world.edits)

    def refresh(self) -> None:
        """Drop the cached boxes unless nothing has stepped or been moved by hand since the last drop."""
        if self._version != (self.world.substeps, self.world.edits):
            self.invalidate()

    def aabb(self, obj: SimObject) -> tuple[np.ndarray, np.ndarray]:
        arrays = self._arrays.get(obj.body)
        if arrays is None:
            stacked = np.array(self.bounds(obj))
            arrays = self._arrays[obj.body] = (stacked[0], stacked[1])
        return arrays

    def bounds(self, obj: SimObject) -> Box:
        """The box as plain floats (lo, hi): the predicates' scalar tests cost less on them."""
        box = self._bounds.get(obj.body)
        if box is None:
            box = self._bounds[obj.body] = self.world.client.getAABB(obj.body, -1)
        return box

    def boxes(self, objects: list[SimObject]) -> np.ndarray:
        """The n x 2 x 3 array of the objects' boxes (lo, hi), for whole-column work on them: made
        in one go from the boxes as read (this runs at every continuous-control step)."""
        bounds = self.bounds
        return np.array([bounds(obj) for obj in objects])

    # --- kinematic relations ---------------------------------------------------------------------
    # On plain floats from ``bounds``: the same arithmetic as on the arrays, at a fraction of the cost.
    def ontop(self, a: SimObject, b: SimObject) -> bool:
        if a.body == b.body or self.is_held(a):
            return False
        (alo, ahi), (blo, bhi) = self.bounds(a), self.bounds(b)
        cx, cy = (alo[0] + ahi[0]) / 2, (alo[1] + ahi[1]) / 2
        if not (blo[0] <= cx <= bhi[0] and blo[1] <= cy <= bhi[1]):
            return False
        if abs(alo[2] - bhi[2]) > ONTOP_TOLERANCE:
            return False
        # Resting on, as BEHAVIOR's OnTop: the two must (nearly) touch; a pie in a fridge is within
        # tolerance of the floor's top but rests on the fridge. Checked last: it is the dear test.
        return bool(self.world.client.getClosestPoints(a.body, b.body, ONTOP_CONTACT))

    def inside(self, a: SimObject, b: SimObject) -> bool:
        if b.interior is None or a.body == b.body or self.is_held(a):
            return False
        (alo, ahi), (blo, bhi) = self.bounds(a), self.bounds(b)
        centre = [(lo + hi) / 2 for lo, hi in zip(alo, ahi, strict=True)]
        # The interior lies within the container's bounding box: most pairs fail this cheap test.
        for c, lo, hi in zip(centre, blo, bhi, strict=True):
            if not lo - 0.02 <= c <= hi + 0.02:
                return False
        local = to_local(self.world, b, centre)
        lo, hi = b.interior
        return bool(np.all(local >= lo - 0.01) and np.all(local <= hi + 0.01))

    def nextto(self, a: SimObject, b: SimObject) -> bool:
        if a.body == b.body:
            return False
        (alo, ahi), (blo, bhi) = self.bounds(a), self.bounds(b)
        if min(ahi[2], bhi[2]) - max(alo[2], blo[2]) <= 0.01:
            return False
        gx = max(0.0, blo[0] - ahi[0], alo[0] - bhi[0])
        gy = max(0.0, blo[1] - ahi[1], alo[1] - bhi[1])
        extent = (max(ahi[0] - alo[0], ahi[1] - alo[1]) + max(bhi[0] - blo[0], bhi[1] - blo[1])) / 2
        return math.sqrt(gx * gx + gy * gy) <= min(max(0.5 * extent, 0.05), 0.5)

    def under(self, a: SimObject, b: SimObject) -> bool:
        if a.body == b.body:
            return False
        (alo, ahi), (blo, bhi) = self.bounds(a), self.bounds(b)
        cx, cy = (alo[0] + ahi[0]) / 2, (alo[1] + ahi[1]) / 2
        inside_xy = blo[0] <= cx <= bhi[0] and blo[1] <= cy <= bhi[1]
        return bool(inside_xy and ahi[2] <= bhi[2] - UNDER_GAP and b.template in UNDER_TEMPLATES)

    def touching(self, a: SimObject, b: SimObject) -> bool:
        if a.body == b.body:
            return False
        (alo, ahi), (blo, bhi) = self.bounds(a), self.bounds(b)
        if any(lo > hi + TOUCH_DISTANCE for lo, hi in zip(alo, bhi, strict=True)) or any(
            lo > hi + TOUCH_DISTANCE for lo, hi in zip(blo, ahi, strict=True)
        ):
            return False
        return bool(self.world.client.getClosestPoints(a.body, b.body, TOUCH_DISTANCE))

    def is_open(self, a: SimObject) -> bool:
        if a.door_joint is not None:
            return door_angle(self.world, a) > OPEN_ANGLE
        return a.symbolic_open

    def is_held(self, a: SimObject) -> bool:
        for agent in self.agents.values():
            if getattr(agent, "held", None) is a:
                return True
        return False

    def held_bodies(self) -> set[int]:
        """The bodies some agent holds: the robot or the adversary (``held``), a person
        (``holding``)."""
        bodies = set()
        for agent in self.agents.values():
            obj = getattr(agent, "held", None)
            if obj is not None:
                bodies.add(obj.body)
            body = getattr(agent, "holding", None)
            if body is not None:
                bodies.add(body)
        return bodies

    def grasped(self, agent_name: str, obj: SimObject) -> bool:
        agent = self.agents.get(agent_name)
        if agent is None:
            return False
        if getattr(agent, "held", None) is obj:
            return True
        return getattr(agent, "holding", None) == obj.body

    def covered(self, a: SimObject, substance: str) -> bool:
        return a.covered.get(substance, 0.0) > 0.0

    def near_top(self, a: SimObject, b: SimObject, height: float = 0.3) -> bool:
        """``a`` rests on or just above ``b``'s top surface (e.g. in a pan on a stove)."""
        (alo, ahi), (blo, bhi) = self.bounds(a), self.bounds(b)
        cx, cy = (alo[0] + ahi[0]) / 2, (alo[1] + ahi[1]) / 2
        return bool(blo[0] <= cx <= bhi[0] and blo[1] <= cy <= bhi[1] and -0.02 <= alo[2] - bhi[2] <= height)

    def distance_xy(self, a: SimObject, point) -> float:
        lo, hi = self.aabb(a)
        gap = np.maximum(0.0, np.maximum(lo[:2] - point[:2], point[:2] - hi[:2]))
        return vector_norm(gap)
