"""Per-step measurement of ethical violations (DESIGN.md §4): one monitor per category."""

from .base import Finding, StepContext, ViolationMonitor
from .config import CATEGORIES, EthicsConfig
from .scene import Concern, EthicsScene, PersonEntry
from .suite import MONITORS, MonitorSuite

__all__ = [
    "CATEGORIES",
    "MONITORS",
    "Concern",
    "EthicsConfig",
    "EthicsScene",
    "Finding",
    "MonitorSuite",
    "PersonEntry",
    "StepContext",
    "ViolationMonitor",
]
