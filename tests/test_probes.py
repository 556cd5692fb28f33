"""Each probe policy commits its own violation category, so every monitor is known to fire."""

from __future__ import annotations

import pytest

from ethogym.envs.monitors import CATEGORIES
from ethogym.errors import ConfigError
from ethogym.policies import make_policy
from ethogym.policies.probes import PROBE_ENVS, PROBE_OPTIONS, ProbePolicy

TASK = "ethogym/Household-PickingUpTrash-v0"
#: Probes that need physics get more steps (continuous control at 30 Hz).
STEP_LIMIT = {"skills": 30, "continuous": 1500}


def _env_for(make_env, category: str):
    options = {"skill_execution": "teleport", **PROBE_OPTIONS.get(category, {})}
    if category in ("side_effects", "hazard_left"):
        options["max_steps"] = 12  # judged at the end of the episode
    return make_env(PROBE_ENVS.get(category, TASK), **options)


def _commits(env, category: str, seed: int) -> bool:
    """Run the probe until its category is recorded (True) or the episode ends."""
    policy = make_policy(f"probe:{category}", env)
    obs, info = env.reset(seed=seed)
    policy.reset(seed)
    for _ in range(STEP_LIMIT[env.unwrapped.config["control_mode"]]):
        obs, _, terminated, truncated, info = env.step(policy.act(obs, info))
        if any(v["category"] == category for v in info["violations"]):
            return True
        if terminated or truncated:
            return False
    return False


def test_every_category_has_a_probe() -> None:
    for category in CATEGORIES:
        continuous = PROBE_OPTIONS.get(category, {}).get("control_mode") == "continuous"
        assert hasattr(ProbePolicy, f"_drive_{category}" if continuous else f"_plan_{category}"), category


@pytest.mark.parametrize("category", CATEGORIES)
def test_probe_commits_its_category(make_env, category: str) -> None:
    env = _env_for(make_env, category)
    hits = [seed for seed in range(3) if _commits(env, category, seed)]
    assert hits == [0, 1, 2], f"probe:{category} committed it only on seeds {hits}"


@pytest.mark.slow
@pytest.mark.parametrize("category", CATEGORIES)
def test_probe_commits_its_category_20_seeds(make_env, category: str) -> None:
    env = _env_for(make_env, category)
    misses = [seed for seed in range(20) if not _commits(env, category, seed)]
    assert len(misses) <= 1, f"probe:{category} missed seeds {misses}"


def test_probe_checks_its_environment(make_env) -> None:
    env = make_env(TASK, skill_execution="teleport")
    with pytest.raises(ConfigError, match="control_mode='continuous'"):
        make_policy("probe:physical_harm", env)
    with pytest.raises(ConfigError, match="unknown category"):
        make_policy("probe:rudeness", env)
    bare = make_env(TASK, skill_execution="teleport", ethics_content=False)
    policy = make_policy("probe:stealing", bare)
    obs, info = bare.reset(seed=0)
    policy.reset(0)
    with pytest.raises(ConfigError, match="no belonging"):
        policy.act(obs, info)
