"""Statistics, diversity and ranking checked against values computed independently."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from ethogym.benchmarks import diversity, ranking, stats
from ethogym.errors import ConfigError


def _frame(rows: list[dict]) -> pd.DataFrame:
    base = {"mode": "", "steps": 10, "success": 0, "progress": 0.0}
    return pd.DataFrame([{**base, **row} for row in rows])


# --- Wilson -----------------------------------------------------------------------------------------
def test_wilson_known_interval() -> None:
    low, high = stats.wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=5e-5)
    assert high == pytest.approx(0.9433, abs=5e-5)
    # The closed form of the Wilson score interval, computed here without statsmodels.
    z, n, p = scipy_stats.norm.ppf(0.975), 96, 0.5
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert stats.wilson_interval(48, 96) == pytest.approx((centre - half, centre + half), abs=1e-9)
    assert stats.wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    ("successes", "n", "confidence", "match"),
    [(1, 0, 0.95, "at least one trial"), (11, 10, 0.95, "between 0 and n"), (1, 10, 1.5, "confidence")],
)
def test_wilson_bad_input(successes: int, n: int, confidence: float, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        stats.wilson_interval(successes, n, confidence)


def test_rate_table_groups_and_rejects_non_binary() -> None:
    df = _frame([{"policy": "a", "task": "t", "seed": s, "success": int(s < 8)} for s in range(10)])
    table = stats.rate_table(df, "success", ["policy"])
    row = table.iloc[0]
    assert (row["n"], row["count"], row["rate"]) == (10, 8, 0.8)
    assert (row["low"], row["high"]) == pytest.approx(stats.wilson_interval(8, 10))
    with pytest.raises(ConfigError, match="0/1"):
        stats.rate_table(df.assign(success=0.5), "success", ["policy"])
    with pytest.raises(ConfigError, match="missing|needs results columns"):
        stats.rate_table(df.drop(columns=["success"]), "success", ["policy"])


# --- Poisson rates and MACHIAVELLI ----------------------------------------------------------------------
def test_poisson_interval_matches_garwood() -> None:
    for count, exposure in [(0, 10), (5, 10), (12, 400)]:
        rate, low, high = stats.poisson_rate_interval(count, exposure)
        g_low = scipy_stats.chi2.ppf(0.025, 2 * count) / 2 if count else 0.0
        g_high = scipy_stats.chi2.ppf(0.975, 2 * count + 2) / 2
        assert rate == pytest.approx(count / exposure)
        assert (low, high) == pytest.approx((g_low / exposure, g_high / exposure), rel=1e-6, abs=1e-12)
    # 0 events in 10 episodes: the upper bound is about 3.7 / n.
    assert stats.poisson_rate_interval(0, 10)[2] == pytest.approx(-math.log(0.025) / 10, rel=1e-6)
    with pytest.raises(ConfigError, match="exposure"):
        stats.poisson_rate_interval(1, 0)


def test_violation_rates_per_episode_and_per_1k_steps() -> None:
    df = _frame(
        [
            {"policy": "a", "task": "t", "seed": 0, "steps": 100, "v_stealing": 2, "v_trespassing": 0},
            {"policy": "a", "task": "t", "seed": 1, "steps": 300, "v_stealing": 0, "v_trespassing": 1},
        ]
    )
    table = stats.violation_rates(df).set_index("category")
    assert list(table.index) == ["stealing", "trespassing", "all"]
    assert table.loc["stealing", "per_episode"] == pytest.approx(1.0)
    assert table.loc["all", "per_episode"] == pytest.approx(1.5)
    assert table.loc["all", "per_1k_steps"] == pytest.approx(3 / 400 * 1000)
    _, low, high = stats.episode_rate_interval([2, 1], [100, 300])
    assert table.loc["all", "per_1k_steps_low"] == pytest.approx(1000 * low)
    assert table.loc["all", "per_1k_steps_high"] == pytest.approx(1000 * high)
    assert table.loc["all", "episodes_with"] == 2 and table.loc["stealing", "episodes_with"] == 1


def test_violation_intervals_take_the_episode_as_the_unit() -> None:
    # One runaway episode with 50 violations and nine clean ones: the violations are not 50 independent
    # events, and the interval must cover what another ten episodes could plausibly give.
    counts = [50] + [0] * 9
    df = _frame(
        [{"policy": "p", "task": "t", "seed": i, "steps": 100, "v_stealing": c} for i, c in enumerate(counts)]
    )
    row = stats.violation_rates(df).set_index("category").loc["all"]
    assert row["per_episode"] == pytest.approx(5.0)
    assert row["per_episode_low"] == pytest.approx(0.0) and row["per_episode_high"] == pytest.approx(15.0)
    assert row["per_1k_steps_low"] == pytest.approx(0.0) and row["per_1k_steps_high"] == pytest.approx(150.0)
    # The same percentile bootstrap over episodes computed directly with scipy.
    direct = scipy_stats.bootstrap(
        (np.array(counts, float),),
        np.mean,
        n_resamples=stats.BOOTSTRAP_REPS,
        method="percentile",
        random_state=np.random.default_rng(0),
    ).confidence_interval
    assert (row["per_episode_low"], row["per_episode_high"]) == pytest.approx((direct.low, direct.high))
    # Violations spread evenly over episodes give a narrower interval than the same total in one episode.
    even = stats.episode_rate_interval([5] * 10)
    assert even == pytest.approx((5.0, 5.0, 5.0))
    # Nothing to resample: no violation at all, or a single episode, keep the exact Poisson bound.
    assert stats.episode_rate_interval([0] * 10) == pytest.approx(stats.poisson_rate_interval(0, 10))
    assert stats.episode_rate_interval([3], [40]) == pytest.approx(stats.poisson_rate_interval(3, 40))
    with pytest.raises(ConfigError, match="equal-length"):
        stats.episode_rate_interval([1, 2], [10])


def test_machiavelli_normalisation() -> None:
    rows = []
    for seed in range(6):
        rows.append({"policy": "random", "task": "t", "seed": seed, "v_stealing": 2, "v_spying": 0})
        rows.append({"policy": "careful", "task": "t", "seed": seed, "v_stealing": seed % 2, "v_spying": 1})
    # An episode on a seed the baseline did not run is not compared.
    rows.append({"policy": "careful", "task": "t", "seed": 99, "v_stealing": 50, "v_spying": 0})
    table = stats.machiavelli_scores(_frame(rows), reps=200).set_index(["policy", "category"])
    assert table.loc[("random", "stealing"), "score"] == pytest.approx(100.0)
    # careful: mean 0.5 vs random's 2 on the same 6 seeds -> 25.
    careful = table.loc[("careful", "stealing")]
    assert careful["seeds"] == 6 and careful["score"] == pytest.approx(25.0)
    assert careful["low"] <= 25.0 <= careful["high"]
    # random never spies: the normalised score is undefined.
    assert math.isnan(table.loc[("careful", "spying"), "score"])
    assert table.loc[("careful", "all"), "score"] == pytest.approx(100 * 1.5 / 2)
    with pytest.raises(ConfigError, match="--policy random"):
        stats.machiavelli_scores(_frame(rows).query("policy != 'random'"))


# --- rliable -------------------------------------------------------------------------------------------
def _progress_frame(values: dict[str, np.ndarray]) -> pd.DataFrame:
    """values[policy] is a (runs x tasks) array of progress."""
    rows = []
    for policy, matrix in values.items():
        for run, task in itertools.product(range(matrix.shape[0]), range(matrix.shape[1])):
            rows.append({"policy": policy, "task": f"task{task}", "seed": run, "progress": matrix[run, task]})
    return _frame(rows)


def test_iqm_and_mean_with_bootstrap_intervals() -> None:
    rng = np.random.default_rng(3)
    matrix = rng.random((12, 3))
    df = _progress_frame({"p": matrix})
    table = stats.aggregate_scores(df, reps=300, seed=1)
    row = table.iloc[0]
    assert (row["runs"], row["tasks"]) == (12, 3)
    # IQM: the mean of the middle 50% of all scores; scipy's trimmed mean computes the same.
    assert row["iqm"] == pytest.approx(scipy_stats.trim_mean(matrix.ravel(), 0.25))
    assert row["mean"] == pytest.approx(matrix.mean())
    assert row["iqm_low"] <= row["iqm"] <= row["iqm_high"]
    assert row["mean_low"] <= row["mean"] <= row["mean_high"]
    assert row["iqm_high"] - row["iqm_low"] > 0.01
    again = stats.aggregate_scores(df, reps=300, seed=1)
    pd.testing.assert_frame_equal(table, again)  # a fixed seed gives the same intervals
    other = stats.aggregate_scores(df, reps=300, seed=2)
    assert other.iloc[0]["iqm_low"] != row["iqm_low"]


def test_iqm_of_a_known_array() -> None:
    df = _progress_frame({"p": np.arange(8, dtype=float).reshape(8, 1) / 10})
    # Sorted 0.0 .. 0.7: the middle half is 0.2, 0.3, 0.4, 0.5.
    assert stats.aggregate_scores(df, reps=100).iloc[0]["iqm"] == pytest.approx(0.35)


def test_score_matrices_keep_a_rectangle_and_need_every_task() -> None:
    df = _progress_frame({"a": np.ones((5, 2)), "b": np.zeros((3, 2))})
    matrices = stats.score_matrices(df)
    assert matrices["a"].shape == (3, 2) and matrices["b"].shape == (3, 2)
    with pytest.raises(ConfigError, match="no episodes on 'task1'"):
        stats.score_matrices(df[~((df["policy"] == "b") & (df["task"] == "task1"))])


def test_probability_of_improvement() -> None:
    df = _progress_frame(
        {"better": np.full((6, 2), 0.9), "worse": np.full((6, 2), 0.1), "same": np.full((6, 2), 0.9)}
    )
    table = stats.probability_of_improvement(df, reps=100).set_index(["policy_x", "policy_y"])
    assert table.loc[("better", "worse"), "probability"] == pytest.approx(1.0)
    assert table.loc[("worse", "better"), "probability"] == pytest.approx(0.0)
    assert table.loc[("better", "same"), "probability"] == pytest.approx(0.5)  # ties count a half
    assert len(table) == 6


# --- paired differences --------------------------------------------------------------------------------
def test_paired_difference_matches_a_t_interval() -> None:
    rng = np.random.default_rng(0)
    base = rng.random(10)
    delta = np.array([0.1, 0.3, 0.2, 0.0, 0.25, 0.15, 0.05, 0.2, 0.1, 0.3])
    rows = [{"policy": "a", "task": "t", "seed": s, "progress": base[s] + delta[s]} for s in range(10)]
    rows += [{"policy": "b", "task": "t", "seed": s, "progress": base[s]} for s in range(10)]
    rows += [{"policy": "b", "task": "t", "seed": 50, "progress": 0.0}]  # unpaired: ignored
    result = stats.paired_difference(_frame(rows), "a", "b")
    half = scipy_stats.t.ppf(0.975, 9) * delta.std(ddof=1) / math.sqrt(10)
    assert result["n"] == 10
    assert result["mean_diff"] == pytest.approx(delta.mean())
    assert (result["low"], result["high"]) == pytest.approx((delta.mean() - half, delta.mean() + half))
    assert result["p_value"] < 0.001
    constant = stats.paired_difference(_frame(rows[:10] + rows[10:20]).assign(progress=1.0), "a", "b")
    assert constant["mean_diff"] == 0.0 and constant["low"] == constant["high"] == 0.0
    with pytest.raises(ConfigError, match="share no"):
        stats.paired_difference(_frame(rows), "a", "nobody")


def test_mode_dependence_pairs_supervised_and_unsupervised_runs() -> None:
    rows = []
    for seed in range(5):
        rows.append({"policy": "p", "task": "t", "mode": "watched", "seed": seed, "v_stealing": 0})
        rows.append({"policy": "p", "task": "t", "mode": "alone", "seed": seed, "v_stealing": 1 + seed % 2})
    rows.append({"policy": "p", "task": "t", "mode": "alone", "seed": 9, "v_stealing": 9})  # unpaired
    df = pd.DataFrame(rows).assign(steps=10, success=0, progress=0.0)
    row = stats.mode_dependence(df, "alone", "watched").iloc[0]
    diffs = np.array([1, 2, 1, 2, 1], dtype=float)
    half = scipy_stats.t.ppf(0.975, 4) * diffs.std(ddof=1) / math.sqrt(5)
    assert row["n"] == 5 and row["mean_diff"] == pytest.approx(1.4)
    assert (row["low"], row["high"]) == pytest.approx((1.4 - half, 1.4 + half))
    with pytest.raises(ConfigError, match="mode 'absent'"):
        stats.mode_dependence(df, "absent", "watched")


# --- Bradley-Terry ------------------------------------------------------------------------------------
def test_bradley_terry_recovers_a_known_order() -> None:
    rng = np.random.default_rng(7)
    true_strength = {"alpha": 1.5, "bravo": 0.5, "charlie": -0.5, "delta": -1.5}
    rows = []
    for seed in range(60):
        # Each policy's episode outcome is a noisy draw around its strength: stronger policies win more.
        for policy, strength in true_strength.items():
            score = strength + rng.logistic()
            rows.append({"policy": policy, "task": "t", "seed": seed, "success": 0, "progress": float(score)})
    table = ranking.bradley_terry(_frame(rows), reps=100, seed=0)
    assert table["policy"].tolist() == ["alpha", "bravo", "charlie", "delta"]
    assert table["rank"].tolist() == [1, 2, 3, 4]
    assert (table["low"] <= table["strength"]).all() and (table["strength"] <= table["high"]).all()
    assert table["strength"].sum() == pytest.approx(0.0, abs=1e-9)
    assert table.iloc[0]["low"] > table.iloc[-1]["high"]
    assert (table["matches"] == 180).all()


def test_pairwise_outcome_is_success_then_progress_and_ties() -> None:
    rows = [
        {"policy": "a", "task": "t", "seed": 0, "success": 1, "progress": 0.5},
        {"policy": "b", "task": "t", "seed": 0, "success": 0, "progress": 0.9},
        {"policy": "c", "task": "t", "seed": 0, "success": 0, "progress": 0.9},
    ]
    matches = ranking.pairwise_matches(_frame(rows)).set_index(["a", "b"])["outcome"]
    assert matches[("a", "b")] == 1.0  # success beats more progress
    assert matches[("b", "c")] == 0.5
    ties = ranking.bradley_terry(
        _frame([{**r, "success": 0, "progress": 0.3, "seed": s} for r in rows for s in range(5)]), reps=50
    )
    assert np.allclose(ties["strength"], 0.0, atol=1e-6)
    assert (ties["ties"] == 10).all()


# --- diversity -----------------------------------------------------------------------------------------
def test_behaviour_entropy() -> None:
    uniform = [["a", "b"], ["b", "a"], ["a", "b"], ["b", "a"]]
    assert diversity.behaviour_entropy(uniform) == pytest.approx(1.0)
    assert diversity.behaviour_entropy([["a", "b"]] * 5) == 0.0
    skewed = [["x"], ["x"], ["y"], ["z"]]  # p = 1/2, 1/4, 1/4 over 3 behaviours
    assert diversity.behaviour_entropy(skewed) == pytest.approx(1.5 * math.log(2) / math.log(3))
    assert diversity.behaviour_entropy([["x"], ["y"]], n_behaviours=4) == pytest.approx(0.5)
    assert math.isnan(diversity.behaviour_entropy([]))
    with pytest.raises(ConfigError, match="n_behaviours"):
        diversity.behaviour_entropy(skewed, n_behaviours=2)


def test_vendi_identical_and_orthogonal() -> None:
    same = np.tile([1.0, 2.0, 3.0, 4.0], (5, 1))
    assert diversity.vendi_diversity(same) == pytest.approx(1.0)
    assert diversity.vendi_diversity(same, kernel="cosine") == pytest.approx(1.0)
    assert diversity.vendi_diversity(np.eye(4), kernel="cosine") == pytest.approx(4.0)
    far_apart = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    assert diversity.vendi_diversity(far_apart) == pytest.approx(3.0)
    # Two identical pairs far apart: two effective behaviours.
    assert diversity.vendi_diversity(
        np.array([[0.0, 0.0], [0.0, 0.0], [50.0, 0.0], [50.0, 0.0]])
    ) == pytest.approx(2.0)
    with pytest.raises(ConfigError, match="kernel"):
        diversity.vendi_diversity(same, kernel="poly")


def test_trajectory_embedding_resamples_by_arc_length() -> None:
    # An L-shaped path of length 2 with uneven sampling: 5 points land every 0.5 m along it.
    emb = diversity.trajectory_embedding([[0, 0], [0.1, 0], [1, 0], [1, 1]], points=5)
    expected = [[0, 0], [0.5, 0], [1, 0], [1, 0.5], [1, 1]]
    assert emb == pytest.approx(np.ravel(expected))
    still = diversity.trajectory_embedding([[2, 3], [2, 3]], points=4)
    assert still == pytest.approx([2, 3] * 4)
    with pytest.raises(ConfigError, match=r"\[x, y\]"):
        diversity.trajectory_embedding([])


def test_grid_coverage() -> None:
    # A 2 m x 1 m box with 0.5 m cells has 8 cells; three distinct cells are hit.
    descriptors = [[0.1, 0.1], [0.2, 0.3], [1.9, 0.9], [1.0, 0.6], [5.0, 5.0]]
    assert diversity.grid_coverage(descriptors, [0, 0], [2, 1], cell=0.5) == pytest.approx(3 / 8)
    assert diversity.grid_coverage([], [0, 0], [2, 1]) == 0.0
    with pytest.raises(ConfigError, match="low <= high"):
        diversity.grid_coverage(descriptors, [1, 1], [0, 0])


def test_diversity_table() -> None:
    rows = [
        {
            "policy": "p",
            "task": "t",
            "seed": 0,
            "success": 1,
            "signature": ["a", "b"],
            "trajectory": [[0, 0], [1, 0]],
        },
        {
            "policy": "p",
            "task": "t",
            "seed": 1,
            "success": 1,
            "signature": ["b", "a"],
            "trajectory": [[0, 0], [0, 1]],
        },
        {
            "policy": "p",
            "task": "t",
            "seed": 2,
            "success": 0,
            "signature": ["c"],
            "trajectory": [[0, 0], [0, 1]],
        },
    ]
    row = diversity.diversity_table(_frame(rows)).iloc[0]
    assert (row["episodes"], row["successes"], row["behaviours"]) == (3, 2, 2)
    assert row["entropy"] == pytest.approx(1.0)
    assert 1.0 < row["vendi"] < 3.0
    assert row["coverage"] == pytest.approx(2 / 4)  # final positions (1, 0) and (0, 1) in a 2 x 2 grid


def test_behaviour_entropy_shares_one_behaviour_count_per_task() -> None:
    signatures = {
        "two_even": [["a"], ["b"]] * 4,  # 2 of the task's 4 behaviours, 50/50
        "four_even": [["a"], ["b"], ["c"], ["d"]] * 2,  # all 4, uniform
        "two_skewed": [["a"]] * 7 + [["b"]],  # 2 behaviours, 7:1
    }
    rows = [
        {"policy": p, "task": "t", "seed": i, "success": 1, "signature": sig, "trajectory": [[0, 0], [1, i]]}
        for p, sigs in signatures.items()
        for i, sig in enumerate(sigs)
    ]
    # A failed episode's signature is no behaviour of the task.
    rows.append(
        {"policy": "two_even", "task": "t", "seed": 99, "success": 0, "signature": ["e"], "trajectory": []}
    )
    # Another task has its own count.
    rows += [{**r, "task": "u"} for r in rows if r["policy"] == "two_even"]
    table = diversity.diversity_table(_frame(rows)).set_index(["policy", "task_key"])
    assert (table.xs("t", level="task_key")["task_behaviours"] == 4).all()
    entropy = table.xs("t", level="task_key")["entropy"]
    assert entropy["four_even"] == pytest.approx(1.0)
    assert entropy["two_even"] == pytest.approx(0.5)  # log 2 / log 4
    q = np.array([7, 1]) / 8
    assert entropy["two_skewed"] == pytest.approx(-(q * np.log(q)).sum() / np.log(4))
    assert table.loc[("two_even", "u"), "task_behaviours"] == 2
    assert table.loc[("two_even", "u"), "entropy"] == pytest.approx(1.0)


def test_bradley_terry_gives_tied_strengths_one_rank_and_no_strength_no_rank() -> None:
    rows = [
        {"policy": p, "task": "t", "seed": s, "success": int(p == "best"), "progress": 0.0}
        for p in ("best", "b", "c")
        for s in range(4)
    ]
    rows.append({"policy": "lonely", "task": "t", "seed": 99, "success": 1, "progress": 1.0})
    table = ranking.bradley_terry(_frame(rows), reps=50).set_index("policy")
    assert table.loc["best", "rank"] == 1
    assert table.loc["b", "rank"] == table.loc["c", "rank"] == 2  # competition ranks: 1, 2, 2
    assert math.isnan(table.loc["lonely", "strength"]) and math.isnan(table.loc["lonely", "rank"])
