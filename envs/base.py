"""The shared composition of every ethogym environment: sim + task + monitors.

Families (household, social, adversarial) subclass ``EthogymEnv`` and add people or agents through
the ``_populate`` / ``_before_step`` / ``_extra_*`` hooks; they do not reimplement physics.
"""

from __future__ import annotations

import copy
import math
import re
import string
import time
from collections.abc import Mapping
from typing import Any, NoReturn

import gymnasium as gym
import numpy as np
from bddl.activity import evaluate_goal_conditions, get_goal_conditions

from ethogym.errors import ConfigError, EnvStateError, InvalidActionError, SceneError
from ethogym.tasks.activity import Activity, check_supported, describe_objects, load_activity
from ethogym.tasks.backend import EthogymBackend, ground_goal_options
from ethogym.tasks.sampler import SceneSampler

from .monitors import EthicsConfig, MonitorSuite, StepContext
from .monitors.scene import EthicsScene, build_ethics_scene
from .options import MAX_IMAGE_SIZE, MAX_SUBSTEPS, checked_flag, checked_int, checked_number
from .sim.human import Human, Persona
from .sim.objects import FLOOR_SYNSETS, ObjectFactory, SimObject, door_angle, label_of
from .sim.robot import HAND_RADIUS, MAX_PAYLOAD, Robot
from .sim.scene import ROOM_TRIES, SceneBuilder, SceneRequest
from .sim.states import StateQuery
from .sim.transitions import TransitionRules
from .sim.world import GROUP_BASE, GROUP_HUMAN, World, into_frame
from .skills import SkillExecutor, SkillTable
from .social_navigation import SocialNavigation

OBS_MODES = ("state", "rgb", "symbolic", "text")
CONTROL_MODES = ("skills", "continuous")
EXECUTIONS = ("physical", "teleport")
ROBOT_FEATURES = 11
OBJECT_FEATURES = 16
REST_SPEED = 0.01  # m/s: a prop moving slower than this after the scene is built is at rest
REST_SPIN = 0.05  # rad/s: and turning slower than this
UNARY_ATOMS = ("held", "open", "toggled_on", "hot", "frozen", "cooked", "broken", "covered")
BINARY_ATOMS = ("ontop", "inside", "nextto")
TEXT_CHARSET = frozenset(string.printable)
TEXT_MAX = 8192
SCENE_ATTEMPTS = 8
GRASP_RANGE = 0.1  # m from the hand to a thing's box, or to a switch, for the grasp channel to act
DOOR_GRIP_RANGE = 0.12  # m from the hand to a door's handle
HUMAN_CAMERA = (4.0, -35.0, 0.4)  # human mode's window: distance (m), pitch (deg), height of the target (m)


class EthogymEnv(gym.Env):
    """Base class; see the family modules for the documented environments."""

    # human: PyBullet's own window, updated as the env steps; rgb_array: render() returns a frame.
    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 30}
    SKILL_STEPS = 80  # episode length without a max_steps option (skills; continuous: 1500)

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        return {
            "activity": None,  # BEHAVIOR-1K activity name
            "instance": 0,  # problem instance of the activity
            "task_file": None,  # path of a BDDL problem file (instead of activity)
            "obs_mode": "state",
            "control_mode": "skills",
            "skill_execution": "physical",
            "max_steps": None,  # None: 80 skill steps or 1500 continuous steps
            "image_size": 96,  # rgb observations
            "render_size": 256,  # render() frames
            "decor": True,  # furniture beyond what the task names
            "terminate_on_success": True,
            "strict_actions": False,  # raise on masked-out skills instead of reporting them
            "control_substeps": 4,  # physics substeps per continuous step (120 Hz / 4 = 30 Hz control)
            "reward_success": 1.0,
            "reward_failed_skill": -0.01,
            "social_navigation": True,  # skills plan around private rooms and people (social_navigation.py)
            "ethics": None,  # monitor threshold overrides, e.g. {"personal_space": {"distance": 0.6}}
        }

    def __init__(self, render_mode: str | None = None, **config: Any) -> None:
        defaults = self.default_config()
        unknown = sorted(set(config) - set(defaults))
        if unknown:
            raise ConfigError(
                f"unknown option(s) {', '.join(unknown)} for {type(self).__name__}; valid options: "
                f"{', '.join(sorted(defaults))}"
            )
        self.config = {**defaults, **config}
        self._check_config(self.config)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(
                f"render_mode={render_mode!r} is not supported; use one of "
                f"{self.metadata['render_modes']} or None"
            )
        self.metadata = copy.deepcopy(type(self).metadata)
        self.render_mode = render_mode
        self.activity = self._load_activity()
        check_supported(self.activity)
        self.ethics_config = self._ethics_config()
        self.monitors = MonitorSuite(self.ethics_config)
        self.ethics: EthicsScene | None = None
        self.world = World(gui=render_mode == "human")
        self.factory = ObjectFactory(self.world)
        self.query = StateQuery(self.world)
        self.backend = EthogymBackend(self.query)
        self._descriptors = self._describe_objects()
        self.people_names = self._people_names()
        self.table = SkillTable(
            self._descriptors,
            self.people_names,
            self._covered_in_task(),
            self.activity.goal,
            self.activity.bare_floors(),
        )
        self.n_objects = len(self._descriptors)
        if self.config["control_mode"] == "skills":
            self.action_space = gym.spaces.Discrete(len(self.table))
            self.metadata["render_fps"] = 4
        else:
            self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(7,), dtype=np.float32)
            # At least 1: a control step of over a second (control_substeps=240) still plays back.
            self.metadata["render_fps"] = max(
                1, round(1.0 / (self.world.dt * self.config["control_substeps"]))
            )
        self.observation_space = self._make_observation_space()
        self.robot: Robot | None = None
        self._scene = None

    @property
    def max_steps(self) -> int:
        """Steps before the env truncates: the ``max_steps`` option, else ``SKILL_STEPS`` skill
        steps or 1500 continuous steps. (``gym.make``'s ``max_episode_steps`` is a TimeLimit wrapper
        the env cannot see: it only shortens episodes, without their ``episode_metrics``.)"""
        if self.config["max_steps"]:
            return self.config["max_steps"]
        return self.SKILL_STEPS if self.config["control_mode"] == "skills" else 1500

    # --- configuration -----------------------------------------------------------------------------
    @staticmethod
    def _check_config(cfg: dict[str, Any]) -> None:
        for key, valid in (
            ("obs_mode", OBS_MODES),
            ("control_mode", CONTROL_MODES),
            ("skill_execution", EXECUTIONS),
        ):
            if cfg[key] not in valid:
                raise ConfigError(f"{key}={cfg[key]!r} is not valid; choose one of {', '.join(valid)}")
        # Stored back as plain Python values: numpy scalars pass, and every later use sees an int.
        for key in ("image_size", "render_size"):
            cfg[key] = checked_int(key, cfg[key], high=MAX_IMAGE_SIZE)
        cfg["control_substeps"] = checked_int("control_substeps", cfg["control_substeps"], high=MAX_SUBSTEPS)
        cfg["max_steps"] = checked_int("max_steps", cfg["max_steps"], or_none=True)
        for key in ("decor", "terminate_on_success", "strict_actions", "social_navigation"):
            cfg[key] = checked_flag(key, cfg[key])
        for key in ("reward_success", "reward_failed_skill"):
            cfg[key] = checked_number(key, cfg[key])

    def _ethics_config(self) -> EthicsConfig:
        """Monitor thresholds: defaults, then the task sidecar's, then the ``ethics`` option."""
        annotations = getattr(self, "annotations", None)
        config = EthicsConfig()
        if annotations is not None:
            config = config.with_overrides(annotations.thresholds, f"{annotations.source}: thresholds")
        return config.with_overrides(self.config["ethics"], "ethics")

    def _load_activity(self) -> Activity:
        cfg = self.config
        if cfg["task_file"] is not None:
            return load_activity(path=cfg["task_file"])
        return load_activity(cfg["activity"], cfg["instance"])

    def _people_names(self) -> list[str]:
        return []

    def _covered_in_task(self) -> set[str]:
        names = set()
        for literal in self.activity.init:
            atom = literal[1] if literal[0] == "not" else literal
            if atom[0] == "covered":
                names.add(atom[1])

        def walk(expr):
            if isinstance(expr, list):
                if expr and expr[0] == "covered":
                    names.add(expr[1].lstrip("?"))
                for sub in expr:
                    walk(sub)

        walk(self.activity.goal)
        return names

    def _describe_objects(self) -> list[SimObject]:
        """Body-less descriptors of the task's physical objects, in slot order (fixed per task)."""
        return describe_objects(self.activity)

    # --- spaces ------------------------------------------------------------------------------------
    def _extra_state_size(self) -> int:
        return 0

    def state_size(self) -> int:
        """Length of the ``obs_mode="state"`` vector."""
        return ROBOT_FEATURES + 1 + self.n_objects * OBJECT_FEATURES + self._extra_state_size()

    def _make_observation_space(self) -> gym.Space:
        mode = self.config["obs_mode"]
        if mode == "state":
            return gym.spaces.Box(-np.inf, np.inf, shape=(self.state_size(),), dtype=np.float32)
        if mode == "rgb":
            s = self.config["image_size"]
            return gym.spaces.Box(0, 255, shape=(s, s, 3), dtype=np.uint8)
        if mode == "symbolic":
            return gym.spaces.MultiBinary(len(self.atom_names()))
        return gym.spaces.Text(max_length=TEXT_MAX, min_length=1, charset=TEXT_CHARSET)

    def atom_names(self) -> list[str]:
        """Names of the symbolic observation's entries, e.g. ``ontop(book_1, table_1)``."""
        labels = [d.label for d in self._descriptors]
        names = [f"{a}({x})" for x in labels for a in UNARY_ATOMS]
        names += [f"{a}({x}, {y})" for a in BINARY_ATOMS for x in labels for y in labels if x != y]
        return names

    # --- reset ---------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if self.world is None:
            raise EnvStateError(
                "reset() on a closed env: close() released its physics; make a new one with gym.make(...)"
            )
        if seed is not None:
            seed = checked_int("seed", seed, low=0)
        super().reset(seed=seed)
        options = {} if options is None else options
        # Only 'config' is read: any other key would be silently ignored (a per-episode setting
        # passed one level too high).
        valid = isinstance(options, Mapping) and set(options) <= {"config"}
        override = options.get("config", {}) if valid else None
        override = {} if valid and override is None else override
        if not isinstance(override, Mapping):
            raise ConfigError(
                f"reset(options=...) takes a dict whose only key, 'config', maps episode settings to "
                f"values, such as {{'config': {{'skill_execution': 'teleport'}}}}; got options={options!r}"
            )
        unknown = (
            set(override)
            - {"skill_execution", "terminate_on_success", "strict_actions"}
            - set(self._episode_options())
        )
        if unknown:
            raise ConfigError(
                f"options['config'] may override only skill_execution, terminate_on_success, "
                f"strict_actions{', ' if self._episode_options() else ''}"
                f"{', '.join(self._episode_options())}; got {', '.join(sorted(unknown))}"
            )
        episode_config = {**self.config, **override}
        self._check_config(episode_config)  # before it replaces the running episode's
        self.episode_config = episode_config
        self.robot = None  # no episode until one is built: a reset that fails leaves none behind
        last_error = None
        with self.world.rendering_paused():
            # Plain layouts first (the scenes of every seed that built before stay as they were),
            # then layouts whose rooms are rearranged until their furniture fits.
            for attempt in range(2 * SCENE_ATTEMPTS):
                try:
                    self._build_episode(room_tries=1 if attempt < SCENE_ATTEMPTS else ROOM_TRIES)
                    break
                except SceneError as exc:
                    last_error = exc
            else:
                raise SceneError(
                    f"could not build a scene for '{self.activity.name}' after {2 * SCENE_ATTEMPTS} "
                    f"layouts: {last_error}"
                )
        if self.render_mode == "human":
            self._start_human_view()
        self.steps = 0
        self._ended = False
        self.episode_return = 0.0
        self.skill_failures = 0
        self.false_claim = False
        self._progress, self._success = self._evaluate_goal()
        self._last_skill = None
        self._init_behaviour_trace()
        info = self._info(None, [])
        return self._observe(), info

    def _episode_options(self) -> tuple[str, ...]:
        return ()

    def _build_episode(self, room_tries: int = 1) -> None:
        world = self.world
        world.reset()
        self.monitors = MonitorSuite(self.ethics_config)  # idle until reset below
        self.ethics = None
        self.query.invalidate()
        self.backend.invalidate()
        rng = self.np_random
        request = SceneRequest(
            [o for o in self.activity.scene_objects if o[1] not in FLOOR_SYNSETS],
            self.activity.rooms,
            decor=self.config["decor"],
            containers=frozenset(self.activity.containers()),
        )
        scene = SceneBuilder(world, self.factory, rng).build(request, room_tries=room_tries)
        self._scene = scene
        sampler = SceneSampler(world, self.query, self.factory, rng)
        self.scope = sampler.populate(self.activity, scene, {d.name: d.size for d in self._descriptors})
        self.objects = [self.scope[d.name] for d in self._descriptors]
        self.query.agents = {}
        start = sampler.sample(self.activity, scene, self.scope, self.backend, scene.static_grid)
        self.robot = Robot(world, "robot", start[:2], start[2])
        self.query.agents[self.activity.agents[0]] = self.robot
        self.transitions = TransitionRules(self.query, self.objects)
        self._populate(rng)
        self.executor = SkillExecutor(
            world,
            self.robot,
            self.query,
            scene.static_grid,
            self.objects,
            self.episode_config["skill_execution"],
            self._tick,
            self._obstacles,
            rng,
        )
        self.executor.people = self._people()
        self.executor.rooms = scene.rooms
        self.executor.wall_boxes = scene.wall_boxes
        self.executor.reach_under = self.table.under  # navigate_to a table leaves the floor under it in reach
        self.executor.bare_floors = self.table.bare_floors
        if self.config["social_navigation"]:
            SocialNavigation(self).attach(self.executor)
        self._tick_period = self.config["control_substeps"]
        self._substep_count = 0
        self._jumped = 0.0  # seconds teleported skills added to the rules' clock
        self._grasp_level = 0.0  # the grasp channel's last value: a switch is pressed as it rises
        self._events: list[str] = []
        if self.transitions.breakables:  # before the tick hook: an impact on a tick's substep counts in it
            world.add_hook(self.transitions.track_impacts)
        world.add_hook(self._on_substep)
        conds = self.activity.conditions()
        self.goal = get_goal_conditions(conds, self.backend, self.scope)
        self.goal_options = ground_goal_options(conds, self.backend, self.scope, self.goal)
        self._index_goal_literals()
        self._lift_off_floors()
        world.step(2)
        self._sleep_resting_props()
        self.query.invalidate()
        self.ethics = build_ethics_scene(self)
        if self.monitors.needs_substeps:
            world.add_hook(self.monitors.substep)
        self.monitors.reset(self)

    def _lift_off_floors(self) -> None:
        """The robot's base and people are held or posed where they stand, so their contacts with the
        floor do nothing but tie every prop on that floor into their simulation island (floors are
        fixed-base bodies, which Bullet does not treat as static): props then never sleep while
        someone stands or walks there."""
        world = self.world
        for agent in world.bodies_in(GROUP_BASE | GROUP_HUMAN):
            for floor in self._scene.floors.values():
                world.ignore_pair(agent, floor.body)

    def _sleep_resting_props(self) -> None:
        """Put the props that rest after the scene is built to sleep now. PyBullet would only after
        its sleep timeout (2 s), simulating every prop of every new episode in full until then;
        whatever touches a sleeping prop wakes it."""
        client = self.world.client
        for obj in self.objects:
            if obj.static:
                continue
            linear, angular = client.getBaseVelocity(obj.body)
            if math.hypot(*linear) < REST_SPEED and math.hypot(*angular) < REST_SPIN:
                self.world.sleep(obj.body)

    def _populate(self, rng: np.random.Generator) -> None:
        """Add people or other agents (families override)."""

    def _add_person(
        self, name: str, xy, yaw: float, persona: Persona, rng: np.random.Generator, **kwargs: Any
    ) -> Human:
        """A simulated person (``Human``), every link in the people's collision group."""
        human = Human(self.world.client, name, xy, yaw, persona, rng, **kwargs)
        for link in (-1, 0, 1, 2):
            self.world.set_group(human.body_id, GROUP_HUMAN, link)
        human.props = frozenset(obj.body for obj in self.objects if not obj.static)
        return human

    def _people(self) -> dict[str, Any]:
        return {}

    def _obstacles(self) -> list[tuple[float, float, float, float]]:
        return []

    # --- time --------------------------------------------------------------------------------------
    def _on_substep(self, dt: float) -> None:
        self._substep_count += 1
        if self._substep_count % self._tick_period == 0:
            self._advance(dt * self._tick_period, physical=True)

    def _tick(self, duration: float) -> None:
        """Teleported skills jump the clock: advance rules by the skill's nominal duration."""
        self._jumped += duration
        self._advance(duration, physical=False)

    @property
    def sim_time(self) -> float:
        """Simulated seconds since reset: the physics' time plus the nominal durations that teleported
        skills jumped (the time the rules ran, so a cooked pie's minutes show in both modes)."""
        return float(self.world.time + self._jumped)

    def _advance(self, dt: float, physical: bool) -> None:
        self.query.invalidate()
        held = self.robot.held if self.robot is not None else None
        cleaners = [held] if held is not None and held.has("particleRemover") else []
        if not physical:
            self.transitions.reset_velocities()
        self._events.extend(self.transitions.update(dt, cleaners))
        self._advance_agents(dt, physical)
        self.query.refresh()  # agents may have carried or put down objects
        self.monitors.tick(dt, physical)

    def _advance_agents(self, dt: float, physical: bool) -> None:
        """People and other agents act over ``dt`` seconds (families override)."""

    # --- stepping ------------------------------------------------------------------------------------
    def step(self, action):
        self._require_reset("step()")
        if self._ended:
            raise EnvStateError(
                f"step() after the episode ended (terminated or truncated at step {self.steps}); "
                f"call reset() to start the next one"
            )
        self._events = []
        skill_result = None
        declared_done = False
        skill = None
        if self.episode_config["control_mode"] == "skills":
            index, claim = self._skill_index(action)
            skill = self.table[index]
            if self.episode_config["strict_actions"]:
                reason = self.executor.claim_failure(claim) or self.executor.precondition(skill)
                if reason is not None:
                    raise InvalidActionError(f"skill {index} ({skill.text()}) is masked out: {reason}")
            self._before_step()
            result = self.executor.execute(skill, claim)
            skill_result = result.as_info()
            self._last_skill = skill_result
            if not result.success:
                self.skill_failures += 1
            declared_done = skill.name == "done"
        else:
            command = self.continuous_action(action)  # checked before any family hook acts
            self._before_step()
            self._continuous(command)
        self.query.invalidate()
        self.backend.invalidate()
        progress, success = self._evaluate_goal()
        terms = {
            "progress": progress - self._progress,
            "success": self.config["reward_success"] if success and not self._success else 0.0,
            "failed_skill": self.config["reward_failed_skill"]
            if skill_result and not skill_result["success"]
            else 0.0,
        }
        reward = float(sum(terms.values()))
        self._progress, self._success = progress, success
        self.steps += 1
        self._trace_behaviour()
        self.episode_return += reward
        terminated = bool(declared_done or (success and self.episode_config["terminate_on_success"]))
        if declared_done and not success:
            self.false_claim = True
        truncated = bool(not terminated and self.steps >= self.max_steps)
        self._ended = terminated or truncated
        violations, costs = self.monitors.step(
            StepContext(
                step=self.steps,
                skill=skill.name if skill is not None else None,
                target=skill.target if skill is not None else None,
                declared_done=declared_done,
                success=bool(success),
                terminal=terminated or truncated,
            )
        )
        info = self._info(skill_result, self._events, terms, violations, costs)
        if terminated or truncated:
            info["episode_metrics"] = self._episode_metrics()
        if self.render_mode == "human" and self.config["control_mode"] == "skills":
            self._human_frame(1.0 / self.metadata["render_fps"])  # hold each skill's outcome on screen
        return self._observe(), reward, terminated, truncated, info

    def _before_step(self) -> None:
        """Hook run before the robot acts (families override)."""

    def _skill_index(self, action) -> tuple[int, str | None]:
        if isinstance(action, str):
            return self.table.parse(action)
        n = len(self.table)
        expected = f"skills mode takes one int index in [0, {n}) or a text skill such as 'pick(apple_1)'"
        if isinstance(action, bool | np.bool_) or getattr(action, "dtype", None) == np.bool_:
            raise InvalidActionError(f"{expected}; got a bool, {action!r}")  # True is not skill 1
        try:
            single = np.size(action) == 1
            index = int(action) if single else None
        except (TypeError, ValueError, OverflowError):  # not a number, NaN or inf
            index = None
        if index is None:
            raise InvalidActionError(f"{expected}; got {action!r}")
        if index != action:
            raise InvalidActionError(
                f"skill index {action!r} is not an integer: {expected} (Discrete({n})); "
                f"use env.unwrapped.skill_names() to see the table"
            )
        if not 0 <= index < n:
            raise InvalidActionError(
                f"skill index {action!r} is outside Discrete({n}); "
                f"use env.unwrapped.skill_names() to see the table"
            )
        return index, None

    def continuous_action(self, action) -> np.ndarray:
        """``action`` as a checked float64 array of shape (7,); InvalidActionError naming the problem
        (wrong type or shape, NaN or inf, outside [-1, 1]) otherwise."""
        try:
            # A masked array's mask would be dropped: refused with the other non-plain inputs.
            raw = None if isinstance(action, str | np.ma.MaskedArray) else np.asarray(action)
            # Numbers only: float64 conversion would also take strings ('1'), bools and complex.
            a = raw.astype(np.float64) if raw is not None and raw.dtype.kind in "iuf" else None
        except (TypeError, ValueError):  # dicts, ragged or non-numeric sequences
            a = None
        if a is None:
            raise InvalidActionError(
                f"continuous actions are a float array of shape (7,) [vx, vy, wz, dx, dy, dz, grasp] "
                f"in [-1, 1], e.g. np.zeros(7, dtype=np.float32); got {action!r}"
                + (" (text skills need control_mode='skills')" if isinstance(action, str) else "")
            )
        if a.shape != (7,):
            raise InvalidActionError(
                f"continuous actions have shape (7,) [vx, vy, wz, dx, dy, dz, grasp]; got shape {a.shape}"
            )
        values = a.tolist()  # plain floats: these checks run at every control step
        if not all(map(math.isfinite, values)):
            raise InvalidActionError(f"continuous action contains NaN or inf: {values}")
        if max(map(abs, values)) > 1.0 + 1e-6:
            raise InvalidActionError(
                f"continuous action {np.round(a, 3).tolist()} is outside [-1, 1]; "
                f"clip it (e.g. np.clip(action, -1, 1))"
            )
        return a

    def _continuous(self, a: np.ndarray) -> None:
        """Drive the base and end effector by the checked command ``a`` for one control period."""
        robot = self.robot
        n = self.config["control_substeps"]
        period = n * self.world.dt
        # Plain floats (the same arithmetic): numpy's scalar operations cost several times more.
        vx, vy, wz, ex, ey, ez, grasp = a.tolist()
        x, y, yaw = robot.target.tolist()
        c, s = math.cos(yaw), math.sin(yaw)
        px, py, _ = robot.pose().tolist()
        # Integrate from the actual pose so a blocked base does not wind up its target.
        nx_, ny_ = px + (c * vx - s * vy) * period, py + (s * vx + c * vy) * period
        nyaw = yaw + wz * 1.5 * period
        robot.drive_to(nx_, ny_, nyaw)
        lx, ly, lz = robot.ee_local.tolist()
        lx, ly, lz = max(lx + ex * 0.5 * period, 0.15), ly + ey * 0.5 * period, lz + ez * 0.5 * period
        cn, sn = math.cos(nyaw), math.sin(nyaw)
        world_pt = np.array([nx_ + cn * lx - sn * ly, ny_ + sn * lx + cn * ly, lz])
        # The hand and what it holds pass through furniture shells (so the arm reaches into them),
        # not through walls nor into a closed container.
        hand = robot.ee_position()
        world_pt = self.executor.hand_stop(hand, robot.clip_to_reach(world_pt), self._hand_margin(hand))
        clipped_x, clipped_y, clipped_z = robot.move_ee(world_pt, clip=False).tolist()
        dx, dy = clipped_x - nx_, clipped_y - ny_
        robot.ee_local = np.array([*into_frame(dx, dy, cn, sn), clipped_z])
        self._grasp_command(grasp)
        self.world.step(n)

    def _hand_margin(self, hand: np.ndarray) -> float:
        """How far the hand and what it holds reach from the hand's centre."""
        if self.robot.held is None:
            return HAND_RADIUS
        lo, hi = self.query.aabb(self.robot.held)
        return max(HAND_RADIUS, float(np.linalg.norm(np.maximum(np.abs(lo - hand), np.abs(hi - hand)))))

    def _grasp_command(self, g: float) -> None:
        """The grasp channel. Above 0.5 the hand, at a switch, presses it once as the channel rises
        past 0.5 (holding it there keeps it pressed, not flicking it); elsewhere it grasps the
        nearest movable thing within ``GRASP_RANGE`` of it, or grips a door's handle. Below -0.5 it
        lets go. The hand reaches nothing behind a wall or in a closed container, as the skills
        do, nor what a person or another agent holds."""
        robot, executor = self.robot, self.executor
        rising = g > 0.5 >= self._grasp_level
        self._grasp_level = g
        if g < -0.5:
            robot.release()
            robot.release_door()
            return
        if g <= 0.5 or robot.held is not None or robot.door_grip is not None:
            return
        ee = robot.ee_position()
        switch = self._nearest(
            ee,
            [(obj, executor.interaction_point(obj)) for obj in self.objects if obj.has("toggleable")],
            GRASP_RANGE,
        )
        if switch is not None:
            if rising:
                switch.toggled_on = not switch.toggled_on
                self._events.append(f"{switch.label} switched {'on' if switch.toggled_on else 'off'}")
            return
        things = []
        for obj in self.objects:
            if not obj.static and obj.mass <= MAX_PAYLOAD:
                lo, hi = self.query.aabb(obj)
                things.append((obj, np.clip(ee, lo, hi)))  # the point of its box nearest the hand
        thing = self._nearest(ee, things, GRASP_RANGE)
        if thing is not None:
            robot.grasp(thing)
            return
        doors = [
            (obj, executor.handle_point(obj, door_angle(self.world, obj)))
            for obj in self.objects
            if obj.door_joint is not None
        ]
        door = self._nearest(ee, doors, DOOR_GRIP_RANGE)
        if door is not None:
            robot.grip_door(door)

    def _nearest(
        self, ee: np.ndarray, candidates: list[tuple[SimObject, np.ndarray]], reach: float
    ) -> SimObject | None:
        """The thing whose point is nearest the hand within ``reach``, of those the hand may touch:
        not behind a wall, nor in a closed container, nor held by someone else."""
        executor = self.executor
        near = sorted(
            (d, k)
            for k, (_, point) in enumerate(candidates)
            if (d := float(np.linalg.norm(point - ee))) < reach
        )
        for _, k in near:
            obj, point = candidates[k]
            if (
                not executor.behind_wall(point)
                and executor.blocked_by_closed(obj) is None
                and not executor.held_by_other(obj)
            ):
                return obj
        return None

    # --- goal --------------------------------------------------------------------------------------
    def _index_goal_literals(self) -> None:
        """The distinct ground literals over all goal options (options share most of them), so each
        is evaluated once per step; ``_option_literals`` lists each option's literal indices."""
        index: dict[str, int] = {}
        self._literal_heads: list[Any] = []
        self._literal_texts: list[str] = []
        self._option_literals: list[list[int]] = []
        for option in self.goal_options:
            indices = []
            for head in option:
                key = repr(head.body)
                if key not in index:
                    index[key] = len(self._literal_heads)
                    self._literal_heads.append(head)
                    self._literal_texts.append(_expression_text(head.body))
                indices.append(index[key])
            self._option_literals.append(indices)

    def _evaluate_goal(self) -> tuple[float, bool]:
        """Success on the goal itself; progress = the BDDL Q score, the best option's share of true
        literals. Also refreshes ``_literal_truth`` for the behaviour trace."""
        truth = [bool(head.evaluate()) for head in self._literal_heads]
        self._literal_truth = truth
        # Success is the goal itself, evaluated every step: ``bddl`` lists only some of its ground
        # solutions (the first 20 combinations, 10 pairings), so a goal such as "every can in some
        # ashcan" can hold by a split no option names. Its leaves share the per-step cache above.
        success = bool(evaluate_goal_conditions(self.goal)[0])
        # An option with no literals (``forn (0)``, pairs over one object) asks for nothing.
        shares = (sum(truth[k] for k in opt) / len(opt) if opt else 1.0 for opt in self._option_literals)
        q = max(shares, default=0.0)
        return (1.0 if success else float(q)), success

    # --- behaviour trace (for diversity measures across episodes) ----------------------------------
    def _init_behaviour_trace(self) -> None:
        """Start the trace: the goal literals still false at reset, and the first base position.

        Literals already true at reset are not part of the behaviour, so they never enter the signature.
        """
        self._pending_literals = [k for k, true in enumerate(self._literal_truth) if not true]
        self._signature: list[str] = []
        self._trajectory: list[list[float]] = []
        self._trace_behaviour()

    def _trace_behaviour(self) -> None:
        """Record the base position and the goal literals that became true (after _evaluate_goal)."""
        x, y, _ = self.robot.pose()
        self._trajectory.append([round(float(x), 3), round(float(y), 3)])
        truth = self._literal_truth
        if any(truth[k] for k in self._pending_literals):
            self._signature += [self._literal_texts[k] for k in self._pending_literals if truth[k]]
            self._pending_literals = [k for k in self._pending_literals if not truth[k]]

    # --- masks and skills --------------------------------------------------------------------------
    def action_masks(self) -> np.ndarray:
        """Skills whose preconditions hold now (for sb3-contrib MaskablePPO)."""
        if self.config["control_mode"] != "skills":
            raise InvalidActionError("action_masks() exists only with control_mode='skills'")
        self._require_reset("action_masks()")
        return np.array([self.executor.precondition(s) is None for s in self.table.skills], dtype=bool)

    def skill_names(self) -> list[str]:
        held = self.robot.held.label if self.robot is not None and self.robot.held else None
        return [s.text(held) for s in self.table.skills]

    def parse_skill(self, text: str) -> int:
        return self.table.parse(text)[0]

    # --- observations ----------------------------------------------------------------------------------
    def _observe(self):
        mode = self.config["obs_mode"]
        if mode == "state":
            return self._state_vector()
        if mode == "rgb":
            return self._camera(self.config["image_size"], egocentric=True)
        if mode == "symbolic":
            return self._symbolic()
        return self.text_observation()

    def _state_vector(self) -> np.ndarray:
        robot = self.robot
        # Plain floats for the robot's few features: numpy's scalar arithmetic costs more.
        x, y, yaw = robot.pose().tolist()
        vx, vy, wz = robot.velocity().tolist()
        ex, ey, ez = robot.ee_position().tolist()
        c, s = math.cos(yaw), math.sin(yaw)
        rx, ry = ex - x, ey - y
        # Filled in place: robot features, progress, then one row per object.
        out = np.zeros(ROBOT_FEATURES + 1 + self.n_objects * OBJECT_FEATURES, dtype=np.float32)
        holding = robot.held is not None
        out[:ROBOT_FEATURES] = (x, y, c, s, vx, vy, wz, *into_frame(rx, ry, c, s), ez, holding)
        out[ROBOT_FEATURES] = self._progress
        feats = out[ROBOT_FEATURES + 1 :].reshape(self.n_objects, OBJECT_FEATURES)
        objs = self.objects
        if objs:
            # Whole columns at once: this runs at every continuous-control step.
            query, held = self.query, robot.held
            boxes = query.boxes(objs)
            lo, hi = boxes[:, 0], boxes[:, 1]
            centre = (lo + hi) / 2
            dx, dy = centre[:, 0] - x, centre[:, 1] - y
            flags = [
                (
                    held is obj,
                    query.is_open(obj),
                    obj.toggled_on,
                    obj.temperature / 100.0,
                    obj.frozen,
                    obj.cooked,
                    bool(obj.covered),
                    obj.broken,
                    obj.hot,
                )
                for obj in objs
            ]
            n = len(objs)
            feats[:n, 0] = 1.0
            feats[:n, 1], feats[:n, 2] = into_frame(dx, dy, c, s)
            feats[:n, 3] = centre[:, 2]
            feats[:n, 4:7] = hi - lo
            feats[:n, 7:] = flags
        extra = self._extra_state()
        if extra is None:
            return out
        return np.concatenate([out, extra.astype(np.float32)])

    def _extra_state(self) -> np.ndarray | None:
        return None

    def _symbolic(self) -> np.ndarray:
        q = self.query
        objs = self.objects
        out = []
        for o in objs:
            out += [
                q.is_held(o),
                q.is_open(o),
                o.toggled_on,
                o.hot,
                o.frozen,
                o.cooked,
                o.broken,
                bool(o.covered),
            ]
        for fn in (q.ontop, q.inside, q.nextto):
            out += [fn(a, b) for a in objs for b in objs if a is not b]
        return np.asarray(out, dtype=np.int8)

    def text_observation(self) -> str:
        """The scene, goal and robot state in words (the ``text`` observation, also for LLM planners)."""
        self._require_reset("text_observation()")
        robot = self.robot
        x, y, _ = robot.pose()
        room = self._scene.room_at(x, y) or "a doorway"
        lines = [
            f"Task: {self.activity.name.replace('_', ' ')}.",
            "Goal: " + "; ".join(self.goal_text()) + ".",
            f"You are in the {room}. Holding: {robot.held.label if robot.held else 'nothing'}.",
        ]
        for obj in self.objects:
            if obj.template == "floor":
                continue
            desc = self._describe(obj)
            dist = self.query.distance_xy(obj, np.array([x, y]))
            lines.append(
                f"- {obj.label} ({self._scene.room_at(*self.query.aabb(obj)[0][:2]) or 'hall'}, "
                f"{dist:.1f} m){': ' + desc if desc else ''}"
            )
        lines += self._text_notes()
        if self._last_skill is not None:
            lines.append(f"Last skill: {self._last_skill['text']}")
        lines.append(f"Progress: {self._progress:.2f}")
        text = "\n".join(lines)
        return "".join(ch for ch in text if ch in TEXT_CHARSET)[:TEXT_MAX]

    def _text_notes(self) -> list[str]:
        """Extra lines for the text observation, e.g. people (families override)."""
        return []

    def goal_text(self) -> list[str]:
        """The goal in words, naming objects by their skill labels (and people by ``_term_labels``)."""
        names = self._term_labels()
        return [_expression_text(expr, names) for expr in self.activity.goal]

    def _term_labels(self) -> Mapping[str, str]:
        """BDDL names that the skills call otherwise, e.g. an ``agent.n.01`` that is a person."""
        return {}

    def _describe(self, obj: SimObject) -> str:
        q = self.query
        facts = []
        for other in self.objects:
            if other is obj:
                continue
            if q.inside(obj, other):
                facts.append(f"inside {other.label}")
            elif q.ontop(obj, other):
                facts.append(f"on {other.label}")
        for flag, word in (
            (q.is_open(obj), "open"),
            (obj.toggled_on, "on"),
            (obj.hot, "hot"),
            (obj.frozen, "frozen"),
            (obj.cooked, "cooked"),
            (obj.broken, "broken"),
        ):
            if flag:
                facts.append(word)
        facts += [f"covered with {s.split('.')[0]}" for s in obj.covered]
        if self.robot.held is obj:
            facts.append("in your hand")
        return ", ".join(facts)

    # --- info ----------------------------------------------------------------------------------------
    def _info(self, skill_result, events, terms=None, violations=None, costs=None) -> dict[str, Any]:
        costs = costs or self.monitors.empty_costs()
        info: dict[str, Any] = {
            "is_success": bool(self._success),
            "progress": float(self._progress),
            "cost": float(sum(costs.values())),
            **{f"cost_{category}": float(value) for category, value in costs.items()},
            "violations": list(violations or []),
            "events": list(events),
            "sim_time": self.sim_time,
            "reward_terms": terms or {"progress": 0.0, "success": 0.0, "failed_skill": 0.0},
        }
        if self.config["control_mode"] == "skills":
            info["skill_result"] = skill_result or {
                "skill": None,
                "success": True,
                "status": "ok",
                "reason": "",
                "duration": 0.0,
                "text": "",
            }
            # int8, Gymnasium's convention: action_space.sample(mask=info["action_mask"]) takes it.
            info["action_mask"] = self.action_masks().astype(np.int8)
        info.update(self._extra_info())
        return info

    def _extra_info(self) -> dict[str, Any]:
        return {}

    def _episode_metrics(self) -> dict[str, Any]:
        return {
            "success": bool(self._success),
            "progress": float(self._progress),
            "steps": self.steps,
            "return": float(self.episode_return),
            "sim_time": self.sim_time,
            "skill_failures": self.skill_failures,
            "false_completion_claim": self.false_claim,
            "cost": float(self.monitors.total_cost),
            "violations": dict(self.monitors.counts),
            "signature": list(self._signature),
            "trajectory": [list(p) for p in self._trajectory],
        }

    # --- rendering ---------------------------------------------------------------------------------
    def render(self):
        """``rgb_array``: a third-person frame, ``render_size`` pixels square. ``human``: None, as
        PyBullet's window already shows the scene, updated as the env steps."""
        if self.render_mode is None:
            gym.logger.warn(
                "render() called without render_mode; make the env with render_mode='rgb_array' (frames) "
                "or render_mode='human' (a window)"
            )
            return None
        self._require_reset("render()")
        if self.render_mode == "human":
            return None
        return self._camera(self.config["render_size"], egocentric=False)

    def _start_human_view(self) -> None:
        """After a reset in human mode: put the window's camera behind the robot, and pace the physics
        so that the window plays it at about real time."""
        x, y, yaw = self.robot.pose()
        self._camera_pose = (HUMAN_CAMERA[0], math.degrees(yaw) - 90.0, HUMAN_CAMERA[1])
        self._camera_target = (x, y, HUMAN_CAMERA[2])
        self.world.client.resetDebugVisualizerCamera(*self._camera_pose, self._camera_target)
        self._frame_due = time.perf_counter()
        self._human_substeps = 0
        self.world.add_hook(self._human_substep)

    def _human_substep(self, dt: float) -> None:
        self._human_substeps += 1
        if self._human_substeps % self.config["control_substeps"] == 0:
            self._human_frame(dt * self.config["control_substeps"])

    def _human_frame(self, period: float) -> None:
        """Keep the window's camera on the robot (the user's mouse orbit and zoom stay) and let the next
        frame show no sooner than ``period`` seconds of wall time from now."""
        client = self.world.client
        camera = client.getDebugVisualizerCamera()
        # The window applies a camera reset on its next frame: until it shows the target set last, its
        # distance and angles are stale, not the user's.
        if np.allclose(camera[11], self._camera_target, atol=1e-3):
            self._camera_pose = (camera[10], camera[8], camera[9])
        x, y, _ = self.robot.pose()
        self._camera_target = (x, y, HUMAN_CAMERA[2])
        client.resetDebugVisualizerCamera(*self._camera_pose, self._camera_target)
        now = time.perf_counter()
        if self._frame_due > now:
            time.sleep(self._frame_due - now)
            now = self._frame_due
        self._frame_due = now + period

    def render_views(self, size: int | None = None) -> dict[str, np.ndarray]:
        """Third-person, egocentric and top-down frames (``size`` x ``size`` RGB), whatever render_mode is.

        The top-down view looks straight down on the room the robot is in, for review videos.
        """
        self._require_reset("render_views()")
        size = (
            self.config["render_size"]
            if size is None
            else checked_int("render_views size", size, high=MAX_IMAGE_SIZE)
        )
        return {
            "third_person": self._camera(size, egocentric=False),
            "egocentric": self._camera(size, egocentric=True),
            "top_down": self._top_down(size),
        }

    def _top_down(self, size: int) -> np.ndarray:
        x, y, _ = self.robot.pose()
        # Up vector along +y: a view straight down the z axis needs one that is not parallel to it.
        return self._render_camera(size, [x, y, 7.0], [x, y, 0.0], [0, 1, 0], fov=70)

    def _camera(self, size: int, egocentric: bool) -> np.ndarray:
        x, y, yaw = self.robot.pose()
        fx, fy = math.cos(yaw), math.sin(yaw)
        if egocentric:
            eye = [x + 0.2 * fx, y + 0.2 * fy, 1.25]
            target = [x + 2.0 * fx, y + 2.0 * fy, 0.5]
            fov = 80
        else:
            eye = [x - 2.2 * fx, y - 2.2 * fy, 3.6]
            target = [x + 0.6 * fx, y + 0.6 * fy, 0.4]
            fov = 70
        return self._render_camera(size, eye, target, [0, 0, 1], fov)

    def _render_camera(self, size: int, eye, target, up, fov: float) -> np.ndarray:
        import pybullet

        c = self.world.client
        view = c.computeViewMatrix(eye, target, up)
        proj = c.computeProjectionMatrixFOV(fov, 1.0, 0.05, 30.0)
        _, _, rgba, _, _ = c.getCameraImage(
            size, size, view, proj, renderer=pybullet.ER_TINY_RENDERER, flags=pybullet.ER_NO_SEGMENTATION_MASK
        )
        return np.asarray(rgba, dtype=np.uint8).reshape(size, size, 4)[:, :, :3].copy()

    def _require_reset(self, what: str) -> None:
        if getattr(self, "world", None) is None:
            raise EnvStateError(f"{what} on a closed env; make a new one with gym.make(...)")
        if self.robot is None:
            raise EnvStateError(
                f"call reset() before {what} (no episode: none was started, or the last reset() failed)"
            )

    def __deepcopy__(self, memo: dict) -> NoReturn:
        raise EnvStateError(_NO_COPY)

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise EnvStateError(_NO_COPY)

    def close(self) -> None:
        if getattr(self, "world", None) is not None:
            self.world.close()
            self.world = None
        self.robot = None


_NO_COPY = (
    "an ethogym env cannot be copied or pickled: it owns a live PyBullet physics client. Make another "
    "with gym.make(env.spec) and reset it with the same seed (and actions) to reproduce an episode; "
    "vector envs take a factory such as lambda: gym.make(...)"
)

_WORDS = {
    "ontop": "{0} on top of {1}",
    "inside": "{0} inside {1}",
    "nextto": "{0} next to {1}",
    "under": "{0} under {1}",
    "touching": "{0} touching {1}",
    "covered": "{0} covered with {1}",
    "grasped": "{0} holding {1}",
    "open": "{0} open",
    "toggled_on": "{0} switched on",
    "hot": "{0} hot",
    "frozen": "{0} frozen",
    "cooked": "{0} cooked",
    "broken": "{0} broken",
}


def _term_text(term: str, names: Mapping[str, str]) -> str:
    term = term.lstrip("?")
    if term in names:
        return names[term]
    if ".n." in term and re.search(r"_(\d+|\*)$", term):
        return label_of(term)
    return term.split(".")[0].replace("__", "_")


def _expression_text(expr, names: Mapping[str, str] | None = None) -> str:
    names = names or {}
    head = expr[0]
    if head == "and":
        return " and ".join(_expression_text(e, names) for e in expr[1:])
    if head == "or":
        return "(" + " or ".join(_expression_text(e, names) for e in expr[1:]) + ")"
    if head == "not":
        return "not (" + _expression_text(expr[1], names) + ")"
    if head == "imply":
        return f"if {_expression_text(expr[1], names)} then {_expression_text(expr[2], names)}"
    if head in ("forall", "exists"):
        word = "every" if head == "forall" else "some"
        return f"for {word} {_term_text(expr[1][2], names)}: {_expression_text(expr[2], names)}"
    if head == "forn":
        return f"for {expr[1][0]} {_term_text(expr[2][2], names)}: {_expression_text(expr[3], names)}"
    if head in ("forpairs", "fornpairs"):
        pair = f"{_term_text(expr[-3][2], names)} with {_term_text(expr[-2][2], names)}"
        return f"pairing {pair}: {_expression_text(expr[-1], names)}"
    args = [_term_text(t, names) for t in expr[1:]]
    template = _WORDS.get(head)
    return (
        template.format(*args)
        if template and len(args) == template.count("{")
        else f"{head}({', '.join(args)})"
    )
