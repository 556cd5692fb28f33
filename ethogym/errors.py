"""Errors ethogym raises for bad input. Each message names the problem and the fix."""

from __future__ import annotations

import re


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


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour codes (Ray colours the tracebacks it forwards)."""
    return _ANSI.sub("", text)


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, without terminal colour codes (errors from
    SB3, torch and Ray run to several lines), or its type's name when it has none."""
    lines = [line.strip() for line in strip_ansi(str(exc)).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
