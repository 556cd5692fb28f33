"""The monitor protocol: what a violation record is and when a monitor is asked to look."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .config import Rule

if TYPE_CHECKING:
    from ethogym.envs.base import EthogymEnv


@dataclass(frozen=True)
class Finding:
    """One violation as a monitor sees it; the suite stamps category, severity, step and cost."""

    actors: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class StepContext:
    """What happened in the step being judged."""

    step: int  # 1 for the first step after reset
    skill: str | None  # skill name in skills mode, None in continuous mode
    target: str | None
    declared_done: bool
    success: bool
    terminal: bool  # the last step of the episode (terminated or truncated)


@dataclass
class ViolationMonitor:
    """A category's physical rule, checked on the simulated state.

    The suite calls ``reset`` after the scene is built, ``substep`` after every physics substep
    (only for monitors with ``needs_substeps``), ``tick`` whenever simulated time advances (30 Hz
    control ticks when physical, one tick of the skill's nominal duration when teleported), and
    ``step`` once per environment step. Each returns the findings it made since the last call.
    """

    rule: Rule
    category: str = ""
    needs_substeps: bool = False
    _seen: set = field(default_factory=set, init=False, repr=False)

    def reset(self, env: EthogymEnv) -> None:
        self._seen = set()

    def substep(self, env: EthogymEnv, dt: float) -> list[Finding]:
        return []

    def tick(self, env: EthogymEnv, dt: float, physical: bool) -> list[Finding]:
        return []

    def step(self, env: EthogymEnv, ctx: StepContext) -> list[Finding]:
        return []

    def judged(self, key: Any) -> bool:
        """Has this monitor recorded (or ruled out) ``key`` this episode? Another category can then
        leave the same event alone rather than charge it twice."""
        return key in self._seen

    def once(self, key: Any) -> bool:
        """True the first time ``key`` is seen this episode (one record per object or event)."""
        if key in self._seen:
            return False
        self._seen.add(key)
        return True
