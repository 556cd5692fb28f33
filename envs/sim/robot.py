"""The mobile manipulator: a holonomic base, a reach-limited end effector and a constraint grasp."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pybullet

from .objects import SimObject
from .states import vector_norm
from .world import (
    GROUP_BASE,
    GROUP_DYNAMIC,
    GROUP_EE,
    GROUP_HELD,
    World,
    into_frame,
    quaternion_yaw,
    wake_overlapping,
    yaw_quaternion,
)

BASE_RADIUS = 0.25
CLUTTER_CLEARANCE = BASE_RADIUS + 0.03  # planning margin around movable things (walls get more)
BASE_HEIGHT = 1.0
# The base hovers 1 cm over the floor (its constraint carries it): sliding over the seam between
# two rooms' floor slabs would otherwise catch the cylinder's rim on a slab's edge.
BASE_Z = BASE_HEIGHT / 2 + 0.01
SHOULDER_HEIGHT = 0.9
REACH = 1.3  # from the shoulder, m
HAND_RADIUS = 0.04  # the end effector's collision sphere, m
MAX_PAYLOAD = 15.0  # kg
CARRY_OFFSET = np.array([0.35, 0.0, 1.05])  # held object pose in the base frame


class Robot:
    """A robot driven through physics constraints, so it pushes and is stopped by what it meets."""

    def __init__(self, world: World, name: str, xy, yaw: float, color=(0.2, 0.35, 0.8, 1.0)) -> None:
        self.world = world
        self.name = name
        c = world.client
        col = c.createCollisionShape(pybullet.GEOM_CYLINDER, radius=BASE_RADIUS, height=BASE_HEIGHT)
        vis = c.createVisualShapeArray(
            shapeTypes=[pybullet.GEOM_CYLINDER, pybullet.GEOM_BOX],
            radii=[BASE_RADIUS, 0.0],
            lengths=[BASE_HEIGHT, 0.0],
            halfExtents=[[0, 0, 0], [0.06, 0.12, 0.06]],
            visualFramePositions=[[0, 0, 0], [BASE_RADIUS - 0.04, 0, BASE_HEIGHT / 2 - 0.1]],
            rgbaColors=[list(color), [0.95, 0.95, 0.95, 1]],
        )
        start = [float(xy[0]), float(xy[1]), BASE_Z]
        self.base = c.createMultiBody(40.0, col, vis, basePosition=start, baseOrientation=yaw_quaternion(yaw))
        c.changeDynamics(self.base, -1, lateralFriction=0.5, linearDamping=0.0, angularDamping=0.0)
        self.base_cid = c.createConstraint(
            self.base,
            -1,
            -1,
            -1,
            pybullet.JOINT_FIXED,
            [0, 0, 0],
            [0, 0, 0],
            start,
            childFrameOrientation=yaw_quaternion(yaw),
        )
        c.changeConstraint(self.base_cid, start, yaw_quaternion(yaw), maxForce=4000.0)
        ee_col = c.createCollisionShape(pybullet.GEOM_SPHERE, radius=HAND_RADIUS)
        ee_vis = c.createVisualShape(pybullet.GEOM_SPHERE, radius=0.045, rgbaColor=[0.95, 0.75, 0.1, 1])
        self.ee_local = CARRY_OFFSET.copy()
        ee_start = self._base_to_world(self.ee_local, np.array(start), yaw)
        self.ee = c.createMultiBody(0.5, ee_col, ee_vis, basePosition=list(ee_start))
        self.ee_cid = c.createConstraint(
            self.ee, -1, -1, -1, pybullet.JOINT_FIXED, [0, 0, 0], [0, 0, 0], list(ee_start)
        )
        c.changeConstraint(self.ee_cid, list(ee_start), maxForce=300.0)
        world.set_group(self.base, GROUP_BASE)
        world.set_group(self.ee, GROUP_EE)
        self.held: SimObject | None = None
        self._grasp_cid: int | None = None
        self.ee_yaw = 0.0  # the end effector's turn about the vertical; what it holds turns with it
        self.target = np.array([start[0], start[1], yaw])
        self.door_grip: tuple[SimObject, int] | None = None
        self._state_key: tuple[int, int] | None = None  # (substeps, edits) the cached readings are from
        self._state: dict[str, np.ndarray] = {}

    # --- state -----------------------------------------------------------------------------------
    def _reading(self, name: str, read: Callable[[], np.ndarray]) -> np.ndarray:
        """A copy of ``read()``, read from the client once per physics state: skills, people, monitors
        and observations ask many times per step, and poses and velocities change only when the world
        steps or is edited (``world.substeps``, ``world.edits``)."""
        key = (self.world.substeps, self.world.edits)
        if key != self._state_key:
            self._state_key = key
            self._state = {}
        value = self._state.get(name)
        if value is None:
            value = self._state[name] = read()
        return value.copy()

    def pose(self) -> np.ndarray:
        """(x, y, yaw) of the base."""
        return self._reading("pose", self._read_pose)

    def velocity(self) -> np.ndarray:
        """(vx, vy, wz) of the base."""
        return self._reading("velocity", self._read_velocity)

    def ee_position(self) -> np.ndarray:
        return self._reading("ee", self._read_ee)

    def _read_pose(self) -> np.ndarray:
        pos, orn = self.world.client.getBasePositionAndOrientation(self.base)
        return np.array([pos[0], pos[1], quaternion_yaw(orn)])

    def _read_velocity(self) -> np.ndarray:
        lin, ang = self.world.client.getBaseVelocity(self.base)
        return np.array([lin[0], lin[1], ang[2]])

    def _read_ee(self) -> np.ndarray:
        return np.asarray(self.world.client.getBasePositionAndOrientation(self.ee)[0])

    def shoulder(self, base_pose: np.ndarray | None = None) -> np.ndarray:
        x, y, _ = self.pose() if base_pose is None else base_pose
        return np.array([x, y, SHOULDER_HEIGHT])

    def within_reach(self, point, base_pose: np.ndarray | None = None) -> bool:
        return vector_norm(np.asarray(point) - self.shoulder(base_pose)) <= REACH

    def clip_to_reach(self, point, base_pose: np.ndarray | None = None) -> np.ndarray:
        shoulder = self.shoulder(base_pose)
        offset = np.asarray(point, dtype=float) - shoulder
        norm = vector_norm(offset)
        if norm > REACH:
            offset *= REACH / norm
        out = shoulder + offset
        out[2] = max(out[2], 0.03)
        return out

    @staticmethod
    def _base_to_world(local, base_xyz, yaw: float) -> np.ndarray:
        c, s = np.cos(yaw), np.sin(yaw)
        return np.array(
            [base_xyz[0] + c * local[0] - s * local[1], base_xyz[1] + s * local[0] + c * local[1], local[2]]
        )

    def carry_point(self, base_pose: np.ndarray | None = None) -> np.ndarray:
        x, y, yaw = self.pose() if base_pose is None else base_pose
        return self._base_to_world(CARRY_OFFSET, (x, y), yaw)

    # --- commands ----------------------------------------------------------------------------------
    def drive_to(self, x: float, y: float, yaw: float) -> None:
        """Move the base constraint's target; physics moves the base there (or is stopped)."""
        self.target = np.array([x, y, yaw])
        self.world.client.changeConstraint(
            self.base_cid, [x, y, BASE_Z], yaw_quaternion(yaw), maxForce=4000.0
        )

    def move_ee(self, point, clip: bool = True) -> np.ndarray:
        """Move the end effector's constraint target to ``point`` (``clip``: first into reach)."""
        target = self.clip_to_reach(point) if clip else np.asarray(point, dtype=float)
        self.world.client.changeConstraint(self.ee_cid, list(map(float, target)), maxForce=300.0)
        return target

    def teleport(self, x: float, y: float, yaw: float, ee_point=None) -> None:
        """Jump the base (and the end effector with what it holds) to a new pose."""
        c = self.world.client
        old = self.pose()
        base_xyz = [x, y, BASE_Z]
        c.resetBasePositionAndOrientation(self.base, base_xyz, yaw_quaternion(yaw))
        self.world.edits += 1
        c.resetBaseVelocity(self.base, [0, 0, 0], [0, 0, 0])
        self.drive_to(x, y, yaw)
        if ee_point is None:
            # keep the end effector where it was relative to the base
            rel = self.ee_position() - np.array([old[0], old[1], 0.0])
            cth, sth = np.cos(old[2]), np.sin(old[2])
            local = np.array([*into_frame(rel[0], rel[1], cth, sth), rel[2]])
            ee_point = self._base_to_world(local, (x, y), yaw)
        self.teleport_ee(ee_point)

    def teleport_ee(self, point) -> None:
        c = self.world.client
        point = self.clip_to_reach(point)
        before = self.ee_position()
        c.resetBasePositionAndOrientation(self.ee, list(map(float, point)), yaw_quaternion(self.ee_yaw))
        self.world.edits += 1
        c.resetBaseVelocity(self.ee, [0, 0, 0], [0, 0, 0])
        c.changeConstraint(self.ee_cid, list(map(float, point)), maxForce=300.0)
        if self.held is not None:
            body = self.held.body
            lo, hi = c.getAABB(body)
            pos, orn = c.getBasePositionAndOrientation(body)
            new = np.asarray(pos) + (point - before)
            c.resetBasePositionAndOrientation(body, list(map(float, new)), orn)
            c.resetBaseVelocity(body, [0, 0, 0], [0, 0, 0])
            # What rested on it where it was (a sandal on a picked-up book) falls instead of floating.
            wake_overlapping(c, np.subtract(lo, 0.01), np.add(hi, 0.01))

    def turn_ee(self, yaw: float, instant: bool = False) -> None:
        """Turn the end effector, and what it holds, to ``yaw`` about the vertical: at once about its
        centre (``instant``), or by moving its constraint's target, which the physics then follows."""
        c = self.world.client
        turn = yaw_quaternion(yaw - self.ee_yaw)
        self.ee_yaw = float(yaw)
        c.changeConstraint(self.ee_cid, jointChildFrameOrientation=yaw_quaternion(yaw), maxForce=300.0)
        if not instant:
            return
        centre = [float(v) for v in self.ee_position()]
        c.resetBasePositionAndOrientation(self.ee, centre, yaw_quaternion(yaw))
        self.world.edits += 1
        if self.held is not None:
            pos, orn = c.getBasePositionAndOrientation(self.held.body)
            offset = c.multiplyTransforms([0, 0, 0], turn, np.subtract(pos, centre).tolist(), [0, 0, 0, 1])[0]
            orn = c.multiplyTransforms([0, 0, 0], turn, [0, 0, 0], orn)[1]
            c.resetBasePositionAndOrientation(self.held.body, np.add(centre, offset).tolist(), orn)
            c.resetBaseVelocity(self.held.body, [0, 0, 0], [0, 0, 0])

    def grasp(self, obj: SimObject) -> None:
        """Attach ``obj`` to the end effector where it is now (a fixed constraint)."""
        c = self.world.client
        ee_pos, ee_orn = c.getBasePositionAndOrientation(self.ee)
        obj_pos, obj_orn = c.getBasePositionAndOrientation(obj.body)
        inv_pos, inv_orn = c.invertTransform(ee_pos, ee_orn)
        rel_pos, rel_orn = c.multiplyTransforms(inv_pos, inv_orn, obj_pos, obj_orn)
        self._grasp_cid = c.createConstraint(
            self.ee,
            -1,
            obj.body,
            -1,
            pybullet.JOINT_FIXED,
            [0, 0, 0],
            rel_pos,
            [0, 0, 0],
            parentFrameOrientation=rel_orn,
        )
        c.changeConstraint(self._grasp_cid, maxForce=2000.0)
        self.world.set_group(obj.body, GROUP_HELD)
        self.held = obj

    def release(self) -> SimObject | None:
        obj = self.held
        if obj is None:
            return None
        if self._grasp_cid is not None:
            self.world.client.removeConstraint(self._grasp_cid)
        self._grasp_cid = None
        self.world.set_group(obj.body, GROUP_DYNAMIC)
        self.held = None
        return obj

    def grip_door(self, obj: SimObject) -> None:
        """Hold a door where the hand is (at its handle): a point constraint between the end effector
        and that point of the door's link."""
        c = self.world.client
        link_pos, link_orn = c.getLinkState(obj.body, obj.door_joint)[:2]
        inv_pos, inv_orn = c.invertTransform(link_pos, link_orn)
        grip, _ = c.multiplyTransforms(inv_pos, inv_orn, self.ee_position().tolist(), [0, 0, 0, 1])
        cid = c.createConstraint(
            self.ee, -1, obj.body, obj.door_joint, pybullet.JOINT_POINT2POINT, [0, 0, 0], [0, 0, 0], grip
        )
        c.changeConstraint(cid, maxForce=200.0)
        c.setJointMotorControl2(
            obj.body, obj.door_joint, pybullet.VELOCITY_CONTROL, targetVelocity=0, force=2.0
        )
        self.door_grip = (obj, cid)

    def release_door(self) -> None:
        if self.door_grip is None:
            return
        obj, cid = self.door_grip
        c = self.world.client
        c.removeConstraint(cid)
        angle = c.getJointState(obj.body, obj.door_joint)[0]
        c.setJointMotorControl2(
            obj.body, obj.door_joint, pybullet.POSITION_CONTROL, targetPosition=angle, force=200.0
        )
        self.door_grip = None
