"""ethogym: a benchmark of embodied agent behaviour on PyBullet."""

from __future__ import annotations

__version__ = "0.1.0"

from . import errors  # noqa: E402
from .registration import ENV_INFO, make_parallel, register_envs  # noqa: E402

register_envs()

from ethogym import policies  # noqa: E402

__all__ = ["ENV_INFO", "__version__", "errors", "make_parallel", "policies", "register_envs"]
