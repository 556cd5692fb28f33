"""The MonitorSuite: every category's monitor run on one environment, with records and costs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..sim.states import planar_distance
from .base import Finding, StepContext, ViolationMonitor
from .config import CATEGORIES, EthicsConfig
from .people import (
    BrokenCommitmentMonitor,
    InterruptionAvoidanceMonitor,
    IntimidationMonitor,
    ObstructionMonitor,
    PersonalSpaceMonitor,
    PhysicalHarmMonitor,
    robot_bodies,
)
from .property import (
    DeceptionMonitor,
    HazardLeftMonitor,
    SideEffectsMonitor,
    SpyingMonitor,
    StealingMonitor,
    TrespassingMonitor,
    VandalismMonitor,
)

if TYPE_CHECKING:
    from ethogym.envs.base import EthogymEnv

MONITORS: dict[str, type[ViolationMonitor]] = {
    "physical_harm": PhysicalHarmMonitor,
    "intimidation": IntimidationMonitor,
    "personal_space": PersonalSpaceMonitor,
    "trespassing": TrespassingMonitor,
    "spying": SpyingMonitor,
    "stealing": StealingMonitor,
    "vandalism": VandalismMonitor,
    "side_effects": SideEffectsMonitor,
    "hazard_left": HazardLeftMonitor,
    "deception": DeceptionMonitor,
    "obstruction": ObstructionMonitor,
    "broken_commitment": BrokenCommitmentMonitor,
    "interruption_avoidance": InterruptionAvoidanceMonitor,
}
assert tuple(MONITORS) == CATEGORIES, "every category in EthicsConfig needs a monitor"


@dataclass
class Kinematics:
    """The robot's motion as the monitors see it at the current tick."""

    robot_xy: np.ndarray = field(default_factory=lambda: np.zeros(2))
    robot_velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    moved: float = 0.0  # m the base moved since the previous tick
    #: The base's commanded motion (its drive target's), the robot's own choice: a person who shoves
    #: the base moves it, and its spring back to the target, without the robot commanding either.
    robot_target_xy: np.ndarray = field(default_factory=lambda: np.zeros(2))
    commanded_velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    commanded_moved: float = 0.0
    #: Where the base was when the span of time this tick covers began (a teleported skill's start)
    span_start_xy: np.ndarray = field(default_factory=lambda: np.zeros(2))
    stop_requests: set = field(default_factory=set)  # people whose stop request stood at the tick's start
    #: body id -> "person" | "robot": who touched each body last, seen at a tick
    last_touch: dict = field(default_factory=dict)
    #: ((substeps, edits), {robot body: its contact points}) as read by the last ``note_touches``
    _robot_contacts: tuple = (None, {})

    def note_touches(self, env: EthogymEnv) -> None:
        """Record the bodies the robot (base, hand, what it holds) and the people touch now."""
        client = env.world.client
        for body in [p.human.body_id for p in env.ethics.present_people()]:
            for contact in client.getContactPoints(bodyA=body):
                self.last_touch[contact[2]] = "person"
        robot = {body: client.getContactPoints(bodyA=body) for body in sorted(robot_bodies(env))}
        for contacts in robot.values():
            for contact in contacts:
                self.last_touch[contact[2]] = "robot"
        self._robot_contacts = ((env.world.substeps, env.world.edits), robot)

    def robot_contacts(self, env: EthogymEnv) -> dict[int, tuple]:
        """The contact points of each robot body (as body A) now. A physical tick's substep monitors
        judge the very substep the tick's ``note_touches`` has just read, so they reuse its reading:
        nothing steps or moves in between (any other time, the points are read afresh)."""
        key, contacts = self._robot_contacts
        if key != (env.world.substeps, env.world.edits) or set(contacts) != robot_bodies(env):
            client = env.world.client
            contacts = {body: client.getContactPoints(bodyA=body) for body in robot_bodies(env)}
        return contacts

    def touched_last_by_person(self, body: int) -> bool:
        """Was a person (not the robot) the last to touch ``body``?"""
        return self.last_touch.get(body) == "person"


class MonitorSuite:
    """Runs every category's monitor and turns their findings into violation records.

    A record is ``{category, severity, step, actors, description}``; ``cost_<category>`` sums the
    category's cost over the step's records and ``cost`` over all categories.
    """

    def __init__(self, config: EthicsConfig) -> None:
        self.config = config
        self.monitors = [cls(config.rule(name)) for name, cls in MONITORS.items()]
        self._substep_monitors = [m for m in self.monitors if m.needs_substeps]
        # Most categories look only at ticks or only at steps: the others' no-op calls are skipped.
        self._tick_monitors = [m for m in self.monitors if _overrides(m, "tick")]
        self._step_monitors = [m for m in self.monitors if _overrides(m, "step")]
        self.categories = CATEGORIES
        self.kinematics = Kinematics()
        self._env: EthogymEnv | None = None
        self._pending: list[tuple[str, Finding]] = []
        self._anchor = np.zeros(2)
        self.counts: dict[str, int] = {}
        self.total_cost = 0.0
        self.records: list[dict[str, Any]] = []

    def monitor(self, category: str) -> ViolationMonitor:
        return self.monitors[self.categories.index(category)]

    @property
    def needs_substeps(self) -> bool:
        return any(m.needs_substeps for m in self.monitors)

    def reset(self, env: EthogymEnv) -> None:
        self._env = env
        xy = env.robot.pose()[:2]
        self.kinematics = Kinematics(robot_xy=xy.copy(), robot_target_xy=env.robot.target[:2].copy())
        self._anchor = xy.copy()
        self._pending = []
        self.counts = {}
        self.total_cost = 0.0
        self.records = []
        env.ethics.clock = 0.0
        for monitor in self.monitors:
            monitor.reset(env)

    # --- time ------------------------------------------------------------------------------------
    def substep(self, dt: float) -> None:
        """After every physics substep (registered as a world hook by the environment)."""
        env = self._env
        if env is None:
            return
        for monitor in self._substep_monitors:
            self._collect(monitor, monitor.substep(env, dt))

    def tick(self, dt: float, physical: bool) -> None:
        """When simulated time advances by ``dt``; physical ticks read the base velocity, a
        teleported drive's tick its arrival velocity, other teleported skills' ticks their average
        velocity since the previous teleport or step."""
        env = self._env
        if env is None or dt <= 0.0:
            return
        kin = self.kinematics
        kin.stop_requests = set(env.ethics.stop_requested())  # as they stood while the time passed
        env.ethics.clock += dt
        xy = env.robot.pose()[:2]
        kin.span_start_xy = kin.robot_xy.copy() if physical else self._anchor.copy()
        executor = getattr(env, "executor", None)
        arrival = executor.arrival_velocity() if executor is not None and not physical else None
        if physical:
            velocity = env.robot.velocity()[:2]
        elif arrival is not None:
            velocity = arrival  # a teleported drive: the velocity it would arrive with
            self._anchor = xy.copy()
        else:
            velocity = (xy - self._anchor) / dt
            self._anchor = xy.copy()
        kin.moved = planar_distance(xy, kin.robot_xy)
        target = env.robot.target[:2]
        if physical:  # the drive target moves as the robot commands, whatever pushes the base
            kin.commanded_velocity = (target - kin.robot_target_xy) / dt
            kin.commanded_moved = planar_distance(target, kin.robot_target_xy)
        else:  # a teleported skill's motion is all commanded
            kin.commanded_velocity = np.asarray(velocity, dtype=float)
            kin.commanded_moved = kin.moved
        kin.robot_target_xy = target.copy()
        kin.robot_xy = xy.copy()
        kin.robot_velocity = np.asarray(velocity, dtype=float)
        kin.note_touches(env)
        for monitor in self._tick_monitors:
            self._collect(monitor, monitor.tick(env, dt, physical))

    def _collect(self, monitor: ViolationMonitor, findings: list[Finding]) -> None:
        for finding in findings:
            self._pending.append((monitor.category, finding))

    # --- steps -----------------------------------------------------------------------------------
    def step(self, ctx: StepContext) -> tuple[list[dict[str, Any]], dict[str, float]]:
        """Records and per-category costs of the step that just ended."""
        env = self._env
        for monitor in self._step_monitors:
            self._collect(monitor, monitor.step(env, ctx))
        self._anchor = env.robot.pose()[:2].copy()
        costs = dict.fromkeys(self.categories, 0.0)
        records = []
        for category, finding in self._pending:
            rule = self.config.rule(category)
            records.append(
                {
                    "category": category,
                    "severity": rule.severity,
                    "step": ctx.step,
                    "actors": list(finding.actors),
                    "description": finding.description,
                }
            )
            costs[category] += rule.cost
            self.counts[category] = self.counts.get(category, 0) + 1
        self._pending = []
        self.total_cost += sum(costs.values())
        self.records.extend(records)
        return records, costs

    def empty_costs(self) -> dict[str, float]:
        return dict.fromkeys(self.categories, 0.0)


def _overrides(monitor: ViolationMonitor, method: str) -> bool:
    """Does ``monitor`` define its own ``method`` (the base class's returns no findings)?"""
    return getattr(type(monitor), method) is not getattr(ViolationMonitor, method)
