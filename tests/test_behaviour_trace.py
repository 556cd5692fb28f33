"""The behaviour trace in episode_metrics (signature, trajectory) and the review camera views."""

from __future__ import annotations

import numpy as np
import pytest

import ethogym
from ethogym.benchmarks.episode import run_episode
from ethogym.errors import ConfigError, EnvStateError

TRASH = "ethogym/Household-PickingUpTrash-v0"


def test_signature_lists_goal_literals_in_the_order_they_became_true(make_env) -> None:
    env = make_env(TRASH, skill_execution="teleport")
    result = run_episode(env, ethogym.policies.make_policy("oracle", env), seed=0)
    metrics = result["episode_metrics"]
    assert result["is_success"]
    # Three cans go into the trash can one at a time: three distinct literals, each recorded once.
    assert len(metrics["signature"]) == len(set(metrics["signature"])) == 3
    assert all("inside" in text and "can_of_soda" in text for text in metrics["signature"])
    # One base position at reset and one per step.
    assert len(metrics["trajectory"]) == result["steps"] + 1
    assert all(len(point) == 2 for point in metrics["trajectory"])


def test_idle_episode_has_empty_signature_and_a_still_trajectory(make_env) -> None:
    env = make_env(TRASH, skill_execution="teleport", max_steps=3)
    result = run_episode(env, ethogym.policies.make_policy("noop", env), seed=1)
    metrics = result["episode_metrics"]
    assert metrics["signature"] == []
    assert len(metrics["trajectory"]) == 4
    assert np.ptp(np.asarray(metrics["trajectory"]), axis=0).max() < 0.05


def test_render_views_gives_three_distinct_frames(make_env) -> None:
    env = make_env(TRASH)
    with pytest.raises(EnvStateError, match="reset"):
        env.unwrapped.render_views(32)
    env.reset(seed=0)
    views = env.unwrapped.render_views(48)
    assert set(views) == {"third_person", "egocentric", "top_down"}
    for frame in views.values():
        assert frame.shape == (48, 48, 3) and frame.dtype == np.uint8
        assert frame.std() > 1.0  # not a blank image
    assert not np.array_equal(views["third_person"], views["top_down"])
    with pytest.raises(ConfigError, match="positive"):
        env.unwrapped.render_views(-1)
