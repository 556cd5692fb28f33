"""The leaderboard: a terminal table, Markdown, and a static HTML site with plots and rollout videos.

``build_report(db_path, out_dir)`` reads the results store and writes, per suite, the leaderboard
(every figure with its 95% interval), a per-task breakdown, plots of the interval estimates and of
success against violations, and ``review.html``: every recorded episode with its violations as links
that seek the video to that moment. The pages are self-contained (no CDN, no network): tables sort
with a few lines of vanilla JS, plots are SVG files written next to the pages.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ethogym.benchmarks import diversity, ranking, stats
from ethogym.errors import ConfigError

BASELINE_POLICY = "random"
"""The policy MACHIAVELLI scores are normalised by (100 = as many violations as random)."""
GALLERY_VIDEOS = 12
"""Rollout videos embedded on the leaderboard page (all of them are on the review page)."""
TEMPLATES = Path(__file__).with_name("templates")


@dataclass
class SuiteSummary:
    """Every table of one suite's leaderboard, computed once and rendered to terminal, Markdown and HTML."""

    suite: str
    suite_hash: str
    protocol: int
    frame: pd.DataFrame
    leaderboard: pd.DataFrame
    per_task: pd.DataFrame
    violations: pd.DataFrame
    improvement: pd.DataFrame
    notes: list[str] = field(default_factory=list)


# --- computing ---------------------------------------------------------------------------------------
def _latest_hash(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Keep the rows of the suite's most recent definition: results of an edited suite never mix."""
    if df["suite_hash"].nunique() <= 1:
        return df, []
    latest = df.sort_values("created_at")["suite_hash"].iloc[-1]
    dropped = int((df["suite_hash"] != latest).sum())
    note = f"{dropped} episodes of earlier versions of this suite (other suite hashes) are not counted."
    return df[df["suite_hash"] == latest], [note]


def _code_versions(df: pd.DataFrame) -> list[str]:
    """A note when the episodes come from more than one code version (version, git_rev): a run resumed
    after the code changed pools both, and the leaderboard cannot tell them apart."""
    from ethogym.benchmarks.store import describe_code

    if "version" not in df.columns:
        return []
    git_revs = df["git_rev"] if "git_rev" in df.columns else [None] * len(df)
    code = pd.Series(
        [describe_code(v, g) for v, g in zip(df["version"], git_revs, strict=True)], index=df.index
    )
    if code.nunique() <= 1:
        return []
    listed = "; ".join(
        f"{policy}: " + ", ".join(f"{n} by {c}" for c, n in sorted(group.value_counts().items()))
        for policy, group in code.groupby(df["policy"], sort=True)
    )
    return [
        f"Episodes from {code.nunique()} code versions are pooled here ({listed}). Results of different "
        "code may not be comparable: for one version, run the policies again into a new --db."
    ]


def backend_failures(records: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, tuple[int, int, Any]]:
    """Per policy: (episodes with LLM backend errors, episodes, the last error), from (policy,
    policy_metrics) pairs. A failing server still yields complete episodes (the planner waits, then falls
    back), so only these metrics tell a model's result from its backend's failure."""
    failures: dict[str, tuple[int, int, Any]] = {}
    for policy, metrics in records:
        failed, total, last = failures.get(policy, (0, 0, None))
        if (metrics or {}).get("backend_errors"):
            failed, last = failed + 1, metrics.get("last_error", last)
        failures[policy] = (failed, total + 1, last)
    return failures


def _backend_errors(df: pd.DataFrame) -> list[str]:
    """A note per policy whose episodes had LLM backend errors: they are ranked like real results."""
    if "policy_metrics" not in df.columns:
        return []
    failures = backend_failures(zip(df["policy"], df["policy_metrics"], strict=True))
    return [
        f"{policy}: {failed} of {total} episodes had LLM backend errors (last: {last}); they are counted "
        "as the policy's results, but measure the backend's failure, not the model. Fix the backend and "
        "run the policy again into a new --db."
        for policy, (failed, total, last) in sorted(failures.items())
        if failed
    ]


def _common_tasks(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Rows of the task conditions every policy ran: aggregates over tasks compare like with like."""
    sets = [set(g[stats.TASK_KEY]) for _, g in df.groupby("policy")]
    common = set.intersection(*sets) if sets else set()
    missing = sorted(set(df[stats.TASK_KEY]) - common)
    if not missing:
        return df, []
    note = f"Progress IQM / mean leave out tasks not every policy ran: {', '.join(missing)}."
    return df[df[stats.TASK_KEY].isin(common)], [note]


_PROGRESS_COLUMNS = ["iqm", "iqm_low", "iqm_high", "mean", "mean_low", "mean_high"]


def summarize_suite(
    df: pd.DataFrame, reps: int = stats.BOOTSTRAP_REPS, seed: int = 0, baseline: str = BASELINE_POLICY
) -> SuiteSummary:
    """All leaderboard tables for the episodes of one suite (a results-store frame filtered to it)."""
    if df.empty:
        raise ConfigError("no episodes to summarise; run `ethogym bench run` first")
    suites = sorted(df["suite"].unique())
    if len(suites) != 1:
        raise ConfigError(
            f"summarize_suite takes one suite at a time, got {suites}; filter the frame by suite"
        )
    df, notes = _latest_hash(df)
    notes += _code_versions(df) + _backend_errors(df)
    df = stats.with_task_key(df)
    policies = sorted(df["policy"].unique())

    success = stats.rate_table(df, "success", ["policy"]).set_index("policy")
    false_claims = stats.rate_table(df, "false_claim", ["policy"]).set_index("policy")
    violations = stats.violation_rates(df, ["policy"], reps=reps, seed=seed)
    all_violations = violations[violations["category"] == "all"].set_index("policy")
    common, task_notes = _common_tasks(df)
    notes += task_notes
    if common.empty:
        notes.append("No task was run by every policy: progress IQM / mean and P(improvement) are left out.")
        progress = pd.DataFrame(
            index=pd.Index(policies, name="policy"), columns=_PROGRESS_COLUMNS, dtype=float
        )
        improvement = pd.DataFrame(columns=["policy_x", "policy_y", "probability", "low", "high"])
    else:
        counts = common.groupby(["policy", stats.TASK_KEY]).size()
        if counts.min() < counts.max():
            notes.append(
                f"Episodes per (policy, task) range from {counts.min()} to {counts.max()} (an unfinished "
                f"run?): progress IQM / mean and P(improvement) use the first {counts.min()} seed(s) of each."
            )
        progress = stats.aggregate_scores(common, "progress", reps=reps, seed=seed).set_index("policy")
        improvement = stats.probability_of_improvement(
            common, "progress", reps=max(100, reps // 4), seed=seed
        )
    bt = ranking.bradley_terry(df, reps=max(100, reps // 4), seed=seed).set_index("policy")

    machiavelli = None
    if baseline in policies:
        machiavelli = stats.machiavelli_scores(df, baseline=baseline, reps=reps, seed=seed)
    else:
        notes.append(
            f"MACHIAVELLI scores need the {baseline!r} policy on the same tasks and seeds; "
            f"add --policy {baseline} to the run."
        )

    rows = []
    for policy in policies:
        s, v, p, b, f = (
            success.loc[policy],
            all_violations.loc[policy],
            progress.loc[policy],
            bt.loc[policy],
            false_claims.loc[policy],
        )
        mach = float("nan")
        if machiavelli is not None:
            scores = machiavelli[(machiavelli["policy"] == policy) & (machiavelli["category"] == "all")][
                "score"
            ]
            scores = scores.dropna()
            # MACHIAVELLI averages the per-game normalised scores; here per task condition.
            mach = float(scores.mean()) if len(scores) else float("nan")
        rows.append(
            {
                "rank": float(b["rank"]),  # NaN: no rank (see ranking.bradley_terry)
                "policy": policy,
                "episodes": int(s["n"]),
                "tasks": int(df[df["policy"] == policy][stats.TASK_KEY].nunique()),
                "success": s["rate"],
                "success_low": s["low"],
                "success_high": s["high"],
                "progress_iqm": p["iqm"],
                "progress_iqm_low": p["iqm_low"],
                "progress_iqm_high": p["iqm_high"],
                "progress_mean": p["mean"],
                "progress_mean_low": p["mean_low"],
                "progress_mean_high": p["mean_high"],
                "violations_per_episode": v["per_episode"],
                "violations_per_episode_low": v["per_episode_low"],
                "violations_per_episode_high": v["per_episode_high"],
                "violations_per_1k_steps": v["per_1k_steps"],
                "violations_per_1k_steps_low": v["per_1k_steps_low"],
                "violations_per_1k_steps_high": v["per_1k_steps_high"],
                "machiavelli": mach,
                "false_claims": f["rate"],
                "false_claims_low": f["low"],
                "false_claims_high": f["high"],
                "bt_strength": b["strength"],
                "bt_low": b["low"],
                "bt_high": b["high"],
            }
        )
    leaderboard = pd.DataFrame(rows).sort_values(["rank", "policy"], ignore_index=True)
    per_task = _per_task(df, machiavelli, reps=reps, seed=seed)
    return SuiteSummary(
        suite=str(suites[0]),
        suite_hash=str(df["suite_hash"].iloc[0]),
        protocol=int(df["protocol"].iloc[0]) if "protocol" in df else 0,
        frame=df,
        leaderboard=leaderboard,
        per_task=per_task,
        violations=violations,
        improvement=improvement,
        notes=notes,
    )


def _per_task(df: pd.DataFrame, machiavelli: pd.DataFrame | None, reps: int, seed: int) -> pd.DataFrame:
    keys = ["policy", stats.TASK_KEY]
    success = stats.rate_table(df, "success", keys)
    progress = df.groupby(keys)["progress"].mean().rename("progress_mean").reset_index()
    rates = stats.violation_rates(df, keys, reps=reps, seed=seed)
    rates = rates[rates["category"] == "all"][[*keys, "per_episode", "per_episode_low", "per_episode_high"]]
    table = success.rename(columns={"rate": "success", "low": "success_low", "high": "success_high"})
    table = table.drop(columns=["count"]).merge(progress, on=keys).merge(rates, on=keys)
    if machiavelli is not None:
        mach = machiavelli[machiavelli["category"] == "all"][[*keys, "score", "low", "high"]]
        mach = mach.rename(
            columns={"score": "machiavelli", "low": "machiavelli_low", "high": "machiavelli_high"}
        )
        table = table.merge(mach, on=keys, how="left")
    else:
        table = table.assign(machiavelli=np.nan, machiavelli_low=np.nan, machiavelli_high=np.nan)
    div = diversity.diversity_table(df)[[*keys, "entropy", "vendi", "coverage"]]
    return table.merge(div, on=keys, how="left").sort_values([stats.TASK_KEY, "policy"], ignore_index=True)


def summarize(df: pd.DataFrame, reps: int = stats.BOOTSTRAP_REPS, seed: int = 0) -> list[SuiteSummary]:
    """One ``SuiteSummary`` per suite in a results frame, in suite-name order."""
    stats.require_columns(
        df, ["policy", "task", "seed", "suite", "suite_hash", "success", "progress", "steps"], "the report"
    )
    if df.empty:
        raise ConfigError("the results store has no episodes; run `ethogym bench run --suite quick` first")
    return [summarize_suite(group, reps=reps, seed=seed) for _, group in df.groupby("suite", sort=True)]


# --- formatting ----------------------------------------------------------------------------------------
def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fmt(x: Any, digits: int = 2, percent: bool = False) -> str:
    """A number for a table: percent or fixed digits; '-' when undefined, '∞' for an unbounded bound."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    x = float(x)
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return f"{100 * x:.0f}%" if percent else f"{x:.{digits}f}"


def fmt_rank(rank: Any) -> str:
    """A leaderboard rank; '–' for a policy without one (no Bradley-Terry strength: no shared seeds)."""
    return str(int(rank)) if _finite(rank) else "–"


def fmt_ci(point: Any, low: Any, high: Any, digits: int = 2, percent: bool = False) -> str:
    """``point [low, high]`` or just the point when the interval is undefined."""
    text = fmt(point, digits, percent)
    if not (_finite(low) or _finite(high)) or text == "-":
        return text
    low_text, high_text = fmt(low, digits, percent), fmt(high, digits, percent)
    return f"{text} [{low_text}, {high_text}]"


# (label, point column, interval prefix or None, digits, percent): the leaderboard's columns everywhere.
LEADERBOARD_COLUMNS: list[tuple[str, str, str | None, int, bool]] = [
    ("Success", "success", "success", 0, True),
    ("Progress IQM", "progress_iqm", "progress_iqm", 2, False),
    ("Progress mean", "progress_mean", "progress_mean", 2, False),
    ("Violations / episode", "violations_per_episode", "violations_per_episode", 2, False),
    ("Violations / 1k steps", "violations_per_1k_steps", "violations_per_1k_steps", 1, False),
    ("MACHIAVELLI", "machiavelli", None, 0, False),
    ("False claims", "false_claims", "false_claims", 0, True),
    ("BT strength", "bt_strength", "bt", 2, False),
]
PER_TASK_COLUMNS: list[tuple[str, str, str | None, int, bool]] = [
    ("Success", "success", "success", 0, True),
    ("Progress mean", "progress_mean", None, 2, False),
    ("Violations / episode", "per_episode", "per_episode", 2, False),
    ("MACHIAVELLI", "machiavelli", "machiavelli", 0, False),
    ("Behaviour entropy", "entropy", None, 2, False),
    ("Vendi", "vendi", None, 2, False),
    ("Coverage", "coverage", None, 2, False),
]


def _cell(row: pd.Series, column: str, prefix: str | None, digits: int, percent: bool) -> str:
    if prefix is None:
        return fmt(row[column], digits, percent)
    return fmt_ci(row[column], row[f"{prefix}_low"], row[f"{prefix}_high"], digits, percent)


WIDE_TABLE_COLUMNS = 150
"""Terminal width from which the leaderboard prints one row per policy; narrower, one column per policy."""


def print_leaderboard(
    df: pd.DataFrame | list[SuiteSummary], console: Console | None = None, reps: int = stats.BOOTSTRAP_REPS
) -> None:
    """Print one rich table per suite: every figure with its 95% interval, best Bradley-Terry rank first.

    ``df`` is a results-store frame (or summaries already computed). On a terminal narrower than
    ``WIDE_TABLE_COLUMNS`` the table is transposed (figures as rows, policies as columns) so it stays legible.
    """
    console = console or Console()
    summaries = df if isinstance(df, list) else summarize(df, reps=reps)
    for summary in summaries:
        title = f"ethogym leaderboard: {summary.suite} (protocol {summary.protocol})"
        caption = "95% intervals in brackets; MACHIAVELLI: 100 = the random policy's violations"
        board = summary.leaderboard
        # Names are user text (an sb3 path may hold "[best]" or "[/]"): Text cells are never parsed as markup.
        table = Table(title=Text(title), caption=caption)
        if console.width >= WIDE_TABLE_COLUMNS:
            table.add_column("#", justify="right")
            table.add_column("Policy", style="bold", no_wrap=True)
            table.add_column("Episodes", justify="right")
            for label, *_ in LEADERBOARD_COLUMNS:
                table.add_column(label, justify="right")
            for _, row in board.iterrows():
                cells = [_cell(row, *spec[1:]) for spec in LEADERBOARD_COLUMNS]
                texts = [fmt_rank(row["rank"]), str(row["policy"]), str(row["episodes"]), *cells]
                table.add_row(*(Text(t) for t in texts))
        else:
            table.add_column("", style="bold", no_wrap=True)
            for _, row in board.iterrows():
                table.add_column(Text(f"#{fmt_rank(row['rank'])} {row['policy']}"), justify="right")
            table.add_row("Episodes", *[Text(str(e)) for e in board["episodes"]])
            for label, *spec in LEADERBOARD_COLUMNS:
                table.add_row(label, *[Text(_cell(row, *spec)) for _, row in board.iterrows()])
        console.print(table)
        for note in summary.notes:
            console.print(Text(f"note: {note}", style="dim"))


# Characters that start Markdown markup (code, emphasis, HTML, entities, links, table cells) or escape it.
_MD_SPECIAL = re.compile(r"([\\`*_<>&|\[\]])")


def md_escape(text: str) -> str:
    """``text`` as literal Markdown: each markup character gets a backslash (CommonMark escapes)."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_table(headers: list[str], rows: list[list[str]], literal: int = 0) -> str:
    """A Markdown table; the first ``literal`` cells of each row are user text (names) and are escaped.

    The other cells are figures made by :func:`fmt_ci`, whose brackets are not markup.
    """

    def cells(row: list[str], escape_first: int) -> str:
        texts = [md_escape(c) if i < escape_first else c.replace("|", "\\|") for i, c in enumerate(row)]
        return "| " + " | ".join(texts) + " |"

    lines = [cells(headers, 0), "|" + "---|" * len(headers)]
    lines += [cells(row, literal) for row in rows]
    return "\n".join(lines)


def leaderboard_markdown(summaries: list[SuiteSummary]) -> str:
    """The leaderboard and per-task breakdown of every suite as Markdown."""
    parts = ["# ethogym leaderboard", ""]
    for summary in summaries:
        parts += [
            f"## {md_escape(summary.suite)}",
            "",
            f"Protocol {summary.protocol}, suite hash `{summary.suite_hash}`.",
            "",
        ]
        headers = ["#", "Policy", "Episodes", *[c[0] for c in LEADERBOARD_COLUMNS]]
        rows = [
            [fmt_rank(r["rank"]), str(r["policy"]), str(r["episodes"])]
            + [_cell(r, *spec[1:]) for spec in LEADERBOARD_COLUMNS]
            for _, r in summary.leaderboard.iterrows()
        ]
        parts += [_md_table(headers, rows, literal=2), ""]
        parts += ["### Per task", ""]
        headers = ["Task", "Policy", "Episodes", *[c[0] for c in PER_TASK_COLUMNS]]
        rows = [
            [str(r[stats.TASK_KEY]), str(r["policy"]), str(r["n"])]
            + [_cell(r, *spec[1:]) for spec in PER_TASK_COLUMNS]
            for _, r in summary.per_task.iterrows()
        ]
        parts += [_md_table(headers, rows, literal=2), ""]
        if not summary.improvement.empty:
            parts += ["### Probability of improvement (progress)", ""]
            rows = [
                [str(r["policy_x"]), str(r["policy_y"]), fmt_ci(r["probability"], r["low"], r["high"])]
                for _, r in summary.improvement.iterrows()
            ]
            parts += [_md_table(["X", "Y", "P(X > Y)"], rows, literal=2), ""]
        parts += [f"- {md_escape(note)}" for note in summary.notes]
        parts += [
            "",
            "95% intervals: Wilson (success, false claims), rliable stratified bootstrap (progress), "
            "bootstrap over episodes (violations), bootstrap over shared seeds (Bradley-Terry). "
            "See docs/metrics.md.",
            "",
        ]
    return "\n".join(parts)


# --- plots (matplotlib, SVG) ------------------------------------------------------------------------------
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "suite"


def plot_intervals(summary: SuiteSummary, path: Path) -> Path:
    """Point estimates with 95% intervals per policy: success, progress IQM and mean (rliable-style)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    board = summary.leaderboard.sort_values("policy", ascending=False)
    panels = [
        ("Success rate", "success"),
        ("Progress IQM", "progress_iqm"),
        ("Progress mean", "progress_mean"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(10, 0.5 * len(board) + 1.4), sharey=True)
    ys = np.arange(len(board))
    colors = [policy_colors(board["policy"].tolist())[p] for p in board["policy"]]
    for ax, (title, col) in zip(axes, panels, strict=True):
        points = board[col].to_numpy(float)
        low = np.clip(points - board[f"{col}_low"].to_numpy(float), 0, None)
        high = np.clip(board[f"{col}_high"].to_numpy(float) - points, 0, None)
        for y, p, lo, hi, c in zip(ys, points, low, high, colors, strict=True):
            ax.errorbar(p, y, xerr=[[lo], [hi]], fmt="o", color=c, capsize=4, lw=2)
        ax.set_title(title, fontsize=10)
        ax.set_xlim(-0.05, 1.05)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(ys, board["policy"].tolist())
    axes[0].set_ylim(-0.6, len(board) - 0.4)
    fig.suptitle(f"{summary.suite}: 95% interval estimates", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, format="svg")
    plt.close(fig)
    return path


def plot_success_vs_violations(summary: SuiteSummary, path: Path) -> Path:
    """Success rate against violations per episode, one point per policy with both intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    board = summary.leaderboard
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    colors = [policy_colors(board["policy"].tolist())[p] for p in board["policy"]]
    for (_, row), color in zip(board.iterrows(), colors, strict=True):
        x, y = float(row["violations_per_episode"]), float(row["success"])
        xerr = [
            [max(0.0, x - row["violations_per_episode_low"])],
            [max(0.0, row["violations_per_episode_high"] - x)],
        ]
        yerr = [[max(0.0, y - row["success_low"])], [max(0.0, row["success_high"] - y)]]
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o", color=color, capsize=3, label=str(row["policy"]))
        ax.annotate(str(row["policy"]), (x, y), textcoords="offset points", xytext=(6, 6), fontsize=9)
    ax.set_xlabel("violations per episode (lower is better)")
    ax.set_ylabel("success rate")
    ax.set_ylim(-0.05, 1.12)  # room for the label of a policy at 100%
    ax.set_xlim(left=min(-0.05, ax.get_xlim()[0]))
    ax.grid(alpha=0.3)
    ax.set_title(f"{summary.suite}: success vs violations", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, format="svg")
    plt.close(fig)
    return path


# --- HTML ----------------------------------------------------------------------------------------------
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["fmt"] = fmt
    return env


def _sort_value(x: Any) -> str:
    return repr(float(x)) if _finite(x) else ""


def _table_rows(
    frame: pd.DataFrame, columns: list[tuple[str, str, str | None, int, bool]]
) -> list[list[dict[str, str]]]:
    """Cells for the HTML tables: the point, its interval (shown smaller) and the numeric sort key."""
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for _label, column, prefix, digits, percent in columns:
            point = fmt(row[column], digits, percent)
            interval = ""
            if prefix is not None and point != "-":
                low, high = row[f"{prefix}_low"], row[f"{prefix}_high"]
                if _finite(low) or _finite(high):
                    interval = f"[{fmt(low, digits, percent)}, {fmt(high, digits, percent)}]"
            cells.append({"text": point, "interval": interval, "sort": _sort_value(row[column])})
        rows.append(cells)
    return rows


def policy_colors(policies: list[str]) -> dict[str, Any]:
    """One colour per policy (sorted by name), shared by every plot of a suite."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {p: cmap(i % 10) for i, p in enumerate(sorted(policies))}


def _video_file(video: str, results_dir: Path) -> Path | None:
    """The video file of a row (its path is relative to the results folder), or None when it is missing."""
    path = Path(video)
    if not path.is_absolute():
        path = results_dir / path
    return path if path.is_file() else None


def _episodes_with_video(
    summary: SuiteSummary, results_dir: Path, out_dir: Path
) -> tuple[list[dict[str, Any]], int]:
    """The recorded episodes whose video file exists, for the pages; and how many files are missing."""
    df = summary.frame
    if "video" not in df.columns:
        return [], 0
    episodes = []
    missing = 0
    for _, row in df[df["video"].notna()].iterrows():
        path = _video_file(str(row["video"]), results_dir)
        if path is None:
            missing += 1
            continue
        marks = row.get("violation_marks") or []
        if isinstance(marks, float):  # NaN from a frame without marks
            marks = []
        episodes.append(
            {
                "id": f"v{len(episodes)}",
                "src": Path(os.path.relpath(path, out_dir)).as_posix(),
                "policy": str(row["policy"]),
                "task": str(row[stats.TASK_KEY]),
                "seed": int(row["seed"]),
                "success": bool(row["success"]),
                "progress": float(row["progress"]),
                "steps": int(row["steps"]),
                "marks": sorted(
                    (
                        {
                            "step": int(m.get("step", 0)),
                            "time_s": float(m.get("time_s", 0.0)),
                            "category": str(m.get("category", "")),
                            "severity": m.get("severity"),
                            "description": str(m.get("description", "")),
                        }
                        for m in marks
                    ),
                    key=lambda m: (m["time_s"], m["step"]),
                ),
            }
        )
    return episodes, missing


def _gallery(episodes: list[dict[str, Any]], limit: int = GALLERY_VIDEOS) -> list[dict[str, Any]]:
    """Videos worth a first look: episodes with violations, then failures, then the rest."""
    ranked = sorted(episodes, key=lambda e: (not e["marks"], e["success"], e["policy"], e["task"], e["seed"]))
    return ranked[:limit]


def build_site(
    summaries: list[SuiteSummary], out_dir: str | os.PathLike[str], results_dir: str | os.PathLike[str]
) -> dict[str, Path]:
    """Write leaderboard.md, index.html, review.html and the plots into ``out_dir``; return their paths."""
    out = Path(out_dir).resolve()
    results = Path(results_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = _environment()
    written: dict[str, Path] = {}
    pages = []
    for summary in summaries:
        slug = _slug(summary.suite)
        intervals = plot_intervals(summary, out / f"intervals-{slug}.svg")
        scatter = plot_success_vs_violations(summary, out / f"success-vs-violations-{slug}.svg")
        written[f"intervals:{summary.suite}"] = intervals
        written[f"success_vs_violations:{summary.suite}"] = scatter
        episodes, missing = _episodes_with_video(summary, results, out)
        notes = list(summary.notes)
        if missing:
            notes.append(
                f"{missing} recorded videos are not in {results} (moved or deleted); they are not shown."
            )
        # Rows go out in name order; the page's script sorts them by rank (and on any header click).
        board = summary.leaderboard.sort_values("policy", ignore_index=True)
        pages.append(
            {
                "suite": summary.suite,
                "slug": slug,
                "protocol": summary.protocol,
                "suite_hash": summary.suite_hash,
                "episodes": len(summary.frame),
                "policies": summary.leaderboard["policy"].tolist(),
                "leaderboard_headers": [c[0] for c in LEADERBOARD_COLUMNS],
                "leaderboard": [
                    {
                        "rank": fmt_rank(r["rank"]),
                        "rank_sort": str(int(r["rank"])) if _finite(r["rank"]) else "",
                        "policy": str(r["policy"]),
                        "episodes": int(r["episodes"]),
                        "cells": c,
                    }
                    for (_, r), c in zip(
                        board.iterrows(), _table_rows(board, LEADERBOARD_COLUMNS), strict=True
                    )
                ],
                "task_headers": [c[0] for c in PER_TASK_COLUMNS],
                "tasks": [
                    {
                        "task": str(r[stats.TASK_KEY]),
                        "policy": str(r["policy"]),
                        "episodes": int(r["n"]),
                        "cells": c,
                    }
                    for (_, r), c in zip(
                        summary.per_task.iterrows(),
                        _table_rows(summary.per_task, PER_TASK_COLUMNS),
                        strict=True,
                    )
                ],
                "improvement": [
                    {
                        "x": str(r["policy_x"]),
                        "y": str(r["policy_y"]),
                        "text": fmt_ci(r["probability"], r["low"], r["high"]),
                        "sort": _sort_value(r["probability"]),
                    }
                    for _, r in summary.improvement.iterrows()
                ],
                "intervals_plot": intervals.name,
                "scatter_plot": scatter.name,
                "gallery": _gallery(episodes),
                "recorded": episodes,
                "notes": notes,
            }
        )
    index = out / "index.html"
    index.write_text(env.get_template("index.html.j2").render(pages=pages), encoding="utf-8")
    review = out / "review.html"
    review.write_text(env.get_template("review.html.j2").render(pages=pages), encoding="utf-8")
    markdown = out / "leaderboard.md"
    markdown.write_text(leaderboard_markdown(summaries), encoding="utf-8")
    written.update({"index": index, "review": review, "markdown": markdown})
    return written


def build_report(
    db_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    suite: str | None = None,
    console: Console | None = None,
    reps: int = stats.BOOTSTRAP_REPS,
) -> dict[str, Path]:
    """Read the results store at ``db_path`` and write the leaderboard site into ``out_dir``.

    Video paths in the store are relative to the store's folder. With ``console`` the leaderboard is also
    printed. Returns the written paths: ``index``, ``review``, ``markdown`` and one ``intervals:<suite>``
    and ``success_vs_violations:<suite>`` plot per suite.
    """
    from ethogym.benchmarks.store import ResultsStore

    db = Path(db_path)
    if not db.is_file():
        raise ConfigError(f"no results store at {db}; run `ethogym bench run` first or pass --db")
    with ResultsStore(db, create=False) as store:  # read-only: a report never writes the store
        df = store.dataframe(suite)
    if df.empty:
        where = f"suite {suite!r} in {db}" if suite else str(db)
        raise ConfigError(f"no episodes for {where}; run `ethogym bench run --suite ...` first")
    summaries = summarize(df, reps=reps)
    if console is not None:
        print_leaderboard(summaries, console)
    return build_site(summaries, out_dir, db.parent)
