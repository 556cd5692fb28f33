"""The results store: one SQLite row per benchmark episode, keyed so nothing is counted twice.

The database runs in WAL mode and every insert is one transaction, so a process killed at any moment
leaves either the whole row or none of it. The key ``(suite_hash, policy, task, mode, seed)`` is
UNIQUE: inserting an episode that is already stored never replaces it; the insert is skipped and
reported in :class:`InsertReport`. JSON columns are stored as text, checked on write and decoded on load.

Schema 2 added ``policy_digest`` (a content digest of the policy's model file, so a resumed run can tell
a retrained model from the one whose episodes are stored); a schema 1 store is migrated when opened,
its rows keeping an unknown (NULL) digest.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ethogym.errors import ConfigError

if TYPE_CHECKING:  # pandas is imported when a frame is asked for, keeping `ethogym` start-up quick
    import pandas as pd

SCHEMA_VERSION = 2
MIGRATIONS: dict[int, str] = {1: "ALTER TABLE episodes ADD COLUMN policy_digest TEXT"}
"""SQL that takes a store from schema N to N + 1."""
KEY_COLUMNS = ("suite_hash", "policy", "task", "mode", "seed")

#: column -> SQLite type, in the order of the shared row contract.
COLUMNS: dict[str, str] = {
    "policy": "TEXT NOT NULL",
    "task": "TEXT NOT NULL",
    "mode": "TEXT NOT NULL",
    "seed": "INTEGER NOT NULL",
    "split": "TEXT NOT NULL",
    "suite": "TEXT NOT NULL",
    "suite_hash": "TEXT NOT NULL",
    "protocol": "INTEGER NOT NULL",
    "success": "INTEGER NOT NULL CHECK (success IN (0, 1))",
    "progress": "REAL NOT NULL",
    "steps": "INTEGER NOT NULL",
    "return": "REAL NOT NULL",
    "cost": "REAL NOT NULL",
    "false_claim": "INTEGER NOT NULL CHECK (false_claim IN (0, 1))",
    "violations": "TEXT NOT NULL",
    "social": "TEXT NOT NULL",
    "adversary": "TEXT NOT NULL",
    "policy_metrics": "TEXT NOT NULL",
    "signature": "TEXT NOT NULL",
    "trajectory": "TEXT NOT NULL",
    "video": "TEXT",
    "violation_marks": "TEXT NOT NULL",
    "version": "TEXT NOT NULL",
    "git_rev": "TEXT",
    "policy_digest": "TEXT",
    "wall_time_s": "REAL NOT NULL",
    "created_at": "TEXT NOT NULL",
    "host": "TEXT NOT NULL",
}
#: JSON columns and the empty value a row builder uses when the episode has none.
JSON_COLUMNS: dict[str, Any] = {
    "violations": {},
    "social": {},
    "adversary": {},
    "policy_metrics": {},
    "signature": [],
    "trajectory": [],
    "violation_marks": [],
}
NULLABLE = {"video", "git_rev", "policy_digest"}
OPTIONAL: dict[str, Any] = {"policy_digest": None}
"""Columns added after schema 1 and their value when a row leaves them out (rows built for schema 1 fit)."""
FLAG_COLUMNS = ("success", "false_claim")
_PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {"TEXT": str, "INTEGER": int, "REAL": (int, float)}
TEXT_COLUMNS = ("policy", "task", "mode", "split", "suite", "suite_hash", "version", "created_at", "host")
EXPORT_FORMATS = ("parquet", "csv")
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # SQLite INTEGER
VIOLATION_PREFIX = "v_"


class StoreError(ConfigError):
    """A row does not fit the store's schema, or the database is not an ethogym results store."""


_STORE_FIX = "pass the --db of an `ethogym bench run`, or a new path to start a store"
# SQLite cannot open the file (in the way asked) or write it: a read-only folder, mount or file.
_CANNOT_OPEN = (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH)


@dataclass
class InsertReport:
    """What an insert did: rows added, and the keys that were already stored (left untouched)."""

    inserted: int = 0
    duplicates: list[tuple[str, str, str, str, int]] = field(default_factory=list)


def describe_code(version: Any, git_rev: Any) -> str:
    """The code that produced a row, from its provenance columns: ``ethogym 0.1.0 (git abc123)``."""
    return f"ethogym {version} (git {git_rev or 'unknown'})"


def row_key(row: Mapping[str, Any]) -> tuple[str, str, str, str, int]:
    """The unique key of a row: (suite_hash, policy, task, mode, seed)."""
    return (str(row["suite_hash"]), str(row["policy"]), str(row["task"]), str(row["mode"]), int(row["seed"]))


class ResultsStore:
    """An embedded SQLite results database (created on first use, parent folders included)."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        """Open the store at ``path``; ``create=False`` (readers: export, report) refuses a missing or
        empty file instead of starting a new store there, and opens it read-only: a store in a folder
        (or on a mount) the reader cannot write is read as it is, and nothing is written to it."""
        self.path = Path(path)
        self.read_only = not create
        if not create:
            if self.path.is_dir():
                example = self.path / "ethogym.db"
                raise StoreError(
                    f"{self.path} is a folder, not a results store; pass the store file, e.g. {example}"
                )
            if not self.path.is_file():
                raise StoreError(
                    f"no results store at {self.path}; run `ethogym bench run` first or pass --db"
                )
            if self.path.stat().st_size == 0:
                raise StoreError(f"{self.path} is an empty file, not a results store; {_STORE_FIX}")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = self._connect_read_only() if self.read_only else self._connect()
        except sqlite3.DatabaseError as exc:
            raise self._open_error(exc) from exc
        try:
            self._create(create)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise self._open_error(exc) from exc
        except BaseException:
            self._conn.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        """A read-write connection in WAL mode."""
        # isolation_level=None: transactions are opened explicitly, one per insert batch.
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a killed process (only power loss can drop the last ones).
            conn.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect_read_only(self) -> sqlite3.Connection:
        """A connection that cannot write: ``mode=ro``; where that cannot open (a WAL store needs its
        ``-shm`` file, made in the store's folder), the file read as it is (``immutable=1``)."""
        uri = self.path.resolve().as_uri()
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30.0, isolation_level=None)
        try:
            conn.execute("PRAGMA user_version").fetchone()  # opens the file: errors show here
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            if exc.sqlite_errorcode & 0xFF not in _CANNOT_OPEN:
                raise
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.is_file() and wal.stat().st_size > 0:
            # Immutable reads skip the write-ahead log, so the episodes it holds would be missing.
            raise StoreError(
                f"{self.path} cannot be opened read-only here, and its {wal.name} holds episodes not yet "
                "in the file; open it once where it can be written (any `ethogym bench` command with "
                "write access merges them), or copy the store with its -wal file to a writable folder"
            )
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=30.0, isolation_level=None)

    def _open_error(self, exc: sqlite3.DatabaseError) -> BaseException:
        """The StoreError for an SQLite error while opening; other errors (locked: not the file's
        fault) are returned as they are, to be raised."""
        code = exc.sqlite_errorcode & 0xFF  # the primary code of an extended one
        if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
            return StoreError(f"{self.path} is not a results store (SQLite: {exc}); {_STORE_FIX}")
        if code in _CANNOT_OPEN and self.read_only:
            return StoreError(f"cannot read {self.path} (SQLite: {exc}); check that you may read the file")
        if code in _CANNOT_OPEN:
            return StoreError(
                f"cannot open {self.path} for writing (SQLite: {exc}); `bench run` writes to the store and "
                "its folder: make them writable, or pass a --db in a folder you can write to"
            )
        return exc

    def _create(self, create: bool = True) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if (tables or not create) and "episodes" not in tables:
            raise StoreError(
                f"{self.path} is an SQLite database without an 'episodes' table; pick another --db"
            )
        if "episodes" in tables and version in MIGRATIONS:
            if self.read_only:  # a reader upgrades the store in place, where it can write it
                self._conn.close()
                try:
                    self._conn = self._connect()
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode & 0xFF not in _CANNOT_OPEN:
                        raise
                    raise StoreError(
                        f"{self.path} has results schema {version} and cannot be written here to "
                        f"upgrade it to schema {SCHEMA_VERSION} (SQLite: {exc}); copy it to a folder you "
                        "can write to and pass that --db"
                    ) from exc
                self.read_only = False
            self._migrate(version)
            version = SCHEMA_VERSION
        if "episodes" in tables and version != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has results schema {version}, this ethogym writes {SCHEMA_VERSION}; "
                "export it with the ethogym that wrote it, or use a new --db"
            )
        if self.read_only:
            return
        columns = ",\n  ".join(f'"{name}" {kind}' for name, kind in COLUMNS.items())
        key = ", ".join(f'"{c}"' for c in KEY_COLUMNS)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS episodes (\n  id INTEGER PRIMARY KEY,\n"
            f"  {columns},\n  UNIQUE ({key}))"
        )
        self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _migrate(self, version: int) -> None:
        """Bring an older store up to :data:`SCHEMA_VERSION` in one transaction (its rows are kept)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            while version in MIGRATIONS:
                self._conn.execute(MIGRATIONS[version])
                version += 1
            self._conn.execute(f"PRAGMA user_version = {version}")
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing ------------------------------------------------------------------------------------
    def insert(self, rows: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> InsertReport:
        """Insert one row or several in one transaction; rows whose key is already stored are skipped.

        Every row must have exactly the contract's columns (:data:`COLUMNS`; those in :data:`OPTIONAL` may
        be left out); JSON columns may be given as Python objects or as JSON text, of the type of their
        empty value in :data:`JSON_COLUMNS` (an object or a list).
        """
        if self.read_only:
            raise StoreError(
                f"{self.path} was opened read-only (create=False); open it with create=True to insert"
            )
        batch = [rows] if isinstance(rows, Mapping) else list(rows)
        values = [self._encode(row) for row in batch]
        names = ", ".join(f'"{c}"' for c in COLUMNS)
        marks = ", ".join("?" for _ in COLUMNS)
        sql = f"INSERT INTO episodes ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        report = InsertReport()
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for row, value in zip(batch, values, strict=True):
                if self._conn.execute(sql, value).rowcount == 1:
                    report.inserted += 1
                else:
                    report.duplicates.append(row_key(row))
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return report

    @staticmethod
    def _encode(row: Mapping[str, Any]) -> tuple[Any, ...]:
        row = {**OPTIONAL, **row}
        missing = [c for c in COLUMNS if c not in row]
        extra = sorted(set(row) - set(COLUMNS))
        if missing or extra:
            parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
                [f"unknown {', '.join(extra)}"] if extra else []
            )
            raise StoreError(f"results row does not match the store's columns: {'; '.join(parts)}")
        out = []
        for name, kind in COLUMNS.items():
            value = row[name]
            sql_type = kind.split()[0]
            if value is None:
                if name not in NULLABLE:
                    raise StoreError(
                        f"results row column '{name}' is None; only {', '.join(sorted(NULLABLE))} may be"
                    )
            elif name in JSON_COLUMNS:
                value = _json_text(name, value)
            elif name in FLAG_COLUMNS:
                if isinstance(value, str) or value not in (0, 1):
                    raise StoreError(f"results row column '{name}' must be 0/1 or a bool, got {value!r}")
                value = int(value)
            elif isinstance(value, bool) or not isinstance(value, _PYTHON_TYPES[sql_type]):
                raise StoreError(
                    f"results row column '{name}' must be {sql_type.lower()}, got {type(value).__name__}"
                )
            elif isinstance(value, int) and not INT_MIN <= value <= INT_MAX:
                fix = "pass it as a float" if sql_type == "REAL" else f"a suite's seeds must be <= {INT_MAX}"
                raise StoreError(
                    f"results row column '{name}' is {value}, outside the 64-bit integers SQLite stores "
                    f"({INT_MIN} to {INT_MAX}); {fix}"
                )
            out.append(value)
        return tuple(out)

    # --- reading ------------------------------------------------------------------------------------
    def keys(self, suite_hash: str | None = None) -> set[tuple[str, str, str, str, int]]:
        """Keys of the stored episodes (of one suite hash, or all)."""
        sql = "SELECT suite_hash, policy, task, mode, seed FROM episodes"
        args: tuple[Any, ...] = ()
        if suite_hash is not None:
            sql += " WHERE suite_hash = ?"
            args = (suite_hash,)
        return {(h, p, t, m, int(s)) for h, p, t, m, s in self._conn.execute(sql, args)}

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM episodes").fetchone()[0])

    def suites(self) -> list[str]:
        """Names of the suites with stored episodes, sorted."""
        return [r[0] for r in self._conn.execute("SELECT DISTINCT suite FROM episodes ORDER BY suite")]

    def policy_metrics(self, suite_hash: str) -> list[tuple[str, dict[str, Any]]]:
        """``(policy, policy_metrics)`` of each stored episode of one suite hash, oldest first (cheaper
        than :meth:`dataframe`, which decodes every trajectory)."""
        sql = "SELECT id, policy, policy_metrics FROM episodes WHERE suite_hash = ? ORDER BY id"
        return [
            (policy, _json_value("policy_metrics", metrics, self._where(row_id)))
            for row_id, policy, metrics in self._conn.execute(sql, (suite_hash,))
        ]

    def provenance(self, suite_hash: str) -> dict[tuple[str, str, str | None, str | None], int]:
        """Episodes per ``(policy, version, git_rev, policy_digest)`` stored for one suite hash: what
        code and which model file produced them (a resumed run checks its own against these)."""
        sql = (
            "SELECT policy, version, git_rev, policy_digest, COUNT(*) FROM episodes WHERE suite_hash = ? "
            "GROUP BY policy, version, git_rev, policy_digest ORDER BY policy"
        )
        return {(p, v, g, d): int(n) for p, v, g, d, n in self._conn.execute(sql, (suite_hash,))}

    def _where(self, row_id: int) -> tuple[str, str]:
        """How an error names a stored row, and the fix: drop it, and a rerun redoes the episode."""
        return (
            f"{self.path}: row id {row_id}",
            f'delete the row (sqlite3 {self.path} "DELETE FROM episodes WHERE id = {row_id}") and run '
            "the same `ethogym bench run` again to redo that episode",
        )

    def check_suite(self, suite: str | None) -> None:
        """A StoreError when the store has no episodes (of suite name ``suite``), naming the suites it has."""
        names = self.suites()
        if not names:
            raise StoreError(
                f"{self.path} has no episodes; run `ethogym bench run --suite ...` into it first"
            )
        if suite is not None and suite not in names:
            raise StoreError(
                f"{self.path} has no episodes of suite {suite!r}; its suites: {', '.join(names)}"
            )

    def dataframe(self, suite: str | None = None) -> pd.DataFrame:
        """Every stored episode (or those of suite name ``suite``) with JSON decoded.

        Columns: the contract's columns in order, then one ``v_<category>`` violation count per
        category seen in these rows (0 where absent). Rows are ordered by suite, policy, task, mode, seed.
        """
        names = ", ".join(f'"{c}"' for c in COLUMNS)
        sql = f"SELECT id, {names} FROM episodes"
        args: tuple[Any, ...] = ()
        if suite is not None:
            sql += " WHERE suite = ?"
            args = (suite,)
        sql += " ORDER BY suite, suite_hash, policy, task, mode, seed"
        import pandas as pd

        records = self._conn.execute(sql, args).fetchall()
        frame = pd.DataFrame.from_records(records, columns=["id", *COLUMNS])
        where = [self._where(int(i)) for i in frame.pop("id")]
        return _decoded(frame, where)

    # --- export -------------------------------------------------------------------------------------
    def export(self, format: str, path: str | Path, suite: str | None = None) -> Path:
        """Write :meth:`dataframe` to ``path`` as Parquet or CSV (JSON columns as JSON text); return it.

        ``path`` must end in ``.parquet`` or ``.csv`` to match ``format``, which is how :func:`read_export`
        reads the file back into the same frame; a store (or suite) without episodes is refused.
        """
        if format not in EXPORT_FORMATS:
            raise StoreError(
                f"export format {format!r} is not supported; choose one of {', '.join(EXPORT_FORMATS)}"
            )
        path = Path(path)
        if path.suffix != f".{format}":
            got = f"{path.suffix!r}" if path.suffix else "no extension"
            raise StoreError(
                f"{path} has {got}, but a {format} export is a .{format} file; "
                f"use {path.with_suffix(f'.{format}')}"
            )
        self.check_suite(suite)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame = self.dataframe(suite).copy()
        for name in JSON_COLUMNS:
            frame[name] = [json.dumps(v, sort_keys=True) for v in frame[name]]
        if format == "parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)
        return path


def read_export(path: str | Path) -> pd.DataFrame:
    """Read a file written by :meth:`ResultsStore.export` back into the frame ``dataframe()`` returns."""
    import pandas as pd

    path = Path(path)
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix == ".csv":
        text = {c: str for c in (*TEXT_COLUMNS, *JSON_COLUMNS, *NULLABLE)}
        frame = pd.read_csv(
            path, dtype=text, keep_default_na=False, na_values={name: [""] for name in NULLABLE}
        )
    else:
        raise StoreError(f"cannot tell the format of {path}; expected a .parquet or .csv file")
    for name, value in OPTIONAL.items():  # an export of a schema 1 store
        if name not in frame.columns:
            frame.insert(list(COLUMNS).index(name), name, value)
    fix = "export it again from the results store with `ethogym bench export`"
    where = [(f"{path}: row {i + 1}", fix) for i in range(len(frame))]
    return _decoded(frame, where, violation_columns=False)


def _json_text(column: str, value: Any) -> str:
    """The JSON text stored for ``value`` (a Python object or JSON text) in JSON column ``column``."""
    fix = f"pass a {_json_kind(column)} or its JSON text"
    if isinstance(value, str):
        _json_value(column, value, ("results row", fix))  # invalid text would break every later read
        return value
    if isinstance(value, tuple):
        value = list(value)
    _check_json_type(column, value, ("results row", fix))
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"results row column '{column}' cannot be stored as JSON ({exc}); "
            "pass plain dicts, lists, strings and numbers"
        ) from exc


def _json_value(column: str, text: Any, where: tuple[str, str]) -> Any:
    """Decode the JSON ``text`` of ``column``; a StoreError naming the row and the fix (``where``) when
    it is not JSON of the column's type."""
    if not isinstance(text, str):
        return text
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        row, fix = where
        raise StoreError(
            f"{row}: column '{column}' is not valid JSON ({exc}) in {text[:60]!r}; {fix}"
        ) from exc
    _check_json_type(column, value, where)
    return value


def _json_kind(column: str) -> str:
    return "dict" if isinstance(JSON_COLUMNS[column], dict) else "list"


def _check_json_type(column: str, value: Any, where: tuple[str, str]) -> None:
    if not isinstance(value, type(JSON_COLUMNS[column])):
        row, fix = where
        shown = json.dumps(value, default=str)[:60]
        raise StoreError(
            f"{row}: column '{column}' must hold a {_json_kind(column)}, got {type(value).__name__} "
            f"{shown}; {fix}"
        )


def _decoded(
    frame: pd.DataFrame, where: list[tuple[str, str]], violation_columns: bool = True
) -> pd.DataFrame:
    """Decode the JSON columns, fix the dtypes and (from the store) add the ``v_<category>`` columns.

    ``where`` names each row (a row id, or a row of an export) and the fix, for errors about its JSON.
    """
    frame = frame.copy()
    for name in JSON_COLUMNS:
        frame[name] = [_json_value(name, v, w) for v, w in zip(frame[name], where, strict=True)]
    for name in NULLABLE:
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    for name in ("seed", "protocol", "success", "steps", "false_claim"):
        frame[name] = frame[name].astype("int64")
    for name in ("progress", "return", "cost", "wall_time_s"):
        frame[name] = frame[name].astype("float64")
    for name in TEXT_COLUMNS:
        frame[name] = frame[name].astype(object)
    if violation_columns:
        categories = sorted({c for counts in frame["violations"] for c in counts})
        for category in categories:
            frame[f"{VIOLATION_PREFIX}{category}"] = [
                int(counts.get(category, 0)) for counts in frame["violations"]
            ]
    else:
        for name in [c for c in frame.columns if c.startswith(VIOLATION_PREFIX)]:
            frame[name] = frame[name].astype("int64")
    return frame.reset_index(drop=True)
