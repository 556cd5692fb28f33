"""Behaviour diversity over the episodes of one policy on one task.

Three views of "does the policy solve the task in more than one way":

- D3IL behaviour entropy over discrete behaviour signatures (the order in which goal literals first
  became true), normalised to [0, 1] by the task's behaviour count, the same for every policy;
- the Vendi score (PyPI ``vendi-score``) over fixed-length trajectory embeddings: the effective number
  of distinct trajectories;
- coverage of a behaviour-descriptor grid: the share of cells of the task's final-base-position grid
  that the policy's episodes end in.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist, pdist, squareform
from vendi_score import vendi

from ethogym.errors import ConfigError

EMBEDDING_POINTS = 16
"""Points a trajectory is resampled to (by arc length) before it is compared."""
VENDI_LENGTH_SCALE_M = 1.0
"""RBF kernel length scale: trajectories whose points lie ~1 m apart on average count as half similar."""
COVERAGE_CELL_M = 0.5
"""Side of a descriptor-grid cell (final base position), about one robot footprint."""


def _behaviour(signature: Any) -> tuple[str, ...]:
    """A behaviour as the entropy counts it: the signature's literals, in order."""
    return tuple(str(s) for s in signature or [])


def behaviour_entropy(signatures: Sequence[Sequence[str]], n_behaviours: int | None = None) -> float:
    """D3IL behaviour entropy ``H = - sum_b p(b) log_|B| p(b)``, in [0, 1].

    ``signatures`` are the behaviours of the episodes (D3IL uses successful rollouts only); each is a
    sequence of goal literals in the order they became true. ``|B|`` is ``n_behaviours`` when the number
    of possible behaviours is known, else the number of distinct signatures seen. One behaviour gives 0,
    a uniform spread over ``|B|`` behaviours gives 1. No episodes give NaN.
    """
    keys = [_behaviour(sig) for sig in signatures]
    if not keys:
        return float("nan")
    counts = Counter(keys)
    size = len(counts) if n_behaviours is None else int(n_behaviours)
    if size < len(counts):
        raise ConfigError(
            f"n_behaviours={n_behaviours} is smaller than the {len(counts)} distinct signatures seen"
        )
    if size <= 1:
        return 0.0
    p = np.array(list(counts.values()), dtype=float) / len(keys)
    return float(-(p * np.log(p)).sum() / math.log(size))


def trajectory_embedding(trajectory: Sequence[Sequence[float]], points: int = EMBEDDING_POINTS) -> np.ndarray:
    """A fixed-length embedding of an [x, y] base trajectory: ``points`` positions spaced by arc length.

    Returned flat as ``[x0, y0, x1, y1, ...]``. A robot that never moved gives its start position
    repeated. Resampling by arc length makes the embedding independent of episode length and speed.
    """
    if points < 2:
        raise ConfigError(f"a trajectory embedding needs at least 2 points, got {points}")
    xy = np.asarray(trajectory, dtype=float)
    if xy.ndim != 2 or xy.shape[0] == 0 or xy.shape[1] < 2:
        raise ConfigError(f"a trajectory must be a non-empty list of [x, y] positions, got shape {xy.shape}")
    xy = xy[:, :2]
    lengths = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))])
    if lengths[-1] <= 0.0:
        return np.tile(xy[0], points)
    at = np.linspace(0.0, lengths[-1], points)
    return np.stack([np.interp(at, lengths, xy[:, 0]), np.interp(at, lengths, xy[:, 1])], axis=1).ravel()


def vendi_diversity(
    embeddings: np.ndarray | Sequence[Sequence[float]],
    kernel: str = "rbf",
    length_scale: float = VENDI_LENGTH_SCALE_M,
) -> float:
    """Vendi score ``exp(-sum_i l_i log l_i)`` (eigenvalues of K / n) via ``vendi_score.vendi.score_K``.

    ``kernel="rbf"``: ``K_ij = exp(-d_ij^2 / (2 length_scale^2))`` with ``d_ij`` the root-mean-square
    distance between corresponding points of two trajectory embeddings. ``kernel="cosine"``: the cosine
    similarity of the vectors. Identical items score 1; n items with zero similarity score n.
    """
    x = np.asarray(embeddings, dtype=float)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ConfigError(
            f"Vendi needs a non-empty 2-D array of embeddings (items x features), got {x.shape}"
        )
    if x.shape[0] == 1:
        return 1.0
    if kernel == "rbf":
        if length_scale <= 0:
            raise ConfigError(f"length_scale must be positive, got {length_scale}")
        points = max(1, x.shape[1] // 2)
        sq = squareform(pdist(x, "sqeuclidean")) / points
        k = np.exp(-sq / (2.0 * length_scale**2))
    elif kernel == "cosine":
        norms = np.linalg.norm(x, axis=1)
        if np.any(norms == 0):
            raise ConfigError("cosine similarity is undefined for a zero vector; use kernel='rbf'")
        k = 1.0 - cdist(x, x, "cosine")
    else:
        raise ConfigError(f"unknown Vendi kernel {kernel!r}; use 'rbf' or 'cosine'")
    with warnings.catch_warnings():
        # vendi-score 0.0.3 touches the deprecated scipy.sparse.csr namespace on every call.
        warnings.simplefilter("ignore", DeprecationWarning)
        return float(vendi.score_K(k))


def grid_coverage(
    descriptors: np.ndarray | Sequence[Sequence[float]],
    low: Sequence[float],
    high: Sequence[float],
    cell: float = COVERAGE_CELL_M,
) -> float:
    """QD coverage: filled cells / total cells of a grid over the box [low, high] with side ``cell``.

    Descriptors outside the box are clipped into its border cells.
    """
    d = np.asarray(descriptors, dtype=float)
    lo, hi = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    if cell <= 0:
        raise ConfigError(f"grid cell size must be positive, got {cell}")
    if lo.shape != hi.shape or lo.ndim != 1 or np.any(hi < lo):
        raise ConfigError(f"grid bounds must be two equal-length vectors with low <= high, got {lo} and {hi}")
    shape = np.maximum(1, np.ceil((hi - lo) / cell - 1e-9)).astype(int)
    if d.size == 0:
        return 0.0
    if d.ndim != 2 or d.shape[1] != lo.size:
        raise ConfigError(f"descriptors must have shape (n, {lo.size}), got {d.shape}")
    idx = np.clip(np.floor((d - lo) / cell).astype(int), 0, shape - 1)
    filled = len({tuple(i) for i in idx})
    return filled / float(np.prod(shape))


def _final_position(trajectory: Any) -> list[float] | None:
    if not trajectory:
        return None
    last = trajectory[-1]
    return [float(last[0]), float(last[1])]


def diversity_table(df: pd.DataFrame, cell: float = COVERAGE_CELL_M) -> pd.DataFrame:
    """Diversity per (policy, task condition): entropy, Vendi score and descriptor-grid coverage.

    Entropy is over the signatures of successful episodes (D3IL), with ``|B|`` the number of distinct
    successful signatures of every policy on the task: one scale per task, so a policy that found 2 of
    the task's 4 behaviours scores below one that found all 4. Vendi is over every episode's trajectory
    embedding; coverage of the grid of final base positions whose bounds are every position any policy
    visited on that task, so policies on one task share one grid. Columns: policy, task_key, episodes,
    successes, behaviours (the policy's distinct successful signatures), task_behaviours (``|B|``),
    entropy, vendi, coverage.
    """
    from ethogym.benchmarks.stats import TASK_KEY, require_columns, with_task_key

    require_columns(df, ["policy", "task", "success", "signature", "trajectory"], "diversity_table")
    df = with_task_key(df)
    bounds: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    task_behaviours: dict[str, int] = {}
    for task_key, group in df.groupby(TASK_KEY):
        task_behaviours[task_key] = len(
            {_behaviour(sig) for sig, ok in zip(group["signature"], group["success"], strict=True) if ok}
        )
        xy = [p[:2] for traj in group["trajectory"] if traj for p in traj]
        if xy:
            arr = np.asarray(xy, dtype=float)
            bounds[task_key] = (arr.min(axis=0), arr.max(axis=0))
    rows = []
    for (policy, task_key), group in df.groupby(["policy", TASK_KEY], sort=True):
        successful = [sig or [] for sig, ok in zip(group["signature"], group["success"], strict=True) if ok]
        trajectories = [t for t in group["trajectory"] if t]
        vendi_value = (
            vendi_diversity(np.stack([trajectory_embedding(t) for t in trajectories]))
            if trajectories
            else float("nan")
        )
        finals = [p for p in (_final_position(t) for t in trajectories) if p is not None]
        coverage = (
            grid_coverage(finals, *bounds[task_key], cell=cell)
            if finals and task_key in bounds
            else float("nan")
        )
        rows.append(
            {
                "policy": policy,
                TASK_KEY: task_key,
                "episodes": len(group),
                "successes": len(successful),
                "behaviours": len({_behaviour(s) for s in successful}),
                "task_behaviours": task_behaviours[task_key],
                "entropy": behaviour_entropy(successful, n_behaviours=task_behaviours[task_key]),
                "vendi": vendi_value,
                "coverage": coverage,
            }
        )
    return pd.DataFrame(rows)
