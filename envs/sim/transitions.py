"""Transition rules that advance symbolic states with simulated time.

Temperatures follow BEHAVIOR's model: a heat or cold source (with its ``requires_toggled_on`` /
``requires_closed`` / ``requires_inside`` conditions from the bddl data) pulls an object's
temperature toward the source's at its heating rate; otherwise it relaxes toward room temperature.
``frozen`` = at or below 0 C, ``hot`` = at or above 40 C, ``cooked`` latches at the cook temperature.
Cleaning: a held particle remover touching an object covered with a substance it removes (its
conditions met) wipes it off in ``CLEAN_SECONDS`` of contact. Breaking: a breakable object whose
velocity changes by more than ``BREAK_DELTA_V`` within a few physics substeps (an impact, e.g. a
fall from ~0.5 m onto anything) breaks; it is read every substep, so an impact is seen whatever the
control rate, and a bounce counts in full.
"""

from __future__ import annotations

import math
from collections import deque

from .knowledge import removable_substances
from .objects import SimObject
from .states import StateQuery

AMBIENT = 20.0
AMBIENT_RATE = 0.02
CLEAN_SECONDS = 1.0
BREAK_DELTA_V = 3.0
IMPACT_SUBSTEPS = 3  # substeps (25 ms at 120 Hz) over which an impact's change of velocity counts
HEAT_DEFAULT = 200.0  # C a heat source pulls toward when the bddl data gives none
COLD_DEFAULT = -18.0  # C, likewise for a cold source


class TransitionRules:
    def __init__(self, query: StateQuery, objects: list[SimObject]) -> None:
        self.query = query
        self.objects = objects
        self.thermal = [o for o in objects if o.has("heatable") or o.has("freezable") or o.has("cookable")]
        self.sources = [o for o in objects if o.has("heatSource") or o.has("coldSource")]
        self.breakables = [o for o in objects if o.has("breakable") and not o.static]
        # Each breakable's velocities after the last IMPACT_SUBSTEPS substeps.
        self._velocities = {o.body: deque([(0.0, 0.0, 0.0)], IMPACT_SUBSTEPS) for o in self.breakables}
        self._impacts: list[str] = []  # breakages seen since the last update

    def _source_active(self, source: SimObject, obj: SimObject) -> float | None:
        """Temperature the source pulls ``obj`` toward, or None when it does not act on it."""
        kind = "heatSource" if source.has("heatSource") else "coldSource"
        params = source.info.params.get(kind, {})
        if params.get("requires_toggled_on", 0) and not source.toggled_on:
            return None
        if params.get("requires_closed", 0) and self.query.is_open(source):
            return None
        if params.get("requires_inside", 0):
            if not self.query.inside(obj, source):
                return None
        elif not (self.query.inside(obj, source) or self.query.near_top(obj, source)):
            return None
        return float(params.get("temperature", HEAT_DEFAULT if kind == "heatSource" else COLD_DEFAULT))

    def update(self, dt: float, cleaners: list[SimObject] = ()) -> list[str]:
        """Advance every rule by ``dt`` seconds; returns plain-language events."""
        events, self._impacts = self._impacts, []
        for obj in self.thermal:
            target, rate = AMBIENT, AMBIENT_RATE
            for source in self.sources:
                if source is obj:
                    continue
                temperature = self._source_active(source, obj)
                if temperature is not None:
                    kind = "heatSource" if source.has("heatSource") else "coldSource"
                    target = temperature
                    rate = float(source.info.params.get(kind, {}).get("heating_rate", 0.1))
                    break
            was_frozen, was_hot = obj.frozen, obj.hot
            obj.temperature = target + (obj.temperature - target) * math.exp(-rate * dt)
            if obj.has("cookable") and not obj.cooked and obj.temperature >= obj.cook_temperature:
                obj.cooked = True
                events.append(f"{obj.label} is cooked")
            if was_frozen and not obj.frozen:
                events.append(f"{obj.label} thawed")
            if not was_frozen and obj.frozen:
                events.append(f"{obj.label} froze")
            if not was_hot and obj.hot:
                events.append(f"{obj.label} is hot")
        for tool in cleaners:
            for obj in self.objects:
                if not obj.covered or obj is tool:
                    continue
                for substance in list(obj.covered):
                    if not removes(tool, substance):
                        continue
                    if self.query.touching(tool, obj):
                        obj.covered[substance] -= dt / CLEAN_SECONDS
                        if obj.covered[substance] <= 0.0:
                            del obj.covered[substance]
                            events.append(f"{obj.label} is no longer covered with {substance.split('.')[0]}")
        return events

    def track_impacts(self, _dt: float = 0.0) -> None:
        """After each physics substep (a world hook): break what changed velocity by more than
        ``BREAK_DELTA_V`` within the last ``IMPACT_SUBSTEPS`` substeps (the solver spreads a hard
        impact over two or three of them; gravity adds only 0.08 m/s a substep meanwhile). A thing
        someone holds moves as their hand does (a hand-over snaps it into the taker's grip): it is
        judged again from the substep it is let go."""
        velocity = self.query.world.client.getBaseVelocity
        history = self._velocities
        limit = BREAK_DELTA_V * BREAK_DELTA_V
        held = self.query.held_bodies()
        for obj in self.breakables:
            if obj.broken:
                continue
            (vx, vy, vz), _ = velocity(obj.body)
            recent = history[obj.body]
            if obj.body in held:
                recent.clear()
                recent.append((vx, vy, vz))
                continue
            if any((vx - px) ** 2 + (vy - py) ** 2 + (vz - pz) ** 2 > limit for px, py, pz in recent):
                obj.broken = True
                self._impacts.append(f"{obj.label} broke on impact")
            recent.append((vx, vy, vz))

    def reset_velocities(self) -> None:
        """Take the velocities as they are now, after a teleport, so that its jump is no impact."""
        velocity = self.query.world.client.getBaseVelocity
        for body, recent in self._velocities.items():
            recent.clear()
            recent.append(velocity(body)[0])


def removes(tool: SimObject, substance: str) -> bool:
    """Does ``tool``, as it is now, remove ``substance`` (BEHAVIOR's particleRemover params)?"""
    needs = removable_substances(tool.synset).get(substance)
    return needs is not None and conditions_met(tool, needs)


def conditions_met(tool: SimObject, needs: list) -> bool:
    """Does ``tool`` meet one of ``needs``, BEHAVIOR's alternative conditions for it to remove a
    substance, like [["saturated", "water.n.06"]] or [["toggled_on", True]]? Empty: no condition."""
    if not needs:
        return True
    return any(
        (kind == "saturated" and what in tool.saturated)
        or (kind == "toggled_on" and bool(tool.toggled_on) == bool(what))
        for kind, what in needs
    )


def describe_conditions(needs: list) -> str:
    """``needs`` (see ``conditions_met``) in words: "switched on", "soaked with water or vinegar"."""
    words = []
    for kind, what in needs:
        if kind == "toggled_on":
            words.append("switched on" if what else "switched off")
        elif kind == "saturated":
            words.append(f"soaked with {str(what).split('.')[0].replace('_', ' ')}")
        else:
            words.append(f"{kind} {what}")
    return " or ".join(words)
