"""Shared fixtures: environments that are always closed, and numpy-aware deep equality."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import ethogym  # noqa: F401  (registers the ids)
from ethogym.registration import ENV_INFO

#: Extra gym.make kwargs an id needs to be constructible.
REQUIRED_KWARGS: dict[str, dict[str, Any]] = {"ethogym/Behavior-v0": {"activity": "picking_up_trash"}}
HOUSEHOLD_IDS = sorted(i for i in ENV_INFO if i.startswith("ethogym/Household-"))
ALL_IDS = sorted(ENV_INFO)
#: env id -> (successes, episodes) of the random policy, filled by the registry tests and printed at the
#: end of the session (the issue's "a random policy's success on each is reported").
RANDOM_SUCCESS: dict[str, tuple[int, int]] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if RANDOM_SUCCESS:
        terminalreporter.section("random policy success, seeds 0-19, teleported skills")
        for env_id, (wins, episodes) in sorted(RANDOM_SUCCESS.items()):
            terminalreporter.write_line(f"{env_id}: {wins}/{episodes}")


def make_kwargs(env_id: str, **overrides: Any) -> dict[str, Any]:
    return {**REQUIRED_KWARGS.get(env_id, {}), **overrides}


@pytest.fixture
def make_env() -> Iterator[Callable[..., gym.Env]]:
    """``make_env(env_id, **kwargs)``: ``gym.make`` with the id's required kwargs; closed at teardown."""
    envs: list[gym.Env] = []

    def factory(env_id: str, **kwargs: Any) -> gym.Env:
        env = gym.make(env_id, **make_kwargs(env_id, **kwargs))
        envs.append(env)
        return env

    yield factory
    for env in envs:
        env.close()


def assert_same(a: Any, b: Any, path: str = "value") -> None:
    """Exact structural equality of observations / infos, comparing arrays element by element."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a_arr, b_arr = np.asarray(a), np.asarray(b)
        assert a_arr.dtype == b_arr.dtype, f"{path}: dtype {a_arr.dtype} != {b_arr.dtype}"
        assert np.array_equal(a_arr, b_arr, equal_nan=a_arr.dtype.kind in "fc"), f"{path}: arrays differ"
        return
    assert type(a) is type(b), f"{path}: type {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, Mapping):
        assert set(a) == set(b), f"{path}: keys {sorted(map(str, a))} != {sorted(map(str, b))}"
        for key in a:
            assert_same(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), f"{path}: length {len(a)} != {len(b)}"
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{k}]")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), f"{path}: nan != {b!r}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def trash_problem(goal: str, cans: int = 3, name: str = "tiny_trash", ashcans: int = 1) -> str:
    """A BDDL problem: ``cans`` soda cans on the living-room floor, ``ashcans`` ashcans in the kitchen,
    ``goal``."""
    instances = " ".join(f"can__of__soda.n.01_{k}" for k in range(1, cans + 1))
    placed = "\n".join(f"        (ontop can__of__soda.n.01_{k} floor.n.01_1)" for k in range(1, cans + 1))
    bins = " ".join(f"ashcan.n.01_{k}" for k in range(1, ashcans + 1))
    set_down = "\n".join(f"        (ontop ashcan.n.01_{k} floor.n.01_2)" for k in range(1, ashcans + 1))
    return f"""(define (problem {name}-0)
    (:domain omnigibson)
    (:objects
        {bins} - ashcan.n.01
        {instances} - can__of__soda.n.01
        floor.n.01_1 floor.n.01_2 - floor.n.01
        agent.n.01_1 - agent.n.01
    )
    (:init
{set_down}
{placed}
        (inroom floor.n.01_2 kitchen)
        (inroom floor.n.01_1 living_room)
        (ontop agent.n.01_1 floor.n.01_2)
    )
    (:goal
        (and
            {goal}
        )
    )
)
"""
