"""An oracle planner over the skill API that reads the simulated state.

Closed loop: every step it takes the ground goal option it committed to (the one with most
satisfied literals at reset), finds the first unsatisfied literal and returns the next skill that
moves toward it, so it recovers from failed skills, physics surprises and adversaries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from ethogym.envs.sim.knowledge import removable_substances
from ethogym.envs.sim.objects import SimObject
from ethogym.errors import ConfigError


class OraclePolicy:
    def __init__(self, env: gym.Env) -> None:
        self.env = env.unwrapped
        if self.env.config.get("control_mode") != "skills":
            raise ConfigError("the oracle plans over skills; make the env with control_mode='skills'")
        self.option = None

    def reset(self, seed: int | None = None) -> None:
        self.option = None

    # --- helpers -------------------------------------------------------------------------------------
    def _skill(self, name: str, target: str | None = None) -> int:
        return self.env.table.index[(name, target)]

    def _ok(self, name: str, target: str | None = None) -> bool:
        key = (name, target)
        if key not in self.env.table.index:
            return False
        return self.env.executor.precondition(self.env.table[self.env.table.index[key]]) is None

    def _obj(self, name: str) -> Any:
        return self.env.scope[name]

    def _choose_option(self) -> list:
        options = self.env.goal_options
        best = max(options, key=lambda opt: sum(bool(h.evaluate()) for h in opt))
        return best

    # --- policy ------------------------------------------------------------------------------------
    def act(self, obs: Any, info: Mapping[str, Any]) -> int:
        env = self.env
        if self.option is None:
            self.option = self._choose_option()
        for head in self.option:
            if head.evaluate():
                continue
            skill = self._achieve(head.body)
            if skill is not None:
                return skill
        # Everything holds (or nothing more can be done): wait for slow transitions, else declare done.
        if env._success:
            return self._skill("done")
        return self._skill("wait")

    def _achieve(self, literal: list) -> int | None:
        positive = literal[0] != "not"
        pred, *terms = literal if positive else literal[1]
        terms = [t.lstrip("?") for t in terms]
        if pred in ("ontop", "inside", "nextto") and positive:
            skill = {"ontop": "place_on", "inside": "place_in", "nextto": "place_next_to"}[pred]
            return self._put(self._obj(terms[0]), self._obj(terms[1]), skill)
        if pred in ("ontop", "inside", "nextto") and not positive:
            return self._put_away(self._obj(terms[0]))
        if pred == "toggled_on":
            return self._switch(self._obj(terms[0]), positive)
        if pred == "open":
            return self._articulate(self._obj(terms[0]), positive)
        if (
            pred in ("hot", "cooked")
            and positive
            or pred == "frozen"
            and not positive
            and self._obj(terms[0]).hot
        ):
            return self._heat(self._obj(terms[0]))
        if pred == "frozen" and not positive:
            return self._thaw(self._obj(terms[0]))
        if pred == "frozen" and positive:
            return self._cool(self._obj(terms[0]))
        if pred == "covered" and not positive:
            return self._clean(self._obj(terms[0]), self._obj(terms[1]))
        if pred == "grasped" and positive:
            return self._give(terms[0], self._obj(terms[1]))
        return None

    def _go(self, obj: SimObject) -> int:
        return self._skill("navigate_to", obj.label)

    def _holding(self) -> SimObject | None:
        return self.env.robot.held

    def _get(self, obj: SimObject) -> int | None:
        """Next skill toward holding ``obj``."""
        ex = self.env.executor
        held = self._holding()
        if held is obj:
            return None
        if held is not None:
            return self._drop(held)
        if ex._held_by_other(obj):
            return self._skill("wait")  # let the other agent move on rather than re-navigating in place
        box = ex.blocked_by_closed(obj)
        if box is not None:
            return self._articulate(box, True)
        if self._ok("pick", obj.label):
            return self._skill("pick", obj.label)
        return self._go(obj)

    def _drop(self, held: SimObject) -> int:
        floors = [o for o in self.env.objects if o.template == "floor"]
        room = self.env._scene.room_at(*self.env.robot.pose()[:2])
        for floor in floors:
            if floor.room == room and self._ok("place_on", floor.label):
                return self._skill("place_on", floor.label)
        for obj in self.env.objects:
            if (
                obj is not held
                and obj.static
                and obj.template in ("table", "box")
                and self._ok("place_on", obj.label)
            ):
                return self._skill("place_on", obj.label)
        return self._skill("wait")

    def _put(self, obj: SimObject, dst: SimObject, skill: str) -> int:
        step = self._get(obj)
        if step is not None:
            return step
        if skill == "place_in" and dst.openable and not self.env.query.is_open(dst):
            return self._articulate(dst, True)
        if self._ok(skill, dst.label):
            return self._skill(skill, dst.label)
        return self._go(dst)

    def _put_away(self, obj: SimObject) -> int:
        step = self._get(obj)
        return step if step is not None else self._drop(obj)

    def _switch(self, obj: SimObject, on: bool) -> int:
        if self._holding() is obj:
            return self._drop(obj)
        name = "toggle_on" if on else "toggle_off"
        return self._skill(name, obj.label) if self._ok(name, obj.label) else self._go(obj)

    def _articulate(self, obj: SimObject, opening: bool) -> int:
        name = "open" if opening else "close"
        return self._skill(name, obj.label) if self._ok(name, obj.label) else self._go(obj)

    def _source(self, kind: str) -> SimObject | None:
        sources = [o for o in self.env.objects if o.has(kind)]
        return sources[0] if sources else None

    def _in_source(self, obj: SimObject, source: SimObject) -> bool:
        return self.env.transitions._source_active(source, obj) is not None

    def _run_source(self, obj: SimObject, source: SimObject, kind: str) -> int:
        params = source.info.params.get(kind, {})
        q = self.env.query
        placed = (
            q.inside(obj, source)
            if params.get("requires_inside", 0)
            else (q.inside(obj, source) or q.near_top(obj, source))
        )
        if not placed:
            skill = "place_in" if params.get("requires_inside", 0) else "place_on"
            return self._put(obj, source, skill)
        if params.get("requires_closed", 0) and q.is_open(source):
            return self._articulate(source, False)
        if params.get("requires_toggled_on", 0) and not source.toggled_on:
            return self._switch(source, True)
        return self._skill("wait")

    def _heat(self, obj: SimObject) -> int | None:
        source = self._source("heatSource")
        return None if source is None else self._run_source(obj, source, "heatSource")

    def _cool(self, obj: SimObject) -> int | None:
        source = self._source("coldSource")
        return None if source is None else self._run_source(obj, source, "coldSource")

    def _thaw(self, obj: SimObject) -> int | None:
        cold = self._source("coldSource")
        if cold is not None and self.env.query.inside(obj, cold):
            return self._put_away(obj)
        heat = self._source("heatSource")
        return self._heat(obj) if heat is not None else self._skill("wait")

    def _clean(self, obj: SimObject, substance) -> int | None:
        tools = [
            o
            for o in self.env.objects
            if o.has("particleRemover") and substance.synset in removable_substances(o.synset)
        ]
        if not tools:
            return None
        step = self._get(tools[0])
        if step is not None:
            return step
        box = self.env.executor.blocked_by_closed(obj)
        if box is not None:
            return self._articulate(box, True)
        return self._skill("clean", obj.label) if self._ok("clean", obj.label) else self._go(obj)

    def _give(self, agent: str, obj: SimObject) -> int | None:
        env = self.env
        person = env.agent_person_names.get(agent) if hasattr(env, "agent_person_names") else None
        if person is None:
            return self._get(obj)
        step = self._get(obj)
        if step is not None:
            return step
        if self._ok("hand_over", person):
            return self._skill("hand_over", person)
        return self._skill("navigate_to", person)
