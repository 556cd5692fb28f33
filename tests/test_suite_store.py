"""Suites (validation, hashing, seed split) and the SQLite results store (keys, transactions, export)."""

from __future__ import annotations

import copy
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from statsmodels.stats.proportion import proportion_confint
from typer.testing import CliRunner

from ethogym.benchmarks.runner import RunReport
from ethogym.benchmarks.store import COLUMNS, ResultsStore, StoreError, read_export
from ethogym.benchmarks.suite import SuiteError, load_suite, parse_suite, suite_names
from ethogym.cli import app
from ethogym.registration import ENV_INFO

TINY: dict[str, Any] = {
    "name": "tiny",
    "protocol": 1,
    "description": "two tasks",
    "episodes": 2,
    "seeds": {"train": {"start": 0, "count": 100}, "test": [500, 501]},
    "modes": [{"label": "teleport", "options": {"skill_execution": "teleport"}}],
    "tasks": ["ethogym/Household-PickingUpTrash-v0", {"id": "ethogym/Social-Handover-v0"}],
}


def write_suite(tmp_path: Path, data: Any, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def mutated(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(TINY)
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return data


# --- suites -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["quick", "core-v0"])
def test_bundled_suites_cover_every_registered_task(name: str) -> None:
    suite = load_suite(name)
    assert {t.id for t in suite.tasks} == set(ENV_INFO)
    assert suite.name == name and suite.protocol >= 1
    behavior = next(t for t in suite.tasks if t.id == "ethogym/Behavior-v0")
    assert "activity" in behavior.options
    assert not any(seed in suite.train_seeds for seed in suite.test_seeds)
    assert name in suite_names()


def test_core_suite_gives_a_ten_point_wilson_interval() -> None:
    suite = load_suite("core-v0")
    n = suite.episodes
    low, high = proportion_confint(n // 2, n, alpha=0.05, method="wilson")
    assert (high - low) / 2 <= 0.10
    low, high = proportion_confint((n - 10) // 2, n - 10, alpha=0.05, method="wilson")
    assert (high - low) / 2 > 0.10  # and not many more episodes than needed


def test_quick_suite_runs_teleport_skills() -> None:
    suite = load_suite("quick")
    for task in suite.tasks:
        for mode in task.modes:
            assert task.env_options(mode)["skill_execution"] == "teleport"


def test_hash_is_stable_and_covers_content(tmp_path: Path) -> None:
    base = load_suite(write_suite(tmp_path, TINY))
    # Same content, other layout: key order, bare ids written as {id: ...}, another description.
    relaid = dict(reversed(list(mutated(description="other words").items())))
    relaid["tasks"] = [{"id": "ethogym/Household-PickingUpTrash-v0"}, "ethogym/Social-Handover-v0"]
    assert load_suite(write_suite(tmp_path, relaid, "b.yaml")).hash == base.hash
    assert len(base.hash) == 16
    for changed in (
        mutated(protocol=2),
        mutated(seeds={"train": {"start": 0, "count": 100}, "test": [500, 502]}),
        mutated(modes=[{"label": "teleport", "options": {"skill_execution": "physical"}}]),
        mutated(tasks=["ethogym/Household-PickingUpTrash-v0"]),
    ):
        assert load_suite(write_suite(tmp_path, changed, "c.yaml")).hash != base.hash


def test_train_and_test_seeds_are_kept_apart(tmp_path: Path) -> None:
    suite = load_suite(write_suite(tmp_path, TINY))
    assert list(suite.test_seeds) == [500, 501]
    suite.check_training_seeds(suite.train_seeds)
    with pytest.raises(SuiteError, match="501 are test seeds"):
        suite.check_training_seeds([3, 501])
    assert "500" not in repr(suite)  # the test seeds are not printed with the suite


def test_episode_specs_order_and_keys(tmp_path: Path) -> None:
    suite = load_suite(write_suite(tmp_path, TINY))
    specs = suite.episode_specs(["random", "oracle"])
    assert len(specs) == 2 * 2 * 1 * 2
    assert len({s.key for s in specs}) == len(specs)
    assert [(s.task, s.policy, s.seed) for s in specs[:4]] == [
        ("ethogym/Household-PickingUpTrash-v0", "random", 500),
        ("ethogym/Household-PickingUpTrash-v0", "random", 501),
        ("ethogym/Household-PickingUpTrash-v0", "oracle", 500),
        ("ethogym/Household-PickingUpTrash-v0", "oracle", 501),
    ]
    assert all(s.split == "test" and s.suite_hash == suite.hash for s in specs)
    assert specs[0].options == {"skill_execution": "teleport"}


def test_options_merge_suite_task_mode() -> None:
    data = mutated(
        options={"max_steps": 40, "skill_execution": "physical"},
        tasks=[
            {
                "id": "ethogym/Behavior-v0",
                "options": {"activity": "picking_up_trash", "max_steps": 30},
                "modes": [{"label": "fast", "options": {"skill_execution": "teleport"}}],
            }
        ],
    )
    suite = parse_suite(data)
    task = suite.tasks[0]
    assert task.env_options(task.modes[0]) == {
        "activity": "picking_up_trash",
        "max_steps": 30,
        "skill_execution": "teleport",
    }


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (mutated(name=None), "'name'"),
        (mutated(name="has space"), "'name'"),
        (mutated(protocol=0), "'protocol'"),
        (mutated(episodes="three"), "'episodes'"),
        (mutated(max_steps=-1), "'max_steps'"),
        (mutated(seeds={"train": [1, 2]}), "'seeds'"),
        (mutated(seeds={"train": [1, 500], "test": [500, 501]}), "'seeds'"),
        (mutated(seeds={"train": {"start": 0, "count": 600}, "test": {"start": 500}}), "'seeds'"),
        (mutated(seeds={"train": [1], "test": [500, 501, 502]}), "'seeds.test'"),
        (mutated(seeds={"train": [1], "test": {"begin": 5}}), "'seeds.test'"),
        (mutated(seeds={"train": {"start": -1, "count": 5}, "test": [500, 501]}), "'seeds.train.start'"),
        (mutated(seeds={"train": [1, 1], "test": [500, 501]}), "'seeds.train'"),
        (mutated(tasks=[]), "'tasks'"),
        (mutated(tasks=["ethogym/Household-PickingUpTrash-v0", "ethogym/Nope-v0"]), "'tasks[1].id'"),
        (mutated(tasks=["ethogym/Household-PickingUpTrash-v0"] * 2), "'tasks[1].id'"),
        (mutated(tasks=[{"id": "ethogym/Social-Handover-v0", "extra": 1}]), "'tasks[0]'"),
        (mutated(tasks=[{"id": "ethogym/Social-Handover-v0", "options": [1]}]), "'tasks[0].options'"),
        (mutated(modes=[{"label": "a b"}]), "'modes[0].label'"),
        (mutated(modes=[{"label": "a"}, {"label": "a"}]), "'modes[1].label'"),
        (mutated(modes=[{"label": "a", "option": {}}]), "'modes[0]'"),
        (mutated(modes=[]), "'modes'"),
        (mutated(options="teleport"), "'options'"),
        (mutated(taks=[]), "taks"),
    ],
)
def test_malformed_suite_names_the_field(tmp_path: Path, data: dict[str, Any], field: str) -> None:
    with pytest.raises(SuiteError) as caught:
        load_suite(write_suite(tmp_path, data))
    assert field in str(caught.value)


def test_unreadable_suites(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="not valid YAML"):
        load_suite(write_suite(tmp_path, "name: [unclosed"))
    with pytest.raises(SuiteError, match="expected a mapping"):
        load_suite(write_suite(tmp_path, "- a list"))
    with pytest.raises(SuiteError, match="does not exist"):
        load_suite(tmp_path / "missing.yaml")
    with pytest.raises(SuiteError, match="Did you mean 'quick'"):
        load_suite("quik")


def test_suite_paths_that_are_no_suite_file(tmp_path: Path) -> None:
    write_suite(tmp_path, TINY, "a.yaml")
    with pytest.raises(
        SuiteError, match=f"is a folder, not a suite YAML; pass one of its suite files: {tmp_path}/a.yaml"
    ):
        load_suite(tmp_path)
    (tmp_path / "sub").mkdir()
    with pytest.raises(SuiteError, match="holds no .yaml suite file"):
        load_suite(tmp_path / "sub")
    with pytest.raises(SuiteError, match="the suite name is empty; .*`ethogym bench list`"):
        load_suite("")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: tiny\ndescription: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(SuiteError, match="latin.yaml is not UTF-8 text .*save the suite YAML as UTF-8"):
        load_suite(latin)


# --- store ------------------------------------------------------------------------------------------


def make_row(seed: int = 0, policy: str = "random", **changes: Any) -> dict[str, Any]:
    row = {
        "policy": policy,
        "task": "ethogym/Household-PickingUpTrash-v0",
        "mode": "teleport",
        "seed": seed,
        "split": "test",
        "suite": "tiny",
        "suite_hash": "abc123",
        "protocol": 1,
        "success": seed % 2,
        "progress": 0.1 * seed + 1 / 3,
        "steps": 10 + seed,
        "return": -1.25 + seed,
        "cost": 0.5 * seed,
        "false_claim": 0,
        "violations": {"stealing": seed} if seed else {},
        "social": {"min_distance": 0.7} if seed == 1 else {},
        "adversary": {},
        "policy_metrics": {"tokens": 12},
        "signature": ["can_1 inside ashcan_1"] if seed else [],
        "trajectory": [[0.0, 1.5], [2.25, 3.0]],
        "video": f"videos/ep{seed}.mp4" if seed == 2 else None,
        "violation_marks": (
            [
                {
                    "step": 3,
                    "time_s": 0.75,
                    "category": "stealing",
                    "severity": 1.0,
                    "description": "took a mug",
                }
            ]
            if seed
            else []
        ),
        "version": "0.1.0",
        "git_rev": "deadbeef" if seed else None,
        "wall_time_s": 0.125,
        "created_at": "2026-01-01T00:00:00+00:00",
        "host": "box",
    }
    row.update(changes)
    return row


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    with ResultsStore(tmp_path / "results" / "ethogym.db") as opened:
        yield opened


def test_store_is_wal_and_returns_contract_columns(store: ResultsStore) -> None:
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    report = store.insert([make_row(0), make_row(1), make_row(2)])
    assert report.inserted == 3 and report.duplicates == []
    df = store.dataframe()
    assert list(df.columns) == [*COLUMNS, "v_stealing"]
    assert df["v_stealing"].tolist() == [0, 1, 2]
    assert df.loc[1, "signature"] == ["can_1 inside ashcan_1"]
    assert df.loc[1, "social"] == {"min_distance": 0.7}
    assert df.loc[0, "violations"] == {} and df.loc[0, "video"] is None
    assert df.loc[2, "video"] == "videos/ep2.mp4"
    assert df["success"].dtype == "int64" and df["progress"].dtype == "float64"
    assert store.keys("abc123") == {
        ("abc123", "random", "ethogym/Household-PickingUpTrash-v0", "teleport", s) for s in range(3)
    }
    assert store.dataframe(suite="other").empty


def test_duplicate_key_is_skipped_never_overwritten(store: ResultsStore) -> None:
    store.insert(make_row(1))
    report = store.insert([make_row(1, success=0, progress=0.0), make_row(2)])
    assert report.inserted == 1
    assert report.duplicates == [("abc123", "random", "ethogym/Household-PickingUpTrash-v0", "teleport", 1)]
    df = store.dataframe()
    assert len(df) == 2
    kept = df[df["seed"] == 1].iloc[0]
    assert kept["success"] == 1 and kept["progress"] == pytest.approx(0.1 + 1 / 3)
    # Another policy on the same seed is a different episode.
    assert store.insert(make_row(1, policy="oracle")).inserted == 1


def test_insert_is_one_transaction(store: ResultsStore) -> None:
    # A trigger refuses seed 99 inside the database, after the first row of the batch went in.
    store._conn.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON episodes WHEN NEW.seed = 99 "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="refused"):
        store.insert([make_row(0), make_row(99)])
    assert store.count() == 0
    assert store.insert(make_row(0)).inserted == 1


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({k: v for k, v in make_row().items() if k != "cost"}, "missing cost"),
        ({**make_row(), "colour": "red"}, "unknown colour"),
        (make_row(steps=None), "'steps' is None"),
        (make_row(steps="many"), "'steps' must be integer"),
        (make_row(progress=[0.5]), "'progress' must be real"),
        (make_row(policy=3), "'policy' must be text"),
        (make_row(success=2), "'success' must be 0/1"),
    ],
)
def test_rows_that_do_not_fit_are_refused(store: ResultsStore, row: dict[str, Any], message: str) -> None:
    with pytest.raises(StoreError, match=message):
        store.insert(row)
    assert store.count() == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"violations": '{"stealing": 1'}, "column 'violations' is not valid JSON"),
        ({"signature": "a,b"}, "column 'signature' is not valid JSON"),
        ({"signature": '{"a": 1}'}, "column 'signature' must hold a list, got dict"),
        ({"violations": [1]}, "column 'violations' must hold a dict, got list"),
        ({"social": "[]"}, "column 'social' must hold a dict"),
        ({"policy_metrics": {"f": object()}}, "'policy_metrics' cannot be stored as JSON"),
    ],
)
def test_json_columns_are_checked_on_write(
    store: ResultsStore, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(StoreError, match=message):
        store.insert([make_row(0), make_row(1, **changes)])
    assert store.count() == 0
    # JSON text of the right type is accepted as before, and decodes to the same value.
    store.insert(make_row(1, violations='{"stealing": 1}', signature='["a"]', trajectory=((0, 1), (2, 3))))
    row = store.dataframe().iloc[0]
    assert row["violations"] == {"stealing": 1} and row["signature"] == ["a"]
    assert row["trajectory"] == [[0, 1], [2, 3]]


def test_a_corrupt_stored_row_is_named_on_read(store: ResultsStore) -> None:
    store.insert([make_row(0), make_row(1)])
    row_id = store._conn.execute("SELECT id FROM episodes WHERE seed = 1").fetchone()[0]
    store._conn.execute("UPDATE episodes SET violations = '{\"stealing\": 1' WHERE id = ?", (row_id,))
    expected = (
        f"row id {row_id}: column 'violations' is not valid JSON.*DELETE FROM episodes WHERE id = {row_id}"
    )
    with pytest.raises(StoreError, match=expected):
        store.dataframe()
    with pytest.raises(StoreError, match=f"row id {row_id}"):
        store.export("csv", store.path.with_suffix(".csv"))
    store._conn.execute("UPDATE episodes SET policy_metrics = '[1]' WHERE id = ?", (row_id,))
    with pytest.raises(StoreError, match=f"row id {row_id}: column 'policy_metrics' must hold a dict"):
        store.policy_metrics("abc123")


def test_bench_report_names_a_corrupt_row(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    with ResultsStore(db) as opened:
        opened.insert([make_row(0), make_row(1)])
        opened._conn.execute("UPDATE episodes SET signature = 'a,b' WHERE seed = 1")
    _bench_error(["report", "--db", str(db), "--out", str(tmp_path / "r")], "row id 2", "'signature'")


def test_a_schema_1_store_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with ResultsStore(db) as opened:
        opened.insert([make_row(0), make_row(1)])
    with sqlite3.connect(db) as conn:  # the store as ethogym <= 0.1 wrote it
        conn.execute("ALTER TABLE episodes DROP COLUMN policy_digest")
        conn.execute("PRAGMA user_version = 1")
    with ResultsStore(db, create=False) as opened:
        df = opened.dataframe()
        assert len(df) == 2 and df["policy_digest"].isna().all()
        assert opened._conn.execute("PRAGMA user_version").fetchone()[0] == 2
        # Rows built for schema 1 (without policy_digest) still insert.
        row = {k: v for k, v in make_row(2).items() if k != "policy_digest"}
        assert opened.insert(row).inserted == 1


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE things (x INTEGER)")
    with pytest.raises(StoreError, match="without an 'episodes' table"):
        ResultsStore(path)


@pytest.mark.parametrize("content", [b'{"episodes": []}\n', b"\x00" * 200])
def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "results.json"
    path.write_bytes(content)
    for create in (True, False):
        with pytest.raises(
            StoreError, match="results.json is not a results store .*--db of an `ethogym bench run`"
        ):
            ResultsStore(path, create=create)
    assert path.read_bytes() == content and sorted(tmp_path.iterdir()) == [path]


def test_readers_do_not_start_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no results store at"):
        ResultsStore(tmp_path / "missing.db", create=False)
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(StoreError, match="empty.db is an empty file, not a results store"):
        ResultsStore(empty, create=False)
    assert empty.stat().st_size == 0


def test_export_refuses_missing_suites_and_mismatched_extensions(store: ResultsStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="has no episodes; run `ethogym bench run"):
        store.export("csv", tmp_path / "r.csv")
    store.insert([make_row(0), make_row(1, suite="other")])
    with pytest.raises(StoreError, match="has no episodes of suite 'nope'; its suites: other, tiny"):
        store.export("csv", tmp_path / "r.csv", suite="nope")
    with pytest.raises(
        StoreError, match=r"r.parquet has '.parquet', but a csv export is a .csv file; use .*r.csv"
    ):
        store.export("csv", tmp_path / "r.parquet")
    assert not list(tmp_path.glob("r.*"))
    assert len(read_export(store.export("csv", tmp_path / "r.csv", suite="tiny"))) == 1


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_round_trip(store: ResultsStore, tmp_path: Path, fmt: str) -> None:
    store.insert([make_row(0), make_row(1), make_row(2), make_row(0, policy="oracle")])
    path = store.export(fmt, tmp_path / "out" / f"results.{fmt}")
    assert path.is_file()
    pd.testing.assert_frame_equal(read_export(path), store.dataframe())


def test_export_refuses_unknown_format(store: ResultsStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="parquet, csv"):
        store.export("xlsx", tmp_path / "r.xlsx")


# --- the bench command line on stores and suites that do not fit -------------------------------------------
cli = CliRunner()


def _bench_error(args: list[str], *expected: str) -> None:
    result = cli.invoke(app, ["bench", *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    text = " ".join(result.output.split())
    for fragment in expected:
        assert fragment in text, text


def test_bench_commands_refuse_a_db_that_is_not_a_store(tmp_path: Path) -> None:
    notdb = tmp_path / "results.json"
    notdb.write_text('{"episodes": []}\n')
    empty = tmp_path / "empty.db"
    empty.touch()
    fix = "pass the --db of an `ethogym bench run`, or a new path"
    run = ["run", "--suite", str(write_suite(tmp_path, TINY)), "--policy", "random"]
    _bench_error([*run, "--db", str(notdb)], f"{notdb} is not a results store", fix)
    for command in (
        ["export", "--out", str(tmp_path / "x.parquet")],
        ["report", "--out", str(tmp_path / "r")],
    ):
        _bench_error([*command, "--db", str(notdb)], f"{notdb} is not a results store", fix)
        _bench_error([*command, "--db", str(empty)], f"{empty} is an empty file, not a results store", fix)
    assert empty.stat().st_size == 0 and not (tmp_path / "x.parquet").exists()


def test_bench_export_refuses_an_unknown_suite_and_a_mismatched_out(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with ResultsStore(db) as opened:
        opened.insert([make_row(0), make_row(1)])
    export = ["export", "--db", str(db)]
    _bench_error([*export, "--suite", "nope"], "has no episodes of suite 'nope'; its suites: tiny")
    _bench_error(
        [*export, "--format", "csv", "--out", str(tmp_path / "e.parquet")],
        "does not match --format csv, which writes .csv files",
        f"use --out {tmp_path / 'e.csv'} or --format parquet",
    )
    _bench_error([*export, "--out", str(tmp_path / "e.txt")], f"use --out {tmp_path / 'e.parquet'}")
    assert not list(tmp_path.glob("e.*"))
    result = cli.invoke(
        app, ["bench", *export, "--suite", "tiny", "--format", "csv", "--out", str(tmp_path / "e.csv")]
    )
    assert result.exit_code == 0 and "wrote 2 episodes" in result.output, result.output


def test_bench_run_names_the_suite_option_folder_and_files(tmp_path: Path) -> None:
    run = ["run", "--policy", "random", "--db", str(tmp_path / "r.db"), "--suite"]
    _bench_error([*run, ""], "--suite is empty; pass a suite name from 'ethogym bench list'")
    suite = write_suite(tmp_path, TINY, "tiny.yaml")
    _bench_error([*run, str(tmp_path)], f"{tmp_path} is a folder, not a suite YAML", str(suite))
    assert not (tmp_path / "r.db").exists()


def test_bench_run_warns_of_llm_backend_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dead LLM server still gives complete episodes; the run says so instead of only storing it."""
    llm = "llm:openai:m@http://127.0.0.1:9/v1"

    def fake_run_suite(suite, policies, store, **_: Any) -> RunReport:
        failing = {"backend_errors": 4, "last_error": "cannot reach http://127.0.0.1:9/v1"}
        rows = [make_row(seed, llm, suite_hash=suite.hash, policy_metrics=failing) for seed in (0, 1)]
        rows += [make_row(0, llm, suite_hash="older"), make_row(0, "random", suite_hash=suite.hash)]
        return RunReport(inserted=store.insert(rows).inserted, policies=list(policies))

    monkeypatch.setattr("ethogym.benchmarks.cli.run_suite", fake_run_suite)
    args = ["bench", "run", "--suite", str(write_suite(tmp_path, TINY)), "--db", str(tmp_path / "r.db")]
    result = cli.invoke(app, [*args, "--policy", llm, "--policy", "random"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"warning: 2 of 2 stored episodes of --policy {llm} had LLM backend errors" in text, text
    assert "(last: cannot reach http://127.0.0.1:9/v1)" in text and "run again with a new --db" in text
    assert text.count("warning:") == 1  # random recorded none


def _in_read_only_folder(folder: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` where ``folder`` cannot be written: chmod for a user; a private read-only bind
    mount for root, whom permission bits do not stop."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=300)
        finally:
            folder.chmod(0o755)
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"'
    wrap = ["unshare", "-m", "sh", "-c", script, "sh", str(folder)]
    if shutil.which("unshare") is None or subprocess.run([*wrap, "true"], capture_output=True).returncode:
        pytest.skip("running as root without `unshare -m` for a read-only mount; chmod does not stop root")
    return subprocess.run([*wrap, *argv], capture_output=True, text=True, timeout=300)


def test_a_store_that_can_only_be_read_is_reported_and_exported(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    db = folder / "ethogym.db"
    with ResultsStore(db) as opened:
        opened.insert([make_row(s, p) for s in range(3) for p in ("random", "oracle")])
    before = sorted((p.name, p.read_bytes()) for p in folder.iterdir())
    bench = [sys.executable, "-m", "ethogym", "bench"]
    report = _in_read_only_folder(
        folder, [*bench, "report", "--db", str(db), "--out", str(tmp_path / "site")]
    )
    assert report.returncode == 0 and "Traceback" not in report.stderr, report.stderr[-2000:]
    assert (tmp_path / "site" / "index.html").is_file()
    out = tmp_path / "e.csv"
    export = _in_read_only_folder(
        folder, [*bench, "export", "--db", str(db), "--format", "csv", "--out", str(out)]
    )
    assert export.returncode == 0 and "wrote 6 episodes" in export.stdout, export.stderr[-2000:]
    assert len(read_export(out)) == 6
    assert sorted((p.name, p.read_bytes()) for p in folder.iterdir()) == before


def test_a_reader_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with ResultsStore(db) as opened:
        opened.insert(make_row(0))
    with ResultsStore(db, create=False) as reader:
        assert len(reader.dataframe()) == 1
        with pytest.raises(StoreError, match="opened read-only"):
            reader.insert(make_row(1))
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader._conn.execute("DELETE FROM episodes")
    with ResultsStore(db) as opened:
        assert opened.count() == 1


def test_a_key_given_twice_in_a_suite_file_is_refused(tmp_path: Path) -> None:
    head = (
        "name: tiny\nprotocol: 1\nepisodes: 2\nseeds: {train: [1], test: [500, 501]}\n"
        "tasks:\n  - ethogym/Household-PickingUpTrash-v0\n"
    )
    path = write_suite(tmp_path, head + "tasks:\n  - ethogym/Social-Handover-v0\n")
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    message = str(caught.value)
    assert f"{path}: line 7: key 'tasks' is given twice (first on line 5)" in message and "\n" not in message
    nested = write_suite(tmp_path, head + "modes: [{label: a, label: b}]\n", "nested.yaml")
    with pytest.raises(SuiteError, match="line 7: key 'label' is given twice"):
        load_suite(nested)
    # Keys merged in with << may be overridden, as YAML means them to be.
    merged = "x-mode: &m {label: a, options: {}}\nmodes: [{<<: *m, label: b}]\n"
    with pytest.raises(SuiteError, match="unknown field.*x-mode"):  # merging was fine; the extra key is not
        load_suite(write_suite(tmp_path, head + merged, "merged.yaml"))


@pytest.mark.parametrize(
    ("seeds", "field"),
    [
        ({"train": [1], "test": [500, 2**63]}, "'seeds.test' lists seed 9223372036854775808"),
        ({"train": [1], "test": {"start": 2**63 - 1}}, "'seeds.test' runs to seed 9223372036854775808"),
        ({"train": {"start": 2**63, "count": 1}, "test": [500, 501]}, "'seeds.train' runs to seed"),
    ],
)
def test_seeds_the_store_cannot_hold_are_refused_at_load(
    tmp_path: Path, seeds: dict[str, Any], field: str
) -> None:
    with pytest.raises(SuiteError, match=f"{field}.*2\\*\\*63 - 1"):
        load_suite(write_suite(tmp_path, mutated(seeds=seeds)))
    largest = mutated(seeds={"train": [1], "test": [2**63 - 2, 2**63 - 1]})
    assert max(load_suite(write_suite(tmp_path, largest)).test_seeds) == 2**63 - 1


def test_integers_sqlite_cannot_hold_are_a_store_error(store: ResultsStore) -> None:
    with pytest.raises(StoreError, match="column 'seed' is 9223372036854775808, outside the 64-bit"):
        store.insert([make_row(0), make_row(2**63, steps=1)])
    with pytest.raises(StoreError, match="column 'return' is .*pass it as a float"):
        store.insert(make_row(1, **{"return": -(2**64)}))
    assert store.count() == 0
    assert store.insert(make_row(2**63 - 1, steps=1)).inserted == 1


def test_bench_export_keeps_an_existing_file_unless_overwrite(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with ResultsStore(db) as opened:
        opened.insert([make_row(0), make_row(1)])
    out = tmp_path / "e.csv"
    out.write_text("someone's notes\n")
    export = ["export", "--db", str(db), "--format", "csv", "--out", str(out)]
    _bench_error(export, f"--out {out} already exists; pass --overwrite to replace it")
    assert out.read_text() == "someone's notes\n"
    result = cli.invoke(app, ["bench", *export, "--overwrite"])
    assert result.exit_code == 0 and "wrote 2 episodes" in result.output, result.output
    assert len(read_export(out)) == 2


def test_bench_names_a_missing_suite_file_and_a_db_folder(tmp_path: Path) -> None:
    run = ["run", "--policy", "random", "--db", str(tmp_path / "r.db"), "--suite"]
    _bench_error([*run, "missing.json"], "suite file missing.json does not exist")
    _bench_error([*run, "nope"], "no suite named 'nope'")  # a name, not a file
    _bench_error(
        ["report", "--db", str(tmp_path), "--out", str(tmp_path / "site")],
        f"{tmp_path} is a folder, not a results store; pass the store file, e.g. {tmp_path / 'ethogym.db'}",
    )
    assert not (tmp_path / "r.db").exists()
