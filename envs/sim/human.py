"""Simulated person for the household benchmark.

A human is an articulated body built from primitives (legs and torso as the base, a head and two arms
as links) that is posed kinematically every update, so it stays collidable and deterministic. A
behaviour model parameterised by a :class:`Persona` drives it: social-force locomotion towards a goal,
a retreat reaction to a robot that intrudes into personal space, gaze, arm gestures and gripping
objects that are handed over.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pybullet

from .world import wake_overlapping

if TYPE_CHECKING:
    from pybullet_utils.bullet_client import BulletClient

GESTURES: tuple[str, ...] = ("none", "reach_out", "stop", "wave", "point")

# Social-force parameters (Helbing & Molnar 1995).
RELAXATION_TIME = 0.5  # s, how fast the walking velocity relaxes to the desired one
ROBOT_FORCE_A = 2.0  # m/s^2, strength of the robot repulsion
ROBOT_FORCE_B = 0.3  # m, range of the robot repulsion
TANGENTIAL_FACTOR = 2.0  # sideways share of the robot repulsion that steers walkers around it
WALL_FORCE_A = 2.0  # m/s^2, strength of the repulsion from non-free space
WALL_FORCE_B = 0.2  # m, range of the repulsion from non-free space
WALL_SAMPLE_GAPS = (0.1, 0.3)  # m beyond the torso surface where free space is probed
WALL_SAMPLE_COUNT = 8  # probes per ring
SWAY_STD = 0.1  # m/s^2, gait noise while walking so that trajectories are not perfectly straight
SPEED_CAP_FACTOR = 1.5  # speed cap relative to the preferred walking speed
ARRIVAL_DISTANCE = 0.15  # m
MOVING_SPEED = 0.05  # m/s, below this a person counts as standing

# Reaction and attention.
CLOSING_SPEED = 0.2  # m/s, speed of the robot towards the person that triggers the retreat reaction
ATTENTION_RANGE = 3.0  # m, centre distance within which the person watches the robot

# Kinematic limits that keep the motion human-like.
TURN_RATE = 4.0  # rad/s, torso yaw
HEAD_TURN_RATE = 4.0  # rad/s
HEAD_LIMIT = math.radians(100.0)  # beyond this the torso has to turn as well
ARM_RATE = 6.0  # rad/s, shoulder pitch
WAVE_CENTER = math.radians(160.0)
WAVE_AMPLITUDE = math.radians(20.0)
WAVE_FREQUENCY = 1.5  # Hz

# Gripping.
GRIP_DISTANCE = 0.15  # m between the offered object and the right hand tip
JOINT_FORCE = 50.0  # N m, holding torque of the joint motors between updates
WAKE_MARGIN = 0.1  # m around the body where sleeping props are woken: a tick's walk and contact margins
LINK_MASS = 0.5  # kg; revolute links need mass to be posed with resetJointState

# Shoulder pitch per gesture for (left, right) arms: 0 hangs down, pi/2 points forward horizontally.
_ARM_POSES: dict[str, tuple[float, float]] = {
    "none": (0.0, 0.0),
    "reach_out": (0.0, math.pi / 2),
    "stop": (0.0, math.radians(150.0)),  # raised about 60 deg above the horizontal, palm to the robot
    "wave": (0.0, WAVE_CENTER),
    "point": (0.0, math.radians(95.0)),
}

_HEAD, _LEFT_ARM, _RIGHT_ARM = 0, 1, 2
_JOINTS = [_HEAD, _LEFT_ARM, _RIGHT_ARM]


@dataclass(frozen=True)
class Persona:
    """Parameters of a person's body and behaviour."""

    name: str = "adult"
    height: float = 1.70  # m, scales the body
    walking_speed: float = 1.0  # preferred speed, m/s
    personal_space: float = 0.6  # m surface distance under which the person feels intruded
    reactivity: float = 1.0  # gain of the retreat reaction (0 = never steps back)
    grip_delay: float = 0.3  # s the object must stay within grip distance of the hand before gripping

    def __post_init__(self) -> None:
        if self.height <= 0.0 or self.walking_speed <= 0.0:
            raise ValueError(f"persona {self.name!r}: height and walking_speed must be positive")
        if self.personal_space < 0.0 or self.reactivity < 0.0 or self.grip_delay < 0.0:
            raise ValueError(
                f"persona {self.name!r}: personal_space, reactivity and grip_delay must be non-negative"
            )


PERSONAS: dict[str, Persona] = {
    "adult": Persona(),
    "elderly": Persona(
        name="elderly", height=1.65, walking_speed=0.6, personal_space=0.9, reactivity=0.5, grip_delay=0.8
    ),
    "child": Persona(
        name="child", height=1.20, walking_speed=1.3, personal_space=0.4, reactivity=1.5, grip_delay=0.2
    ),
    "hurried": Persona(
        name="hurried", height=1.75, walking_speed=1.5, personal_space=0.45, reactivity=0.8, grip_delay=0.2
    ),
}


def _wrap(angle: float) -> float:
    """Wrap an angle to [-pi, pi)."""
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def _approach(current: float, target: float, max_step: float) -> float:
    """Move ``current`` towards ``target`` by at most ``max_step``."""
    return current + min(max(target - current, -max_step), max_step)


# Unit directions of the wall probes, with each ring's reach beyond the torso and force weight.
_WALL_DIRECTIONS = tuple(
    (math.cos(2.0 * math.pi * k / WALL_SAMPLE_COUNT), math.sin(2.0 * math.pi * k / WALL_SAMPLE_COUNT))
    for k in range(WALL_SAMPLE_COUNT)
)
_WALL_RINGS = tuple((gap, WALL_FORCE_A * math.exp(-gap / WALL_FORCE_B)) for gap in WALL_SAMPLE_GAPS)
_WALL_PROBE_GAP = max(WALL_SAMPLE_GAPS)


def _yaw_quaternion(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(0.5 * yaw), math.cos(0.5 * yaw))


class Human:
    """A simulated person: a kinematic primitive body driven by a persona-parameterised behaviour."""

    RADIUS: float = 0.2  # m, torso horizontal radius used for surface distances
    STATE_SIZE: int = 6 + len(GESTURES) + 2

    def __init__(
        self,
        client: BulletClient,
        name: str,
        xy: tuple[float, float],
        yaw: float,
        persona: Persona,
        rng: np.random.Generator,
        color: tuple[float, float, float, float] = (0.85, 0.6, 0.45, 1.0),
        asleep: bool = False,
    ) -> None:
        self._client = client
        self.name = name
        self.persona = persona
        self._rng = rng
        self._pos = np.array(xy, dtype=float)
        self._yaw = _wrap(float(yaw))
        self._vel = np.zeros(2)
        self._goal: np.ndarray | None = None
        self._look_target: np.ndarray | None = None
        self._head_angle = 0.0
        self._arm_angles = [0.0, 0.0]
        self._time = 0.0
        self._retreating = False
        self._watching_robot = False
        self._grip_timers: dict[int, float] = {}
        self._constraint: int | None = None
        self.gesture = "none"
        self.holding: int | None = None
        self._asleep = bool(asleep)
        #: Bodies of movable props this person pushes aside (the env sets it): see ``_wake_touched``.
        self.props: frozenset[int] = frozenset()
        # Individual variation within a persona: people of one kind do not all walk at the same pace.
        self._speed = persona.walking_speed * float(np.clip(rng.normal(1.0, 0.05), 0.9, 1.1))
        self._wave_phase = float(rng.uniform(0.0, 2.0 * math.pi))
        self.body_id = self._build(color)
        self._posed: tuple[float, ...] | None = None  # the pose last applied to the body
        self._apply_pose()

    # ------------------------------------------------------------------ body
    def _build(self, color: tuple[float, float, float, float]) -> int:
        c = self._client
        h = self.persona.height
        s = h / 1.70
        self._head_radius = 0.11 * s
        self._arm_radius = 0.045 * s
        self._arm_length = 0.6 * s
        leg_height = 0.45 * h
        torso_bottom = leg_height
        torso_top = h - 2.0 * self._head_radius - 0.03 * s
        neck_z = h - 2.0 * self._head_radius
        shoulder_z = torso_top - 0.05 * s
        shoulder_y = self.RADIUS + self._arm_radius

        base_types = [pybullet.GEOM_BOX, pybullet.GEOM_BOX]
        base_extents = [
            [0.09 * s, 0.14 * s, 0.5 * leg_height],
            [0.12, self.RADIUS, 0.5 * (torso_top - torso_bottom)],
        ]
        base_frames = [[0.0, 0.0, 0.5 * leg_height], [0.0, 0.0, 0.5 * (torso_bottom + torso_top)]]
        base_col = c.createCollisionShapeArray(
            shapeTypes=base_types, halfExtents=base_extents, collisionFramePositions=base_frames
        )
        base_vis = c.createVisualShapeArray(
            shapeTypes=base_types, halfExtents=base_extents, visualFramePositions=base_frames
        )
        head_col = c.createCollisionShape(
            pybullet.GEOM_SPHERE, radius=self._head_radius, collisionFramePosition=[0, 0, self._head_radius]
        )
        head_vis = c.createVisualShape(
            pybullet.GEOM_SPHERE,
            radius=self._head_radius,
            visualFramePosition=[0, 0, self._head_radius],
            rgbaColor=list(color),
        )
        capsule = self._arm_length - 2.0 * self._arm_radius
        arm_frame = [0.0, 0.0, -0.5 * self._arm_length]
        arm_col = c.createCollisionShape(
            pybullet.GEOM_CAPSULE, radius=self._arm_radius, height=capsule, collisionFramePosition=arm_frame
        )
        arm_vis = c.createVisualShape(
            pybullet.GEOM_CAPSULE,
            radius=self._arm_radius,
            length=capsule,
            visualFramePosition=arm_frame,
            rgbaColor=list(color),
        )
        identity = [0.0, 0.0, 0.0, 1.0]
        body = c.createMultiBody(
            baseMass=0.0,  # static base: the person is posed kinematically
            baseCollisionShapeIndex=base_col,
            baseVisualShapeIndex=base_vis,
            basePosition=[self._pos[0], self._pos[1], 0.0],
            baseOrientation=_yaw_quaternion(self._yaw),
            linkMasses=[LINK_MASS] * 3,
            linkCollisionShapeIndices=[head_col, arm_col, arm_col],
            linkVisualShapeIndices=[head_vis, arm_vis, arm_vis],
            linkPositions=[[0.0, 0.0, neck_z], [0.0, shoulder_y, shoulder_z], [0.0, -shoulder_y, shoulder_z]],
            linkOrientations=[identity] * 3,
            linkInertialFramePositions=[[0.0, 0.0, self._head_radius], arm_frame, arm_frame],
            linkInertialFrameOrientations=[identity] * 3,
            linkParentIndices=[0, 0, 0],
            linkJointTypes=[pybullet.JOINT_REVOLUTE] * 3,
            # Head yaws about z; arms pitch about -y so a positive angle raises them forwards.
            linkJointAxis=[[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [0.0, -1.0, 0.0]],
        )
        # Clothes a shade darker than the skin so that torso and limbs are told apart in images.
        clothes = [0.55 * color[0], 0.55 * color[1], 0.55 * color[2], color[3]]
        c.changeVisualShape(body, -1, rgbaColor=clothes)
        return body

    def _apply_pose(self) -> None:
        angles = [self._head_angle, self._arm_angles[0], self._arm_angles[1]]
        pose = (float(self._pos[0]), float(self._pos[1]), self._yaw, *angles)
        posed = self._posed
        if pose == posed:
            return  # still (asleep, or standing): the static base and the joint motors hold the pose
        self._posed = pose
        c = self._client
        c.resetBasePositionAndOrientation(self.body_id, [pose[0], pose[1], 0.0], _yaw_quaternion(self._yaw))
        # A walker's head and arms mostly keep their angles: the motors already hold them.
        if posed is None or pose[3:] != posed[3:]:
            # One command for the three joints (velocities zeroed, as resetJointState does).
            c.resetJointStatesMultiDof(self.body_id, _JOINTS, [[angle] for angle in angles])
            # The links have mass, so motors hold them in place while the simulation steps between updates.
            c.setJointMotorControlArray(
                self.body_id,
                _JOINTS,
                pybullet.POSITION_CONTROL,
                targetPositions=angles,
                forces=[JOINT_FORCE] * 3,
            )
        if self.props:
            self._wake_touched()

    def _wake_touched(self) -> None:
        """Wake the sleeping props the body (arms included) reaches into, give or take WAKE_MARGIN. A
        reset pose does not wake what it moves into, so a person would otherwise walk through props
        at rest instead of pushing them; props merely near stay asleep."""
        c = self._client
        boxes = [c.getAABB(self.body_id, link) for link in (-1, _HEAD, _LEFT_ARM, _RIGHT_ARM)]
        lo = [min(axis) - WAKE_MARGIN for axis in zip(*(box[0] for box in boxes), strict=True)]
        hi = [max(axis) + WAKE_MARGIN for axis in zip(*(box[1] for box in boxes), strict=True)]
        wake_overlapping(c, lo, hi, self.props)

    def _link_state(self, link: int) -> tuple:
        return self._client.getLinkState(self.body_id, link, computeForwardKinematics=True)

    # --------------------------------------------------------------- queries
    @property
    def asleep(self) -> bool:
        """Whether the person sleeps: no walking, gestures, gaze shifts or reactions."""
        return self._asleep

    @asleep.setter
    def asleep(self, value: bool) -> None:
        self._asleep = bool(value)
        if self._asleep:
            self._goal = None
            self._vel = np.zeros(2)
            self.gesture = "none"
            self._retreating = False
            self._watching_robot = False
            self._grip_timers.clear()

    def position(self) -> np.ndarray:
        """(x, y) of the torso."""
        return self._pos.copy()

    def yaw(self) -> float:
        """Heading of the torso in rad."""
        return self._yaw

    def velocity(self) -> np.ndarray:
        """(vx, vy), the last commanded walking velocity."""
        return self._vel.copy()

    def goal(self) -> np.ndarray | None:
        """Current walking goal, or None when standing."""
        return None if self._goal is None else self._goal.copy()

    def hand_position(self, side: str = "right") -> np.ndarray:
        """World xyz of the tip of the given hand ("left" or "right")."""
        if side not in ("left", "right"):
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        state = self._link_state(_RIGHT_ARM if side == "right" else _LEFT_ARM)
        rot = np.array(self._client.getMatrixFromQuaternion(state[5])).reshape(3, 3)
        return np.array(state[4]) + rot @ np.array([0.0, 0.0, -self._arm_length])

    def head_position(self) -> np.ndarray:
        """World xyz of the head centre."""
        return np.array(self._link_state(_HEAD)[0])

    def gaze_direction(self) -> np.ndarray:
        """Unit xy vector the head faces."""
        angle = self._yaw + self._head_angle
        return np.array([math.cos(angle), math.sin(angle)])

    def surface_distance(self, xy: Sequence[float] | np.ndarray, radius: float) -> float:
        """Distance between the torso cylinder and a disc of ``radius`` at ``xy``, clipped at 0."""
        centre = math.hypot(float(xy[0]) - self._pos[0], float(xy[1]) - self._pos[1])
        return max(0.0, centre - self.RADIUS - radius)

    def state_vector(self) -> np.ndarray:
        """Fixed-length float32 vector: x, y, cos yaw, sin yaw, vx, vy, one-hot gesture, holding, asleep."""
        out = np.zeros(self.STATE_SIZE, dtype=np.float32)
        out[:6] = (self._pos[0], self._pos[1], math.cos(self._yaw), math.sin(self._yaw), *self._vel)
        out[6 + GESTURES.index(self.gesture)] = 1.0
        out[-2] = float(self.holding is not None)
        out[-1] = float(self._asleep)
        return out

    # -------------------------------------------------------------- commands
    def set_goal(self, xy: Sequence[float] | np.ndarray | None) -> None:
        """Walk to ``xy``; None makes the person stand."""
        self._goal = None if xy is None else np.array(xy, dtype=float)[:2]

    def set_gesture(self, gesture: str) -> None:
        """Start a gesture from :data:`GESTURES`; a sleeping person keeps still."""
        if gesture not in GESTURES:
            raise ValueError(f"unknown gesture {gesture!r}; valid gestures: {', '.join(GESTURES)}")
        if not self._asleep:
            self.gesture = gesture

    def look_at(self, xy: Sequence[float] | np.ndarray | None) -> None:
        """Turn the head towards ``xy``; None returns to the automatic gaze."""
        self._look_target = None if xy is None else np.array(xy, dtype=float)[:2]

    def grip(self, body_id: int) -> None:
        """Attach ``body_id`` to the right hand where it is now and hold the arm out."""
        if self.holding is not None:
            self.release()
        c = self._client
        hand = self._link_state(_RIGHT_ARM)
        obj_pos, obj_orn = c.getBasePositionAndOrientation(body_id)
        # Constraint frames are relative to the centres of mass, which is what getLinkState[0:2] gives;
        # keeping the current relative pose avoids the object jumping into the hand.
        inv_pos, inv_orn = c.invertTransform(hand[0], hand[1])
        rel_pos, rel_orn = c.multiplyTransforms(inv_pos, inv_orn, obj_pos, obj_orn)
        self._constraint = c.createConstraint(
            self.body_id,
            _RIGHT_ARM,
            body_id,
            -1,
            pybullet.JOINT_FIXED,
            [0.0, 0.0, 0.0],
            parentFramePosition=rel_pos,
            childFramePosition=[0.0, 0.0, 0.0],
            parentFrameOrientation=rel_orn,
            childFrameOrientation=[0.0, 0.0, 0.0, 1.0],
        )
        self.holding = int(body_id)
        self.gesture = "reach_out"
        self._grip_timers.clear()

    def release(self) -> None:
        """Let go of the held object, if any."""
        if self._constraint is not None:
            self._client.removeConstraint(self._constraint)
        self._constraint = None
        self.holding = None

    # ---------------------------------------------------------------- update
    def update(
        self,
        dt: float,
        robot_xy: np.ndarray,
        robot_velocity: np.ndarray,
        robot_radius: float,
        is_free: Callable[[float, float], bool],
        offered: Sequence[tuple[int, np.ndarray]] = (),
        pose: bool = True,
        clearance: Callable[[float, float], float] | None = None,
    ) -> list[str]:
        """Advance the behaviour by ``dt`` seconds and return plain-language events that happened.

        Events: "reached the goal", "stepped back from the robot", "noticed the robot" (robot came
        within 3 m) and "gripped body N". The robot is a disc of ``robot_radius`` at ``robot_xy``;
        ``is_free(x, y)`` tells walkable space; ``offered`` lists (body id, xyz) of objects held out.
        ``clearance(x, y)`` (optional) is a radius around (x, y) that is all walkable, which lets the
        wall probes be skipped in open space. ``pose=False`` leaves the body where it is (for updates
        between which nothing reads the body or steps the physics); a person reaching out is always
        posed, their hand has to be found.
        """
        if dt <= 0.0:
            raise ValueError(f"dt must be positive, got {dt}")
        events: list[str] = []
        self._time += dt
        robot_xy = np.asarray(robot_xy, dtype=float)[:2]
        robot_velocity = np.asarray(robot_velocity, dtype=float)[:2]
        if not self._asleep:
            self._locomote(dt, robot_xy, robot_velocity, robot_radius, is_free, events, clearance)
            self._gaze(dt, robot_xy, events)
            self._move_arms(dt)
        else:
            self._vel = np.zeros(2)
            self._head_angle = _approach(self._head_angle, 0.0, HEAD_TURN_RATE * dt)
            self._move_arms(dt)
        if pose or self.gesture == "reach_out":
            self._apply_pose()
        if not self._asleep:
            self._try_grip(dt, offered, events)
        return events

    def _locomote(
        self,
        dt: float,
        robot_xy: np.ndarray,
        robot_velocity: np.ndarray,
        robot_radius: float,
        is_free: Callable[[float, float], bool],
        events: list[str],
        clearance: Callable[[float, float], float] | None = None,
    ) -> None:
        # Plain floats: these few 2-D operations run for every person at every tick.
        px, py = float(self._pos[0]), float(self._pos[1])
        vx, vy = float(self._vel[0]), float(self._vel[1])
        walking = False
        fx = fy = 0.0
        hx = hy = 0.0
        if self._goal is not None:
            gx, gy = float(self._goal[0]) - px, float(self._goal[1]) - py
            dist = math.hypot(gx, gy)
            if dist < ARRIVAL_DISTANCE:
                self._goal = None
                vx = vy = 0.0
                self._vel = np.zeros(2)
                events.append("reached the goal")
            else:
                walking = True
                hx, hy = gx / dist, gy / dist
                # Slowing down over the last metres avoids overshooting the arrival disc.
                speed = min(self._speed, dist / RELAXATION_TIME)
                fx += (speed * hx - vx) / RELAXATION_TIME
                fy += (speed * hy - vy) / RELAXATION_TIME
        if not walking:
            fx -= vx / RELAXATION_TIME
            fy -= vy / RELAXATION_TIME

        ax, ay = px - float(robot_xy[0]), py - float(robot_xy[1])
        centre = math.hypot(ax, ay)
        if centre > 1e-9:
            nx, ny = ax / centre, ay / centre
        else:
            nx, ny = math.cos(self._yaw), math.sin(self._yaw)
        gap = max(0.0, centre - self.RADIUS - robot_radius)
        # Only people on the move steer around the robot; a standing person reacts through the retreat
        # below, otherwise a robot that stops close by to hand something over would drive them away.
        if walking:
            push = ROBOT_FORCE_A * math.exp(-gap / ROBOT_FORCE_B)
            fx += push * nx
            fy += push * ny
            if hx * nx + hy * ny < 0.0:
                # A purely radial push leaves a person walking straight at the robot stuck in front of
                # it; a sideways part lets them walk around, on the side they already lean to, or on
                # their right when the encounter is head-on.
                side = hx * ny - hy * nx
                sign = 1.0 if side <= 1e-3 else -1.0
                fx += TANGENTIAL_FACTOR * push * sign * hy
                fy -= TANGENTIAL_FACTOR * push * sign * hx
        if (walking or math.hypot(vx, vy) > MOVING_SPEED) and (
            clearance is None or clearance(px, py) <= self.RADIUS + _WALL_PROBE_GAP
        ):
            wx, wy = self._wall_force(px, py, is_free)
            fx += wx
            fy += wy
        if walking:
            sway = self._rng.normal(0.0, SWAY_STD, 2)
            fx += float(sway[0])
            fy += float(sway[1])

        nvx, nvy = vx + dt * fx, vy + dt * fy
        # Only the robot's own approach counts, so a person walking up to a parked robot is not startled.
        closing = float(robot_velocity[0]) * nx + float(robot_velocity[1]) * ny
        intruded = gap < self.persona.personal_space and closing > CLOSING_SPEED
        retreat = intruded and self.persona.reactivity > 0.0
        if retreat:
            nvx = self.persona.reactivity * self._speed * nx
            nvy = self.persona.reactivity * self._speed * ny
            if not self._retreating:
                events.append("stepped back from the robot")
        self._retreating = retreat

        cap = SPEED_CAP_FACTOR * self._speed
        speed = math.hypot(nvx, nvy)
        if speed > cap:
            nvx *= cap / speed
            nvy *= cap / speed
        self._vel = self._step(px, py, nvx, nvy, dt, is_free)
        self._turn(dt, retreat)

    def _wall_force(
        self, px: float, py: float, is_free: Callable[[float, float], bool]
    ) -> tuple[float, float]:
        fx = fy = 0.0
        for gap, weight in _WALL_RINGS:
            reach = self.RADIUS + gap
            for cx, cy in _WALL_DIRECTIONS:
                if not is_free(px + reach * cx, py + reach * cy):
                    fx -= weight * cx
                    fy -= weight * cy
        return fx, fy

    def _step(
        self, px: float, py: float, vx: float, vy: float, dt: float, is_free: Callable[[float, float], bool]
    ) -> np.ndarray:
        """Move by ``vel * dt`` without entering blocked space; return the velocity actually kept."""
        nx, ny = px + vx * dt, py + vy * dt
        if is_free(nx, ny):
            self._pos = np.array([nx, ny])
            return np.array([vx, vy])
        # Sliding along the obstacle keeps people from sticking to walls they graze.
        if is_free(nx, py):
            self._pos = np.array([nx, py])
            return np.array([vx, 0.0])
        if is_free(px, ny):
            self._pos = np.array([px, ny])
            return np.array([0.0, vy])
        return np.zeros(2)

    def _turn(self, dt: float, retreating: bool) -> None:
        # People step back without turning their back on the robot.
        vx, vy = float(self._vel[0]), float(self._vel[1])
        if retreating or math.hypot(vx, vy) <= 2.0 * MOVING_SPEED:
            return
        heading = math.atan2(vy, vx)
        self._yaw = _wrap(_approach(self._yaw, self._yaw + _wrap(heading - self._yaw), TURN_RATE * dt))

    def _gaze(self, dt: float, robot_xy: np.ndarray, events: list[str]) -> None:
        near = (
            math.hypot(float(robot_xy[0]) - self._pos[0], float(robot_xy[1]) - self._pos[1])
            <= ATTENTION_RANGE
        )
        if near and not self._watching_robot:
            events.append("noticed the robot")
        self._watching_robot = near
        target = self._look_target if self._look_target is not None else (robot_xy if near else None)
        desired = 0.0
        if target is not None:
            ox, oy = float(target[0]) - self._pos[0], float(target[1]) - self._pos[1]
            if math.hypot(ox, oy) > 1e-6:
                desired = _wrap(math.atan2(oy, ox) - self._yaw)
        if abs(desired) > HEAD_LIMIT and self._goal is None:
            # A standing person turns the torso towards what the head cannot reach.
            excess = desired - math.copysign(HEAD_LIMIT, desired)
            turn = min(max(excess, -TURN_RATE * dt), TURN_RATE * dt)
            self._yaw = _wrap(self._yaw + turn)
            desired -= turn
        desired = min(max(desired, -HEAD_LIMIT), HEAD_LIMIT)
        self._head_angle = _approach(self._head_angle, desired, HEAD_TURN_RATE * dt)

    def _move_arms(self, dt: float) -> None:
        gesture = "none" if self._asleep else self.gesture
        targets = list(_ARM_POSES[gesture])
        if gesture == "wave":
            phase = 2.0 * math.pi * WAVE_FREQUENCY * self._time + self._wave_phase
            targets[1] = WAVE_CENTER + WAVE_AMPLITUDE * math.sin(phase)
        # The wave oscillation (peak 3.3 rad/s) stays below ARM_RATE, so the rate limit never flattens it.
        step = ARM_RATE * dt
        self._arm_angles = [_approach(a, t, step) for a, t in zip(self._arm_angles, targets, strict=True)]

    def _try_grip(self, dt: float, offered: Sequence[tuple[int, np.ndarray]], events: list[str]) -> None:
        if self.holding is not None or self.gesture != "reach_out":
            self._grip_timers.clear()
            return
        hand = self.hand_position("right")
        timers: dict[int, float] = {}
        for body_id, xyz in offered:
            if float(np.linalg.norm(np.asarray(xyz, dtype=float)[:3] - hand)) <= GRIP_DISTANCE:
                timers[int(body_id)] = self._grip_timers.get(int(body_id), 0.0) + dt
        # Objects that left the hand or were no longer offered start their count again.
        self._grip_timers = timers
        for body_id, held_for in timers.items():
            # The tolerance absorbs rounding when grip_delay is a multiple of dt.
            if held_for >= self.persona.grip_delay - 1e-9:
                self.grip(body_id)
                events.append(f"gripped body {body_id}")
                return

    def remove(self) -> None:
        """Remove the body and any grip constraint from the client."""
        self.release()
        self._client.removeBody(self.body_id)
