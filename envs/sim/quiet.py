"""PyBullet's C layer prints to the process's output: a build banner on stderr when imported and
``argv[0]=`` on stdout for every client it opens, which would land in the user's output, in
``ethogym list --json`` and under progress bars."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator


def _flush_c_stdio() -> None:
    """Flush the C library's output buffers, so text printed by C code goes where the file
    descriptors point now."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no C library to reach (e.g. some Windows builds)
        pass


@contextlib.contextmanager
def quiet_stdout(stderr: bool = False) -> Iterator[None]:
    """Send file descriptor 1 (and 2 with ``stderr``), C and Python output alike, to the null device
    meanwhile; what was printed before is flushed first, so nothing already printed is lost."""
    streams = [(1, sys.stdout)] + ([(2, sys.stderr)] if stderr else [])
    for _, stream in streams:
        stream.flush()
    _flush_c_stdio()
    saved = [(fd, os.dup(fd)) for fd, _ in streams]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd, _ in streams:
            os.dup2(devnull, fd)
        yield
    finally:
        _flush_c_stdio()
        for _, stream in streams:
            stream.flush()
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)
