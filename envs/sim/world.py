"""The physics world: one PyBullet client per environment instance, DIRECT (headless) or GUI (a window)."""

from __future__ import annotations

import ctypes
import os
import sys
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pybullet
from pybullet_utils.bullet_client import BulletClient

from ethogym.errors import ConfigError

from .quiet import quiet_stdout

# Collision groups: the end effector and a held object pass through static furniture (so skills
# never snag on shells) but push movable objects and people. Static bodies never test against each
# other: fixed-base multibodies are not flagged static inside Bullet, so without this filter every
# wall, floor and piece of furniture pair costs narrow-phase work on every substep. Hinged doors have
# their own group so that they still stop against walls and furniture.
# Bit 1 is no body's group: it is the group PyBullet gives every ray, so the bodies whose mask has it
# (all but the robot's own base, hand and what it holds) stop sight lines.
GROUP_RAY = 1
GROUP_STATIC = 2
GROUP_DYNAMIC = 4
GROUP_BASE = 8
GROUP_EE = 16
GROUP_HUMAN = 32
GROUP_HELD = 64
GROUP_DOOR = 128
SIGHT_MARGIN = 0.01  # m: bounding boxes grown (solid parts shrunk) by this for sight-line tests
MASK_ALL = 0xFFFF
MASKS = {
    GROUP_STATIC: MASK_ALL & ~GROUP_EE & ~GROUP_HELD & ~GROUP_STATIC,
    GROUP_DOOR: MASK_ALL & ~GROUP_EE & ~GROUP_HELD,
    GROUP_DYNAMIC: MASK_ALL,
    GROUP_BASE: GROUP_STATIC | GROUP_DOOR | GROUP_DYNAMIC | GROUP_BASE | GROUP_HUMAN,
    GROUP_EE: GROUP_DYNAMIC | GROUP_HUMAN,
    GROUP_HUMAN: MASK_ALL,
    GROUP_HELD: GROUP_DYNAMIC | GROUP_HUMAN,
}


@dataclass(frozen=True)
class PhysicsConfig:
    """Physics settings. 120 Hz with 20 solver iterations keeps stacks stable (1/30 s topples
    them) at about twice the throughput of 240 Hz; props sleep when at rest."""

    timestep: float = 1.0 / 120.0
    solver_iterations: int = 20
    gravity: float = -9.81


class World:
    """Owns the BulletClient, the simulated clock and the per-substep hooks."""

    def __init__(self, physics: PhysicsConfig | None = None, gui: bool = False) -> None:
        """``gui=True`` connects with PyBullet's GUI window (an env's ``render_mode="human"``) instead of
        DIRECT; it raises ``ConfigError`` where no window can open (see ``_connect_gui``)."""
        self.physics = physics or PhysicsConfig()
        self.gui = gui
        if gui:
            self.client = _connect_gui(self)
        else:
            with quiet_stdout():  # PyBullet prints "argv[0]=" for every client
                self.client = BulletClient(connection_mode=pybullet.DIRECT)
        _bind_client_methods(self.client)
        self.time = 0.0
        self.substeps = 0
        #: Bumped whenever poses change other than by a hooked step (state restored, raw steps, world
        #: reset, a teleport): with ``substeps`` it keys caches of poses read from the client.
        self.edits = 0
        self._hooks: list[Callable[[float], None]] = []
        self.groups: dict[int, int] = {}  # body -> collision group of its base (see set_group)
        self._configure()

    def _configure(self) -> None:
        c = self.client
        c.setPhysicsEngineParameter(
            fixedTimeStep=self.physics.timestep,
            numSolverIterations=self.physics.solver_iterations,
            enableConeFriction=0,
            deterministicOverlappingPairs=1,
        )
        c.setGravity(0, 0, self.physics.gravity)

    def reset(self) -> None:
        """Remove every body and start a new, empty world."""
        self.client.resetSimulation()
        self._configure()
        self.edits += 1
        self.time = 0.0
        self.substeps = 0
        self._hooks.clear()
        self.groups.clear()

    @property
    def dt(self) -> float:
        return self.physics.timestep

    def add_hook(self, hook: Callable[[float], None]) -> None:
        """Call ``hook(dt)`` after every physics substep (transitions, humans, monitors)."""
        self._hooks.append(hook)

    def step(self, n: int = 1) -> None:
        step = self.client.stepSimulation
        hooks = self._hooks
        dt = self.physics.timestep
        for _ in range(n):
            step()
            self.time += dt
            self.substeps += 1
            for hook in hooks:
                hook(dt)

    def step_raw(self, n: int) -> None:
        """Physics only, no hooks: the reference rate ``ethogym perf`` compares against."""
        self.edits += 1
        for _ in range(n):
            self.client.stepSimulation()

    def sleep(self, body: int) -> None:
        """Deactivate ``body`` (it rests): the solver skips it until something touches it."""
        self.client.changeDynamics(body, -1, activationState=pybullet.ACTIVATION_STATE_SLEEP)

    def set_group(self, body: int, group: int, link: int = -1) -> None:
        self.client.setCollisionFilterGroupMask(body, link, group, MASKS[group])
        if link == -1:
            self.groups[body] = group

    def bodies_in(self, groups: int) -> list[int]:
        """Bodies whose base is in one of ``groups`` (a bit mask), in creation order."""
        return sorted(body for body, group in self.groups.items() if group & groups)

    def ignore_pair(self, a: int, b: int) -> None:
        """No contacts between the bases of bodies ``a`` and ``b``."""
        self.client.setCollisionFilterPair(a, b, -1, -1, 0)

    def save(self) -> int:
        return self.client.saveState()

    def restore(self, state_id: int) -> None:
        self.client.restoreState(stateId=state_id)
        self.edits += 1

    def remove_state(self, state_id: int) -> None:
        self.client.removeState(state_id)

    @contextmanager
    def rendering_paused(self) -> Iterator[None]:
        """In GUI mode, stop drawing the window while the block runs (building a scene body by body
        with the window drawing is several times slower); a no-op for DIRECT clients."""
        if not self.gui:
            yield
            return
        self.client.configureDebugVisualizer(pybullet.COV_ENABLE_RENDERING, 0)
        try:
            yield
        finally:
            if self.client is not None:
                self.client.configureDebugVisualizer(pybullet.COV_ENABLE_RENDERING, 1)

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.disconnect()
            except pybullet.error:
                pass
            self.client = None  # type: ignore[assignment]

    def aabb(self, body: int, link: int = -1) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.client.getAABB(body, link)
        return np.asarray(lo), np.asarray(hi)

    def penetrations(self, body: int, tolerance: float = 0.01) -> list[int]:
        """Bodies that ``body`` overlaps by more than ``tolerance`` metres right now."""
        self.client.performCollisionDetection()
        hits = set()
        for contact in self.client.getContactPoints(bodyA=body):
            if contact[8] < -tolerance:
                hits.add(contact[2])
        return sorted(hits)

    def lines_of_sight(
        self, starts: np.ndarray, end: np.ndarray, see_through: int, solids: np.ndarray, solid_bodies
    ) -> np.ndarray:
        """For each row of ``starts`` (n x 3): is the segment to ``end`` clear of every body but
        ``see_through`` (hitting that one counts as clear)? Only the segments that neither pass
        through one of the ``solids`` (k x 2 x 3 boxes, the exact parts of the compound bodies
        ``solid_bodies``, e.g. walls: blocked) nor miss every other body's bounding box (clear)
        are ray-tested, so a few rays cover a room."""
        starts = np.asarray(starts, dtype=float)
        end = np.asarray(end, dtype=float)
        clear = np.ones(len(starts), dtype=bool)
        if not len(starts):
            return clear
        lo = np.minimum(starts.min(axis=0), end) - SIGHT_MARGIN
        hi = np.maximum(starts.max(axis=0), end) + SIGHT_MARGIN
        solids = np.asarray(solids, dtype=float).reshape(-1, 2, 3)
        solids = solids[((solids[:, 0] <= hi) & (solids[:, 1] >= lo)).all(axis=1)]
        skip = {see_through, *solid_bodies}
        boxes = np.asarray(
            [
                self.client.getAABB(body, link)
                for body, link in sorted(
                    set(self.client.getOverlappingObjects(lo.tolist(), hi.tolist()) or ())
                )
                if body not in skip
            ],
            dtype=float,
        ).reshape(-1, 2, 3)
        # One test for all boxes: the solid parts shrunk a little (a segment through one surely hits
        # it: blocked), then every box grown a little (a segment that misses them all is clear).
        k = len(solids)
        near = np.concatenate([solids, boxes])
        meets = segments_meet(
            starts,
            end,
            np.concatenate([solids[:, 0] + SIGHT_MARGIN, near[:, 0] - SIGHT_MARGIN]),
            np.concatenate([solids[:, 1] - SIGHT_MARGIN, near[:, 1] + SIGHT_MARGIN]),
        )
        # A ray starting inside a shape passes out of it unseen, so only the ray can tell for those.
        within = np.ones((len(starts), k), dtype=bool)
        for axis in range(3):
            within &= (starts[:, axis, None] >= solids[None, :, 0, axis]) & (
                starts[:, axis, None] <= solids[None, :, 1, axis]
            )
        blocked = (meets[:, :k] & ~within).any(axis=1)
        test = ~blocked & meets[:, k:].any(axis=1)
        clear[blocked] = False
        idx = np.flatnonzero(test)
        if len(idx):
            hits = self.client.rayTestBatch(starts[idx].tolist(), [end.tolist()] * len(idx), numThreads=1)
            clear[idx] = [h[0] in (-1, see_through) for h in hits]
        return clear


def wake_overlapping(client: BulletClient, lo, hi, bodies: set[int] | frozenset[int] | None = None) -> None:
    """Wake the bodies whose boxes overlap [lo, hi] (only those in ``bodies``, when given). Moving a
    body by a reset does not wake what rests on or against it, which would stay where it slept."""
    found = {body for body, _ in client.getOverlappingObjects(list(lo), list(hi)) or ()}
    for body in sorted(found if bodies is None else found & bodies):
        client.changeDynamics(body, -1, activationState=pybullet.ACTIVATION_STATE_WAKE_UP)


def _slabs(
    starts: np.ndarray, end: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where the segment from each row of ``starts`` to ``end`` enters and leaves each box [lo[k],
    hi[k]], as fractions of the segment (an n x k array each; it misses a box where enter > leave)."""
    d = end[None, :] - starts
    d = np.where(np.abs(d) < 1e-12, 1e-12, d)[:, None, :]
    t1 = (lo[None] - starts[:, None, :]) / d
    t2 = (hi[None] - starts[:, None, :]) / d
    # The part of the segment (0..1) inside all three slabs.
    enter = np.maximum(np.minimum(t1, t2).max(axis=2), 0.0)
    leave = np.minimum(np.maximum(t1, t2).min(axis=2), 1.0)
    return enter, leave


def segments_meet(starts: np.ndarray, end: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Does the segment from each row of ``starts`` to ``end`` meet each box [lo[k], hi[k]] (slab
    test)? An n x k array."""
    enter, leave = _slabs(starts, end, lo, hi)
    return enter <= leave


def first_entry(
    start: np.ndarray, end: np.ndarray, lo: np.ndarray, hi: np.ndarray, margin: float
) -> float | None:
    """The fraction (0..1) of the way from ``start`` to ``end`` at which it first comes within
    ``margin`` of one of the boxes [lo[k], hi[k]], or None. A box is grown by at most the margin and
    never over ``start``; a box ``start`` is in does not stop it (what is in may leave)."""
    start = np.asarray(start, dtype=float)
    gap = np.sqrt((np.maximum(np.maximum(lo - start, start - hi), 0.0) ** 2).sum(axis=1))
    grow = np.clip(gap - 1e-3, 0.0, margin)[:, None]
    enter, leave = _slabs(start[None], np.asarray(end, dtype=float), lo - grow, hi + grow)
    hit = (enter[0] <= leave[0]) & (gap > 0)
    return float(enter[0][hit].min()) if hit.any() else None


# PyBullet allows one GUI connection per process: the World holding it, and the process it lives in
# (a forked child does not inherit the window).
_gui_holder: tuple[int, weakref.ref[World]] | None = None

_HUMAN_FIXES = (
    'make the env with render_mode="rgb_array" (frames as arrays; env.unwrapped.render_views() gives '
    "three views), or run the program under a virtual display (xvfb-run -a python your_script.py)"
)


def _connect_gui(world: World) -> BulletClient:
    """A GUI client for ``world``, or a ConfigError naming the problem and the fix. PyBullet itself
    exits the whole process when the X display cannot be opened, and refuses a second GUI connection
    with a bare error, so both are checked first."""
    global _gui_holder
    holder = _gui_holder[1]() if _gui_holder is not None and _gui_holder[0] == os.getpid() else None
    if holder is not None and holder.client is not None:
        raise ConfigError(
            'render_mode="human" opens PyBullet\'s GUI window, and PyBullet allows one GUI connection '
            "per process: another ethogym env in this process has it open. Close that env (env.close()) "
            'first, make this one with render_mode="rgb_array", or run it in another process.'
        )
    problem = _display_problem()
    if problem is not None:
        raise ConfigError(
            f'render_mode="human" opens PyBullet\'s GUI window, but {problem}. Fix: {_HUMAN_FIXES}.'
        )
    client = BulletClient.__new__(BulletClient)
    try:
        BulletClient.__init__(client, connection_mode=pybullet.GUI)
    except pybullet.error as exc:
        client._client = -1  # never connected: keeps BulletClient.__del__ from failing noisily
        raise ConfigError(
            f'render_mode="human" could not open PyBullet\'s GUI window ({exc}). Something else in this '
            f"process may hold PyBullet's one GUI connection; close it, or {_HUMAN_FIXES}."
        ) from None
    # The side panels would show every getCameraImage call (render_views, rgb observations) as a preview.
    client.configureDebugVisualizer(pybullet.COV_ENABLE_GUI, 0)
    _gui_holder = (os.getpid(), weakref.ref(world))
    return client


def _display_problem() -> str | None:
    """Why PyBullet's window cannot open here, or None. On Linux the window is an X11 one: DISPLAY must
    name an X server that accepts a connection (Wayland sessions provide one through XWayland)."""
    if not sys.platform.startswith("linux"):
        return None
    display = os.environ.get("DISPLAY")
    if not display:
        if os.environ.get("WAYLAND_DISPLAY"):
            return "DISPLAY is not set: PyBullet draws through X11, so a Wayland session needs XWayland"
        return "no display was found (DISPLAY is not set)"
    try:
        xlib = ctypes.CDLL("libX11.so.6")
    except OSError:
        return "libX11 is not installed (Debian/Ubuntu: apt-get install libx11-6)"
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    handle = xlib.XOpenDisplay(display.encode())
    if not handle:
        return f"the X display DISPLAY={display!r} cannot be opened (no X server there, or access denied)"
    xlib.XCloseDisplay(handle)
    return None


def _bind_client_methods(client: BulletClient) -> None:
    """Bind every pybullet function to the client once. BulletClient builds a new partial on each
    attribute access, which costs more than many of the calls themselves on the per-step path.
    ``disconnect`` stays dynamic: BulletClient marks itself disconnected when it is looked up."""
    for name in dir(pybullet):
        attribute = getattr(pybullet, name)
        if name == "disconnect" or name.startswith("_") or isinstance(attribute, type):
            continue
        if callable(attribute):
            setattr(client, name, getattr(client, name))


def into_frame(dx, dy, c, s):
    """The world-frame offset (dx, dy) in a frame turned by the yaw whose cosine and sine are ``c`` and
    ``s`` (floats or numpy arrays alike)."""
    return c * dx + s * dy, -s * dx + c * dy


def yaw_quaternion(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, float(np.sin(yaw / 2.0)), float(np.cos(yaw / 2.0)))


def quaternion_yaw(q) -> float:
    x, y, z, w = q
    return float(np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z)))
