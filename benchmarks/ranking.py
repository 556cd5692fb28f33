"""Bradley-Terry ranking of policies from paired episodes on shared (task, seed).

Every pair of policies that ran the same task condition and seed plays one match: the episode with
success wins, then the one with more progress; equal outcomes are a tie, counted as one win each way
(half a win for each side, as Chatbot Arena does). Strengths are the maximum-likelihood Bradley-Terry
parameters fitted with ``choix.ilsr_pairwise`` (a small L2 prior keeps them finite when one policy
wins every match); intervals come from a bootstrap over (task, seed) matches, not from match order,
so unlike Elo the result does not depend on the order episodes were run.
"""

from __future__ import annotations

import itertools

import choix
import numpy as np
import pandas as pd

from ethogym.benchmarks.stats import BOOTSTRAP_REPS, CONFIDENCE, TASK_KEY, require_columns, with_task_key
from ethogym.errors import ConfigError

PRIOR = 0.01
"""choix ``alpha``: the L2 regularisation of strengths (a weak prior; needed when a policy never loses)."""


RANK_DECIMALS = 6
"""Strengths equal to this many decimals share a rank (ilsr_pairwise converges to ~1e-8)."""


def pairwise_matches(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (task condition, seed, policy pair) with the result: columns task_key, seed, a, b, outcome.

    ``outcome`` is 1 when ``a`` wins, 0 when ``b`` wins and 0.5 for a tie (same success and progress).
    """
    require_columns(df, ["policy", "task", "seed", "success", "progress"], "pairwise_matches")
    df = with_task_key(df)
    rows = []
    for (task_key, seed), group in df.groupby([TASK_KEY, "seed"], sort=True):
        # One episode per policy and seed; keep the first should a store hold duplicates.
        episodes = group.drop_duplicates("policy").sort_values("policy")
        scores = {
            p: (float(s), float(g))
            for p, s, g in zip(episodes["policy"], episodes["success"], episodes["progress"], strict=True)
        }
        for a, b in itertools.combinations(sorted(scores), 2):
            outcome = 1.0 if scores[a] > scores[b] else 0.0 if scores[a] < scores[b] else 0.5
            rows.append({TASK_KEY: task_key, "seed": seed, "a": a, "b": b, "outcome": outcome})
    return pd.DataFrame(rows, columns=[TASK_KEY, "seed", "a", "b", "outcome"])


def _comparisons(matches: pd.DataFrame, index: dict[str, int]) -> list[tuple[int, int]]:
    """choix data: (winner, loser) pairs; a tie adds one win each way."""
    data: list[tuple[int, int]] = []
    for a, b, outcome in zip(matches["a"], matches["b"], matches["outcome"], strict=True):
        i, j = index[a], index[b]
        if outcome == 1.0:
            data.append((i, j))
        elif outcome == 0.0:
            data.append((j, i))
        else:
            data.extend([(i, j), (j, i)])
    return data


def _fit(n: int, data: list[tuple[int, int]], alpha: float, played: np.ndarray) -> np.ndarray:
    """choix's regularised ML fit, centred on the policies that played (the scale has no origin)."""
    if not data:
        return np.zeros(n)
    params = choix.ilsr_pairwise(n, data, alpha=alpha, max_iter=500)
    return params - params[played].mean()


def bradley_terry(
    df: pd.DataFrame,
    reps: int = BOOTSTRAP_REPS // 4,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    alpha: float = PRIOR,
) -> pd.DataFrame:
    """Bradley-Terry strengths per policy with bootstrap intervals, best first.

    Columns: rank, policy, strength (log-strength, centred on 0), low, high, matches, wins, ties,
    win_prob (the fitted chance of beating an average policy: ``1 / (1 + exp(-strength))``).
    Ranks are competition ranks (tied strengths share the best rank: 1, 1, 3). A policy that shares no
    (task, seed) with another gets no strength and no rank (NaN).
    """
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    if alpha <= 0:
        raise ConfigError(f"the prior alpha must be positive so strengths stay finite, got {alpha}")
    matches = pairwise_matches(df)
    policies = sorted(df["policy"].unique())
    index = {p: i for i, p in enumerate(policies)}
    played = set(matches["a"]) | set(matches["b"])
    played_mask = np.array([p in played for p in policies])
    strengths = _fit(len(policies), _comparisons(matches, index), alpha, played_mask)

    rng = np.random.default_rng(seed)
    clusters = [_comparisons(g, index) for _, g in matches.groupby([TASK_KEY, "seed"], sort=True)]
    samples = np.empty((reps, len(policies)))
    for r in range(reps if clusters else 0):
        # Resample whole (task, seed) clusters: the matches of one seed are not independent.
        picked = rng.integers(0, len(clusters), len(clusters))
        samples[r] = _fit(len(policies), [pair for k in picked for pair in clusters[k]], alpha, played_mask)
    tail = (1.0 - confidence) / 2.0
    rows = []
    for policy, i in index.items():
        mine = matches[(matches["a"] == policy) | (matches["b"] == policy)]
        wins = int(((mine["a"] == policy) & (mine["outcome"] == 1.0)).sum())
        wins += int(((mine["b"] == policy) & (mine["outcome"] == 0.0)).sum())
        ties = int((mine["outcome"] == 0.5).sum())
        if policy in played and clusters:
            low, high = np.quantile(samples[:, i], [tail, 1.0 - tail])
            strength = float(strengths[i])
        else:
            low = high = strength = float("nan")
        rows.append(
            {
                "policy": policy,
                "strength": strength,
                "low": float(low),
                "high": float(high),
                "matches": len(mine),
                "wins": wins,
                "ties": ties,
                "win_prob": float(1.0 / (1.0 + np.exp(-strength))) if np.isfinite(strength) else float("nan"),
            }
        )
    table = pd.DataFrame(rows).sort_values(
        ["strength", "policy"], ascending=[False, True], na_position="last", kind="stable"
    )
    # Competition ranks (1, 1, 3): equal strengths share a rank. The fit is iterative, so strengths
    # equal up to its tolerance count as equal. A policy without a strength gets no rank (NaN).
    table.insert(0, "rank", table["strength"].round(RANK_DECIMALS).rank(method="min", ascending=False))
    return table.reset_index(drop=True)
