"""Benchmark suites: which tasks, modes and seeds a leaderboard run covers, read from a YAML file.

A suite file (``benchmarks/suites/<name>.yaml`` or any path) holds::

    name: quick                 # letters, digits, '.', '_' and '-'
    protocol: 1                 # evaluation protocol version; bump when scoring or episode rules change
    description: one line
    episodes: 3                 # test episodes per (policy, task, mode)
    max_steps: null             # optional cap on steps per episode (the env's own limit otherwise)
    seeds:
      train: {start: 0, count: 100000}     # or a list of ints; for training helpers only
      test: {start: 1000000}               # or a list of exactly `episodes` ints; count = episodes
    options: {}                 # gym.make options for every task
    modes:                      # default modes of the tasks that list none
      - {label: teleport, options: {control_mode: skills, skill_execution: teleport}}
    tasks:
      - ethogym/Household-PickingUpTrash-v0            # a bare registered id
      - id: ethogym/Behavior-v0                        # or an entry with its own options / modes
        options: {activity: bringing_glass_to_recycling}

Options are merged suite < task < mode. The train and test seeds must be disjoint. The test seeds are
read by the runner only; code that trains a policy takes ``Suite.train_seeds`` and can guard its own
seeds with ``Suite.check_training_seeds``. The suite hash (``Suite.hash``) is a SHA-256 of the normalised
content (everything but ``description``), stored with every result so runs of different suite contents
never mix.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml

import ethogym  # noqa: F401  (registers the ids the suite names)
from ethogym.errors import ConfigError

SUITE_KEYS = {
    "name",
    "protocol",
    "description",
    "episodes",
    "max_steps",
    "seeds",
    "options",
    "modes",
    "tasks",
}
REQUIRED_KEYS = ("name", "protocol", "episodes", "seeds", "tasks")
TASK_KEYS = {"id", "options", "modes"}
MODE_KEYS = {"label", "options"}
DEFAULT_MODE_LABEL = "default"
TEST_SPLIT = "test"
MAX_SEED = 2**63 - 1  # the largest integer the results store (SQLite INTEGER) holds
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class SuiteError(ConfigError):
    """A suite file is missing, malformed or inconsistent; the message names the field."""


Seeds = range | tuple[int, ...]
"""A set of seeds in suite order: a contiguous range, or an explicit tuple."""


@dataclass(frozen=True)
class Mode:
    """A named set of env options a task is run under (e.g. skills with teleport execution)."""

    label: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SuiteTask:
    """One task of a suite: a registered env id, its options (suite options merged in) and its modes."""

    id: str
    options: Mapping[str, Any]
    modes: tuple[Mode, ...]

    def env_options(self, mode: Mode) -> dict[str, Any]:
        """The ``gym.make`` kwargs of this task under ``mode``."""
        return {**self.options, **mode.options}


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode of a suite run: everything a worker needs, picklable for spawned processes and Ray."""

    policy: str
    task: str
    mode: str
    options: Mapping[str, Any]
    seed: int
    split: str
    suite: str
    suite_hash: str
    protocol: int
    max_steps: int | None = None

    @property
    def key(self) -> tuple[str, str, str, str, int]:
        """The store's unique key: (suite_hash, policy, task, mode, seed)."""
        return (self.suite_hash, self.policy, self.task, self.mode, self.seed)


@dataclass(frozen=True)
class Suite:
    """A loaded, validated suite. Build it with :func:`load_suite`."""

    name: str
    protocol: int
    description: str
    episodes: int
    max_steps: int | None
    tasks: tuple[SuiteTask, ...]
    train_seeds: Seeds
    test_seeds: Seeds = field(repr=False)  # the runner's; never hand these to training code
    source: Path | None = None

    @cached_property
    def hash(self) -> str:
        """SHA-256 (16 hex digits) of :meth:`normalised`: equal for files that differ only in layout."""
        canonical = json.dumps(self.normalised(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def check_training_seeds(self, seeds: Iterable[int]) -> None:
        """Raise SuiteError if any of ``seeds`` is a test seed of this suite (guard for training code)."""
        leaked = sorted({int(s) for s in seeds if int(s) in self.test_seeds})
        if leaked:
            shown = ", ".join(map(str, leaked[:5])) + (" ..." if len(leaked) > 5 else "")
            raise SuiteError(
                f"suite {self.name!r}: seeds {shown} are test seeds; train on suite.train_seeds instead"
            )

    def select_tasks(self, ids: Iterable[str] | None = None) -> tuple[SuiteTask, ...]:
        """The tasks named by ``ids`` (``--task``; the ``ethogym/`` prefix may be left off), in suite
        order; every task for None. A SuiteError names an id that is not one of the suite's tasks."""
        if ids is None:
            return self.tasks
        ids = list(ids)
        if not ids:
            raise SuiteError(f"no --task given; pick from suite {self.name!r}: {self._task_list()}")
        known = {t.id for t in self.tasks}
        wanted: set[str] = set()
        for raw in ids:
            task_id = raw if str(raw).startswith("ethogym/") else f"ethogym/{raw}"
            if task_id not in known:
                raise SuiteError(
                    f"--task {raw!r} is not a task of suite {self.name!r}; its tasks: {self._task_list()}"
                )
            if task_id in wanted:
                raise SuiteError(f"--task {raw!r} is given twice; give each task once")
            wanted.add(task_id)
        return tuple(t for t in self.tasks if t.id in wanted)

    def _task_list(self) -> str:
        return ", ".join(t.id for t in self.tasks)

    def episode_specs(self, policies: Iterable[str], tasks: Iterable[str] | None = None) -> list[EpisodeSpec]:
        """Every test episode for ``policies`` (on the suite's ``tasks`` only, if given: see
        :meth:`select_tasks`), ordered task, mode, policy, seed.

        That order keeps consecutive episodes on one (task, mode, policy), so a worker reuses its env
        and policy between them. A subset of tasks keeps the suite's hash: its episodes are the suite's,
        stored under the same keys as those of a run of every task (resume and report see them alike).
        """
        policies = list(policies)
        selected = self.select_tasks(tasks)
        return [
            EpisodeSpec(
                policy=policy,
                task=task.id,
                mode=mode.label,
                options=task.env_options(mode),
                seed=int(seed),
                split=TEST_SPLIT,
                suite=self.name,
                suite_hash=self.hash,
                protocol=self.protocol,
                max_steps=self.max_steps,
            )
            for task in selected
            for mode in task.modes
            for policy in policies
            for seed in self.test_seeds
        ]

    def normalised(self) -> dict[str, Any]:
        """The content the hash covers, as plain JSON-ready data."""
        return {
            "name": self.name,
            "protocol": self.protocol,
            "episodes": self.episodes,
            "max_steps": self.max_steps,
            "seeds": {"train": _seeds_json(self.train_seeds), "test": _seeds_json(self.test_seeds)},
            "tasks": [
                {
                    "id": t.id,
                    "options": dict(t.options),
                    "modes": [{"label": m.label, "options": dict(m.options)} for m in t.modes],
                }
                for t in self.tasks
            ],
        }


def suites_dir() -> Path:
    """The folder of the suites that ship with ethogym."""
    return Path(str(resources.files("ethogym.benchmarks") / "suites"))


def suite_names() -> list[str]:
    """Names of the bundled suites (file stems in :func:`suites_dir`)."""
    return sorted(p.stem for p in suites_dir().glob("*.yaml"))


def load_suite(name_or_path: str | Path) -> Suite:
    """Load a bundled suite by name (``quick``, ``core-v0``) or a suite file by path, and validate it.

    Raises SuiteError naming the offending field (``tasks[2].modes[0].label``, ``seeds.test``, ...).
    """
    path = _resolve(name_or_path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SuiteLoader)  # a SafeLoader
    except _RepeatedKey as exc:
        raise SuiteError(
            f"{path}: line {exc.line}: key {exc.key!r} is given twice (first on line {exc.first}); YAML "
            "would keep only the last: merge them into one"
        ) from exc
    except UnicodeDecodeError as exc:
        raise SuiteError(
            f"{path} is not UTF-8 text (byte {exc.start}); save the suite YAML as UTF-8"
        ) from exc
    except OSError as exc:
        raise SuiteError(f"cannot read suite file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path}: not valid YAML: {exc}") from exc
    return parse_suite(data, source=path)


class _RepeatedKey(Exception):
    def __init__(self, key: Any, line: int, first: int) -> None:
        super().__init__(f"key {key!r} on line {line} repeats line {first}")
        self.key, self.line, self.first = key, line, first


class _SuiteLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key given twice in one mapping (PyYAML keeps the last one, so a
    second ``tasks:`` would silently replace the first list). Keys merged in with ``<<`` may repeat."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: SafeLoader names it
                continue
            if first is not None:
                raise _RepeatedKey(key, line, first)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def parse_suite(data: Any, source: Path | None = None) -> Suite:
    """Validate the parsed YAML of a suite file and build the Suite (see the module docstring)."""
    where = str(source) if source else "suite"
    if not isinstance(data, Mapping):
        raise SuiteError(f"{where}: expected a mapping of suite fields, got {type(data).__name__}")
    unknown = sorted(set(map(str, data)) - SUITE_KEYS)
    if unknown:
        raise SuiteError(
            f"{where}: unknown field(s) {', '.join(unknown)}; valid: {', '.join(sorted(SUITE_KEYS))}"
        )
    for key in REQUIRED_KEYS:
        if data.get(key) is None:
            raise SuiteError(f"{where}: field '{key}' is required")

    name = data["name"]
    if not isinstance(name, str) or not _LABEL.match(name):
        raise SuiteError(f"{where}: field 'name' must be letters, digits, '.', '_' or '-', got {name!r}")
    protocol = _positive_int(data["protocol"], "protocol", where)
    episodes = _positive_int(data["episodes"], "episodes", where)
    max_steps = (
        None if data.get("max_steps") is None else _positive_int(data["max_steps"], "max_steps", where)
    )
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise SuiteError(f"{where}: field 'description' must be a string")

    train_seeds, test_seeds = _parse_seeds(data["seeds"], episodes, where)
    base_options = _options(data.get("options"), "options", where)
    default_modes = _modes(data.get("modes"), "modes", where)
    tasks = _tasks(data["tasks"], base_options, default_modes, where)

    return Suite(
        name=name,
        protocol=protocol,
        description=description.strip(),
        episodes=episodes,
        max_steps=max_steps,
        tasks=tasks,
        train_seeds=train_seeds,
        test_seeds=test_seeds,
        source=source,
    )


def _resolve(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    if not text.strip():
        raise SuiteError(
            "the suite name is empty; pass a suite name from `ethogym bench list` or a YAML path"
        )
    path = Path(text)
    if path.is_dir():
        files = sorted(str(p) for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        held = f"pass one of its suite files: {', '.join(files)}" if files else "it holds no .yaml suite file"
        raise SuiteError(f"suite path {path} is a folder, not a suite YAML; {held}")
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in text or os.sep in text:
        if not path.is_file():
            raise SuiteError(f"suite file {path} does not exist")
        return path
    bundled = suites_dir() / f"{text}.yaml"
    if not bundled.is_file():
        names = suite_names()
        if path.suffix:  # a file name (suite.json, suite.txt) rather than a suite name
            raise SuiteError(
                f"suite file {path} does not exist (nor is it a bundled suite: {', '.join(names)}); "
                "suite files are YAML"
            )
        close = difflib.get_close_matches(text, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise SuiteError(f"no suite named {text!r}; bundled suites: {', '.join(names)}.{hint}")
    return bundled


def _positive_int(value: Any, field_name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SuiteError(f"{where}: field '{field_name}' must be a positive integer, got {value!r}")
    return value


def _seed_set(value: Any, field_name: str, where: str, count: int | None = None) -> Seeds:
    """A seeds field: a list of distinct non-negative ints, or ``{start: S, count: N}``."""
    if isinstance(value, Mapping):
        unknown = sorted(set(map(str, value)) - {"start", "count"})
        if unknown:
            raise SuiteError(f"{where}: field '{field_name}' has unknown key(s) {', '.join(unknown)}")
        start = value.get("start")
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise SuiteError(f"{where}: field '{field_name}.start' must be an integer >= 0, got {start!r}")
        n = value.get("count", count)
        if n is None:
            raise SuiteError(f"{where}: field '{field_name}.count' is required")
        n = _positive_int(n, f"{field_name}.count", where)
        if count is not None and n != count:
            raise SuiteError(f"{where}: field '{field_name}.count' is {n} but 'episodes' is {count}")
        if start + n - 1 > MAX_SEED:
            raise SuiteError(
                f"{where}: field '{field_name}' runs to seed {start + n - 1}, over {MAX_SEED} (2**63 - 1), "
                "the largest seed the results store holds; lower 'start'"
            )
        return range(start, start + n)
    if isinstance(value, list):
        if not value or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in value):
            raise SuiteError(f"{where}: field '{field_name}' must be a non-empty list of integers >= 0")
        if len(set(value)) != len(value):
            raise SuiteError(f"{where}: field '{field_name}' lists a seed twice")
        if max(value) > MAX_SEED:
            raise SuiteError(
                f"{where}: field '{field_name}' lists seed {max(value)}, over {MAX_SEED} (2**63 - 1), "
                "the largest seed the results store holds; use smaller seeds"
            )
        if count is not None and len(value) != count:
            raise SuiteError(
                f"{where}: field '{field_name}' lists {len(value)} seeds but 'episodes' is {count}"
            )
        return tuple(value)
    raise SuiteError(
        f"{where}: field '{field_name}' must be a list of seeds or {{start, count}}, got {value!r}"
    )


def _parse_seeds(value: Any, episodes: int, where: str) -> tuple[Seeds, Seeds]:
    if not isinstance(value, Mapping) or set(map(str, value)) != {"train", "test"}:
        raise SuiteError(f"{where}: field 'seeds' must have exactly the keys 'train' and 'test'")
    train = _seed_set(value["train"], "seeds.train", where)
    test = _seed_set(value["test"], "seeds.test", where, count=episodes)
    overlap = _overlap(train, test)
    if overlap is not None:
        raise SuiteError(
            f"{where}: field 'seeds': seed {overlap} is both a train and a test seed; make them disjoint"
        )
    return train, test


def _overlap(a: Seeds, b: Seeds) -> int | None:
    """A seed in both sets, or None; O(1) for two ranges, otherwise linear in the tuple."""
    if isinstance(a, range) and isinstance(b, range):
        low, high = max(a.start, b.start), min(a.stop, b.stop)
        return low if low < high else None
    small, large = (a, b) if isinstance(a, tuple) else (b, a)
    return next((s for s in small if s in large), None)


def _seeds_json(seeds: Seeds) -> Any:
    if isinstance(seeds, range):
        return {"start": seeds.start, "count": len(seeds)}
    return list(seeds)


def _options(value: Any, field_name: str, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise SuiteError(f"{where}: field '{field_name}' must be a mapping of option names to values")
    try:
        json.dumps(dict(value))
    except TypeError as exc:
        raise SuiteError(
            f"{where}: field '{field_name}' holds a value that is not plain data: {exc}"
        ) from exc
    return dict(value)


def _modes(value: Any, field_name: str, where: str) -> tuple[Mode, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise SuiteError(f"{where}: field '{field_name}' must be a non-empty list of {{label, options}}")
    modes: list[Mode] = []
    for k, entry in enumerate(value):
        here = f"{field_name}[{k}]"
        if not isinstance(entry, Mapping):
            raise SuiteError(f"{where}: field '{here}' must be a mapping with 'label' and 'options'")
        unknown = sorted(set(map(str, entry)) - MODE_KEYS)
        if unknown:
            raise SuiteError(
                f"{where}: field '{here}' has unknown key(s) {', '.join(unknown)}; valid: label, options"
            )
        label = entry.get("label")
        if not isinstance(label, str) or not _LABEL.match(label):
            raise SuiteError(
                f"{where}: field '{here}.label' must be letters, digits, '.', '_' or '-', got {label!r}"
            )
        if any(m.label == label for m in modes):
            raise SuiteError(f"{where}: field '{here}.label': mode {label!r} is listed twice")
        modes.append(Mode(label, _options(entry.get("options"), f"{here}.options", where)))
    return tuple(modes)


def _tasks(
    value: Any, base_options: dict[str, Any], default_modes: tuple[Mode, ...] | None, where: str
) -> tuple[SuiteTask, ...]:
    if not isinstance(value, list) or not value:
        raise SuiteError(f"{where}: field 'tasks' must be a non-empty list of env ids or task entries")
    tasks: list[SuiteTask] = []
    for k, entry in enumerate(value):
        here = f"tasks[{k}]"
        if isinstance(entry, str):
            entry = {"id": entry}
        if not isinstance(entry, Mapping):
            raise SuiteError(f"{where}: field '{here}' must be an env id or a mapping with 'id'")
        unknown = sorted(set(map(str, entry)) - TASK_KEYS)
        if unknown:
            raise SuiteError(
                f"{where}: field '{here}' has unknown key(s) {', '.join(unknown)}; valid: id, options, modes"
            )
        env_id = entry.get("id")
        if not isinstance(env_id, str) or env_id not in gym.registry or not env_id.startswith("ethogym/"):
            known = sorted(i for i in gym.registry if i.startswith("ethogym/"))
            close = difflib.get_close_matches(str(env_id), known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else " Run 'ethogym list' for the ids."
            raise SuiteError(f"{where}: field '{here}.id': {env_id!r} is not a registered ethogym id.{hint}")
        if any(t.id == env_id for t in tasks):
            raise SuiteError(f"{where}: field '{here}.id': task {env_id!r} is listed twice")
        options = {**base_options, **_options(entry.get("options"), f"{here}.options", where)}
        modes = _modes(entry.get("modes"), f"{here}.modes", where) or default_modes
        tasks.append(SuiteTask(env_id, options, modes or (Mode(DEFAULT_MODE_LABEL, {}),)))
    return tuple(tasks)
