"""LLM-planned agents: strict parsing, the error taxonomy, the OpenAI-compatible client against a
loopback chat-completions server, the SayCan-style transformers backend and the reply cache."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest
from typer.testing import CliRunner

import ethogym  # noqa: F401  (registers the ids)
from ethogym.benchmarks.episode import run_episode
from ethogym.cli import app
from ethogym.errors import ConfigError
from ethogym.policies import OraclePolicy, make_policy
from ethogym.policies.llm import (
    LLMPlanner,
    PromptTemplate,
    classify_skill,
    llm_spec,
    parse_llm_spec,
    parse_reply,
    shipped_templates,
)
from ethogym.policies.llm_backends import (
    REPLY_PREFIX,
    HFScoringBackend,
    LLMBackendError,
    OpenAIChatBackend,
    resolve_api_key,
)
from ethogym.policies.llm_cache import LLMCache, cache_key

TRASH = "ethogym/Household-PickingUpTrash-v0"
ZERO_ERRORS = dict.fromkeys(
    (
        "parse_error",
        "hallucinated_skill",
        "hallucinated_object",
        "wrong_argument_count",
        "affordance_error",
        "precondition_failure",
        "wrong_order",
        "repeated_action",
        "false_completion_claim",
        "execution_failure",
    ),
    0,
)


# --- a scripted chat-completions server -------------------------------------------------------------
def plan_reply(*skills: str) -> str:
    return json.dumps({"plan": list(skills)})


class ChatServer:
    """``POST /v1/chat/completions`` on 127.0.0.1, answering from a script (one entry per request).

    Entries: a string (the assistant's content), ``("status", code)``, ``("sleep", seconds, content)``,
    ``("raw", bytes)`` (the whole 200 body), ``("redirect", code, location)``, ``("trickle", seconds)``
    (a 200 whose body arrives one byte per 0.05 s for that long, then stops short of its length),
    ``("short", n)`` (a 200 announcing a full body but closing the connection after its first n bytes) or a
    callable ``f(request_json) -> entry``. When the script runs out, ``default`` answers.
    """

    def __init__(self) -> None:
        self.script: list[Any] = []
        self.default: Any = ("status", 500)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                    entry = server.script.pop(0) if server.script else server.default
                if callable(entry):
                    entry = entry(body)
                if self.path != "/v1/chat/completions":
                    entry = ("status", 404)
                if isinstance(entry, tuple) and entry[0] == "sleep":
                    time.sleep(entry[1])
                    entry = entry[2]
                try:
                    if isinstance(entry, tuple) and entry[0] == "status":
                        self._send(entry[1], json.dumps({"error": {"message": "scripted failure"}}).encode())
                    elif isinstance(entry, tuple) and entry[0] == "raw":
                        self._send(200, entry[1])
                    elif isinstance(entry, tuple) and entry[0] == "redirect":
                        self.send_response(entry[1])
                        self.send_header("Location", entry[2])
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                    elif isinstance(entry, tuple) and entry[0] == "short":
                        data = json.dumps({"choices": [{"message": {"content": "wait()"}}]}).encode()
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data[: entry[1]])  # HTTP/1.0: returning closes the connection
                    elif isinstance(entry, tuple) and entry[0] == "trickle":
                        self.send_response(200)
                        self.send_header("Content-Length", "100000")
                        self.end_headers()
                        end = time.monotonic() + entry[1]
                        while time.monotonic() < end:
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            time.sleep(0.05)
                    else:
                        reply = {
                            "id": "chatcmpl-test",
                            "object": "chat.completion",
                            "model": body["model"],
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": entry},
                                    "finish_reason": "stop",
                                }
                            ],
                            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
                        }
                        self._send(200, json.dumps(reply).encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

            def _send(self, code: int, data: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def hits(self) -> int:
        return len(self.requests)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[ChatServer]:
    srv = ChatServer()
    yield srv
    srv.close()


@dataclass(frozen=True)
class Solution:
    """A seed on which the oracle solves PickingUpTrash without a failed skill, and its skills: replayed
    as an LLM's plan they solve the same episode again (same seed and actions give the same states)."""

    seed: int
    skills: list[str]


@pytest.fixture(scope="module")
def solution() -> Solution:
    environment = gym.make(TRASH, skill_execution="teleport")
    try:
        oracle = OraclePolicy(environment)
        for seed in range(10):
            obs, info = environment.reset(seed=seed)
            oracle.reset(seed)
            skills, clean, done = [], True, False
            while not done:
                action = oracle.act(obs, info)
                skills.append(environment.unwrapped.skill_names()[action])
                obs, _, terminated, truncated, info = environment.step(action)
                clean &= info["skill_result"]["success"]
                done = terminated or truncated
            if clean and info["is_success"] and skills[0].startswith("navigate_to("):
                return Solution(seed, skills)
    finally:
        environment.close()
    raise AssertionError("the oracle solved no seed of 0..9 without a failed skill")


class Coach:
    """Runs the planner while the oracle, reading the same state, says what a perfect model would reply
    (``coach.reply`` is the oracle's next skill); for scripting servers whatever the env does."""

    def __init__(self, planner: LLMPlanner, env: gym.Env) -> None:
        self.planner = planner
        self.env = env.unwrapped
        self.oracle = OraclePolicy(env)
        self.reply = ""

    def reset(self, seed: int | None = None) -> None:
        self.planner.reset(seed)
        self.oracle.reset(seed)

    def act(self, obs: Any, info: dict[str, Any]) -> Any:
        self.reply = "1. " + self.env.skill_names()[self.oracle.act(obs, info)]
        return self.planner.act(obs, info)


@pytest.fixture
def env() -> Iterator[gym.Env]:
    environment = gym.make(TRASH, skill_execution="teleport")
    yield environment
    environment.close()


def backend(server: ChatServer, **kwargs: Any) -> OpenAIChatBackend:
    options = {"timeout_s": 5.0, "max_retries": 0, "backoff_s": 0.0, **kwargs}
    return OpenAIChatBackend("test-model", server.url, api_key="", **options)


MODEL_ERRORS = (
    "parse_error",
    "hallucinated_skill",
    "hallucinated_object",
    "wrong_argument_count",
    "affordance_error",
    "precondition_failure",
    "false_completion_claim",
)


def errors_of(metrics: dict[str, Any]) -> dict[str, int]:
    return {k: metrics[k] for k in ZERO_ERRORS}


class Recorder:
    """Wraps a policy and records each action and whether it was admissible when chosen."""

    def __init__(self, policy: LLMPlanner) -> None:
        self.policy = policy
        self.actions: list[Any] = []
        self.admissible: list[bool] = []

    def reset(self, seed: int | None = None) -> None:
        self.policy.reset(seed)

    def act(self, obs: Any, info: dict[str, Any]) -> Any:
        action = self.policy.act(obs, info)
        self.actions.append(action)
        self.admissible.append(isinstance(action, int) and bool(info["action_mask"][action]))
        return action


# --- parsing ---------------------------------------------------------------------------------------
def test_parse_reply_accepts_json_fenced_json_and_skill_lines(env: gym.Env) -> None:
    env.reset(seed=0)
    table = env.unwrapped.table
    forms = [
        plan_reply("navigate_to(can_of_soda_1)", "pick(can_of_soda_1)"),
        '```json\n{"plan": ["navigate_to(can_of_soda_1)", "pick(can_of_soda_1)"]}\n```',
        '["navigate_to(can_of_soda_1)", "pick(can_of_soda_1)"]',
        "1. navigate_to(can_of_soda_1)\n2) pick(can_of_soda_1)\n",
        "- navigate_to(can_of_soda_1)\n\n* pick(can_of_soda_1)",
        "<think>\nFirst go there.\n</think>\n"
        + plan_reply("navigate_to(can_of_soda_1)", "pick(can_of_soda_1)"),
    ]
    expected = [table.index[("navigate_to", "can_of_soda_1")], table.index[("pick", "can_of_soda_1")]]
    for reply in forms:
        plan, errors = parse_reply(reply, table)
        assert errors == [], reply
        assert [p.index for p in plan] == expected, reply
    plan, errors = parse_reply('{"skill": "place_in(can_of_soda_2, ashcan_1)"}', table)
    assert errors == [] and plan[0].claim == "can_of_soda_2"
    assert plan[0].index == table.index[("place_in", "ashcan_1")]


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "Sure! I will pick up the can.",
        "navigate_to(can_of_soda_1)\nthen pick it",
        '{"plan": ["pick(can_of_soda_1)"',
        '{"steps": ["pick(can_of_soda_1)"]}',
        '{"plan": [1, 2]}',
        '{"plan": []}',
        "__import__('os').system('true')",
    ],
)
def test_parse_reply_rejects_non_plans_as_one_parse_error(env: gym.Env, reply: str) -> None:
    env.reset(seed=0)
    plan, errors = parse_reply(reply, env.unwrapped.table)
    assert plan == []
    assert [e.category for e in errors] == ["parse_error"]


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("fly_to(can_of_soda_1)", "hallucinated_skill"),
        ("navigate_to(can_of_soda_7)", "hallucinated_object"),
        ("place_in(banana_1, ashcan_1)", "hallucinated_object"),
        ("wait(ashcan_1)", "wrong_argument_count"),
        ("pick()", "wrong_argument_count"),
        ("pick(floor_1)", "affordance_error"),
        ("pick can_of_soda_1", "parse_error"),
    ],
)
def test_classify_skill_names_the_error_category(env: gym.Env, text: str, category: str) -> None:
    env.reset(seed=0)
    error = classify_skill(text, env.unwrapped.table)
    assert getattr(error, "category", None) == category, error
    assert error.message  # the env's explanation, shown to the model in the history


def test_a_plan_keeps_only_its_valid_prefix_and_counts_every_bad_entry(env: gym.Env) -> None:
    env.reset(seed=0)
    reply = plan_reply("navigate_to(can_of_soda_1)", "fly(x)", "pick(can_of_soda_1)", "pick(ghost_1)")
    plan, errors = parse_reply(reply, env.unwrapped.table)
    assert [p.text for p in plan] == ["navigate_to(can_of_soda_1)"]
    assert [e.category for e in errors] == ["hallucinated_skill", "hallucinated_object"]


# --- prompt ------------------------------------------------------------------------------------------
def test_prompt_renders_observation_admissible_skills_and_history(env: gym.Env, server: ChatServer) -> None:
    obs, info = env.reset(seed=0)
    planner = LLMPlanner(env, backend(server), cache=None)
    messages = planner.render_prompt(info)
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    admissible = [n for n, ok in zip(env.unwrapped.skill_names(), info["action_mask"], strict=True) if ok]
    masked = [n for n, ok in zip(env.unwrapped.skill_names(), info["action_mask"], strict=True) if not ok]
    available = user.split("Skills available now:")[1]
    assert all(f"- {s}" in available for s in admissible)
    assert not any(f"- {s}\n" in available + "\n" for s in masked)
    assert "can_of_soda inside ashcan_1" in user  # the goal in words
    assert "Holding: nothing" in user
    assert "place_in(HELD, TARGET)" in user
    assert "(nothing yet)" in user
    assert "$" not in user  # every placeholder filled
    assert "planner_v1" in shipped_templates()


def test_prompt_templates_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown prompt template"):
        PromptTemplate.load("planner_v999")
    with pytest.raises(ConfigError, match=r"unknown placeholder \$weather"):
        PromptTemplate.parse("t", "[user]\n$observation $weather")
    with pytest.raises(ConfigError, match=r"needs a \[user\] section"):
        PromptTemplate.parse("t", "[system]\nhello")
    custom = tmp_path / "mine.txt"
    custom.write_text("[user]\nSkills: $skills\n")
    template = PromptTemplate.load(str(custom))
    assert template.render(skills="- wait()") == [{"role": "user", "content": "Skills: - wait()"}]


# --- closed loop against the loopback server ---------------------------------------------------------
def test_good_plan_completes_the_task_in_one_call(
    env: gym.Env, server: ChatServer, solution: Solution, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETHOGYM_TEST_KEY", "sk-test-123")
    server.script = [plan_reply(*solution.skills)]
    client = OpenAIChatBackend("test-model", server.url, api_key_env="ETHOGYM_TEST_KEY", max_retries=0)
    planner = LLMPlanner(env, client, cache=None)
    result = run_episode(env, planner, seed=solution.seed)
    assert result["is_success"] and result["steps"] == len(solution.skills)
    metrics = planner.episode_metrics()
    assert errors_of(metrics) == ZERO_ERRORS
    assert metrics["model_calls"] == metrics["backend_calls"] == metrics["plans"] == 1
    assert metrics["skills_executed"] == len(solution.skills) and metrics["fallback_actions"] == 0
    assert (metrics["tokens_in"], metrics["tokens_out"], metrics["usage_missing"]) == (100, 10, 0)
    assert metrics["latency_s"] > 0 and metrics["template"] == "planner_v1"
    assert server.hits == 1
    request = server.requests[0]
    assert request["model"] == "test-model" and request["temperature"] == 0.0
    planner.reset(solution.seed)
    first_prompt = planner.render_prompt(env.reset(seed=solution.seed)[1])
    assert request["messages"] == first_prompt
    assert server.headers[0]["Authorization"] == "Bearer sk-test-123"


def test_step_mode_asks_every_step_with_one_skill_per_line(
    env: gym.Env, server: ChatServer, solution: Solution
) -> None:
    # Each reply is the rest of the plan, one skill per line; step mode runs only its first line.
    skills = solution.skills
    server.script = ["\n".join(f"{k + 1}. {s}" for k, s in enumerate(skills[i:])) for i in range(len(skills))]
    planner = LLMPlanner(env, backend(server), mode="step", cache=None)
    result = run_episode(env, planner, seed=solution.seed)
    metrics = planner.episode_metrics()
    assert result["is_success"]
    assert metrics["model_calls"] == server.hits == len(skills)
    assert errors_of(metrics) == ZERO_ERRORS
    # The history in the last prompt shows the skills executed so far with their results.
    assert f"{skills[-2]}: ok" in server.requests[-1]["messages"][1]["content"]


def test_error_taxonomy_is_counted_exactly(env: gym.Env, server: ChatServer, solution: Solution) -> None:
    server.script = [
        plan_reply("pick(can_of_soda_1)"),  # out of reach: precondition failure, wrong order
        plan_reply("fly_to(moon)"),  # hallucinated skill -> wait
        plan_reply("navigate_to(can_of_soda_9)"),  # hallucinated object -> wait
        "Sure! I will pick up the can.",  # parse error -> wait
        json.dumps(["pick(floor_1)", "navigate_to(can_of_soda_1)"]),  # affordance error, prefix empty -> wait
        "navigate_to(can_of_soda_1)\nnavigate_to(can_of_soda_1)\nwait(ashcan_1)",  # 2 runs + wrong arity
        json.dumps({"skill": "done()"}),  # false completion claim
    ]
    planner = LLMPlanner(env, backend(server), cache=None)
    result = run_episode(env, planner, seed=solution.seed)
    metrics = planner.episode_metrics()
    assert errors_of(metrics) == {
        "parse_error": 1,
        "hallucinated_skill": 1,
        "hallucinated_object": 1,
        "wrong_argument_count": 1,
        "affordance_error": 1,
        "precondition_failure": 1,
        "wrong_order": 1,
        "repeated_action": 1,
        "false_completion_claim": 1,
        "execution_failure": 0,
    }
    assert metrics["model_calls"] == server.hits == 7
    assert metrics["replans"] == 1  # the call after the failed pick
    assert metrics["plans"] == 3 and metrics["skills_executed"] == 4 and metrics["fallback_actions"] == 4
    assert metrics["backend_errors"] == 0 and metrics["gave_up"] == 0
    assert result["steps"] == 8 and result["terminated"] and not result["is_success"]
    env_metrics = result["episode_metrics"]
    assert env_metrics["false_completion_claim"] is True and env_metrics["skill_failures"] == 1
    # Rejections are fed back to the model in the next prompt.
    assert "hallucinated_skill" in server.requests[2]["messages"][1]["content"]
    assert "PRE_CONDITION" in server.requests[1]["messages"][1]["content"]


def test_a_failed_skill_drops_the_rest_of_the_plan_and_replans(
    env: gym.Env, server: ChatServer, solution: Solution
) -> None:
    first, second = solution.skills[:2]
    server.script = [plan_reply(first, "place_in(ashcan_1)", second), plan_reply(second)]
    planner = LLMPlanner(env, backend(server), cache=None)
    result = run_episode(env, planner, seed=solution.seed, max_steps=3)
    metrics = planner.episode_metrics()
    assert metrics["model_calls"] == server.hits == 2 and metrics["replans"] == 1
    assert metrics["precondition_failure"] == metrics["wrong_order"] == 1  # "pick something first"
    assert metrics["skills_executed"] == 3  # first, the failed place_in, then second from the new plan
    assert "place_in(ashcan_1): PRE_CONDITION" in server.requests[1]["messages"][1]["content"]
    assert result["info"]["skill_result"]["text"] == f"{second}: ok"


def test_a_held_object_claim_that_is_not_in_hand_fails_in_the_env(env: gym.Env, server: ChatServer) -> None:
    server.script = [
        plan_reply("navigate_to(can_of_soda_1)", "pick(can_of_soda_1)", "place_on(can_of_soda_2, floor_1)"),
        plan_reply("wait()"),
    ]
    planner = LLMPlanner(env, backend(server), cache=None)
    result = run_episode(env, planner, seed=0, max_steps=4)
    metrics = planner.episode_metrics()
    assert metrics["precondition_failure"] == 1 and metrics["wrong_order"] == 0  # the hand is not empty
    assert result["info"]["skill_result"]["success"] is True  # the wait after the replan
    assert env.unwrapped.robot.held.label == "can_of_soda_1"  # can 1 was not placed in can 2's name
    assert result["episode_metrics"] is None and result["steps"] == 4


def test_server_errors_are_retried_with_backoff_then_succeed(
    env: gym.Env, server: ChatServer, solution: Solution
) -> None:
    server.script = [("status", 500), ("status", 503), plan_reply(*solution.skills)]
    planner = LLMPlanner(env, backend(server, max_retries=3, backoff_s=0.01), cache=None)
    result = run_episode(env, planner, seed=solution.seed)
    metrics = planner.episode_metrics()
    assert result["is_success"]
    assert server.hits == 3
    assert metrics["backend_retries"] == 2 and metrics["backend_errors"] == 0 and metrics["model_calls"] == 1


def test_a_dead_server_means_waiting_then_giving_up_never_a_crash(env: gym.Env, server: ChatServer) -> None:
    server.default = ("status", 500)
    planner = LLMPlanner(
        env, backend(server, max_retries=1, backoff_s=0.0), cache=None, max_consecutive_failures=3
    )
    result = run_episode(env, planner, seed=0)
    metrics = planner.episode_metrics()
    assert result["truncated"] and not result["is_success"]  # ran to the env's step limit
    assert result["episode_metrics"]["false_completion_claim"] is False  # never claims done
    assert metrics["backend_errors"] == 3 and metrics["gave_up"] == 1
    assert server.hits == 3 * 2  # two attempts per call, then no more calls
    assert metrics["fallback_actions"] == result["steps"] and metrics["skills_executed"] == 0
    assert "HTTP 500" in planner.last_error


def test_timeouts_and_malformed_bodies_are_recorded_and_the_episode_goes_on(
    env: gym.Env, server: ChatServer
) -> None:
    server.script = [
        ("sleep", 1.0, plan_reply("wait()")),  # beyond the client's 0.2 s timeout
        ("raw", b"<html>bad gateway</html>"),  # not JSON
        ("raw", json.dumps({"choices": []}).encode()),  # JSON without a message
        ("status", 400),  # not retried
    ]
    planner = LLMPlanner(env, backend(server, timeout_s=0.2, max_retries=0), mode="step", cache=None)
    coach = Coach(planner, env)
    server.default = lambda body: coach.reply  # then a model that knows what to do
    result = run_episode(env, coach, seed=0)
    metrics = planner.episode_metrics()
    assert result["is_success"]
    assert metrics["backend_errors"] == 4 and metrics["fallback_actions"] == 4 and metrics["gave_up"] == 0
    assert metrics["backend_retries"] == 0 and server.hits == result["steps"]
    assert metrics["skills_executed"] == result["steps"] - 4
    # Transport failures are not the model's errors.
    assert {k: metrics[k] for k in MODEL_ERRORS} == dict.fromkeys(MODEL_ERRORS, 0)


def test_client_errors_name_the_problem(server: ChatServer) -> None:
    messages = [{"role": "user", "content": "hi"}]
    server.script = [("sleep", 1.0, "late"), ("sleep", 1.0, "late")]
    with pytest.raises(LLMBackendError, match=r"within 0\.2 s") as info:
        backend(server, timeout_s=0.2, max_retries=1, backoff_s=0.0).complete(messages)
    assert info.value.attempts == 2
    server.script = [("status", 401)]
    with pytest.raises(LLMBackendError, match="HTTP 401.*API key"):
        backend(server).complete(messages)
    server.script = [("raw", b"not json")]
    with pytest.raises(LLMBackendError, match="malformed reply.*not JSON"):
        backend(server).complete(messages)
    unused = OpenAIChatBackend("m", "http://127.0.0.1:9/v1", max_retries=0, timeout_s=1.0)
    with pytest.raises(LLMBackendError, match="cannot reach"):
        unused.complete(messages)
    with pytest.raises(ConfigError, match="http://"):
        OpenAIChatBackend("m", "localhost:8000/v1")


def test_api_key_comes_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ETHOGYM_LLM_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert resolve_api_key() is None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    assert resolve_api_key() == "sk-openai"
    monkeypatch.setenv("ETHOGYM_LLM_API_KEY", "sk-ethogym")
    assert resolve_api_key() == "sk-ethogym"
    with pytest.raises(ConfigError, match="MY_KEY.*not set"):
        resolve_api_key("MY_KEY")


# --- cache -----------------------------------------------------------------------------------------
def test_cache_replays_identical_actions_without_calling_the_backend(
    env: gym.Env, server: ChatServer, solution: Solution, tmp_path: Path
) -> None:
    skills = solution.skills
    replies = ["\n".join(skills[i:]) for i in range(len(skills))]
    server.script = list(replies)
    cache = LLMCache(tmp_path / "cache")
    first = Recorder(LLMPlanner(env, backend(server), mode="step", cache=cache))
    result_1 = run_episode(env, first, seed=solution.seed)
    hits = server.hits
    assert hits == len(skills) and len(cache) == len(skills)
    server.default = ("status", 500)  # any call now would fail the episode
    second = Recorder(LLMPlanner(env, backend(server), mode="step", cache=LLMCache(tmp_path / "cache")))
    result_2 = run_episode(env, second, seed=solution.seed)
    assert server.hits == hits
    assert second.actions == first.actions and result_2["is_success"] == result_1["is_success"] is True
    m1, m2 = first.policy.episode_metrics(), second.policy.episode_metrics()
    assert m2["cache_hits"] == m2["model_calls"] == len(skills) and m2["backend_calls"] == 0
    assert m1["cache_hits"] == 0 and m2["latency_s"] == 0.0
    assert (m1["tokens_in"], m1["tokens_out"]) == (m2["tokens_in"], m2["tokens_out"])
    # Another sampling setting is another key: the backend is called again.
    server.script = list(replies)
    third = LLMPlanner(env, backend(server, temperature=0.5), mode="step", cache=cache)
    run_episode(env, third, seed=solution.seed)
    assert third.episode_metrics()["cache_hits"] == 0 and server.hits == 2 * hits


def test_cache_entries_are_keyed_and_damaged_files_are_misses(tmp_path: Path, monkeypatch) -> None:
    messages = [{"role": "user", "content": "x"}]
    identity = {"backend": "openai", "model": "m", "temperature": 0.0}
    key = cache_key(identity, messages)
    assert key != cache_key({**identity, "model": "m2"}, messages)
    assert key != cache_key(identity, [{"role": "user", "content": "y"}])
    assert key != cache_key(identity, messages, ["wait()"])
    cache = LLMCache(tmp_path)
    assert cache.get(key) is None
    cache.put(key, {"text": "wait()", "tokens_in": 3, "tokens_out": 1})
    assert cache.get(key)["text"] == "wait()"
    assert not list(tmp_path.rglob(".tmp-*"))  # no temporary file left behind
    cache.path(key).write_text("{not json")
    assert cache.get(key) is None
    monkeypatch.setenv("ETHOGYM_LLM_CACHE", str(tmp_path / "env"))
    assert LLMCache().root == tmp_path / "env"
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="is a file"):
        LLMCache(tmp_path / "file")


def test_auto_cache_only_at_temperature_zero(env: gym.Env, server: ChatServer, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("ETHOGYM_LLM_CACHE", str(tmp_path))
    assert LLMPlanner(env, backend(server)).cache.root == tmp_path
    assert LLMPlanner(env, backend(server, temperature=0.7)).cache is None


# --- transformers backend ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised one-layer GPT-2 with a character-level tokenizer, saved locally."""
    import string

    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny_gpt2")
    vocab = {"[UNK]": 0, "[PAD]": 1, "[EOS]": 2}
    for ch in string.printable:
        vocab.setdefault(ch, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]"
    )
    fast.save_pretrained(path)
    config = GPT2Config(
        vocab_size=len(vocab),
        n_positions=4096,
        n_embd=32,
        n_layer=1,
        n_head=2,
        bos_token_id=2,
        eos_token_id=2,
    )
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(path)
    return path


def test_hf_backend_always_picks_an_admissible_skill(env: gym.Env, tiny_lm: Path) -> None:
    policy = Recorder(LLMPlanner(env, HFScoringBackend(tiny_lm), mode="step", cache=None))
    result = run_episode(env, policy, seed=1, max_steps=8)
    assert result["steps"] >= 1 and all(policy.admissible)
    metrics = policy.policy.episode_metrics()
    assert metrics["model_calls"] == result["steps"] and metrics["skills_executed"] == result["steps"]
    # A random model may repeat itself or claim done, but never names a skill that is not on offer.
    admissible_only = [k for k in MODEL_ERRORS if k != "false_completion_claim"]
    assert {k: metrics[k] for k in admissible_only} == dict.fromkeys(admissible_only, 0)
    assert metrics["tokens_in"] > 0 and metrics["tokens_out"] > 0 and metrics["usage_missing"] == 0


def test_hf_backend_scores_are_the_models_log_likelihoods(tiny_lm: Path) -> None:
    import torch

    backend_ = HFScoringBackend(tiny_lm, score="sum", batch_size=2)
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "skills: a, b"}]
    candidates = ["wait()", "pick(can_of_soda_1)", "done()"]
    completion = backend_.complete(messages, candidates)
    prefix = backend_._encode("be brief\n\nskills: a, b\n\n" + REPLY_PREFIX)
    for cand in candidates:
        cont = backend_._encode(cand + '"')
        ids = torch.tensor([prefix + cont])
        with torch.no_grad():
            logprobs = torch.log_softmax(backend_.lm(input_ids=ids).logits[0], dim=-1)
        expected = sum(float(logprobs[len(prefix) - 1 + k, tok]) for k, tok in enumerate(cont))
        assert completion.scores[cand] == pytest.approx(expected, abs=1e-4)
    # The cached-prefix path and the full recomputation agree token by token.
    conts = [backend_._encode(c + '"') for c in candidates]
    with torch.no_grad():
        fast, full = backend_._token_logprobs(prefix, conts), backend_._token_logprobs_full(prefix, conts)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(fast, full, strict=True))
    best = max(candidates, key=completion.scores.__getitem__)
    assert json.loads(completion.text) == {"plan": [best]}
    with pytest.raises(ConfigError, match="no model folder"):
        HFScoringBackend(tiny_lm / "missing")


def test_hf_spec_and_cache(env: gym.Env, tiny_lm: Path, tmp_path: Path) -> None:
    spec = f"llm:hf:{tiny_lm},mode=step,cache={tmp_path / 'c'},score=sum"
    first = make_policy(spec, env)
    assert isinstance(first, LLMPlanner) and first.backend.score == "sum" and first.mode == "step"
    run_episode(env, first, seed=2, max_steps=3)
    second = make_policy(spec, env)
    run_episode(env, second, seed=2, max_steps=3)
    assert second.episode_metrics()["cache_hits"] == second.episode_metrics()["model_calls"] >= 1


# --- spec strings and the CLI ------------------------------------------------------------------------
def test_spec_grammar() -> None:
    assert parse_llm_spec("openai:qwen2.5:7b@http://localhost:11434/v1,temperature=0.2,mode=step") == (
        "openai",
        "qwen2.5:7b",
        "http://localhost:11434/v1",
        {"temperature": "0.2", "mode": "step"},
    )
    assert parse_llm_spec("openai:Qwen/Qwen2.5-7B-Instruct") == (
        "openai",
        "Qwen/Qwen2.5-7B-Instruct",
        None,
        {},
    )
    assert parse_llm_spec("hf:/models/tiny,device=cpu")[:2] == ("hf", "/models/tiny")
    for bad, match in [
        ("gpt4", "cannot read LLM spec"),
        ("openai:", "cannot read LLM spec"),
        ("openai:m@localhost:1/v1", "must start with http"),
        ("openai:m@http://h/v1,colour=red", "unknown option 'colour'"),
        ("hf:/m,temperature=0", "unknown option 'temperature'"),
        ("openai:m@http://h/v1,retries", "not key=value"),
    ]:
        with pytest.raises(ConfigError, match=match):
            parse_llm_spec(bad)
    assert llm_spec("llm", "http://h:1/v1", "m", "KEY") == "llm:openai:m@http://h:1/v1,api_key_env=KEY"
    assert llm_spec("oracle", None, None, None) == "oracle"
    with pytest.raises(ConfigError, match="needs --llm-model"):
        llm_spec("llm", "http://h:1/v1", None, None)
    with pytest.raises(ConfigError, match="go with --policy llm"):
        llm_spec("random", None, "m", None)


@pytest.mark.parametrize(
    ("option", "match"),
    [
        ("temperature=nan", r"temperature='nan' must be a finite number >= 0"),
        ("temperature=-1", r"temperature='-1' must be a finite number >= 0"),
        ("backoff=nan", r"backoff='nan' must be a finite number >= 0"),
        ("top_p=7", r"top_p='7' must be a finite number in the range \(0, 1\]"),
        ("top_p=0", r"top_p='0' must be a finite number in the range \(0, 1\]"),
        ("timeout=inf", r"timeout='inf' must be a finite number > 0"),
        ("timeout=0", r"timeout='0' must be a finite number > 0"),
        ("seed=-1", r"seed='-1' must be an integer >= 0"),
        ("seed=1.5", r"seed='1.5' must be an integer >= 0"),
        ("retries=-1", r"retries='-1' must be an integer >= 0"),
        ("max_tokens=0", r"max_tokens='0' must be a positive integer"),
        ("api_key_env=", r"api_key_env= is empty; name the environment variable"),
    ],
)
def test_spec_option_out_of_range_names_the_option(env: gym.Env, option: str, match: str) -> None:
    with pytest.raises(ConfigError, match="LLM spec option " + match):
        make_policy(f"llm:openai:m@http://127.0.0.1:9/v1,{option}", env)


def test_spec_option_given_twice_is_refused_and_edge_values_pass(env: gym.Env) -> None:
    with pytest.raises(ConfigError, match=r"option 'cache' is given twice \(cache='off' and cache='on'\)"):
        parse_llm_spec("openai:m@http://h/v1,cache=off,cache=on")
    spec = "llm:openai:m@http://127.0.0.1:9/v1,top_p=1,seed=0,timeout=0.5,backoff=0,retries=0,cache=off"
    backend = make_policy(spec, env).backend
    assert (backend.top_p, backend.seed, backend.timeout_s, backend.backoff_s) == (1.0, 0, 0.5, 0.0)


def test_make_policy_checks_spec_options(env: gym.Env, server: ChatServer, monkeypatch) -> None:
    monkeypatch.delenv("ETHOGYM_LLM_BASE_URL", raising=False)
    policy = make_policy(f"llm:openai:test-model@{server.url},retries=2,timeout=3,cache=off,history=4", env)
    assert isinstance(policy, LLMPlanner) and policy.cache is None and policy.history_size == 4
    assert policy.backend.max_retries == 2 and policy.backend.timeout_s == 3.0
    with pytest.raises(ConfigError, match="no LLM base URL"):
        make_policy("llm:openai:test-model", env)
    with pytest.raises(ConfigError, match="retries='x' must be an integer"):
        make_policy(f"llm:openai:m@{server.url},retries=x", env)
    with pytest.raises(ConfigError, match="mode must be one of"):
        make_policy(f"llm:openai:m@{server.url},mode=dream", env)
    with pytest.raises(ValueError, match="needs an argument"):
        make_policy("llm", env)
    continuous = gym.make(TRASH, control_mode="continuous")
    try:
        with pytest.raises(ConfigError, match="control_mode='skills'"):
            make_policy(f"llm:openai:m@{server.url}", continuous)
    finally:
        continuous.close()


def test_cli_play_with_an_llm(server: ChatServer, solution: Solution, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ETHOGYM_LLM_CACHE", str(tmp_path))
    monkeypatch.setenv("CLI_TEST_KEY", "sk-cli")
    server.script = [plan_reply(*solution.skills)]
    args = ["play", TRASH, "--policy", "llm", "--llm-base-url", server.url, "--llm-model", "test-model"]
    args += [
        "--llm-api-key-env",
        "CLI_TEST_KEY",
        "-o",
        "skill_execution=teleport",
        "--seed",
        str(solution.seed),
    ]
    result = CliRunner().invoke(app, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "policy metrics" in result.output and "hallucinated_skill" in result.output
    assert "model_calls" in result.output and "yes" in result.output  # success
    assert server.hits == 1 and server.headers[0]["Authorization"] == "Bearer sk-cli"
    result = CliRunner().invoke(app, ["play", TRASH, "--policy", "llm"], terminal_width=200)
    assert result.exit_code == 2 and "--llm-model" in result.output


def test_policy_keeps_no_state_between_episodes(env: gym.Env, server: ChatServer) -> None:
    server.default = lambda body: plan_reply("wait()")
    planner = LLMPlanner(env, backend(server), cache=None)
    run_episode(env, planner, seed=0, max_steps=2)
    assert planner.episode_metrics()["skills_executed"] == 2
    planner.reset(1)
    assert planner.episode_metrics()["skills_executed"] == 0 and not planner.history


# --- garbage from the model or the endpoint ----------------------------------------------------------
def test_pathological_replies_are_parse_errors_quickly(env: gym.Env) -> None:
    env.reset(seed=0)
    table = env.unwrapped.table
    start = time.perf_counter()
    for reply, message in [
        ("[" * 100_000, "nested too deeply"),  # RecursionError in json.loads
        ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
        ("```json\n" + " \n" * 20_000 + "x", "is not a skill"),  # the fence regex backtracked cubically
        ('{"skill": 5}', '"skill" must be one skill string'),
    ]:
        plan, errors = parse_reply(reply, table)
        assert plan == [] and [e.category for e in errors] == ["parse_error"], reply[:40]
        assert message in errors[0].message
    assert time.perf_counter() - start < 2.0
    plan, errors = parse_reply("```\n\n\nwait()\n\n\n```", table)  # fences still unwrap
    assert errors == [] and [p.text for p in plan] == ["wait()"]


def test_garbage_http_bodies_are_clear_backend_errors(server: ChatServer) -> None:
    messages = [{"role": "user", "content": "hi"}]
    chat = {"choices": [{"message": {"content": None}, "finish_reason": "length"}]}
    for entry, match in [
        (("raw", b"[" * 100_000 + b"]" * 100_000), "malformed reply.*not JSON"),
        (("raw", b'data: {"choices": []}\n\ndata: [DONE]\n\n'), "not JSON \\(a streaming server-sent-events"),
        (("raw", json.dumps(chat).encode()), "content is null, not a string \\(finish_reason 'length'\\)"),
    ]:
        server.script = [entry]
        with pytest.raises(LLMBackendError, match=match):
            backend(server).complete(messages)
    usage = {"prompt_tokens": True, "completion_tokens": -5}
    server.script = [
        ("raw", json.dumps({"choices": [{"message": {"content": "wait()"}}], "usage": usage}).encode())
    ]
    completion = backend(server).complete(messages)
    assert (completion.tokens_in, completion.tokens_out) == (None, None)  # counted as usage_missing


def test_trickling_and_oversized_replies_are_abandoned(server: ChatServer, monkeypatch) -> None:
    messages = [{"role": "user", "content": "hi"}]
    server.script = [("trickle", 3.0)]  # every read gets a byte in time: the socket timeout never fires
    start = time.perf_counter()
    with pytest.raises(LLMBackendError, match=r"did not finish within 0\.3 s"):
        backend(server, timeout_s=0.3).complete(messages)
    assert time.perf_counter() - start < 1.5
    monkeypatch.setattr("ethogym.policies.llm_backends.MAX_REPLY_BYTES", 1000)
    server.script = [("raw", b" " * 5000)]
    with pytest.raises(LLMBackendError, match="more than 0 MiB") as info:
        backend(server, max_retries=2).complete(messages)
    assert info.value.attempts == 1 and server.hits == 2  # not retried


def test_redirects_are_reported_not_followed(server: ChatServer) -> None:
    messages = [{"role": "user", "content": "hi"}]
    for code in (302, 307):
        server.script = [("redirect", code, "/v1/chat/completions")]
        before = server.hits
        with pytest.raises(LLMBackendError, match=f"HTTP {code}.*redirects to /v1/chat/completions"):
            backend(server).complete(messages)
        assert server.hits == before + 1


def test_unusable_url_and_api_key_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="bad port"):
        OpenAIChatBackend("m", "http://127.0.0.1:abc/v1")
    with pytest.raises(ConfigError, match="needs a host name"):
        OpenAIChatBackend("m", "http:///v1")
    with pytest.raises(ConfigError, match="invalid host name 'local..host'"):
        OpenAIChatBackend("m", "http://local..host:8000/v1")  # the socket layer's idna codec refuses it
    typo = OpenAIChatBackend("m", "http://localhost:8000/v1", max_retries=3)
    typo.url = "http://local..host:8000/v1/chat/completions"  # past the check: still a backend error
    with pytest.raises(LLMBackendError, match="check the host name") as info:
        typo.complete([{"role": "user", "content": "hi"}])
    assert info.value.attempts == 1
    for key in ("sk-abc\n", "sk-\u043a\u043b\u044e\u0447"):
        with pytest.raises(ConfigError, match="API key contains .*trailing newline"):
            OpenAIChatBackend("m", "http://127.0.0.1:9/v1", api_key=key)


@pytest.mark.parametrize(
    ("option", "match"),
    [
        ({"temperature": float("nan")}, r"temperature must be a finite number >= 0, got nan"),
        ({"max_tokens": 2.5}, r"max_tokens must be a positive integer, got 2\.5"),
        ({"top_p": 0}, r"top_p must be a finite number in the range \(0, 1\], got 0"),
        ({"seed": -3}, r"seed must be an integer >= 0 or None, got -3"),
        ({"timeout_s": float("inf")}, r"timeout_s must be a finite number > 0, got inf"),
        ({"max_retries": True}, r"max_retries must be an integer >= 0, got True"),
        ({"backoff_s": float("nan")}, r"backoff_s must be a finite number >= 0, got nan"),
    ],
)
def test_a_backend_built_directly_checks_its_settings(option: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        OpenAIChatBackend("m", "http://127.0.0.1:9/v1", **option)


def test_cache_entries_of_the_wrong_type_are_misses(tmp_path: Path) -> None:
    cache = LLMCache(tmp_path)
    key = cache_key({"backend": "openai", "model": "m"}, [{"role": "user", "content": "x"}])
    cache.put(key, {"text": "wait()"})
    for record in (
        {"format": 1, "text": None},
        {"format": 1, "text": 5},
        {"format": 1, "text": "wait()", "tokens_in": "abc"},
        {"format": 1, "text": "wait()", "tokens_out": True},
        {"format": 1, "text": "wait()", "tokens_in": -1},
    ):
        cache.path(key).write_text(json.dumps(record))
        assert cache.get(key) is None, record
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="cannot be a folder.*cache=off"):
        LLMCache(tmp_path / "file" / "sub")


def test_an_unwritable_cache_entry_is_recorded_and_the_reply_used(
    env: gym.Env, server: ChatServer, tmp_path: Path
) -> None:
    server.default = lambda body: plan_reply("wait()")
    cache = LLMCache(tmp_path)
    planner = LLMPlanner(env, backend(server), mode="step", cache=cache)
    _, info = env.reset(seed=0)
    planner.reset(0)
    key = cache_key(planner.backend.identity(), planner.render_prompt(info))
    cache.path(key).mkdir(parents=True)  # the entry's path is a folder: os.replace fails
    run_episode(env, planner, seed=0, max_steps=2)
    metrics = planner.episode_metrics()
    assert metrics["cache_errors"] == 1 and metrics["plans"] == 2 and metrics["backend_errors"] == 0
    assert (
        "cannot write the LLM cache entry" in metrics["last_error"] and "cache=off" in metrics["last_error"]
    )


def test_hf_backend_with_nan_logits_is_a_backend_error(env: gym.Env, tiny_lm: Path) -> None:
    import torch

    broken = HFScoringBackend(tiny_lm)
    with torch.no_grad():
        broken.lm.lm_head.weight.fill_(float("nan"))
    with pytest.raises(LLMBackendError, match="NaN"):
        broken.complete([{"role": "user", "content": "hi"}], ["wait()", "done()"])
    planner = LLMPlanner(env, broken, cache=None, max_consecutive_failures=2)
    result = run_episode(env, planner, seed=0, max_steps=3)
    metrics = planner.episode_metrics()
    assert result["steps"] == 3 and metrics["backend_errors"] == 2 and metrics["gave_up"] == 1
    assert metrics["skills_executed"] == 0 and "NaN" in metrics["last_error"]


# --- failures that used to escape as raw tracebacks ---------------------------------------------------
GEMMA_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def test_a_chat_template_without_a_system_role_gets_the_system_text_in_the_user_turn(
    env: gym.Env, tiny_lm: Path
) -> None:
    backend_ = HFScoringBackend(tiny_lm)
    backend_.tokenizer.chat_template = GEMMA_TEMPLATE
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    completion = backend_.complete(messages, ["wait()", "done()"])
    assert json.loads(completion.text)["plan"][0] in ("wait()", "done()")
    assert backend_._prefix(messages) == (
        "<start_of_turn>user\nbe brief\n\nhi<end_of_turn>\n<start_of_turn>model\n" + REPLY_PREFIX
    )
    backend_.tokenizer.chat_template = "{{ raise_exception('no prompts today') }}"
    with pytest.raises(LLMBackendError, match="rejects the prompt.*no prompts today"):
        backend_.complete(messages, ["wait()"])


def test_any_failure_inside_the_hf_backend_is_a_backend_error(env: gym.Env, tiny_lm: Path) -> None:
    backend_ = HFScoringBackend(tiny_lm)

    def out_of_memory(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("CUDA out of memory")

    backend_.lm.forward = out_of_memory
    planner = LLMPlanner(env, backend_, cache=None, max_consecutive_failures=2)
    result = run_episode(env, planner, seed=0, max_steps=2)
    metrics = planner.episode_metrics()
    assert result["steps"] == 2 and metrics["backend_errors"] == 2 and metrics["gave_up"] == 1
    assert "failed to score the skills: RuntimeError: CUDA out of memory" in metrics["last_error"]


def test_a_lone_surrogate_in_a_reply_is_replaced_before_anything_uses_it(
    env: gym.Env, server: ChatServer, tmp_path: Path, monkeypatch
) -> None:
    body = b'{"choices": [{"message": {"content": "pick(\\ud800x)"}}]}'  # valid JSON, invalid UTF-16
    server.default = ("raw", body)
    planner = LLMPlanner(env, backend(server), mode="step", cache=LLMCache(tmp_path / "c"))
    run_episode(env, planner, seed=0, max_steps=2)
    metrics = planner.episode_metrics()
    assert (
        metrics["hallucinated_object"] == 2
        and metrics["cache_errors"] == 0
        and metrics["backend_errors"] == 0
    )
    assert planner.transcript[0]["reply"] == "pick(?x)"
    # The cache itself takes such text too: hashed, stored and read back (then replaced) without failing.
    cache = LLMCache(tmp_path / "d")
    key = cache_key({"backend": "openai"}, [{"role": "user", "content": "a\ud800"}])
    cache.put(key, {"text": "b\udfff"})
    assert cache.get(key)["text"] == "b?"
    # With the cache off, play prints the episode's last_error (the rejected reply) cleanly.
    monkeypatch.setenv("ETHOGYM_LLM_CACHE", str(tmp_path / "e"))
    args = ["play", TRASH, "--policy", f"llm:openai:m@{server.url},cache=off", "--max-steps", "1"]
    result = CliRunner().invoke(app, [*args, "-o", "skill_execution=teleport"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "pick(?x)" in result.output


def test_local_models_are_cached_by_their_resolved_path_and_files(
    tiny_lm: Path, tmp_path: Path, monkeypatch
) -> None:
    import shutil

    for name in ("a", "b"):
        shutil.copytree(tiny_lm, tmp_path / name / "model")
    monkeypatch.chdir(tmp_path / "a")
    first = HFScoringBackend("model").identity()
    monkeypatch.chdir(tmp_path / "b")
    second = HFScoringBackend("model").identity()
    assert first["model"] == str(tmp_path / "a" / "model") and first != second
    weights = next((tmp_path / "b" / "model").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes())  # weights replaced in place: same path, new files
    os.utime(weights, ns=(1, 1))
    assert HFScoringBackend("model").identity()["files"] != second["files"]


def test_a_connection_dropped_mid_reply_is_retried(server: ChatServer) -> None:
    server.script = [("short", 20), plan_reply("wait()")]
    completion = backend(server, max_retries=1).complete([{"role": "user", "content": "hi"}])
    assert completion.text == plan_reply("wait()") and completion.attempts == 2
    server.script = [("short", 20)] * 2
    with pytest.raises(LLMBackendError, match=r"closed mid-reply \(20 bytes read, \d+ more expected\)"):
        backend(server, max_retries=1).complete([{"role": "user", "content": "hi"}])


def test_an_unusable_device_is_a_config_error(env: gym.Env, tiny_lm: Path) -> None:
    import torch

    with pytest.raises(ConfigError, match="device='gpu' is not a torch device; use cpu, cuda, cuda:N or mps"):
        make_policy(f"llm:hf:{tiny_lm},device=gpu", env)
    with pytest.raises(ConfigError, match="device='cuda:99'.*(no CUDA GPU|CUDA GPU\\(s\\))"):
        HFScoringBackend(tiny_lm, device="cuda:99")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="sees no CUDA GPU.*use device=cpu"):
            HFScoringBackend(tiny_lm, device="cuda")
    result = CliRunner().invoke(app, ["play", TRASH, "--policy", f"llm:hf:{tiny_lm},device=gpu"])
    assert (
        result.exit_code == 2 and "not a torch device" in result.output and "Traceback" not in result.output
    )


def test_huge_retry_counts_keep_the_backoff_finite() -> None:
    chat = OpenAIChatBackend(
        "m", "http://127.0.0.1:9/v1", backoff_s=1.0, max_backoff_s=30.0, max_retries=5000
    )
    assert chat._delay(1, None) == 2.0 and chat._delay(4999, None) == 30.0


def test_under_strict_actions_a_masked_skill_is_rejected_not_sent(server: ChatServer) -> None:
    strict = gym.make(TRASH, skill_execution="teleport", strict_actions=True)
    try:
        server.script = [plan_reply("pick(ashcan_1)", "wait()"), plan_reply("navigate_to(ashcan_1)")]
        planner = Recorder(LLMPlanner(strict, backend(server), cache=None))
        result = run_episode(strict, planner, seed=0, max_steps=2)  # used to raise InvalidActionError
    finally:
        strict.close()
    metrics = planner.policy.episode_metrics()
    assert result["steps"] == 2 and all(planner.admissible)
    assert metrics["precondition_failure"] == 1 and metrics["fallback_actions"] == 1
    assert metrics["model_calls"] == 2 and metrics["replans"] == 1 and metrics["skills_executed"] == 1
    assert "pick(ashcan_1) is masked out" in metrics["last_error"]
    assert any(
        h.startswith("rejected 'pick(ashcan_1)': precondition_failure") for h in planner.policy.history
    )
