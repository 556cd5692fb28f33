"""The leaderboard report (terminal, Markdown, HTML in a real browser) and review-video recording."""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path
from typing import Any

import gymnasium as gym
import imageio_ffmpeg
import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from ethogym.benchmarks import report, stats
from ethogym.benchmarks.episode import record_review_episode, video_filter, violation_marks
from ethogym.benchmarks.store import ResultsStore
from ethogym.benchmarks.video import Mp4Writer, add_caption_band, annotate_frame, compose_views, probe_mp4
from ethogym.errors import ConfigError

CHROMIUM = Path("/usr/bin/chromium")
TASKS = ("ethogym/Household-PickingUpTrash-v0", "ethogym/Social-Handover-v0")
REPS = 200  # bootstrap resamples: enough for the checks, fast


def _row(**values: Any) -> dict[str, Any]:
    row = {
        "policy": "random",
        "task": TASKS[0],
        "mode": "",
        "seed": 0,
        "split": "test",
        "suite": "quick",
        "suite_hash": "hash-quick",
        "protocol": 1,
        "success": 0,
        "progress": 0.0,
        "steps": 20,
        "return": 0.0,
        "cost": 0.0,
        "false_claim": 0,
        "violations": {},
        "social": {},
        "adversary": {},
        "policy_metrics": {},
        "signature": [],
        "trajectory": [[0.0, 0.0], [1.0, 0.0]],
        "video": None,
        "violation_marks": [],
        "version": "0.1.0",
        "git_rev": None,
        "wall_time_s": 0.5,
        "created_at": "2026-01-01T00:00:00",
        "host": "test",
    }
    row.update(values)
    return row


MARKS = [
    {"step": 3, "time_s": 0.75, "category": "stealing", "severity": 2, "description": "moved alice_mug"},
    {
        "step": 6,
        "time_s": 1.5,
        "category": "trespassing",
        "severity": 1,
        "description": "entered bob's bedroom",
    },
]


def _write_clip(path: Path, frames: int = 12, fps: int = 4) -> None:
    with Mp4Writer(path, fps=fps) as writer:
        for i in range(frames):
            frame = np.full((64, 96, 3), 30, dtype=np.uint8)
            writer.append(annotate_frame(frame, [f"step {i}"]))


def _results(folder: Path) -> Path:
    """A small results store: oracle / random / noop on two tasks, 6 seeds, one oracle episode with video."""
    rng = np.random.default_rng(0)
    _write_clip(folder / "videos" / "oracle-trash-0.mp4")
    rows = []
    for policy, p_success, violation_rate in [("oracle", 0.9, 0.2), ("random", 0.2, 2.0), ("noop", 0.0, 0.0)]:
        for task in TASKS:
            for seed in range(6):
                success = int(rng.random() < p_success)
                violations = {"stealing": int(rng.poisson(violation_rate))} if violation_rate else {}
                video = policy == "oracle" and task == TASKS[0] and seed == 0
                rows.append(
                    _row(
                        policy=policy,
                        task=task,
                        seed=1000 + seed,
                        success=success,
                        progress=1.0 if success else float(rng.random() * 0.8),
                        steps=int(rng.integers(5, 30)),
                        violations=violations,
                        signature=["ontop(a, b)", "inside(c, d)"][:: 1 if seed % 2 else -1]
                        if success
                        else [],
                        trajectory=(rng.random((5, 2)) * 4).tolist(),
                        video="videos/oracle-trash-0.mp4" if video else None,
                        violation_marks=MARKS if video else [],
                    )
                )
    db = folder / "ethogym.db"
    with ResultsStore(db) as store:
        store.insert(rows)
    return db


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("results")
    db = _results(folder)
    console = Console(record=True, width=220)
    paths = report.build_report(db, folder / "site", console=console, reps=REPS)
    with ResultsStore(db) as store:
        frame = store.dataframe()
    return {"db": db, "paths": paths, "console": console.export_text(), "frame": frame, "folder": folder}


# --- tables ---------------------------------------------------------------------------------------------
def test_fmt() -> None:
    assert report.fmt(0.8, percent=True) == "80%"
    assert report.fmt(float("nan")) == "-" and report.fmt(float("inf")) == "∞"
    assert report.fmt_ci(0.25, 0.1, 0.5) == "0.25 [0.10, 0.50]"
    assert report.fmt_ci(0.25, float("nan"), float("nan")) == "0.25"


def test_summary_agrees_with_the_statistics(site: dict[str, Any]) -> None:
    frame = site["frame"]
    (summary,) = report.summarize(frame, reps=REPS)
    board = summary.leaderboard.set_index("policy")
    for policy, group in frame.groupby("policy"):
        n, wins = len(group), int(group["success"].sum())
        assert board.loc[policy, "episodes"] == n
        assert board.loc[policy, "success"] == pytest.approx(wins / n)
        assert (board.loc[policy, "success_low"], board.loc[policy, "success_high"]) == pytest.approx(
            stats.wilson_interval(wins, n)
        )
        steps = group["steps"].sum()
        count = group["v_stealing"].sum()
        assert board.loc[policy, "violations_per_1k_steps"] == pytest.approx(1000 * count / steps)
    assert board.loc["random", "machiavelli"] == pytest.approx(100.0)
    assert board.loc["noop", "machiavelli"] == pytest.approx(0.0)
    assert board.loc["oracle", "rank"] == 1
    assert set(summary.per_task[stats.TASK_KEY]) == set(TASKS)
    assert {"entropy", "vendi", "coverage", "machiavelli"} <= set(summary.per_task.columns)


def test_terminal_and_markdown(site: dict[str, Any]) -> None:
    text = site["console"]
    assert "ethogym leaderboard: quick" in text
    for policy in ("oracle", "random", "noop"):
        assert policy in text
    markdown = site["paths"]["markdown"].read_text()
    assert markdown.startswith("# ethogym leaderboard")
    table_rows = [line for line in markdown.splitlines() if line.startswith("| ") and "%" in line]
    assert len(table_rows) >= 3 + 6  # leaderboard rows + per-task rows
    assert "Probability of improvement" in markdown


def test_site_files(site: dict[str, Any]) -> None:
    paths = site["paths"]
    out = paths["index"].parent
    for key in ("index", "review", "markdown", "intervals:quick", "success_vs_violations:quick"):
        assert paths[key].is_file(), key
    assert paths["intervals:quick"].read_text().lstrip().startswith("<?xml")
    index = paths["index"].read_text()
    assert "cdn" not in index.lower() and "https://" not in index  # self-contained: no network
    sources = re.findall(r'<video[^>]* src="([^"]+)"', index)
    assert sources and all((out / s).resolve().is_file() for s in sources)
    review = paths["review"].read_text()
    times = re.findall(
        r'class="seek" href="([^"]+)#t=([0-9.]+)" data-video="[^"]+" data-time="([0-9.]+)"', review
    )
    assert [(float(t), float(d)) for _, t, d in times] == [(0.75, 0.75), (1.5, 1.5)]
    assert "moved alice_mug" in review and "entered bob&#39;s bedroom" in review


def test_report_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no results store"):
        report.build_report(tmp_path / "missing.db", tmp_path / "site")
    ResultsStore(tmp_path / "empty.db").close()
    with pytest.raises(ConfigError, match="no episodes"):
        report.build_report(tmp_path / "empty.db", tmp_path / "site")


def test_report_without_the_random_baseline_notes_it() -> None:
    frame = pd.DataFrame(
        [
            _row(policy=p, seed=s, success=int(p == "a"), progress=float(p == "a"), violations={})
            for p in "ab"
            for s in range(4)
        ]
    )
    (summary,) = report.summarize(frame, reps=REPS)
    assert any("--policy random" in note for note in summary.notes)
    assert summary.leaderboard["machiavelli"].isna().all()


# --- the page in a real browser -------------------------------------------------------------------------
def _chromium(tmp_path: Path, url: str, *extra: str) -> str:
    result = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed; `make test` installs it")
def test_leaderboard_renders_in_headless_chromium(site: dict[str, Any], tmp_path: Path) -> None:
    index = site["paths"]["index"]
    dom = _chromium(tmp_path, index.as_uri(), "--dump-dom")
    assert 'data-js-ready="true"' in dom
    leaderboard = re.search(r'<table class="sortable leaderboard"[^>]*>(.*?)</table>', dom, re.S)
    assert leaderboard is not None and 'data-sort-ready="true"' in leaderboard.group(0)
    body = re.search(r"<tbody>(.*?)</tbody>", leaderboard.group(1), re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    assert len(rows) == 3
    # The page lists policies by name; its sort script ordered the rows by rank.
    source = index.read_text()
    source_ranks = re.findall(r'<tr><td data-sort="(\d+)">', source)
    assert source_ranks and source_ranks[:3] != ["1", "2", "3"]
    assert [re.search(r"<td[^>]*>(\d+)</td>", r).group(1) for r in rows] == ["1", "2", "3"]
    plots = re.findall(r'<img class="plot"[^>]*>', dom)
    assert len(plots) == 2 and all('data-loaded="true"' in p for p in plots)
    videos = re.findall(r"<video[^>]*>", dom)
    assert videos, "no <video> element rendered"
    # The browser decoded the H.264 clip: 12 frames at 4 fps.
    assert any('data-duration="3"' in v for v in videos), videos

    shot = tmp_path / "index.png"
    _chromium(tmp_path, index.as_uri(), "--window-size=1300,1600", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed; `make test` installs it")
def test_review_page_seeks_to_a_violation(site: dict[str, Any], tmp_path: Path) -> None:
    review = site["paths"]["review"]
    # The video decodes in real time, outside headless Chromium's virtual clock: on a loaded machine
    # the DOM can be dumped before the seek completes, so a dump without it is taken again.
    for _ in range(3):
        dom = _chromium(tmp_path, review.as_uri() + "#seek=quick-v0@1.5", "--dump-dom")
        video = re.search(r'<video id="quick-v0"[^>]*>', dom).group(0)
        if "data-current-time" in video:
            break
    assert 'data-current-time="1.50"' in video
    assert re.search(r'<a class="seek current"[^>]*data-time="1.5"', dom)


# --- review videos ------------------------------------------------------------------------------------
class ViewsEnv(gym.Env):
    """Counts to ``goal``; a violation on step 2; three views whose colours encode the step."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, goal: int = 6) -> None:
        self.goal = goal
        self.observation_space = gym.spaces.Box(0, goal, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.count = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.count = 0
        return np.zeros(1, dtype=np.float32), {"progress": 0.0, "is_success": False}

    def step(self, action: int):
        self.count += 1
        violations = []
        if self.count == 2:
            violations = [
                {
                    "category": "stealing",
                    "severity": 2,
                    "step": 2,
                    "actors": ["alice"],
                    "description": "took the mug",
                }
            ]
        info = {
            "progress": self.count / self.goal,
            "is_success": self.count >= self.goal,
            "cost": float(len(violations)),
            "violations": violations,
            "skill_result": {"text": f"count({self.count}): ok"},
        }
        if self.count >= self.goal:
            info["episode_metrics"] = {"violations": {"stealing": 1}}
        return np.array([self.count], dtype=np.float32), 0.0, self.count >= self.goal, False, info

    def render_views(self, size: int | None = None) -> dict[str, np.ndarray]:
        size = size or 48
        return {
            "third_person": np.full((size, size, 3), (0, 120, 0), dtype=np.uint8),
            "egocentric": np.full((size, size, 3), (0, 0, 120), dtype=np.uint8),
            "top_down": np.full((size, size, 3), (120, 120, 0), dtype=np.uint8),
        }


class Forward:
    def reset(self, seed: int | None) -> None:
        pass

    def act(self, obs: Any, info: Any) -> int:
        return 1


def test_compose_views_side_by_side() -> None:
    views = ViewsEnv().render_views(48)
    frame = compose_views(views)
    assert frame.shape == (48, 144, 3)
    assert tuple(frame[40, 24]) == (0, 120, 0) and tuple(frame[40, 72]) == (0, 0, 120)
    with pytest.raises(ValueError, match="missing"):
        compose_views({"third_person": views["third_person"]})


def test_record_review_episode_keeps_and_marks(tmp_path: Path) -> None:
    path = tmp_path / "review" / "ep.mp4"
    result = record_review_episode(ViewsEnv(), Forward(), 0, path, "views  policy=forward  seed=0")
    assert result["video"] == str(path) and result["frames"] == 7
    assert result["violation_marks"] == [
        {"step": 2, "time_s": 0.5, "category": "stealing", "severity": 2, "description": "took the mug"}
    ]
    info = probe_mp4(path)
    assert info["codec"] == "h264" and info["frames"] == 7 and info["fps"] == pytest.approx(4.0)
    assert info["width"] == 144  # three 48-pixel views side by side
    assert not list(path.parent.glob("*.partial.mp4"))

    reader = imageio_ffmpeg.read_frames(str(path))
    width, height = next(reader)["size"]
    frames = [np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3) for raw in reader]
    # The banner (red, at the bottom) shows from the violation's frame for about a second (4 frames).
    # The encoder pads the frame to a multiple of 16 pixels; the banner sits at the bottom of the content.
    bottom = add_caption_band(np.zeros((48, 144, 3), dtype=np.uint8), 3).shape[0] - 3
    red = [bool(f[bottom, 5, 0] > 150 and f[bottom, 5, 1] < 90) for f in frames]
    assert red == [False, False, True, True, True, True, False]


def test_record_review_episode_discards_unkept_videos(tmp_path: Path) -> None:
    path = tmp_path / "ep.mp4"
    result = record_review_episode(ViewsEnv(), Forward(), 0, path, "h", keep=video_filter("failures"))
    assert result["is_success"] and result["video"] is None
    assert not path.exists() and not list(tmp_path.glob("*.mp4"))
    assert len(result["violation_marks"]) == 1  # marks are kept even without a video
    kept = record_review_episode(ViewsEnv(), Forward(), 0, path, "h", keep=video_filter("violations"))
    assert kept["video"] == str(path)
    with pytest.raises(FileExistsError):
        record_review_episode(ViewsEnv(), Forward(), 0, path, "h")


def test_video_filters_and_marks() -> None:
    failed = {"is_success": False, "episode_metrics": {"violations": {}}}
    violated = {"is_success": True, "episode_metrics": {"violations": {"spying": 2}}}
    assert [video_filter(m)(failed) for m in ("all", "failures", "violations", "none")] == [
        True,
        True,
        False,
        False,
    ]
    assert [video_filter(m)(violated) for m in ("all", "failures", "violations", "none")] == [
        True,
        False,
        True,
        False,
    ]
    with pytest.raises(ValueError, match="failures"):
        video_filter("some")
    info = {
        "violations": [{"category": "spying", "severity": 1, "step": 8, "description": "opened the drawer"}]
    }
    assert violation_marks(info, 8, fps=4) == [
        {"step": 8, "time_s": 2.0, "category": "spying", "severity": 1, "description": "opened the drawer"}
    ]


def test_record_review_episode_on_a_household_env(tmp_path: Path) -> None:
    import ethogym  # noqa: F401  (registers the envs)
    from ethogym.policies import make_policy

    env = gym.make("ethogym/Household-PickingUpTrash-v0", skill_execution="teleport")
    try:
        policy = make_policy("oracle", env)
        result = record_review_episode(
            env,
            policy,
            0,
            tmp_path / "trash.mp4",
            "PickingUpTrash  policy=oracle  seed=0",
            view_size=64,
            max_steps=6,
        )
    finally:
        env.close()
    info = probe_mp4(result["video"])
    assert info["codec"] == "h264" and info["frames"] == result["steps"] + 1
    assert info["width"] == 192  # third-person, egocentric and top-down at 64 pixels


def test_missing_video_files_are_noted(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        [
            _row(policy=p, seed=s, success=int(p == "oracle"), video="videos/gone.mp4")
            for p in ("oracle", "random")
            for s in range(3)
        ]
    )
    paths = report.build_site(report.summarize(frame, reps=REPS), tmp_path / "site", tmp_path)
    index = paths["index"].read_text()
    assert "6 recorded videos are not in" in index and "<video" not in index


# --- names are text, never markup ------------------------------------------------------------------------
MARKUP_NAMES = ["sb3:runs/exp[best]/model.zip", "sb3:runs/[/]x.zip", "sb3:runs/lr[bold]/model.zip"]


@pytest.mark.parametrize("width", [220, 80])  # one row per policy, and the transposed narrow table
@pytest.mark.parametrize("name", MARKUP_NAMES)
def test_terminal_leaderboard_prints_names_with_brackets_verbatim(name: str, width: int) -> None:
    frame = pd.DataFrame([_row(policy=p, seed=s) for p in ("random", name) for s in range(2)])
    console = Console(record=True, width=width)
    report.print_leaderboard(frame, console=console, reps=50)
    assert name in console.export_text()


def test_bench_report_survives_a_policy_name_with_a_closing_tag(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ethogym.cli import app

    name = "sb3:runs/[/]tmp/model.zip"
    with ResultsStore(tmp_path / "e.db") as store:
        store.insert([_row(policy=p, seed=s) for p in ("random", name) for s in range(2)])
    result = CliRunner().invoke(
        app, ["bench", "report", "--db", str(tmp_path / "e.db"), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "index.html").is_file()


def test_markdown_escapes_every_markup_character_in_names() -> None:
    names = {
        "sb3:runs/<v2>/model.zip": "sb3:runs/\\<v2\\>/model.zip",
        "sb3:C:\\m\\": "sb3:C:\\\\m\\\\",
        "probe:a\\|b&c": "probe:a\\\\\\|b\\&c",
        "sb3:`x`_[y]*.zip": "sb3:\\`x\\`\\_\\[y\\]\\*.zip",
    }
    frame = pd.DataFrame([_row(policy=p, seed=s) for p in ["random", *names] for s in range(2)])
    markdown = report.leaderboard_markdown(report.summarize(frame, reps=50))
    for escaped in names.values():
        assert f"| {escaped} |" in markdown
    assert "<v2>" not in markdown
    # Every row of a table has its header's number of cells: no name adds or hides a separator.
    for table in re.findall(r"(?:^\|.*\n)+", markdown, flags=re.MULTILINE):
        cells = {len(re.findall(r"(?<!\\)\|", line.replace("\\\\", ""))) for line in table.splitlines()}
        assert len(cells) == 1, table
    assert all(report.md_escape(name) == escaped for name, escaped in names.items())


def test_tied_policies_share_a_rank_and_unranked_ones_show_a_dash() -> None:
    tied = [
        _row(policy=p, seed=s, violations={"stealing": int(p == "random")})
        for p in ("noop", "random")
        for s in range(2)
    ]
    (summary,) = report.summarize(pd.DataFrame(tied), reps=50)
    assert summary.leaderboard["rank"].tolist() == [1, 1]
    # A policy that shares no seed with any other has no Bradley-Terry strength, hence no rank.
    alone = [*tied, _row(policy="other", seed=99)]
    (summary,) = report.summarize(pd.DataFrame(alone), reps=50)
    board = summary.leaderboard.set_index("policy")
    assert math.isnan(board.loc["other", "rank"])
    markdown = report.leaderboard_markdown([summary])
    assert "| – | other |" in markdown and "| 1 | noop |" in markdown and "| 1 | random |" in markdown
    console = Console(record=True, width=220)
    report.print_leaderboard([summary], console=console)
    assert re.search(r"│ – │ other", console.export_text())


# --- notes on what the leaderboard pools -----------------------------------------------------------------
def test_episodes_of_different_code_versions_are_listed_per_policy() -> None:
    rows = [_row(policy="random", seed=s, version="0.1.0", git_rev="aaaa") for s in range(4)]
    rows += [_row(policy="random", seed=s, version="0.2.0", git_rev="bbbb-dirty") for s in range(4, 8)]
    rows += [_row(policy="oracle", seed=s, version="0.2.0", git_rev="bbbb-dirty") for s in range(8)]
    (summary,) = report.summarize(pd.DataFrame(rows), reps=50)
    (note,) = [n for n in summary.notes if "code versions" in n]
    assert "random: 4 by ethogym 0.1.0 (git aaaa), 4 by ethogym 0.2.0 (git bbbb-dirty)" in note
    assert "oracle: 8 by ethogym 0.2.0 (git bbbb-dirty)" in note and "new --db" in note
    (same,) = report.summarize(pd.DataFrame([r for r in rows if r["version"] == "0.2.0"]), reps=50)
    assert not any("code versions" in n for n in same.notes)


def test_policies_with_llm_backend_errors_are_flagged() -> None:
    failing = {"backend_errors": 3, "last_error": "connection refused"}
    rows = [_row(policy="random", seed=s) for s in range(4)]
    rows += [
        _row(policy="llm:x", seed=s, policy_metrics=failing if s < 3 else {"backend_errors": 0})
        for s in range(4)
    ]
    (summary,) = report.summarize(pd.DataFrame(rows), reps=50)
    (note,) = [n for n in summary.notes if "backend errors" in n]
    assert note.startswith("llm:x: 3 of 4 episodes had LLM backend errors (last: connection refused)")
    assert "new --db" in note
    assert f"- {report.md_escape(note)}" in report.leaderboard_markdown([summary])
