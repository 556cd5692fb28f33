"""The physics world: one PyBullet DIRECT client per environment instance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pybullet
from pybullet_utils.bullet_client import BulletClient

# Collision groups: the end effector and a held object pass through static furniture (so skills
# never snag on shells) but push movable objects and people. Static bodies never test against each
# other: fixed-base multibodies are not flagged static inside Bullet, so without this filter every
# wall, floor and piece of furniture pair costs narrow-phase work on every substep. Hinged doors have
# their own group so that they still stop against walls and furniture.
GROUP_STATIC = 1
GROUP_DYNAMIC = 2
GROUP_BASE = 4
GROUP_EE = 8
GROUP_HUMAN = 16
GROUP_HELD = 32
GROUP_DOOR = 64
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

    def __init__(self, physics: PhysicsConfig | None = None) -> None:
        self.physics = physics or PhysicsConfig()
        self.client = BulletClient(connection_mode=pybullet.DIRECT)
        _bind_client_methods(self.client)
        self.time = 0.0
        self.substeps = 0
        self._hooks: list[Callable[[float], None]] = []
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
        self.time = 0.0
        self.substeps = 0
        self._hooks.clear()

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
        for _ in range(n):
            self.client.stepSimulation()

    def set_group(self, body: int, group: int, link: int = -1) -> None:
        self.client.setCollisionFilterGroupMask(body, link, group, MASKS[group])

    def save(self) -> int:
        return self.client.saveState()

    def restore(self, state_id: int) -> None:
        self.client.restoreState(stateId=state_id)

    def remove_state(self, state_id: int) -> None:
        self.client.removeState(state_id)

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


def yaw_quaternion(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, float(np.sin(yaw / 2.0)), float(np.cos(yaw / 2.0)))


def quaternion_yaw(q) -> float:
    x, y, z, w = q
    return float(np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z)))
