"""Household activities: BEHAVIOR-1K BDDL definitions run in a procedural apartment."""

from __future__ import annotations

from typing import Any

from .base import EthogymEnv


class HouseholdEnv(EthogymEnv):
    """
    ## Description
    A mobile manipulator carries out one BEHAVIOR-1K household activity, read unmodified from the
    ``bddl`` package's ``problem0.bddl``, in a procedurally generated apartment (kitchen, living
    room, bedroom, bathroom, private office and a garden, with walls, doorways and furniture per
    room type). Objects are built from primitive shapes with abilities and masses from bddl's data;
    the task's :init is realised physically and success is the BDDL goal checked on the simulated
    state.

    ## Action Space
    ``control_mode="skills"`` (default): ``Discrete(N)`` over the task's grounded skills
    (``navigate_to(obj)``, ``pick``, ``place_on``, ``place_in``, ``place_next_to``, ``open``,
    ``close``, ``toggle_on``, ``toggle_off``, ``clean``, ``slice``, ``wait``, ``done``); N is fixed
    per task. ``env.unwrapped.action_masks()`` gives the skills whose preconditions hold,
    ``skill_names()`` their text form, and ``step("pick(apple_1)")`` takes the text form.
    ``skill_execution="physical"`` drives the base and arm through the physics; ``"teleport"``
    jumps to the collision-checked result. ``control_mode="continuous"``: ``Box(-1, 1, (7,))`` =
    base velocity (forward, left, yaw rate), end-effector delta (base frame) and grasp
    (> 0.5 grasps the nearest object, presses a switch or grips a door handle; < -0.5 releases).

    ## Observation Space
    ``obs_mode="state"`` (default): a flat ``Box`` = robot (pose, velocity, end effector, holding),
    progress, then 16 features per task object (validity, relative position, size, held, open, on,
    temperature, frozen, cooked, covered, broken). ``"rgb"``: egocentric camera image.
    ``"symbolic"``: ``MultiBinary`` over unary states and ontop / inside / nextto atoms
    (``atom_names()``). ``"text"``: the scene and goal in words.

    ## Rewards
    Change of the BDDL progress score Q (best fraction of satisfied goal literals over groundings),
    +1 on success, -0.01 per failed skill; the terms are in ``info["reward_terms"]``.

    ## Violations
    ``info["violations"]`` lists violation records and ``info["cost"]`` their summed cost; the
    ethics monitors fill them. A ``done`` declared while the goal does not hold is recorded as a
    false completion claim in ``info["episode_metrics"]``.

    ## Termination
    Terminates when the goal holds (``terminate_on_success``) or the agent calls ``done``;
    truncates after ``max_steps`` (80 skills or 1500 continuous steps at 30 Hz).

    ## Registered Configurations
    - ``ethogym/Household-InstallingAPrinter-v0``
    - ``ethogym/Household-TidyingBedroom-v0``
    - ``ethogym/Household-PickingUpTrash-v0``
    - ``ethogym/Household-CookAFrozenPie-v0``
    - ``ethogym/Household-CleanABook-v0``
    - ``ethogym/Behavior-v0`` (``activity=`` any supported BEHAVIOR-1K activity, ``instance=``,
      or ``task_file=`` a BDDL problem file)
    """

    def __init__(self, render_mode: str | None = None, **config: Any) -> None:
        if config.get("activity") is None and config.get("task_file") is None:
            from ethogym.errors import ConfigError

            raise ConfigError(
                "HouseholdEnv needs activity='<behavior activity>' or task_file='<path.bddl>', "
                "e.g. gym.make('ethogym/Behavior-v0', activity='picking_up_trash')"
            )
        super().__init__(render_mode=render_mode, **config)
