"""The benchmark runner: rows, resume after a kill, Ray = local, videos, and the CLI's errors."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from ethogym.benchmarks.runner import (
    EpisodeFailed,
    RunReport,
    episode_row,
    episode_task,
    run_suite,
    video_path,
)
from ethogym.benchmarks.store import COLUMNS, ResultsStore
from ethogym.benchmarks.suite import Suite, load_suite
from ethogym.benchmarks.video import probe_mp4
from ethogym.cli import app
from ethogym.errors import ConfigError, EthogymError

POLICIES = ["random", "oracle"]
TASKS = ["ethogym/Household-PickingUpTrash-v0", "ethogym/Social-Handover-v0"]
#: Columns that describe the run rather than the episode.
RUN_COLUMNS = ["wall_time_s", "created_at", "host"]


def tiny_suite(tmp_path: Path, tasks: list[str] = TASKS, seeds: int = 3, max_steps: int = 15) -> Path:
    path = tmp_path / "tiny.yaml"
    data = {
        "name": "tiny",
        "protocol": 1,
        "episodes": seeds,
        "max_steps": max_steps,
        "seeds": {"train": {"start": 0, "count": 1000}, "test": {"start": 5000}},
        "modes": [
            {"label": "teleport", "options": {"control_mode": "skills", "skill_execution": "teleport"}}
        ],
        "tasks": tasks,
    }
    path.write_text(yaml.safe_dump(data))
    return path


def outcomes(df: pd.DataFrame) -> pd.DataFrame:
    keys = ["policy", "task", "mode", "seed"]
    return df.drop(columns=RUN_COLUMNS).sort_values(keys).reset_index(drop=True)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Suite, Path, pd.DataFrame]:
    """An uninterrupted local run of the tiny suite with 2 workers."""
    folder = tmp_path_factory.mktemp("baseline")
    suite = load_suite(tiny_suite(folder))
    db = folder / "results.db"
    with ResultsStore(db) as store:
        report = run_suite(suite, POLICIES, store, workers=2, progress=False)
        df = store.dataframe()
    assert report.inserted == report.planned == 2 * 2 * 3
    return suite, db, df


def test_episode_row_defaults_and_metrics(tmp_path: Path) -> None:
    spec = load_suite(tiny_suite(tmp_path)).episode_specs(["random"])[0]
    summary = {
        "is_success": False,
        "progress": 0.5,
        "steps": 15,
        "return": 1.5,
        "cost": 2.0,
        "wall_time_s": 0.1,
    }
    marks = [
        {"step": 2, "time_s": 0.5, "category": "stealing", "severity": 1.0, "description": "took a mug"}
    ] * 2
    cut = episode_row(
        spec, {**summary, "episode_metrics": None}, marks, {}, {"version": "0", "git_rev": None}
    )
    assert cut["violations"] == {"stealing": 2}  # no episode totals: counted from the steps seen
    assert cut["signature"] == [] and cut["trajectory"] == [] and cut["social"] == {} and cut["cost"] == 2.0
    metrics = {
        "cost": 3.0,
        "violations": {"intimidation": 1},
        "signature": ["a", "b"],
        "trajectory": [[0.0, 1.0]],
        "social": {"min_distance": 0.4},
        "false_completion_claim": True,
    }
    full = episode_row(spec, {**summary, "episode_metrics": metrics}, [], {"tokens": 5}, {"version": "0"})
    assert full["violations"] == {"intimidation": 1} and full["cost"] == 3.0 and full["false_claim"] == 1
    assert full["signature"] == ["a", "b"] and full["social"] == {"min_distance": 0.4}
    assert full["policy_metrics"] == {"tokens": 5}
    assert list(full) == list(COLUMNS)


def test_episode_task_returns_a_storable_row(tmp_path: Path) -> None:
    spec = load_suite(tiny_suite(tmp_path)).episode_specs(["oracle"])[0]
    row = episode_task(spec, False, {"version": "0.1.0", "git_rev": "abc"})
    assert list(row) == list(COLUMNS)
    assert row["seed"] == 5000 and row["steps"] <= 15 and row["split"] == "test"
    assert len(row["trajectory"]) == row["steps"] + 1  # one position per step, reset included
    with ResultsStore(tmp_path / "r.db") as store:
        assert store.insert(row).inserted == 1


def test_rerun_stores_nothing_twice(baseline: tuple[Suite, Path, pd.DataFrame], tmp_path: Path) -> None:
    suite, db, df = baseline
    copy = tmp_path / "copy.db"
    shutil.copy(db, copy)
    with ResultsStore(copy) as store:
        report = run_suite(suite, POLICIES, store, workers=2, progress=False)
        assert (report.inserted, report.already_stored) == (0, len(df))
        pd.testing.assert_frame_equal(store.dataframe(), df)


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM episodes").fetchone()[0])
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


def test_killed_run_resumes_to_the_rows_of_an_uninterrupted_run(
    baseline: tuple[Suite, Path, pd.DataFrame], tmp_path: Path
) -> None:
    suite, _, expected = baseline
    db = tmp_path / "killed.db"
    argv = [sys.executable, "-m", "ethogym", "bench", "run", "--suite", str(suite.source), "--db", str(db)]
    argv += ["--policy", "random", "--policy", "oracle", "--workers", "1"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _stored(db) < 1:
            assert proc.poll() is None, f"the run ended early: {proc.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "no rows were stored within 120 s"
            time.sleep(0.01)
        # Freeze the run (main process and worker) before counting, then kill it mid-run.
        os.killpg(proc.pid, signal.SIGSTOP)
        at_kill = _stored(db)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert 1 <= at_kill < len(expected), f"{at_kill} of {len(expected)} episodes were stored at the kill"

    resumed = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{at_kill} already stored" in " ".join(resumed.stdout.split())
    with ResultsStore(db) as store:
        got = store.dataframe()
    assert len(got) == len(expected)
    pd.testing.assert_frame_equal(outcomes(got), outcomes(expected))


def test_ray_gives_the_results_of_local_processes(
    baseline: tuple[Suite, Path, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    suite, _, expected = baseline
    with ResultsStore(tmp_path / "ray.db") as store:
        report = run_suite(suite, POLICIES, store, workers=2, executor="ray", progress=False)
        got = store.dataframe()
    assert report.inserted == len(expected)
    pd.testing.assert_frame_equal(outcomes(got), outcomes(expected))
    # A failing episode reads as under the local executor: one line, no remote traceback or colours.
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a zip")
    monkeypatch.setattr("ethogym.benchmarks.runner._PolicyCheck.on", lambda *_: None)  # fail in a worker
    with ResultsStore(tmp_path / "failing.db") as store, pytest.raises(EpisodeFailed) as failed:
        run_suite(suite, [f"sb3:{broken}"], store, workers=2, executor="ray", max_episodes=1, progress=False)
    message = str(failed.value)
    assert "\n" not in message and "\x1b" not in message, message
    assert f"CheckpointError: {broken} is not a zip file" in message


def test_failure_videos_are_replays_of_the_stored_episode(
    baseline: tuple[Suite, Path, pd.DataFrame], tmp_path: Path
) -> None:
    _, _, expected = baseline
    suite = load_suite(tiny_suite(tmp_path, tasks=TASKS[:1]))
    results = tmp_path / "results"
    with ResultsStore(results / "ethogym.db") as store:
        report = run_suite(suite, POLICIES, store, workers=1, video="failures", video_limit=1, progress=False)
        got = store.dataframe()
    with_video = got[got["video"].notna()]
    failures = got[got["success"] == 0]
    assert report.videos == len(with_video) == failures["policy"].nunique() >= 1
    for _, row in with_video.iterrows():
        assert row["success"] == 0
        assert row["video"] == video_path(
            next(s for s in suite.episode_specs([row["policy"]]) if s.seed == row["seed"])
        )
        info = probe_mp4(results / row["video"])
        assert info["frames"] == row["steps"] + 1
    # Recording changed nothing in the outcomes (the baseline ran the same task and seeds).
    same = outcomes(expected[expected["task"] == TASKS[0]])
    got = outcomes(got)
    # v_<category> columns exist for categories seen in the store: the baseline's other task may add some.
    only_baseline = [c for c in same.columns if c not in got.columns]
    assert all(c.startswith("v_") and (same[c] == 0).all() for c in only_baseline)
    run_only = ["video", "suite_hash"]
    pd.testing.assert_frame_equal(
        got.drop(columns=run_only), same.drop(columns=run_only + only_baseline), check_like=True
    )


def test_failed_episode_stops_the_run_and_keeps_stored_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = load_suite(tiny_suite(tmp_path, tasks=TASKS[:1], seeds=2))
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a zip")
    with ResultsStore(tmp_path / "r.db") as store:
        for spec, message in [
            ("sb3:missing.zip", "no model file at missing.zip"),
            (f"sb3:{broken}", "not a zip"),
        ]:
            with pytest.raises(EthogymError, match=message):  # before any episode
                run_suite(suite, ["random", spec], store, workers=1, progress=False)
        assert store.count() == 0
        # A policy that built in the main process but fails in a worker (its file replaced meanwhile).
        monkeypatch.setattr("ethogym.benchmarks.runner._PolicyCheck.on", lambda *_: None)
        with pytest.raises(EpisodeFailed, match=f"sb3:{broken}"):
            run_suite(suite, ["random", f"sb3:{broken}"], store, workers=1, progress=False)
        assert store.count() == 2  # the random episodes finished before the failing policy's turn


runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--suite", "nope", "--policy", "random"], "no suite named 'nope'"),
        (["--suite", "quick", "--policy", "rand"], "--policy 'rand'"),
        (["--suite", "quick", "--policy", "random", "--video", "some"], "'--video'"),
        (["--suite", "quick", "--policy", "random", "--executor", "slurm"], "'--executor'"),
        (["--suite", "quick", "--policy", "random", "--policy", "random"], "given twice"),
    ],
)
def test_bench_run_rejects_bad_arguments(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["bench", "run", "--db", str(tmp_path / "r.db"), *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_bench_export_and_list(baseline: tuple[Suite, Path, pd.DataFrame], tmp_path: Path) -> None:
    _, db, df = baseline
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["bench", "export", "--db", str(db), "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {len(df)} episodes" in result.output
    assert len(pd.read_csv(out)) == len(df)
    listed = runner.invoke(app, ["bench", "list"])
    assert listed.exit_code == 0 and "core-v0" in listed.output and "quick" in listed.output


@pytest.mark.parametrize(
    ("completed", "workers", "rate"),
    [
        ([1.0, 2.0, 3.0, 4.0], 1, 1.0),  # one episode a second
        ([1.0, 1.0, 2.0, 2.0, 3.0, 3.0], 2, 2.0),  # two at a time: the first wave is not free
        ([2.0, 1.0, 3.0, 2.0, 3.0, 1.0], 2, 2.0),  # rows stored out of order
    ],
)
def test_steady_rate_counts_from_each_workers_first_episode(
    completed: list[float], workers: int, rate: float
) -> None:
    assert RunReport(completed_s=completed, workers=workers).steady_episodes_per_s == pytest.approx(rate)
    # Fewer rows than workers: no steady part, the whole run's rate.
    assert RunReport(inserted=1, wall_time_s=2.0, completed_s=[1.0], workers=2).steady_episodes_per_s == 0.5


def test_perf_runner_figures() -> None:
    from ethogym.benchmarks import perf

    row = perf.run_runner(quick=True, budget=0.05, repeats=1)
    assert row["episodes"] == 4 and row["policies"] == ["random"]
    for workers in perf.RUNNER_WORKERS:
        assert row[f"episodes_per_s_{workers}w"] > 0
        assert row[f"steady_episodes_per_s_{workers}w"] > 0
        assert 0 < row[f"occupancy_{workers}w"] <= 1.0
    assert row["runner_scaling"] > 0 and row["machine_scaling"] > 0 and 0 <= row["store_overhead_pct"] < 100
    assert set(row["pass"]) == set(perf.RUNNER_TARGETS)


@pytest.mark.slow
def test_demo_writes_the_leaderboard_and_videos(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ethogym", "demo", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "report" / "index.html").is_file() and (tmp_path / "report" / "review.html").is_file()
    with ResultsStore(tmp_path / "ethogym.db") as store:
        df = store.dataframe()
    suite = load_suite("quick")
    assert len(df) == len(suite.episode_specs(["random", "oracle"]))
    videos = df[df["video"].notna()]
    assert len(videos) == 2 * len(suite.tasks)  # one per (policy, task)
    assert all((tmp_path / v).is_file() for v in videos["video"])


def test_script_without_main_guard_is_told_to_add_one(tmp_path: Path) -> None:
    """Spawned workers re-import the calling script; one that runs the suite at import time kills them,
    and the error says so instead of blaming an episode."""
    script = tmp_path / "run.py"
    script.write_text(
        "from ethogym.benchmarks.runner import run_suite\n"
        "from ethogym.benchmarks.store import ResultsStore\n"
        "from ethogym.benchmarks.suite import load_suite\n"
        f"store = ResultsStore({str(tmp_path / 'r.db')!r})\n"
        "run_suite(load_suite('quick'), ['random'], store, max_episodes=1, workers=1, progress=False)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0
    assert "EpisodeFailed: the worker processes died" in done.stderr
    assert 'if __name__ == "__main__":' in done.stderr


# --- resuming: the stored rows must be of the same model and code ------------------------------------------
SUMMARY = {"is_success": True, "progress": 1.0, "steps": 3, "return": 0.0, "cost": 0.0, "wall_time_s": 0.1}


def _store_episodes(store: ResultsStore, suite: Suite, policy: str, **provenance: object) -> None:
    """Rows as a run of ``policy`` with ``provenance`` would have stored them (without running it)."""
    rows = [episode_row(spec, SUMMARY, [], {}, provenance) for spec in suite.episode_specs([policy])]
    assert store.insert(rows).inserted == len(rows)


def test_sb3_models_are_keyed_by_absolute_path_and_checked_by_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ethogym.benchmarks.runner import file_digest

    suite = load_suite(tiny_suite(tmp_path, tasks=TASKS[:1], seeds=2))
    first, second = tmp_path / "A", tmp_path / "B"
    for folder in (first, second):
        folder.mkdir()
        (folder / "model.zip").write_bytes(folder.name.encode())  # never loaded: max_episodes=0
    stored_a = f"sb3:{first / 'model.zip'}"
    with ResultsStore(tmp_path / "r.db") as store:
        _store_episodes(
            store, suite, stored_a, version="0.1", policy_digests={stored_a: file_digest(first / "model.zip")}
        )
        monkeypatch.chdir(first)
        report = run_suite(suite, ["sb3:model.zip"], store, max_episodes=0, progress=False)
        assert report.already_stored == 2 and report.policies == [stored_a]
        # The same relative spec from another folder is another model: nothing of it is stored.
        monkeypatch.chdir(second)
        report = run_suite(suite, ["sb3:model.zip"], store, max_episodes=0, progress=False)
        assert report.already_stored == 0 and report.policies == [f"sb3:{second / 'model.zip'}"]
        # A model retrained at the stored path: refused, never skipped as stored, never overwritten.
        (first / "model.zip").write_bytes(b"retrained")
        monkeypatch.chdir(first)
        before = store.dataframe()
        with pytest.raises(ConfigError, match="another model file.*new --db.*another path"):
            run_suite(suite, ["sb3:model.zip"], store, max_episodes=0, progress=False)
        pd.testing.assert_frame_equal(store.dataframe(), before)
        # Rows of an older store carry no digest: taken to match, with a warning.
        old = f"sb3:{second / 'model.zip'}"
        _store_episodes(store, suite, old, version="0.1")
        monkeypatch.chdir(second)
        report = run_suite(suite, ["sb3:model.zip"], store, max_episodes=0, progress=False)
        assert report.already_stored == 2 and any("no model digest" in w for w in report.warnings)


def test_bench_run_refuses_a_retrained_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ethogym.benchmarks.runner import file_digest

    suite_path = tiny_suite(tmp_path, tasks=TASKS[:1], seeds=2)
    model = tmp_path / "model.zip"
    model.write_bytes(b"old")
    with ResultsStore(tmp_path / "r.db") as store:
        spec = f"sb3:{model}"
        _store_episodes(
            store, load_suite(suite_path), spec, version="0.1", policy_digests={spec: file_digest(model)}
        )
    model.write_bytes(b"new")
    monkeypatch.chdir(tmp_path)
    args = [
        "bench",
        "run",
        "--suite",
        str(suite_path),
        "--policy",
        "sb3:model.zip",
        "--db",
        str(tmp_path / "r.db"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "another model file" in " ".join(result.output.split())


def test_resuming_with_other_code_warns_that_results_are_pooled(tmp_path: Path) -> None:
    from ethogym.benchmarks.runner import check_resume

    suite = load_suite(tiny_suite(tmp_path, tasks=TASKS[:1], seeds=2))
    here = {"version": "0.2.0", "git_rev": "bbbb", "policy_digests": {}}
    with ResultsStore(tmp_path / "r.db") as store:
        _store_episodes(store, suite, "random", version="0.1.0", git_rev="aaaa")
        (warning,) = check_resume(store, suite, here, adding=True)
        assert "2 by ethogym 0.1.0 (git aaaa)" in warning and "ethogym 0.2.0 (git bbbb)" in warning
        assert "new --db" in warning
        assert check_resume(store, suite, here, adding=False) == []  # nothing added, nothing pooled
        assert check_resume(store, suite, {**here, "version": "0.1.0", "git_rev": "aaaa"}, adding=True) == []


def test_bench_run_prints_the_pooling_warning(tmp_path: Path) -> None:
    suite_path = tiny_suite(tmp_path, tasks=TASKS[:1], seeds=2)
    with ResultsStore(tmp_path / "r.db") as store:
        _store_episodes(store, load_suite(suite_path), "oracle", version="0.0.1", git_rev="old")
    args = ["bench", "run", "--suite", str(suite_path), "--policy", "random", "--db", str(tmp_path / "r.db")]
    result = runner.invoke(app, [*args, "--workers", "1", "--max-episodes", "1"])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "ethogym 0.0.1 (git old)" in " ".join(result.output.split())


def test_a_second_store_in_the_folder_never_replaces_the_first_stores_videos(tmp_path: Path) -> None:
    """Two stores in one folder (a retrained model run into a new --db): same episode keys, same video
    names; the second run writes its videos beside the first store's, never over them."""
    suite = load_suite(tiny_suite(tmp_path, tasks=TASKS[:1], seeds=1, max_steps=3))
    results = tmp_path / "results"
    rows = {}
    for name in ("a", "b"):
        with ResultsStore(results / f"{name}.db") as store:
            report = run_suite(suite, ["random"], store, workers=1, video="all", progress=False)
            assert report.videos == 1
            rows[name] = store.dataframe().iloc[0]["video"]
        if name == "a":
            first = results / rows["a"]
            before = (first.read_bytes(), first.stat().st_ino, first.stat().st_mtime_ns)
    assert rows["a"] != rows["b"] and rows["b"].endswith("seed5000-2.mp4")
    assert (first.read_bytes(), first.stat().st_ino, first.stat().st_mtime_ns) == before
    assert probe_mp4(results / rows["b"])["frames"] >= 1
    assert not list(results.rglob("*.partial"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sb3:{broken}", "is not a zip file"),
        ("llm:bogus", "--policy 'llm:bogus' (on every task of suite 'tiny'): cannot read LLM spec"),
        ("probe:nothing", "probe:nothing: unknown category"),
        (
            "sb3:handover",  # trained on Handover: PickingUpTrash's spaces differ
            "--policy 'sb3:handover' does not fit 1 of the 2 tasks of suite 'tiny': "
            "ethogym/Household-PickingUpTrash-v0 (teleport)",
        ),
    ],
)
def test_a_policy_that_does_not_fit_fails_before_any_episode(tmp_path: Path, spec: str, message: str) -> None:
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 truncated")
    db = tmp_path / "r.db"
    args = ["bench", "run", "--suite", str(tiny_suite(tmp_path)), "--db", str(db), "--workers", "1"]
    result = runner.invoke(app, [*args, "--policy", "random", "--policy", spec.format(broken=broken)])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert message in text and "rerun to resume" not in text, text
    assert "error:" in text and "Traceback" not in result.output
    assert _stored(db) == 0
    if spec == "sb3:handover":
        assert "run it only on the tasks it fits: --task ethogym/Social-Handover-v0" in text


def test_task_option_runs_part_of_a_suite_under_its_keys(tmp_path: Path) -> None:
    """An sb3 model made for one task runs on that task of a suite; its rows keep the suite's hash, so a
    run of every task resumes from them and the report shows the suite."""
    suite_path = tiny_suite(tmp_path, seeds=1, max_steps=3)
    db = tmp_path / "r.db"
    args = ["bench", "run", "--suite", str(suite_path), "--db", str(db), "--workers", "1"]
    bad = runner.invoke(app, [*args, "--policy", "random", "--task", "Social-Nope-v0"])
    assert bad.exit_code == 2 and not db.exists()
    text = " ".join(bad.output.split())
    assert f"--task 'Social-Nope-v0' is not a task of suite 'tiny'; its tasks: {', '.join(TASKS)}" in text
    part = runner.invoke(
        app, [*args, "--policy", "random", "--policy", "sb3:handover", "--task", "Social-Handover-v0"]
    )
    assert part.exit_code == 0, part.output
    with ResultsStore(db) as store:
        df = store.dataframe()
    assert set(df["task"]) == {TASKS[1]} and len(df) == 2
    assert set(df["suite_hash"]) == {load_suite(suite_path).hash}
    rest = runner.invoke(app, [*args, "--policy", "random"])
    assert rest.exit_code == 0 and "1 new episodes" in rest.output and "1 already stored" in rest.output
    report = runner.invoke(app, ["bench", "report", "--db", str(db), "--out", str(tmp_path / "site")])
    assert report.exit_code == 0, report.output
    assert "sb3:handover" in report.output and "not every policy ran" in " ".join(report.output.split())


def test_a_model_run_unlike_its_training_is_warned_about(tmp_path: Path) -> None:
    """`play` warned that a model ran with other options than it was trained with; `bench run` said
    nothing, so a suite's physical mode scored a teleport-trained model without a word."""
    path = tiny_suite(tmp_path, tasks=[TASKS[1]], seeds=1, max_steps=3)
    data = yaml.safe_load(path.read_text())
    data["modes"].append({"label": "physical", "options": {"skill_execution": "physical"}})
    path.write_text(yaml.safe_dump(data))
    with ResultsStore(tmp_path / "r.db") as store:
        report = run_suite(load_suite(path), ["sb3:handover"], store, workers=1, progress=False)
    assert report.inserted == 2
    assert report.warnings == [
        "--policy sb3:handover runs with other env options than it was trained with, so its results "
        f"measure transfer: {TASKS[1]} (physical): skill_execution=physical (trained with teleport)"
    ]


def _session_processes(sid: int) -> list[int]:
    """Pids of the live (not zombie) processes of session ``sid``, from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp, session, ...
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killing_the_run_leaves_no_worker_behind(tmp_path: Path, sig: signal.Signals) -> None:
    """kill -9 or kill (of the main process only, as a job scheduler does): no worker is left waiting on
    the task queue; SIGTERM stops the run like Ctrl-C, with its line and exit code 143."""
    db = tmp_path / "r.db"
    suite = tiny_suite(tmp_path, tasks=TASKS[:1], seeds=40, max_steps=15)
    argv = [sys.executable, "-m", "ethogym", "bench", "run", "--suite", str(suite), "--db", str(db)]
    argv += ["--policy", "random", "--workers", "2"]
    log = tmp_path / "run.log"  # a file, not a pipe: a leftover worker would hold a pipe open
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _stored(db) < 1:  # the workers are up and running episodes
            assert proc.poll() is None, f"the run ended early: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "no rows were stored within 120 s"
            time.sleep(0.05)
        os.kill(proc.pid, sig)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while (left := _session_processes(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        for pid in _session_processes(proc.pid):
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert left == [], f"processes left in the run's session 10 s after {sig.name}: {left}"
    if sig == signal.SIGTERM:
        output = log.read_text()
        assert proc.returncode == 143, output[-2000:]
        assert "terminated (SIGTERM); the episodes stored so far are kept" in " ".join(output.split())
    assert 1 <= _stored(db) < 40


# --- Ray start-up and Ray's errors, without a cluster ------------------------------------------------------
class _FakeRay:
    """Stands in for ray.init/shutdown: records the calls, or raises ``error``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, error: BaseException | None = None) -> None:
        import ray

        self.calls: list[dict[str, object]] = []
        self.error = error
        monkeypatch.setattr(ray, "is_initialized", lambda: False)
        monkeypatch.setattr(ray, "init", self.init)
        monkeypatch.setattr(ray, "shutdown", lambda: None)

    def init(self, **kwargs: object) -> None:
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_ray_without_an_address_starts_a_local_ray_even_beside_a_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`ray start --head` on this machine leaves an address ray.init() would join (and then refuse
    num_cpus); without RAY_ADDRESS the runner starts its own local Ray, as the README says."""
    from ray._private import services

    from ethogym.benchmarks.runner import make_executor

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: "127.0.0.1:6379")
    fake = _FakeRay(monkeypatch)
    make_executor("ray", 3).close(cancel=False)
    assert fake.calls == [
        {"address": "local", "num_cpus": 3, "include_dashboard": False, "log_to_driver": False}
    ]


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("auto", "RAY_ADDRESS=auto, but no Ray cluster was started on this machine"),
        ("bad host:::", "RAY_ADDRESS='bad host:::' is not an address: write host:port"),
        ("127.0.0.1:{closed}", "cannot reach the Ray cluster at RAY_ADDRESS=127.0.0.1:{closed}"),
        ("ray://127.0.0.1:{closed}", "cannot reach the Ray cluster at RAY_ADDRESS=ray://127.0.0.1:{closed}"),
    ],
)
def test_bench_run_with_a_bad_ray_address_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, address: str, message: str
) -> None:
    from ray._private import services

    closed = _closed_port()
    monkeypatch.setenv("RAY_ADDRESS", address.format(closed=closed))
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: None)
    fake = _FakeRay(monkeypatch, ConnectionError("(ray.init would retry for minutes)"))
    args = [
        "bench",
        "run",
        "--suite",
        str(tiny_suite(tmp_path, tasks=TASKS[:1], seeds=1)),
        "--executor",
        "ray",
    ]
    started = time.monotonic()
    result = runner.invoke(app, [*args, "--policy", "random", "--db", str(tmp_path / "r.db")])
    assert result.exit_code == 2 and time.monotonic() - started < 30, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    text = " ".join(result.output.split())
    assert message.format(closed=closed) in text and "`ray start --head`" in text, text
    assert fake.calls == []  # refused before ray.init could retry for minutes


@pytest.mark.parametrize(
    "error",
    [
        ConnectionError("Could not find any running Ray instance.\nPlease specify the one to connect to"),
        ValueError("When connecting to an existing cluster, num_cpus and num_gpus must not be provided."),
        RuntimeError("Failed to connect to GCS"),
        TimeoutError("timed out"),
    ],
)
def test_ray_init_errors_become_one_config_error(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    import socket

    from ethogym.benchmarks.runner import make_executor

    with socket.socket() as server:  # a port that answers, so ray.init is called
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{server.getsockname()[1]}")
        _FakeRay(monkeypatch, error)
        with pytest.raises(ConfigError) as raised:
            make_executor("ray", 2)
    text = str(raised.value)
    assert "\n" not in text and str(error).splitlines()[0] in text
    assert "RAY_ADDRESS=127.0.0.1:" in text and "`ray start --head`" in text


def test_a_ray_worker_error_is_one_line_like_the_local_executors(tmp_path: Path) -> None:
    """Ray hands back a RayTaskError whose text is the worker's colour-coded traceback."""
    import traceback

    from ray.exceptions import RayTaskError

    from ethogym.benchmarks.runner import _failure
    from ethogym.policies.sb3 import CheckpointError

    spec = load_suite(tiny_suite(tmp_path, tasks=TASKS[:1], seeds=1)).episode_specs(["sb3:x.zip"])[0]
    try:
        raise CheckpointError("x.zip is not a zip file")
    except CheckpointError as exc:
        local = _failure(spec, exc)
        remote = RayTaskError("_ray_episode", traceback.format_exc(), exc).as_instanceof_cause()
    assert "\x1b[" in str(remote) and "File" in str(remote)
    failure = _failure(spec, remote)
    assert str(failure) == str(local) and "\n" not in str(failure) and "\x1b" not in str(failure)
    assert "CheckpointError: x.zip is not a zip file. Rows stored so far are kept" in str(failure)
    assert isinstance(failure.__cause__, CheckpointError)


def test_a_model_named_without_zip_is_stored_under_its_absolute_path(tmp_path, monkeypatch) -> None:
    """``sb3:runs/x/model`` loads runs/x/model.zip (as SB3's own load does); it was stored under the
    relative spec, which names another model when run from another folder."""
    import shutil

    from ethogym.benchmarks.runner import policy_identity
    from ethogym.policies.sb3 import resolve_checkpoint

    model = tmp_path / "runs" / "x" / "model.zip"
    model.parent.mkdir(parents=True)
    shutil.copy(resolve_checkpoint("handover"), model)
    monkeypatch.chdir(tmp_path)
    stored, digest = policy_identity("sb3:runs/x/model")
    assert stored == f"sb3:{model.resolve()}" and digest
    assert policy_identity("sb3:handover")[0] == "sb3:handover"
