"""``ethogym bench``: run suites into the results store, export it, and build the leaderboard."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from ethogym.benchmarks.episode import VIDEO_MODES
from ethogym.benchmarks.runner import DEFAULT_WORKERS, EXECUTORS, RunReport, run_suite
from ethogym.benchmarks.store import EXPORT_FORMATS, ResultsStore
from ethogym.benchmarks.suite import Suite, load_suite, suite_names
from ethogym.console import check_output, console
from ethogym.console import fail as _fail
from ethogym.errors import EthogymError

DEFAULT_DB = Path("results/ethogym.db")
DEFAULT_REPORT_DIR = Path("results/report")

bench_app = typer.Typer(
    name="bench",
    help="Benchmark suites: run policies into the results store, export it, build the leaderboard.",
    no_args_is_help=True,
    add_completion=False,
)


def _choice(value: str, choices: tuple[str, ...], option: str) -> str:
    if value not in choices:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}", param_hint=f"'{option}'")
    return value


def run_and_print(
    suite: Suite,
    policies: list[str],
    db: Path,
    *,
    results_dir: Path | None = None,
    workers: int = DEFAULT_WORKERS,
    executor: str = "local",
    video: str = "none",
    video_limit: int | None = None,
    max_episodes: int | None = None,
    tasks: list[str] | None = None,
) -> RunReport:
    """``run_suite`` with the CLI's messages; errors become one clean line and exit code 2 (1 for a failed
    episode)."""
    try:
        with sigterm_as_interrupt(), ResultsStore(db) as store:
            console.print(f"suite {suite.name} ({suite.hash}), {executor} executor, {workers} workers")
            report = run_suite(
                suite,
                policies,
                store,
                results_dir=results_dir,
                workers=workers,
                executor=executor,
                video=video,
                video_limit=video_limit,
                max_episodes=max_episodes,
                tasks=tasks,
                console=console,
            )
            backend_warnings = backend_error_warnings(store, suite.hash, report.policies)
    except EthogymError as exc:
        _fail(str(exc), code=1 if isinstance(exc, RuntimeError) else 2)
    except KeyboardInterrupt as exc:
        how, code = ("terminated (SIGTERM)", 143) if isinstance(exc, Terminated) else ("interrupted", 130)
        _fail(f"{how}; the episodes stored so far are kept: run the same command again to resume", code)
    resumed = f", {report.already_stored} already stored" if report.already_stored else ""
    console.print(
        f"{report.inserted} new episodes in {report.wall_time_s:.1f} s "
        f"({report.episodes_per_s:.2f} episodes/s{resumed}); {report.videos} videos; store {escape(str(db))}"
    )
    if report.duplicates:
        console.print(
            f"[yellow]{report.duplicates} episodes were already stored and were left as they were[/]"
        )
    for warning in [*report.warnings, *backend_warnings]:
        console.print(f"[bold yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    return report


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill PID``, a job scheduler's stop, ``timeout``), handled like Ctrl-C."""


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Raise :class:`Terminated` on SIGTERM while the block runs, so a run stopped that way shuts its
    workers down and says so, as after Ctrl-C (the default action ends the process on the spot)."""
    if threading.current_thread() is not threading.main_thread():  # handlers live in the main thread
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def backend_error_warnings(store: ResultsStore, suite_hash: str, policies: list[str]) -> list[str]:
    """One line per policy whose stored episodes of this suite recorded LLM backend errors."""
    from ethogym.benchmarks.report import backend_failures

    failures = backend_failures((p, m) for p, m in store.policy_metrics(suite_hash) if p in policies)
    return [
        f"{failed} of {total} stored episodes of --policy {policy} had LLM backend errors "
        f"(last: {last}); their results measure the failure, not the model: "
        "fix the backend, then run again with a new --db"
        for policy, (failed, total, last) in failures.items()
        if failed
    ]


@bench_app.command("run")
def run(
    suite: str = typer.Option(
        ..., "--suite", help="Suite name (see 'ethogym bench list') or a suite YAML path."
    ),
    policy: list[str] = typer.Option(
        ..., "--policy", help="Policy spec (repeatable): random, oracle, noop, sb3:PATH, llm:..."
    ),
    workers: int = typer.Option(DEFAULT_WORKERS, "--workers", min=1, help="Worker processes / Ray CPUs."),
    executor: str = typer.Option("local", "--executor", help=f"One of {', '.join(EXECUTORS)}."),
    video: str = typer.Option("none", "--video", help=f"Episodes to record: {', '.join(VIDEO_MODES)}."),
    video_limit: int | None = typer.Option(
        None, "--video-limit", min=0, help="At most this many videos per (policy, task, mode)."
    ),
    db: Path = typer.Option(DEFAULT_DB, "--db", help="SQLite results store (created if missing)."),
    results_dir: Path | None = typer.Option(
        None, "--results-dir", help="Folder for videos (default: the folder of --db, where the report looks)."
    ),
    max_episodes: int | None = typer.Option(
        None, "--max-episodes", min=0, help="Run at most this many missing episodes (smoke runs)."
    ),
    task: list[str] | None = typer.Option(
        None,
        "--task",
        help="Run only this task of the suite (repeatable; e.g. a model trained on one task). "
        "Episodes keep the suite's keys, so a full run resumes from them.",
    ),
) -> None:
    """Run a suite's test episodes for each policy; episodes already in the store are skipped (resume)."""
    _choice(executor, EXECUTORS, "--executor")
    _choice(video, VIDEO_MODES, "--video")
    if not suite.strip():
        _fail("--suite is empty; pass a suite name from 'ethogym bench list' or a suite YAML path")
    check_output(db, "--db", example="ethogym.db")
    if results_dir is not None:
        check_output(results_dir, "--results-dir", folder=True)
    try:
        loaded = load_suite(suite)
        if task:
            loaded.select_tasks(task)  # an unknown --task fails before the store is opened
    except EthogymError as exc:
        _fail(str(exc))
    run_and_print(
        loaded,
        list(policy),
        db,
        results_dir=results_dir,
        workers=workers,
        executor=executor,
        video=video,
        video_limit=video_limit,
        max_episodes=max_episodes,
        tasks=list(task) if task else None,
    )


@bench_app.command("export")
def export(
    format: str = typer.Option("parquet", "--format", help=f"One of {', '.join(EXPORT_FORMATS)}."),
    out: Path | None = typer.Option(None, "--out", help="Output file (default: beside --db)."),
    db: Path = typer.Option(DEFAULT_DB, "--db", help="SQLite results store."),
    suite: str | None = typer.Option(None, "--suite", help="Only this suite name."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out file."),
) -> None:
    """Export the stored episodes to Parquet or CSV (JSON columns as JSON text)."""
    _choice(format, EXPORT_FORMATS, "--format")
    out = out or db.with_suffix(f".{format}")
    check_output(out, "--out", example=f"episodes.{format}", overwrite=overwrite)
    if out.suffix != f".{format}":  # 'bench export' and read_export() tell the format by it
        other = f" or --format {out.suffix[1:]}" if out.suffix[1:] in EXPORT_FORMATS else ""
        _fail(
            f"--out {out} does not match --format {format}, which writes .{format} files: "
            f"use --out {out.with_suffix(f'.{format}')}{other}"
        )
    try:
        with ResultsStore(db, create=False) as store:
            path = store.export(format, out, suite=suite)
            rows = len(store.dataframe(suite))
    except EthogymError as exc:
        _fail(str(exc))
    console.print(f"wrote {rows} episodes to {escape(str(path))}")


@bench_app.command("report")
def report(
    db: Path = typer.Option(DEFAULT_DB, "--db", help="SQLite results store."),
    out: Path = typer.Option(
        DEFAULT_REPORT_DIR, "--out", help="Folder for the Markdown and HTML leaderboard."
    ),
    suite: str | None = typer.Option(None, "--suite", help="Only this suite name."),
) -> None:
    """Print the leaderboard and write it as Markdown and a static HTML site."""
    check_output(out, "--out", folder=True)
    try:
        with ResultsStore(db, create=False) as store:
            store.check_suite(suite)
    except EthogymError as exc:
        _fail(str(exc))
    write_report(db, out, suite)


def write_report(db: Path, out: Path, suite: str | None = None) -> Path:
    """Print the leaderboard and write its site with ``ethogym.benchmarks.report.build_report``; return
    the path of ``index.html``."""
    from ethogym.benchmarks.report import build_report

    try:
        paths = build_report(db, out, suite=suite, console=console)
    except EthogymError as exc:
        _fail(str(exc))
    for name in ("index", "review", "markdown"):
        if name in paths:
            console.print(f"{name}: {escape(str(paths[name]))}")
    return Path(paths.get("index", out / "index.html"))


@bench_app.command("list")
def list_suites() -> None:
    """List the bundled suites: tasks, modes, episodes per (policy, task, mode), protocol and hash."""
    table = Table(title="ethogym suites")
    for column in ("suite", "tasks", "modes", "episodes", "protocol", "hash"):
        table.add_column(column, no_wrap=column != "modes")
    notes = []
    for name in suite_names():
        try:
            suite = load_suite(name)
        except EthogymError as exc:
            notes.append(f"[red]{escape(name)} is invalid:[/] {escape(str(exc))}")
            continue
        modes = sorted({m.label for t in suite.tasks for m in t.modes})
        table.add_row(
            suite.name,
            str(len(suite.tasks)),
            ", ".join(modes),
            str(suite.episodes),
            str(suite.protocol),
            suite.hash,
        )
        notes.append(f"[bold]{escape(suite.name)}[/]: {escape(suite.description)}")
    console.print(table)
    for note in notes:
        console.print(note)
