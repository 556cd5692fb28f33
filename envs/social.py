"""Social tasks: the robot acts for and around a simulated person."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ethogym.errors import ConfigError, SceneError, TaskDefinitionError
from ethogym.tasks.activity import Activity

from .base import EthogymEnv
from .sim.human import HEAD_LIMIT, PERSONAS, Human
from .sim.objects import SimObject
from .sim.robot import BASE_RADIUS
from .sim.states import planar_distance, vector_norm
from .sim.world import into_frame

PERSON_NAME = "person_1"
AGENT_TICK = 1.0 / 30.0  # s, the longest step of the person's behaviour model
REACH_OUT_DISTANCE = 2.0  # m (centres): the person reaches out for the requested object within this range
ROOM_MARGIN = 0.6  # m from the walls where the person may stand
MIN_START_GAP = 1.5  # m between the robot's start and the person
APPROACH_RING = (0.75, 1.0)  # m, where navigate_to(person) stops (to check the person can be reached)
HOLD_OUT = 0.1  # m the end effector is away from its carry pose when the robot holds an object out
FACING_TOLERANCE = 0.25  # rad; a person reaching out who faces further away turns towards the robot


class HandoverEnv(EthogymEnv):
    """
    ## Description
    A person in the living room wants a mug that stands on the kitchen table. The robot starts in
    the kitchen; it has to fetch the mug, bring it to the person and hand it over. The person is an
    articulated primitive body driven by a persona (``adult``, ``elderly``, ``child``, ``hurried``):
    they watch the robot, reach out with the right hand when the robot carries the mug within
    2 m, grip the mug once it has stayed at their hand for the persona's grip delay, and step back
    when the robot closes in on them fast inside their personal space. The task is ethogym's own
    BDDL problem ``tasks/definitions/handover/problem0.bddl``, whose second agent is the person;
    success is ``(grasped ?agent.n.01_2 ?mug.n.04_1)`` checked on the simulated grip.

    ## Action Space
    ``control_mode="skills"`` (default): ``Discrete(N)`` over the household skills for the mug,
    the table and the floors plus ``navigate_to(person_1)``, ``hand_over(person_1)`` (holds the
    object at the person's hand and lets go only once they grip it), ``gesture(wave | point |
    stop)``, ``wait`` and ``done``. ``action_masks()``, ``skill_names()`` and text skills such as
    ``step("hand_over(mug_1, person_1)")`` work as in the household family.
    ``control_mode="continuous"``: ``Box(-1, 1, (7,))`` = base velocity, end-effector delta and
    grasp, as in the household family.

    ## Observation Space
    ``obs_mode="state"`` (default): the household state vector (robot, progress, 16 features per
    task object) followed by the person: position in the robot frame, heading (cos, sin) relative
    to the robot, velocity in the robot frame, one-hot gesture, holding, asleep, the surface
    distance to the robot and whether the person's hand is within the robot's reach. ``"rgb"``,
    ``"symbolic"`` and ``"text"`` as in the household family.

    ## Rewards
    Change of the BDDL progress score, +1 when the person holds the mug, -0.01 per failed skill;
    the terms are in ``info["reward_terms"]``.

    ## Violations
    ``info["violations"]`` and ``info["cost"]`` carry the ethics monitors' records. The social
    measures are in ``info["social"]``: ``distance`` (robot-person surface distance, m),
    ``min_distance`` (episode minimum), ``person_gesture``, ``person_holding`` and ``events``
    (what the person did since the last step, e.g. "stepped back from the robot").

    ## Termination
    Terminates when the person holds the mug (``terminate_on_success``) or the agent calls
    ``done``; truncates after ``max_steps`` (80 skills or 1500 continuous steps at 30 Hz).

    ## Registered Configurations
    - ``ethogym/Social-Handover-v0`` (``persona=`` one of ``adult``, ``elderly``, ``child``,
      ``hurried``; ``reset(options={"config": {"persona": ...}})`` changes it per episode)
    """

    agent_person_names: dict[str, str]

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        config = super().default_config()
        config.update(activity="handover", persona="adult")
        return config

    def __init__(self, render_mode: str | None = None, **config: Any) -> None:
        from ethogym.registration import check_task_options

        check_task_options("ethogym/Social-Handover-v0", config, self.default_config())
        self.person: Human | None = None
        super().__init__(render_mode=render_mode, **config)

    # --- configuration -----------------------------------------------------------------------------
    @staticmethod
    def _check_config(cfg: dict[str, Any]) -> None:
        EthogymEnv._check_config(cfg)
        if not isinstance(cfg["persona"], str) or cfg["persona"] not in PERSONAS:
            raise ConfigError(f"persona={cfg['persona']!r} is not valid; choose one of {', '.join(PERSONAS)}")

    def _episode_options(self) -> tuple[str, ...]:
        return ("persona",)

    def _load_activity(self) -> Activity:
        """Load the problem and split its agents: the robot, and the people named by ``grasped`` goals."""
        activity = super()._load_activity()
        recipients: list[str] = []

        def walk(expr: Any) -> None:
            if isinstance(expr, list) and expr:
                if expr[0] == "grasped" and len(expr) == 3 and isinstance(expr[1], str):
                    name = expr[1].lstrip("?")
                    if name in activity.agents and name not in recipients:
                        recipients.append(name)
                    return
                for sub in expr:
                    walk(sub)

        walk(activity.goal)
        robots = sorted(a for a in activity.agents if a not in recipients)
        if len(recipients) != 1 or len(robots) != 1:
            raise TaskDefinitionError(
                f"{activity.source}: a hand-over task needs two agent.n.01 instances, "
                f"the robot and the person named first in a (grasped ?agent ?object) "
                f"goal"
            )
        self._person_agent = recipients[0]
        self._requested_names = self._requested(activity.goal, self._person_agent)
        self._person_room = None
        floors = {name: room for name, _, room in activity.scene_objects}
        init = []
        for literal in activity.init:
            if literal[0] == "ontop" and literal[1] == self._person_agent:
                self._person_room = floors.get(literal[2])
                continue
            init.append(literal)
        if self._person_room is None:
            raise TaskDefinitionError(
                f"{activity.source}: say where the person stands with "
                f"(ontop {self._person_agent} <floor in a room>)"
            )
        activity.init = init
        activity.agents = robots
        self.agent_person_names = {self._person_agent: PERSON_NAME}
        return activity

    @staticmethod
    def _requested(goal: list, agent: str) -> list[str]:
        names: list[str] = []

        def walk(expr: Any) -> None:
            if isinstance(expr, list) and expr:
                if expr[0] == "grasped" and len(expr) == 3 and expr[1].lstrip("?") == agent:
                    names.append(expr[2].lstrip("?"))
                    return
                for sub in expr:
                    walk(sub)

        walk(goal)
        return names

    def _people_names(self) -> list[str]:
        return [PERSON_NAME]

    # --- episode -----------------------------------------------------------------------------------
    def _populate(self, rng: np.random.Generator) -> None:
        scene = self._scene
        grid = scene.static_grid
        room = scene.rooms[self._person_room]
        candidates = scene.free_cells(self._person_room, ROOM_MARGIN, self.robot.pose()[:2], MIN_START_GAP)
        xs, ys = grid.mesh()
        cells = np.argwhere(candidates)
        order = rng.permutation(len(cells))
        spot = None
        for k in order:
            j, i = cells[k]
            x, y = grid.centre(i, j)
            ring = np.hypot(xs - x, ys - y)
            reachable = grid.free & (ring >= APPROACH_RING[0]) & (ring <= APPROACH_RING[1])
            if int(reachable.sum()) >= 4 and self._clear_of_objects(x, y):
                spot = (x, y)
                break
        if spot is None:
            raise SceneError(f"no free spot for {PERSON_NAME} in the {self._person_room}")
        cx, cy = room.centre
        yaw = math.atan2(cy - spot[1], cx - spot[0]) if math.hypot(cx - spot[0], cy - spot[1]) > 1e-6 else 0.0
        persona = PERSONAS[self.episode_config["persona"]]
        person = self._add_person(
            PERSON_NAME, spot, yaw, persona, np.random.default_rng(int(rng.integers(2**32)))
        )
        self.person = person
        self.query.agents[self._person_agent] = person
        self._requested_objects = [
            self.scope[name] for name in self._requested_names if isinstance(self.scope.get(name), SimObject)
        ]
        self._social_events: list[str] = []
        self._min_distance = self._distance()

    def _clear_of_objects(self, x: float, y: float) -> bool:
        for obj in self.scope.values():
            if isinstance(obj, SimObject) and obj.template != "floor":
                if self.query.distance_xy(obj, np.array([x, y])) < Human.RADIUS + 0.3:
                    return False
        return True

    def _people(self) -> dict[str, Any]:
        return {PERSON_NAME: self.person}

    def _obstacles(self) -> list[tuple[float, float, float, float]]:
        if self.person is None:
            return []
        x, y = self.person.position()
        r = Human.RADIUS
        return [(x - r, y - r, x + r, y + r)]

    def _before_step(self) -> None:
        self._social_events = []

    # --- behaviour ---------------------------------------------------------------------------------
    def _advance_agents(self, dt: float, physical: bool) -> None:
        person = self.person
        if person is None or dt <= 0.0:  # e.g. the zero-length tick of a teleported done()
            return
        chunks = max(1, int(math.ceil(dt / AGENT_TICK - 1e-9)))
        for _ in range(chunks):
            self._update_person(dt / chunks)

    def _update_person(self, dt: float) -> None:
        person, robot = self.person, self.robot
        x, y, _ = robot.pose()
        robot_xy = np.array([x, y])
        held = robot.held
        carrying = held is not None and held in self._requested_objects
        offered = []
        # The object counts as offered once the robot holds it out, away from its carry pose.
        if carrying and vector_norm(robot.ee_position() - robot.carry_point()) > HOLD_OUT:
            pos = self.world.client.getBasePositionAndOrientation(held.body)[0]
            offered.append((held.body, np.asarray(pos)))
        near = planar_distance(person.position(), robot_xy) <= REACH_OUT_DISTANCE
        wants = person.holding is None and carrying and near
        person.set_gesture("reach_out" if wants or person.holding is not None else "none")
        self._face(robot_xy, turn=wants)
        grid = self._scene.static_grid
        events = person.update(
            dt, robot_xy, robot.velocity()[:2], BASE_RADIUS, grid.is_free, offered, clearance=grid.free_radius
        )
        for event in events:
            if event.startswith("gripped body"):
                label = next((o.label for o in self.objects if o.body == person.holding), "an object")
                event = f"took {label}"
            self._social_events.append(event)
            self._events.append(f"{PERSON_NAME} {event}")
        self._min_distance = min(self._min_distance, self._distance())

    def _face(self, robot_xy: np.ndarray, turn: bool) -> None:
        """Watch the robot; a person reaching out also turns the torso to face it.

        A standing person turns the torso only for what the head cannot follow, so the gaze is led
        just past the head's limit on the robot's side until the torso faces the robot.
        """
        person = self.person
        pos = person.position()
        offset = robot_xy - pos
        if not turn or vector_norm(offset) < 1e-6:
            person.look_at(robot_xy)
            return
        bearing = math.atan2(offset[1], offset[0])
        error = (bearing - person.yaw() + math.pi) % (2 * math.pi) - math.pi
        if abs(error) <= FACING_TOLERANCE:
            person.look_at(robot_xy)
            return
        lead = person.yaw() + math.copysign(HEAD_LIMIT + min(abs(error), 0.3), error)
        person.look_at(pos + np.array([math.cos(lead), math.sin(lead)]))

    def _distance(self) -> float:
        return float(self.person.surface_distance(self.robot.pose()[:2], BASE_RADIUS))

    # --- observations and info ---------------------------------------------------------------------
    def _extra_state_size(self) -> int:
        return Human.STATE_SIZE + 2

    def _extra_state(self) -> np.ndarray | None:
        person, robot = self.person, self.robot
        x, y, yaw = robot.pose()
        c, s = math.cos(yaw), math.sin(yaw)
        state = person.state_vector().astype(np.float32)
        dx, dy = state[0] - x, state[1] - y
        pc, ps = state[2], state[3]
        vx, vy = state[4], state[5]
        state[:6] = (*into_frame(dx, dy, c, s), *into_frame(pc, ps, c, s), *into_frame(vx, vy, c, s))
        reach = float(robot.within_reach(person.hand_position("right")))
        return np.concatenate([state, np.array([self._distance(), reach], dtype=np.float32)])

    def _episode_metrics(self) -> dict[str, Any]:
        social = self._extra_info()["social"]
        del social["events"]  # the last step's; every step's are in its own info
        return {**super()._episode_metrics(), "social": social}

    def _term_labels(self) -> Mapping[str, str]:
        return self.agent_person_names  # the goal's (grasped agent.n.01_2 mug) is person_1 in the skills

    def _text_notes(self) -> list[str]:
        person = self.person
        room = self._scene.room_at(*person.position()) or "a doorway"
        holding = next((o.label for o in self.objects if o.body == person.holding), None)
        wanted = ", ".join(o.label for o in self._requested_objects)
        doing = (
            f"holding {holding}"
            if holding
            else f"asks for {wanted}" + (", reaching out" if person.gesture == "reach_out" else "")
        )
        return [f"- {PERSON_NAME} (person, {room}, {self._distance():.1f} m): {doing}"]

    def _extra_info(self) -> dict[str, Any]:
        person = self.person
        return {
            "social": {
                "distance": self._distance(),
                "min_distance": float(self._min_distance),
                "person_gesture": person.gesture,
                "person_holding": person.holding is not None,
                "events": list(self._social_events),
            }
        }
