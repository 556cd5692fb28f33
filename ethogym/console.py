"""The command line's consoles and its one way to fail: a single red line and an exit code."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one clean error line and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def check_output(
    path: Path, option: str, *, folder: bool = False, example: str = "", overwrite: bool | None = None
) -> None:
    """A one-line error (exit code 2), before any work, when ``path`` cannot be written: a folder where
    a file goes (``example`` names a file to put in it), a file where a folder goes, a folder on the
    way that is a file, or a folder where no file can be made; and, with ``overwrite=False``, a file
    that exists (a command's output never replaces one unless its --overwrite is given)."""
    if folder and path.exists() and not path.is_dir():
        fail(f"{option} {path} is a file, not a folder; choose a folder path")
    if not folder and path.is_dir():
        fail(f"{option} {path} is a folder; give a file path, e.g. {option} {path / example}")
    if overwrite is False and path.is_file():
        fail(f"{option} {path} already exists; pass --overwrite to replace it, or choose another path")
    existing = next(p for p in (path, *path.parents) if p.exists())  # '.' ends a relative path
    if existing != path and not existing.is_dir():
        fail(f"{option} {path}: {existing} is a file, so no folder can be made in it; choose another path")
    # A file made and removed where the output goes: permission bits alone pass root on /proc or on a
    # read-only mount, and the failure would come only after the run.
    where = existing if existing.is_dir() else existing.parent
    try:
        handle, probe = tempfile.mkstemp(dir=where, prefix=".ethogym-write-check-")
    except OSError as exc:
        fail(f"{option} {path}: cannot write in {where} ({exc.strerror}); choose a path you can write to")
    os.close(handle)
    os.unlink(probe)
