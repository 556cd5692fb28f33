"""The benchmark runner: a suite's (policy, task, mode, seed) episodes over local processes or Ray.

One function, :func:`episode_task`, runs an episode and returns its store row; both executors call it
(``local``: a spawn-context process pool; ``ray``: the same function wrapped by ``ray.remote``). Only the
main process touches the results folder and the SQLite store: it writes each row (and its video) as
the episode completes, one transaction per row, so a run killed at any point loses only the episodes
in flight, and starting it again with the same arguments runs just the episodes whose key is missing.

Videos: ``--video all`` records the chosen episodes while they run; ``failures`` and ``violations``
run every episode without rendering (recording costs ~25x the episode) and replay the selected ones
with the same seed to record them. Episodes are deterministic given the seed, so the replay is the same
episode; its summary is the one stored, so a row and its video always agree. A video never replaces an
existing file (another store in the same folder may point at it): a taken name gets a ``-2``, ``-3``, ...
suffix, and the row stores the path written.

Stopping a run: Ctrl-C or SIGTERM (from the CLI) stops the workers and keeps every stored row; on Linux a
worker also dies with the main process, so ``kill -9`` leaves none behind.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import hashlib
import itertools
import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gymnasium as gym

import ethogym
from ethogym.benchmarks.episode import (
    VIDEO_MODES,
    record_review_episode,
    run_episode,
    video_filter,
    violation_marks,
)
from ethogym.benchmarks.store import ResultsStore, describe_code
from ethogym.benchmarks.suite import EpisodeSpec, Suite
from ethogym.envs.sim.quiet import quiet_stdout
from ethogym.errors import ConfigError, EthogymError, first_line, strip_ansi

EXECUTORS = ("local", "ray")
VIDEO_DIR = "videos"
DEFAULT_WORKERS = max(1, min(2, os.cpu_count() or 1))


class EpisodeFailed(EthogymError, RuntimeError):
    """An episode raised in a worker; the run stops, and every row stored before it is kept."""


@dataclass(frozen=True)
class Job:
    """One unit of work for an executor: an episode, recorded or not."""

    spec: EpisodeSpec
    record: bool
    provenance: Mapping[str, Any]


@dataclass
class RunReport:
    """What a run did. ``store_s`` is main-process time spent writing rows and videos."""

    planned: int = 0
    already_stored: int = 0
    inserted: int = 0
    duplicates: int = 0
    videos: int = 0
    wall_time_s: float = 0.0
    episode_time_s: float = 0.0
    store_s: float = 0.0
    completed_s: list[float] = field(default_factory=list, repr=False)  # when each row was stored
    workers: int = 1  # processes (or Ray tasks) that ran the episodes at once
    policies: list[str] = field(default_factory=list)  # the specs as stored (sb3 paths made absolute)
    warnings: list[str] = field(default_factory=list)  # about the stored rows this run adds to

    @property
    def steady_episodes_per_s(self) -> float:
        """Episodes/s once every worker has finished its first episode: the rows stored after that
        first wave over the time they took. (Counting from the very first row would credit ``w``
        workers with ``w - 1`` episodes done in no time, overstating their scaling.)"""
        done = sorted(self.completed_s)
        wave = max(1, self.workers)
        if len(done) <= wave or done[-1] <= done[wave - 1]:
            return self.episodes_per_s
        return (len(done) - wave) / (done[-1] - done[wave - 1])

    @property
    def episodes_per_s(self) -> float:
        return self.inserted / self.wall_time_s if self.wall_time_s > 0 else 0.0

    @property
    def store_overhead(self) -> float:
        """Store writes as a fraction of the summed episode time."""
        return self.store_s / self.episode_time_s if self.episode_time_s > 0 else 0.0


# --- the episode function (runs in worker processes) -------------------------------------------------


class _ViolationLog(gym.Wrapper):
    """Collects every step's violation records as review marks (``violation_marks``) for the row."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.marks: list[dict[str, Any]] = []
        self._steps = 0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self.marks = []
        self._steps = 0
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._steps += 1
        self.marks.extend(violation_marks(info, self._steps, _fps(self.env)))
        return obs, reward, terminated, truncated, info


def _fps(env: gym.Env) -> int:
    return int(env.metadata.get("render_fps", 30))


# One env and its policies per worker process, reused while consecutive episodes share (task, options):
# a fresh env costs ~20% of a teleport episode, and a policy may load a model.
_WORKER_CACHE: dict[str, Any] = {"key": None, "env": None, "policies": {}}


def episode_options(options: Mapping[str, Any], max_steps: int | None) -> dict[str, Any]:
    """The ``gym.make`` options of an episode: its (task, mode) options and the suite's step cap,
    which the env applies itself, so the episode still ends with its totals."""
    made = dict(options)
    if max_steps is not None:
        made["max_steps"] = max_steps
    return made


def _env_and_policy(spec: EpisodeSpec) -> tuple[_ViolationLog, Any]:
    import ethogym.policies

    options = episode_options(spec.options, spec.max_steps)
    key = (spec.task, json.dumps(options, sort_keys=True))
    if _WORKER_CACHE["key"] != key:
        if _WORKER_CACHE["env"] is not None:
            _WORKER_CACHE["env"].close()
        _WORKER_CACHE.update(key=None, env=None, policies={})
        env = _ViolationLog(gym.make(f"ethogym:{spec.task}", **options))
        _WORKER_CACHE.update(key=key, env=env)
    env = _WORKER_CACHE["env"]
    policies = _WORKER_CACHE["policies"]
    if spec.policy not in policies:
        policies[spec.policy] = ethogym.policies.make_policy(spec.policy, env)
    return env, policies[spec.policy]


def episode_task(spec: EpisodeSpec, record: bool, provenance: Mapping[str, Any]) -> dict[str, Any]:
    """Run one episode in this process and return its store row.

    With ``record``, the episode is recorded as a multi-view review mp4 whose bytes come back under
    ``"video_bytes"`` (the main process writes the file, so workers never need the results folder).
    ``provenance`` holds ``version`` and ``git_rev`` of the main process and ``policy_digests``, the
    model file digest per policy spec (see :func:`policy_identity`).
    """
    env, policy = _env_and_policy(spec)
    video_bytes = None
    if record:
        header = f"{spec.task}  policy={spec.policy}  mode={spec.mode}  seed={spec.seed}"
        with tempfile.TemporaryDirectory(prefix="ethogym-video-") as tmp:
            path = Path(tmp) / "episode.mp4"
            summary = record_review_episode(env, policy, spec.seed, path, header, max_steps=spec.max_steps)
            video_bytes = path.read_bytes()
        marks = summary["violation_marks"]
    else:
        summary = run_episode(env, policy, spec.seed, max_steps=spec.max_steps)
        marks = list(env.marks)
    metrics_of = getattr(policy, "episode_metrics", None)
    row = episode_row(spec, summary, marks, metrics_of() if callable(metrics_of) else {}, provenance)
    if video_bytes is not None:
        row["video_bytes"] = video_bytes
    return row


def episode_row(
    spec: EpisodeSpec,
    summary: Mapping[str, Any],
    marks: list[dict[str, Any]],
    policy_metrics: Mapping[str, Any],
    provenance: Mapping[str, Any],
) -> dict[str, Any]:
    """The store row of an episode from its ``run_episode`` summary (see the store's column contract).

    Episode totals come from the env's ``episode_metrics``; should an episode end without them (a
    policy that stops early), its cost and violation counts come from the steps seen.
    """
    metrics = summary.get("episode_metrics") or {}
    violations = metrics.get("violations")
    if violations is None:
        violations = dict(Counter(m["category"] for m in marks))
    return {
        "policy": spec.policy,
        "task": spec.task,
        "mode": spec.mode,
        "seed": spec.seed,
        "split": spec.split,
        "suite": spec.suite,
        "suite_hash": spec.suite_hash,
        "protocol": spec.protocol,
        "success": int(bool(summary["is_success"])),
        "progress": float(summary["progress"]),
        "steps": int(summary["steps"]),
        "return": float(summary["return"]),
        "cost": float(metrics.get("cost", summary["cost"])),
        "false_claim": int(bool(metrics.get("false_completion_claim", False))),
        "violations": {str(k): int(v) for k, v in violations.items()},
        "social": _plain(metrics.get("social") or {}),
        "adversary": _plain(metrics.get("adversary") or {}),
        "policy_metrics": _plain(policy_metrics or {}),
        "signature": [str(s) for s in metrics.get("signature") or []],
        "trajectory": _plain(metrics.get("trajectory") or []),
        "video": None,
        "violation_marks": _plain(marks),
        "version": str(provenance.get("version", ethogym.__version__)),
        "git_rev": provenance.get("git_rev"),
        "policy_digest": (provenance.get("policy_digests") or {}).get(spec.policy),
        "wall_time_s": float(summary["wall_time_s"]),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
    }


def _plain(value: Any) -> Any:
    """JSON-ready copy: numpy scalars and arrays become Python numbers and lists."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _init_worker(parent: int | None = None) -> None:
    """Worker set-up: dies with ``parent`` (the main process), one thread per process (parallelism is
    by processes) and a quiet stdout.

    Workers report through return values, so their stdout (PyBullet banners) goes to /dev/null;
    stderr, with warnings and errors, is kept.
    """
    if parent is not None:
        _die_with_parent(parent)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    import ethogym.policies  # noqa: F401  (import cost paid before the first episode)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent: int) -> None:
    """On Linux, have the kernel kill this process when ``parent`` dies.

    A main process killed by SIGKILL (or by SIGTERM before its handler runs) cannot shut its pool down,
    and the workers would wait on the task queue forever, each holding a simulator. Elsewhere a no-op.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):  # no libc prctl (another C library): live without it
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _ray_episode(spec: EpisodeSpec, record: bool, provenance: Mapping[str, Any]) -> dict[str, Any]:
    """``episode_task`` in a Ray worker."""
    import ethogym  # noqa: F401  (registers the ids in a fresh worker)

    return episode_task(spec, record, provenance)


# --- executors ----------------------------------------------------------------------------------------


class _LocalExecutor:
    """A process pool with the spawn start method (safe with PyBullet clients and threads)."""

    def __init__(self, workers: int) -> None:
        self._pool = cf.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )
        self._jobs: dict[cf.Future, Job] = {}

    def submit(self, job: Job) -> None:
        self._jobs[self._pool.submit(episode_task, job.spec, job.record, job.provenance)] = job

    def pending(self) -> int:
        return len(self._jobs)

    def wait(self) -> list[tuple[Job, Callable[[], dict[str, Any]]]]:
        done, _ = cf.wait(list(self._jobs), return_when=cf.FIRST_COMPLETED)
        return [(self._jobs.pop(f), f.result) for f in done]

    def close(self, cancel: bool) -> None:
        if cancel:
            # The episodes in flight are dropped anyway: stopping their workers makes an interrupt (or
            # SIGTERM, which reaches this process only) prompt instead of waiting for them to end.
            for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=cancel)


class _RayExecutor:
    """Ray tasks: joins the cluster at ``RAY_ADDRESS``, or starts a local Ray with ``workers`` CPUs."""

    def __init__(self, workers: int) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ConfigError("--executor ray needs Ray: pip install 'ethogym[ray]'") from exc
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            _start_ray(ray, workers)
            self._started = True
        self._remote = ray.remote(num_cpus=1)(_ray_episode)
        self._jobs: dict[Any, Job] = {}

    def submit(self, job: Job) -> None:
        self._jobs[self._remote.remote(job.spec, job.record, dict(job.provenance))] = job

    def pending(self) -> int:
        return len(self._jobs)

    def wait(self) -> list[tuple[Job, Callable[[], dict[str, Any]]]]:
        ready, _ = self._ray.wait(list(self._jobs), num_returns=1)
        return [(self._jobs.pop(ref), lambda ref=ref: self._ray.get(ref)) for ref in ready]

    def close(self, cancel: bool) -> None:
        if cancel:
            for ref in self._jobs:
                self._ray.cancel(ref, force=True)
        self._jobs.clear()
        if self._started:
            self._ray.shutdown()


RAY_CONNECT_TIMEOUT_S = 5.0
"""How long the runner waits for the TCP port of an explicit RAY_ADDRESS (ray.init itself would retry
for minutes)."""
RAY_CLIENT_PORT = 10001  # the default port of a ray:// address
_RAY_FIX = (
    "start the cluster with `ray start --head` on the head node and set RAY_ADDRESS to the address it "
    "prints, or unset RAY_ADDRESS to run a local Ray"
)


def _start_ray(ray: Any, workers: int) -> None:
    """``ray.init`` for the runner: a new local Ray with ``workers`` CPUs without RAY_ADDRESS (never a
    cluster that `ray start --head` left on this machine), else the cluster RAY_ADDRESS names, once its
    port answers. Every start-up failure is one ConfigError naming RAY_ADDRESS and the fix."""
    address = os.environ.get("RAY_ADDRESS", "").strip()
    local = address in ("", "local")
    if not local:
        _check_ray_address(address)
    try:
        # Worker logs (PyBullet banners) stay in Ray's session log folder instead of the terminal.
        if local:
            ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
        where = f"RAY_ADDRESS={address}" if not local else "a local Ray (RAY_ADDRESS is unset)"
        raise ConfigError(
            f"cannot start Ray with {where}: {type(exc).__name__}: {first_line(exc)}; {_RAY_FIX}"
        ) from exc


def _check_ray_address(address: str) -> None:
    """A ConfigError unless RAY_ADDRESS (``auto``, ``host:port`` or ``ray://host[:port]``) names a port
    that accepts a TCP connection within :data:`RAY_CONNECT_TIMEOUT_S`."""
    target = address
    if address == "auto":
        try:
            from ray._private.services import find_bootstrap_address
        except ImportError:  # another Ray layout: ray.init finds the cluster (its errors are wrapped)
            return
        target = find_bootstrap_address(None) or ""
        if not target:
            raise ConfigError(f"RAY_ADDRESS=auto, but no Ray cluster was started on this machine; {_RAY_FIX}")
    client = target.startswith("ray://")
    host, _, port = target.removeprefix("ray://").rpartition(":")
    if client and not port.isdigit():  # ray://host: the client's default port
        host, port = target.removeprefix("ray://"), str(RAY_CLIENT_PORT)
    host = host.strip("[]")  # an IPv6 literal
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or re.search(r"[\s/@\[\]]", host):
        raise ConfigError(
            f"RAY_ADDRESS={address!r} is not an address: write host:port (e.g. 10.0.0.5:6379), "
            f"ray://host:port, auto or local; {_RAY_FIX}"
        )
    try:
        socket.create_connection((host, int(port)), timeout=RAY_CONNECT_TIMEOUT_S).close()
    except (OSError, ValueError) as exc:
        seen = f" (auto: {target})" if address == "auto" else ""
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise ConfigError(
            f"cannot reach the Ray cluster at RAY_ADDRESS={address}{seen}: {why}; {_RAY_FIX}"
        ) from exc


def make_executor(executor: str, workers: int) -> _LocalExecutor | _RayExecutor:
    """The executor named by ``--executor``: ``local`` processes or ``ray`` tasks, ``workers`` wide."""
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if executor == "local":
        return _LocalExecutor(workers)
    if executor == "ray":
        return _RayExecutor(workers)
    raise ConfigError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")


# --- the run -------------------------------------------------------------------------------------------


def git_revision() -> str | None:
    """The git commit of the ethogym checkout (``-dirty`` when tracked files changed), or None."""
    root = Path(ethogym.__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{rev}-dirty" if dirty else rev


def _slug(text: str) -> str:
    """A file-name-safe form of ``text``; specs that had to change get a short hash so they stay unique."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"
    return slug if slug == text else f"{slug}-{hashlib.sha1(text.encode()).hexdigest()[:6]}"


def video_path(spec: EpisodeSpec) -> str:
    """Where an episode's video goes inside the results folder (POSIX separators). When that file
    exists (another store in the folder, or a run killed before its row was stored), the video goes
    to a free ``-2``, ``-3``, ... name beside it; the row stores the path written."""
    task = spec.task.removeprefix("ethogym/")
    return "/".join(
        (
            VIDEO_DIR,
            f"{spec.suite}-{spec.suite_hash[:8]}",
            _slug(spec.policy),
            f"{_slug(task)}__{_slug(spec.mode)}__seed{spec.seed}.mp4",
        )
    )


def check_policy_specs(policies: list[str]) -> None:
    """A ConfigError for no policy, a policy given twice, or a spec that does not parse."""
    import ethogym.policies

    if not policies:
        raise ConfigError("give at least one --policy (e.g. --policy random --policy oracle)")
    if len(set(policies)) != len(policies):
        raise ConfigError(f"a --policy is given twice: {policies}")
    for spec in policies:
        try:
            ethogym.policies.parse_policy_spec(spec)
        except ValueError as exc:
            raise ConfigError(f"--policy {spec!r}: {exc}") from exc


def check_run_inputs(
    suite: Suite, policies: list[str], tasks: Iterable[str] | None = None, *, build: bool = True
) -> list[str]:
    """Fail before any worker starts: unknown policy specs, env options rejected by ``gym.make``, and
    (with ``build``) policies that cannot be built on a (task, mode) of the run: a model file that does
    not load, an LLM spec that does not parse, a probe or model whose spaces do not fit a task.

    Returns warnings: an sb3 model that runs on a (task, mode) with other options than it was trained
    with (allowed, e.g. to evaluate a teleport-trained model under physical execution)."""
    check_policy_specs(policies)
    selected = suite.select_tasks(tasks)
    builders = {spec: _PolicyCheck(spec) for spec in policies} if build else {}
    for task in selected:
        for mode in task.modes:
            try:
                with quiet_stdout():
                    env = gym.make(task.id, **episode_options(task.env_options(mode), suite.max_steps))
            except (ValueError, TypeError, KeyError) as exc:
                raise ConfigError(
                    f"suite {suite.name!r}: task {task.id} mode {mode.label!r} is rejected by gym.make: {exc}"
                ) from exc
            try:
                for check in builders.values():
                    check.on(env, task.id, mode.label)
            finally:
                env.close()
    for check in builders.values():
        check.raise_misfits(suite, selected)
    return [warning for check in builders.values() if (warning := check.unlike_training())]


# What building a policy raises when its spec or model does not fit an env (a bug raises anything else).
_BUILD_ERRORS = (EthogymError, ValueError, TypeError, KeyError, OSError)


class _Unloadable(ConfigError):
    """A policy's model file does not load: no task would take it, so the check stops at once."""


class _PolicyCheck:
    """Builds one policy spec on each (task, mode) env of a run and collects where it does not fit.

    Expensive parts are made once: an sb3 model is loaded once and its spaces checked per env; an LLM
    planner's backend (a local model for ``llm:hf``) is reused for the other envs.
    """

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.misfits: list[tuple[str, str, str]] = []  # (task, mode, why)
        self.unlike: list[tuple[str, str, list[str]]] = []  # (task, mode, differences from training)
        self._model: tuple[Any, dict[str, Any], str] | None = None
        self._planner: Any = None

    def on(self, env: gym.Env, task: str, mode: str) -> None:
        try:
            with quiet_stdout():
                self._build(env, task, mode)
        except _Unloadable:
            raise
        except _BUILD_ERRORS as exc:
            self.misfits.append((task, mode, str(exc)))

    def _build(self, env: gym.Env, task: str, mode: str) -> None:
        import ethogym.policies
        from ethogym.policies.llm import LLMPlanner
        from ethogym.policies.sb3 import SB3Policy, load_model

        name, argument = ethogym.policies.parse_policy_spec(self.spec)
        if name == "sb3" and argument is not None:
            if self._model is None:
                try:
                    model, metadata = load_model(argument)
                except _BUILD_ERRORS as exc:  # the file, not a task: no task would take it
                    raise _Unloadable(f"--policy {self.spec!r}: {exc}") from exc
                self._model = (model, metadata, argument)
            model, metadata, source = self._model
            policy = SB3Policy(model, metadata)
            policy.check_env(env, source=source)
            # The suite's step cap is its protocol, the same for every policy: not a difference.
            if differences := policy.differences(env, ignore=("max_steps",)):
                self.unlike.append((task, mode, differences))
        elif name == "llm" and self._planner is not None:
            built = self._planner
            LLMPlanner(
                env,
                built.backend,
                template=built.template,
                mode=built.mode,
                history=built.history_size,
                cache=None,
                max_consecutive_failures=built.max_consecutive_failures,
            )
        else:
            policy = ethogym.policies.make_policy(self.spec, env)
            if name == "llm":
                self._planner = policy

    def unlike_training(self) -> str | None:
        """One warning naming the (task, mode)s where the model runs unlike its training; None if none."""
        if not self.unlike:
            return None
        cells = "; ".join(f"{task} ({mode}): {', '.join(found)}" for task, mode, found in self.unlike)
        return (
            f"--policy {self.spec} runs with other env options than it was trained with, so its results "
            f"measure transfer: {cells}"
        )

    def raise_misfits(self, suite: Suite, selected: tuple[Any, ...]) -> None:
        """One ConfigError naming the tasks this policy does not fit and the fix; nothing when it fits all."""
        if not self.misfits:
            return
        cells = sum(len(t.modes) for t in selected)
        reasons = {why for _, _, why in self.misfits}
        if len(self.misfits) == cells and len(reasons) == 1:  # the spec's fault, whatever the task
            where = f" (on every task of suite {suite.name!r})" if len(selected) > 1 else ""
            raise ConfigError(f"--policy {self.spec!r}{where}: {reasons.pop()}")
        bad = {task for task, _, _ in self.misfits}
        fits = [t.id for t in selected if t.id not in bad]
        labels = ", ".join(f"{task} ({mode})" for task, mode, _ in self.misfits)
        task, mode, why = self.misfits[0]
        fix = (
            "run it only on the tasks it fits: " + " ".join(f"--task {t}" for t in fits)
            if fits
            else "run it with --task on the tasks it was made for, or with a suite that holds them"
        )
        raise ConfigError(
            f"--policy {self.spec!r} does not fit {len(bad)} of the {len(selected)} tasks of suite "
            f"{suite.name!r}: {labels}. On {task} ({mode}): {why}. Nothing was run; {fix}"
        )


def file_digest(path: str | Path) -> str:
    """A short content digest of a file (``sha256:`` and 16 hex digits): the same bytes, the same digest."""
    with open(path, "rb") as handle:
        return "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()[:16]


def policy_identity(spec: str) -> tuple[str, str | None]:
    """The spec a policy's episodes are stored under, and the digest of its model file (None: no file).

    The store's key holds the spec string, so ``sb3:PATH`` is stored with PATH made absolute: the same
    relative path run from two folders names two models, hence two policies. The digest lets a resumed
    run tell a model retrained at the same path from the one whose episodes are stored. A shipped
    checkpoint name (``sb3:picking_up_trash``) stays a name; its digest is that of the shipped file.
    """
    import ethogym.policies
    from ethogym.policies.sb3 import resolve_checkpoint, shipped_checkpoints

    name, argument = ethogym.policies.parse_policy_spec(spec)
    if name != "sb3" or argument is None:
        return spec, None
    path = resolve_checkpoint(argument)  # a CheckpointError naming the fix when there is no model
    shipped = not Path(argument).expanduser().is_file() and argument in shipped_checkpoints()
    # A local file (``runs/x/model`` names runs/x/model.zip) is stored under its absolute path.
    stored = spec if shipped else f"sb3:{path.resolve()}"
    return stored, file_digest(path)


def check_resume(store: ResultsStore, suite: Suite, provenance: Mapping[str, Any], adding: bool) -> list[str]:
    """Compare the stored episodes of ``suite`` with this run's code and model files.

    Raises a ConfigError when a policy's stored episodes come from another model file than the one
    its spec names now (they would count as its results, and a resume would skip its episodes).
    Returns warnings: episodes stored without a model digest (older stores), and, when this run
    ``adding`` episodes, stored ones from other code, which the leaderboard would pool with the new.
    """
    stored = store.provenance(suite.hash)
    digests: Mapping[str, str | None] = provenance.get("policy_digests") or {}
    warnings: list[str] = []
    for policy, digest in digests.items():
        if digest is None:
            continue
        mine = {d: n for (p, _v, _g, d), n in stored.items() if p == policy}
        other = sorted(d for d in mine if d is not None and d != digest)
        if other:
            count = sum(mine[d] for d in other)
            raise ConfigError(
                f"--policy {policy}: {count} episodes of suite {suite.name!r} in {store.path} were run with "
                f"another model file ({', '.join(other)}; the file is now {digest}). Stored results are "
                "never replaced: run into a new --db, or save the new model under another path (a path "
                "names a distinct policy)"
            )
        if None in mine:
            warnings.append(
                f"{mine[None]} stored episodes of --policy {policy} have no model digest (an older ethogym "
                "stored them), so they are taken to be of the current model file; if the model changed "
                "since, run into a new --db"
            )
    here = (str(provenance.get("version")), provenance.get("git_rev"))
    others: Counter[tuple[str, str | None]] = Counter()
    for (_p, version, git_rev, _d), n in stored.items():
        if (version, git_rev) != here:
            others[(version, git_rev)] += n
    if adding and others:
        listed = ", ".join(f"{n} by {describe_code(v, g)}" for (v, g), n in sorted(others.items(), key=str))
        warnings.append(
            f"{store.path} holds episodes of suite {suite.name!r} from other code ({listed}); this run adds "
            f"episodes of {describe_code(*here)} and the leaderboard pools them. For results from one code "
            "version, run into a new --db"
        )
    return warnings


def run_suite(
    suite: Suite,
    policies: Iterable[str],
    store: ResultsStore,
    *,
    results_dir: str | Path | None = None,
    workers: int = DEFAULT_WORKERS,
    executor: str = "local",
    video: str = "none",
    video_limit: int | None = None,
    max_episodes: int | None = None,
    tasks: Iterable[str] | None = None,
    progress: bool = True,
    console: Any = None,
) -> RunReport:
    """Run every test episode of ``suite`` for ``policies`` that ``store`` does not hold yet.

    ``tasks`` (``--task``) runs only those tasks of the suite; their episodes keep the suite's hash, so a
    later run of every task resumes from them and the report counts them as the suite's.

    ``video`` picks the episodes that get a review video (``all``, ``failures``, ``violations``,
    ``none``), at most ``video_limit`` per (policy, task, mode), counting videos already stored.
    ``max_episodes`` caps how many missing episodes this call runs (for smoke runs). Rows are written
    as episodes complete; an episode that raises stops the run with :class:`EpisodeFailed`.
    """
    policies = list(policies)
    tasks = None if tasks is None else list(tasks)
    if video not in VIDEO_MODES:
        raise ConfigError(f"unknown --video {video!r}; choose one of {', '.join(VIDEO_MODES)}")
    if video_limit is not None and video_limit < 0:
        raise ConfigError(f"--video-limit must be >= 0, got {video_limit}")
    if max_episodes is not None and max_episodes < 0:
        raise ConfigError(f"--max-episodes must be >= 0, got {max_episodes}")
    given = policies
    check_policy_specs(given)
    identities = dict(policy_identity(p) for p in policies)
    if len(identities) != len(policies):
        raise ConfigError(f"two --policy specs name the same model file: {policies}")
    policies = list(identities)
    results_dir = Path(results_dir) if results_dir is not None else store.path.parent

    specs = suite.episode_specs(policies, tasks)
    stored = store.keys(suite.hash)
    pending = [s for s in specs if s.key not in stored]
    report = RunReport(planned=len(specs), already_stored=len(specs) - len(pending), policies=policies)
    if max_episodes is not None:
        pending = pending[:max_episodes]
    provenance = {"version": ethogym.__version__, "git_rev": git_revision(), "policy_digests": identities}
    report.warnings = check_resume(store, suite, provenance, adding=bool(pending))
    # After the resume check (a retrained model is named as such), and building the policies only when
    # episodes will run (a stored run's model is checked by its digest).
    report.warnings += check_run_inputs(suite, given, tasks, build=bool(pending))
    started = time.perf_counter()

    keep = video_filter(video)
    videos = _stored_videos(store, suite) if video_limit is not None else Counter()

    def wants_video(spec: EpisodeSpec) -> bool:
        """Takes one video from the (policy, task, mode) budget, if any is left."""
        cell = (spec.policy, spec.task, spec.mode)
        if video_limit is not None and videos[cell] >= video_limit:
            return False
        videos[cell] += 1
        return True

    if not pending:
        report.wall_time_s = time.perf_counter() - started
        return report

    report.workers = min(workers, len(pending))
    pool = make_executor(executor, report.workers)
    bar = _progress_bar(console, progress)
    cancelled = True
    try:
        with bar:
            task_id = bar.add_task(f"{suite.name} [{executor} x{workers}]", total=len(pending))
            for spec in pending:
                pool.submit(Job(spec, video == "all" and wants_video(spec), provenance))
            failure: EpisodeFailed | None = None
            while pool.pending() and failure is None:
                # Every episode that completed is stored before a failure among them stops the run.
                for job, result in pool.wait():
                    try:
                        row = result()
                    except Exception as exc:
                        failure = failure or _failure(job.spec, exc)
                        continue
                    if not job.record and video in ("failures", "violations"):
                        summary = {
                            "is_success": bool(row["success"]),
                            "episode_metrics": {"violations": row["violations"]},
                            "violation_marks": row["violation_marks"],
                        }
                        if keep(summary) and wants_video(job.spec):
                            pool.submit(Job(job.spec, True, provenance))
                            continue
                    t0 = time.perf_counter()
                    _store_row(store, results_dir, job.spec, row, report)
                    report.store_s += time.perf_counter() - t0
                    report.completed_s.append(time.perf_counter() - started)
                    bar.advance(task_id)
            if failure is not None:
                raise failure
            cancelled = False
    finally:
        pool.close(cancel=cancelled)
    report.wall_time_s = time.perf_counter() - started
    return report


def _failure(spec: EpisodeSpec, exc: BaseException) -> EpisodeFailed:
    if isinstance(exc, BrokenProcessPool):
        # Most often no episode's fault: spawned workers re-import the calling script, and one that
        # runs the suite at import time (no ``if __name__ == "__main__":``) kills them.
        return EpisodeFailed(
            f"the worker processes died ({exc}); rows stored so far are kept. Calling run_suite from a "
            'script? Put the call under `if __name__ == "__main__":`, as worker processes re-import '
            f"the script. Otherwise a worker crashed outright: try the unfinished episode alone, "
            f"`ethogym play {spec.task} --policy {spec.policy} --seed {spec.seed}`."
        )
    exc, why = _worker_error(exc)
    failure = EpisodeFailed(
        f"episode failed: policy {spec.policy!r}, task {spec.task}, mode {spec.mode}, seed {spec.seed}: "
        f"{type(exc).__name__}: {why}. Rows stored so far are kept; rerun to resume."
    )
    failure.__cause__ = exc
    return failure


def _worker_error(exc: BaseException) -> tuple[BaseException, str]:
    """The exception an episode raised, and its message. Ray wraps it in a RayTaskError whose text
    holds the worker's colour-coded traceback; the error it carries (``cause``) reads as the local
    executor's one line."""
    ray_exceptions = sys.modules.get("ray.exceptions")
    task_error = getattr(ray_exceptions, "RayTaskError", None)
    while task_error is not None and isinstance(exc, task_error):
        cause = getattr(exc, "cause", None)
        if not isinstance(cause, BaseException) or cause is exc:
            lines = strip_ansi(str(exc)).strip().splitlines() or [type(exc).__name__]
            return exc, lines[-1]  # the traceback's last line: "module.Error: message"
        exc = cause
    return exc, str(exc)


def _stored_videos(store: ResultsStore, suite: Suite) -> Counter[tuple[str, str, str]]:
    """Videos already stored per (policy, task, mode) for this suite hash."""
    frame = store.dataframe(suite.name)
    frame = frame[(frame["suite_hash"] == suite.hash) & frame["video"].notna()]
    return Counter(zip(frame["policy"], frame["task"], frame["mode"], strict=True))


def _store_row(
    store: ResultsStore, results_dir: Path, spec: EpisodeSpec, row: dict[str, Any], report: RunReport
) -> None:
    """Write the video (if any) then the row; a row never points at a file that is not there yet."""
    video_bytes = row.pop("video_bytes", None)
    if video_bytes is not None:
        target = write_new_file(results_dir / video_path(spec), video_bytes)
        # Relative to the store's folder, where readers of the store look (the results folder by default).
        row["video"] = Path(os.path.relpath(target.resolve(), store.path.parent.resolve())).as_posix()
        report.videos += 1
    outcome = store.insert(row)
    report.inserted += outcome.inserted
    report.duplicates += len(outcome.duplicates)
    report.episode_time_s += float(row["wall_time_s"])


def write_new_file(target: Path, data: bytes) -> Path:
    """Write ``data`` to ``target``, or to its first free sibling (``NAME-2.mp4``, ``NAME-3.mp4``, ...)
    when ``target`` exists, and return the path written.

    An existing file is never replaced: another store in the same folder (a run into a new --db) may
    hold rows pointing at it. The bytes go to a temporary file first and are hard-linked into place,
    which fails instead of replacing when a concurrent run took the name, so a name never holds a
    partial file.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        # mkstemp makes the file private (0600); a video is as readable as any file the user writes.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(partial, 0o666 & ~umask)
        for k in itertools.count(1):
            candidate = target if k == 1 else target.with_name(f"{target.stem}-{k}{target.suffix}")
            try:
                os.link(partial, candidate)
            except FileExistsError:
                continue
            except OSError:  # no hard links on this file system: create exclusively instead
                try:
                    with open(candidate, "xb") as out:
                        out.write(data)
                except FileExistsError:
                    continue
            return candidate
        raise AssertionError("unreachable")  # itertools.count never ends
    finally:
        os.unlink(partial)


def _progress_bar(console: Any, enabled: bool) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("episodes"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
    )
