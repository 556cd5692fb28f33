"""Errors ethogym raises for bad input. Each message names the problem and the fix."""

from __future__ import annotations


class EthogymError(Exception):
    """Base class of every error ethogym raises on purpose."""


class TaskDefinitionError(EthogymError, ValueError):
    """A BDDL task file or a task option is malformed."""


class UnsupportedActivityError(EthogymError, ValueError):
    """The activity uses something the simulator does not model yet."""


class SamplingError(EthogymError, RuntimeError):
    """The initial state of a task could not be realised physically."""


class SceneError(EthogymError, RuntimeError):
    """The apartment generator could not build a scene that holds the task's furniture."""


class InvalidActionError(EthogymError, ValueError):
    """An action that is not valid for the environment's action space or current skill table."""


class ConfigError(EthogymError, ValueError):
    """An unknown or out-of-range environment option."""


class EnvStateError(EthogymError, RuntimeError):
    """An environment used out of order: before ``reset()``, after ``close()``, or copied."""
