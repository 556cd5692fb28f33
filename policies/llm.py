"""LLM-planned agents: a closed-loop planner over the skill API with an error taxonomy per episode.

Each time it needs a plan, ``LLMPlanner`` renders a versioned prompt template (``policies/prompts/``)
with the text observation (scene, goal in words, holding, last skill result), the skill forms of the
task, a short history of executed skills and rejected replies, and the skills admissible now
(``env.unwrapped.skill_names()`` filtered by ``info["action_mask"]``). The reply is parsed strictly
(never ``eval``): JSON ``{"plan": ["pick(can_1)", ...]}`` / ``{"skill": "..."}`` / ``["...", ...]``
(optionally inside one Markdown code fence, after an optional leading ``<think>...</think>`` block of
a reasoning model), or one skill per line (an optional ``-``, ``*``, ``1.`` or
``1)`` marker allowed). Each skill is checked with the env's ``SkillTable.parse``.

Closed loop: in ``mode="plan"`` the planner executes a reply's skills in order and asks the model again
when the plan runs out or a skill fails (``info["skill_result"]``); in ``mode="step"`` it asks every
step and runs only the first skill. The model is called at most once per env step.

When there is no usable skill (backend error after retries, or a reply with no valid skill) the planner
records the error and returns ``wait()``, so the episode goes on. After ``max_consecutive_failures``
model calls in a row without a usable skill it stops calling the model and waits until the
environment ends the episode (``gave_up`` = 1): it never declares ``done`` on its own, since a done
claim it cannot back would count as deception.

Error taxonomy per episode (``episode_metrics()``), after the Embodied Agent Interface:

- ``parse_error``: a reply (or one plan entry) that is not a skill in the grammar ``name(args)``.
- ``hallucinated_skill``: a skill name the task does not have.
- ``hallucinated_object``: an object, person or gesture name the task does not have.
- ``wrong_argument_count``: a known skill with the wrong number of arguments.
- ``affordance_error``: a known skill on a known object that does not apply to it (``open(apple_1)``).
- ``precondition_failure``: a skill executed while its preconditions do not hold (masked out, or the
  held object it names is not in hand); the env fails it with PRE_CONDITION. Under the env option
  ``strict_actions`` (where the env would raise instead) the planner does not send it: it counts the
  skill as a rejected reply, drops the plan and waits, asking again next step.
- ``wrong_order``: the precondition failures that a missing earlier step explains (the env's reason
  asks for a step "first", or the skill names a held object while the hand is empty).
- ``repeated_action``: a skill (other than ``wait``) executed right after the same skill.
- ``false_completion_claim``: ``done()`` executed while the goal is not met.
- ``execution_failure``: skills that failed during execution (EXECUTION / POST_CONDITION).

plus ``model_calls``, ``backend_calls``, ``cache_hits``, ``backend_errors``, ``backend_retries``,
``replans`` (model calls after a failed skill), ``plans`` (replies with a usable skill),
``skills_executed``, ``fallback_actions``, ``gave_up``, ``tokens_in``, ``tokens_out`` (cached replies
count their stored tokens, so reruns report the same totals; servers that do not report usage add
``usage_missing``), ``cache_errors`` (replies that could not be written to the cache: the reply is
still used, and ``last_error`` names the path and the problem), ``latency_s`` (wall time in backend
calls, failed ones included; 0 for cache hits) and ``last_error`` (the latest backend error, rejection
or cache-write message, or None).

Spec strings (``make_policy(spec, env)``, ``ethogym play --policy``)::

    llm:openai:MODEL[@BASE_URL][,key=value...]   e.g. llm:openai:qwen2.5:7b@http://localhost:11434/v1
    llm:hf:PATH[,key=value...]                   e.g. llm:hf:/models/Qwen2.5-0.5B-Instruct,score=sum

Options: ``mode`` (plan | step), ``template`` (name in policies/prompts or a .txt path), ``history``
(entries shown, default 8), ``max_failures`` (int or none), ``cache`` (auto | on | off | a folder;
auto caches when temperature is 0); openai: ``temperature`` (0), ``max_tokens`` (256), ``top_p``,
``seed``, ``timeout`` (s, 60), ``retries`` (3), ``backoff`` (s, 1), ``api_key_env``; hf: ``device``
(cpu), ``score`` (mean | sum), ``batch_size`` (8). Without ``@BASE_URL`` the URL comes from
``ETHOGYM_LLM_BASE_URL``. Options are separated by commas, so the model name and URL cannot hold one.
"""

from __future__ import annotations

import json
import math
import re
import string
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from ethogym.envs.options import checked_int, checked_number
from ethogym.envs.skills import HELD_FIRST, SkillTable
from ethogym.errors import ConfigError, InvalidActionError

from .base import action_mask, check_info, checked_seed, require_env, skill_result
from .llm_backends import (
    Completion,
    HFScoringBackend,
    LLMBackend,
    LLMBackendError,
    OpenAIChatBackend,
)
from .llm_cache import LLMCache, cache_key

DEFAULT_TEMPLATE = "planner_v1"
MODES = ("plan", "step")
ERROR_KINDS = (
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
)
COUNTERS = (
    *ERROR_KINDS,
    "model_calls",
    "backend_calls",
    "cache_hits",
    "backend_errors",
    "backend_retries",
    "replans",
    "plans",
    "skills_executed",
    "fallback_actions",
    "gave_up",
    "tokens_in",
    "tokens_out",
    "usage_missing",
    "cache_errors",
)
# The shape of a skill call, looser than the env's grammar so bad names can be told from bad syntax.
_CALL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*\(([^()]*)\)$")
_LIST_MARKER = re.compile(r"^(?:[-*]|\d+[.)])\s+")
_THINK = re.compile(r"^\s*<think>.*?</think>", re.DOTALL)  # reasoning models' leading thoughts
_FENCE_LANG = re.compile(r"[A-Za-z]*")


def _unfence(text: str) -> str | None:
    """The stripped body of a reply that is one Markdown code fence (```lang, newline, body, newline,
    ```), or None. String operations, not a backtracking regex: a fence full of blank lines is linear."""
    if len(text) < 6 or not text.startswith("```") or not text.endswith("```"):
        return None
    inner = text[3:-3]
    after = inner[_FENCE_LANG.match(inner).end() :]  # type: ignore[union-attr]
    body = after.strip()
    if not body:
        return "" if after.count("\n") >= 2 else None
    lead = after[: len(after) - len(after.lstrip())]
    trail = after[len(after.rstrip()) :]
    return body if "\n" in lead and "\n" in trail else None


# --- prompt templates ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PromptTemplate:
    """A versioned prompt: a ``[system]`` and a ``[user]`` section with ``$placeholders``.

    Placeholders: ``$observation``, ``$goal``, ``$skills`` (admissible now, one per line),
    ``$skill_forms``, ``$history``, ``$holding``.
    """

    name: str
    system: str
    user: str

    FIELDS = ("observation", "goal", "skills", "skill_forms", "history", "holding")

    @classmethod
    def load(cls, name: str) -> PromptTemplate:
        """Load ``policies/prompts/<name>.txt`` by name (e.g. ``planner_v1``) or a template file path."""
        path = Path(name).expanduser()
        if path.suffix == ".txt" and path.is_file():
            text, label = path.read_text(encoding="utf-8"), str(path)
        else:
            resource = files("ethogym.policies") / "prompts" / f"{name}.txt"
            if not resource.is_file():
                raise ConfigError(
                    f"unknown prompt template {name!r}; shipped templates: {', '.join(shipped_templates())}, "
                    f"or give the path of a .txt file"
                )
            text, label = resource.read_text(encoding="utf-8"), name
        return cls.parse(label, text)

    @classmethod
    def parse(cls, name: str, text: str) -> PromptTemplate:
        sections: dict[str, list[str]] = {}
        current: list[str] | None = None
        for line in text.splitlines():
            header = line.strip().lower()
            if header in ("[system]", "[user]"):
                current = sections.setdefault(header[1:-1], [])
            elif current is not None:
                current.append(line)
            elif line.strip():
                raise ConfigError(f"prompt template {name}: text before the first [system] or [user] line")
        if "user" not in sections:
            raise ConfigError(f"prompt template {name} needs a [user] section (and optionally [system])")
        template = cls(
            name, "\n".join(sections.get("system", [])).strip(), "\n".join(sections["user"]).strip()
        )
        for part in (template.system, template.user):
            for match in string.Template.pattern.finditer(part):
                field = match.group("named") or match.group("braced")
                if field and field not in cls.FIELDS:
                    raise ConfigError(
                        f"prompt template {name} uses unknown placeholder ${field}; "
                        f"known: {', '.join('$' + f for f in cls.FIELDS)}"
                    )
        return template

    def render(self, **fields: str) -> list[dict[str, str]]:
        """Chat messages with the placeholders filled in."""
        messages = []
        if self.system:
            messages.append(
                {"role": "system", "content": string.Template(self.system).safe_substitute(fields)}
            )
        messages.append({"role": "user", "content": string.Template(self.user).safe_substitute(fields)})
        return messages


def shipped_templates() -> list[str]:
    """Names of the prompt templates in ``policies/prompts``."""
    folder = files("ethogym.policies") / "prompts"
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".txt"))


def skill_forms(table: SkillTable) -> list[str]:
    """One line per skill name of the task: ``pick(OBJECT)``, ``place_in(HELD, OBJECT)``, ``wait()``."""
    forms: dict[str, str] = {}
    for skill in table.skills:
        if skill.name in forms:
            continue
        if skill.target is None:
            forms[skill.name] = f"{skill.name}()"
        elif skill.name == "gesture":
            kinds = sorted({s.target for s in table.skills if s.name == "gesture"})
            forms[skill.name] = f"gesture(KIND) with KIND in {', '.join(kinds)}"
        else:
            forms[skill.name] = f"{skill.name}({'HELD, ' if skill.name in HELD_FIRST else ''}TARGET)"
    return list(forms.values())


# --- strict reply parsing -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedSkill:
    """A reply entry that names a skill of the table: its index, the held object it claims, its text."""

    index: int
    claim: str | None
    text: str


@dataclass(frozen=True)
class ReplyError:
    """A rejected reply or plan entry: its taxonomy category, the offending text and why."""

    category: str
    text: str
    message: str


def split_reply(reply: str) -> list[str] | ReplyError:
    """The skill texts of a reply in order, or a parse error. Never evaluates the reply."""
    text = _THINK.sub("", reply, count=1).strip()
    fenced = _unfence(text)
    if fenced is not None:
        text = fenced
    if not text:
        return ReplyError("parse_error", reply, "the reply is empty")
    if text[0] in "{[":
        try:
            data = json.loads(text)
        except ValueError as exc:
            return ReplyError("parse_error", reply, f"invalid JSON: {exc}")
        except RecursionError:
            return ReplyError("parse_error", reply, "invalid JSON: nested too deeply")
        if isinstance(data, dict):
            if "plan" in data:
                data = data["plan"]
            elif "skill" in data:
                if not isinstance(data["skill"], str):
                    return ReplyError("parse_error", reply, '"skill" must be one skill string')
                data = [data["skill"]]
            else:
                return ReplyError("parse_error", reply, 'JSON object without a "plan" list or "skill" string')
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            return ReplyError("parse_error", reply, '"plan" must be a list of skill strings')
        if not data:
            return ReplyError("parse_error", reply, "the plan is empty")
        return [item.strip() for item in data]
    lines = []
    for line in text.splitlines():
        line = _LIST_MARKER.sub("", line.strip()).strip()
        if not line:
            continue
        if not _CALL.match(line):
            return ReplyError(
                "parse_error",
                reply,
                f"line {line[:60]!r} is not a skill: reply with JSON or one skill per line",
            )
        lines.append(line)
    return lines


def classify_skill(text: str, table: SkillTable) -> PlannedSkill | ReplyError:
    """Check one skill text against the task's table with ``SkillTable.parse`` and, when it is
    rejected, name the taxonomy category."""
    try:
        index, claim = table.parse(text)
    except InvalidActionError as exc:
        message = str(exc)
        call = _CALL.match(text.strip())
        if call is None:
            return ReplyError("parse_error", text, message)
        name = call.group(1)
        args = [a.strip() for a in call.group(2).split(",") if a.strip()]
        known = {s.name for s in table.skills}
        if name not in known:
            return ReplyError("hallucinated_skill", text, message)
        targets = {s.target for s in table.skills if s.name == name}
        if any(a not in table.labels and a not in targets for a in args):
            return ReplyError("hallucinated_object", text, message)
        expected = (0 if name in ("wait", "done") else 1) + (name in HELD_FIRST)
        if len(args) != expected and not (name in HELD_FIRST and len(args) == 1):
            return ReplyError("wrong_argument_count", text, message)
        return ReplyError("affordance_error", text, message)
    skill = table[index]
    return PlannedSkill(index, claim, skill.text(claim))


def parse_reply(reply: str, table: SkillTable) -> tuple[list[PlannedSkill], list[ReplyError]]:
    """Strictly parse a reply into the skills to run (the valid prefix of the plan) and the errors
    (one per rejected entry, or one for a reply that is not a plan at all)."""
    texts = split_reply(reply)
    if isinstance(texts, ReplyError):
        return [], [texts]
    plan: list[PlannedSkill] = []
    errors: list[ReplyError] = []
    for text in texts:
        result = classify_skill(text, table)
        if isinstance(result, ReplyError):
            errors.append(result)
        elif not errors:  # later steps may depend on a rejected one: keep only the valid prefix
            plan.append(result)
    return plan, errors


# --- the planner ---------------------------------------------------------------------------------------
_AUTO = "auto"


class LLMPlanner:
    """A closed-loop LLM planner over an ethogym env's skills (see the module docstring)."""

    def __init__(
        self,
        env: gym.Env,
        backend: LLMBackend,
        *,
        template: str | PromptTemplate = DEFAULT_TEMPLATE,
        mode: str = "plan",
        history: int = 8,
        cache: LLMCache | str | None = _AUTO,
        max_consecutive_failures: int | None = 5,
    ) -> None:
        self.env = require_env(env, "the LLM planner", simulated=True).unwrapped
        if self.env.config.get("control_mode") != "skills":
            raise ConfigError("the LLM planner acts through skills; make the env with control_mode='skills'")
        if not all(callable(getattr(backend, method, None)) for method in ("complete", "identity")):
            raise ConfigError(
                f"the LLM planner's backend needs complete() and identity(), got {backend!r:.80}; pass an "
                "OpenAIChatBackend or HFScoringBackend, or build the planner from a spec with "
                "make_policy('llm:openai:MODEL', env)"
            )
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if history < 0:
            raise ConfigError(f"history must be >= 0 entries, got {history}")
        if max_consecutive_failures is not None and max_consecutive_failures < 1:
            raise ConfigError(
                f"max_consecutive_failures must be >= 1 or None, got {max_consecutive_failures}"
            )
        self.backend = backend
        self.template = template if isinstance(template, PromptTemplate) else PromptTemplate.load(template)
        self.mode = mode
        self.history_size = history
        if cache == _AUTO:
            deterministic = float(backend.identity().get("temperature", 0.0) or 0.0) == 0.0
            cache = LLMCache() if deterministic else None
        elif isinstance(cache, str):
            cache = LLMCache(cache)
        self.cache: LLMCache | None = cache
        self.max_consecutive_failures = max_consecutive_failures
        self.transcript: list[dict[str, Any]] = []
        self.reset()

    def __repr__(self) -> str:
        return f"LLMPlanner({self.backend!r}, template={self.template.name!r}, mode={self.mode!r})"

    # --- Policy protocol -------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        checked_seed(seed, "LLMPlanner.reset()")  # unused (a backend has its own seed), still checked
        self.counts: dict[str, float] = dict.fromkeys(COUNTERS, 0)
        self.latency_s = 0.0
        self.history: deque[str] = deque(maxlen=max(self.history_size, 1))
        self.transcript = []
        self._plan: deque[PlannedSkill] = deque()
        self._pending: str | None = None  # text of the skill sent last, until its result is seen
        self._pending_fallback = False
        self._last_executed: str | None = None
        self._after_failure = False
        self._consecutive_failures = 0
        self.last_error: str | None = None

    def act(self, obs: Any, info: Mapping[str, Any]) -> int | str:
        """The next skill: its table index, or its text when it names a held object that is not in hand
        (so the env rejects it with its own PRE_CONDITION reason instead of acting on another object)."""
        self.env._require_reset("LLMPlanner.act()")  # the prompt reads the scene reset() builds
        check_info(info, "LLMPlanner.act()")
        self._absorb(info)
        asked = not self._plan and not self.counts["gave_up"]
        if asked:
            self._ask(info)
        if self._plan:
            action = self._execute(self._plan.popleft(), info)
            if action is not None:
                return action
            if asked:  # this call's reply gave no skill the env would take
                self._no_skill()
        return self._fallback()

    def episode_metrics(self) -> dict[str, Any]:
        """The error taxonomy and costs of the current (or just finished) episode."""
        metrics: dict[str, Any] = {k: int(v) for k, v in self.counts.items()}
        metrics["latency_s"] = float(self.latency_s)
        metrics["template"] = self.template.name
        metrics["mode"] = self.mode
        metrics["last_error"] = self.last_error
        return metrics

    # --- prompt --------------------------------------------------------------------------------------------
    def admissible(self, info: Mapping[str, Any]) -> list[str]:
        """Text forms of the skills whose preconditions hold now."""
        return [name for name, ok in zip(self.env.skill_names(), self._mask(info), strict=True) if ok]

    def _mask(self, info: Mapping[str, Any]) -> np.ndarray:
        mask = action_mask(info, len(self.env.table), "LLMPlanner")
        return mask if mask is not None else np.asarray(self.env.action_masks(), dtype=bool)

    def render_prompt(self, info: Mapping[str, Any]) -> list[dict[str, str]]:
        """The chat messages for the current state."""
        self.env._require_reset("LLMPlanner.render_prompt()")
        held = self.env.robot.held
        history = list(self.history)[-self.history_size :] if self.history_size else []
        return self.template.render(
            observation=self.env.text_observation(),
            goal="; ".join(self.env.goal_text()),
            skills="\n".join(f"- {s}" for s in self.admissible(info)),
            skill_forms="\n".join(f"- {s}" for s in skill_forms(self.env.table)),
            history="\n".join(f"- {h}" for h in history) if history else "- (nothing yet)",
            holding=held.label if held is not None else "nothing",
        )

    # --- closed loop -----------------------------------------------------------------------------------
    def _absorb(self, info: Mapping[str, Any]) -> None:
        """Read the result of the skill sent last; a failure drops the rest of the plan."""
        if self._pending is None:
            return
        result = skill_result(info, "LLMPlanner.act()")
        text = str(result.get("text") or self._pending)
        self.history.append(text + (" (planner fallback)" if self._pending_fallback else ""))
        if not result.get("success", True):
            if self._plan:
                self._plan.clear()
            self._after_failure = True
            if result.get("status") in ("EXECUTION", "POST_CONDITION"):
                self.counts["execution_failure"] += 1
        self._pending = None
        self._pending_fallback = False

    def _ask(self, info: Mapping[str, Any]) -> None:
        """One model call; fills the plan with the reply's valid skills."""
        messages = self.render_prompt(info)
        candidates = self.admissible(info)
        self.counts["model_calls"] += 1
        if self._after_failure:
            self.counts["replans"] += 1
            self._after_failure = False
        try:
            completion = self._complete(messages, candidates)
        except LLMBackendError as exc:
            self.counts["backend_errors"] += 1
            self.last_error = str(exc)
            self.transcript.append({"error": str(exc)})
            self._no_skill()
            return
        plan, errors = parse_reply(completion.text, self.env.table)
        for error in errors:
            self.counts[error.category] += 1
            self.history.append(
                f"rejected {error.text.strip()[:80]!r}: {error.category}: {error.message[:160]}"
            )
        self.transcript.append(
            {
                "reply": completion.text,
                "cached": completion.cached,
                "plan": [p.text for p in plan],
                "errors": [e.category for e in errors],
            }
        )
        if not plan:
            self.last_error = errors[0].message if errors else "the reply has no skill"
            self._no_skill()
            return
        self._consecutive_failures = 0
        self.counts["plans"] += 1
        self._plan.extend(plan if self.mode == "plan" else plan[:1])

    def _complete(self, messages: list[dict[str, str]], candidates: list[str]) -> Completion:
        """The backend's reply, from the cache when it holds one."""
        key = None
        if self.cache is not None:
            key = cache_key(
                self.backend.identity(), messages, candidates if self.backend.uses_candidates else None
            )
            record = self.cache.get(key)
            if record is not None:
                self.counts["cache_hits"] += 1
                completion = Completion(
                    text=str(record["text"]),
                    tokens_in=record.get("tokens_in"),
                    tokens_out=record.get("tokens_out"),
                    cached=True,
                )
                self._count_usage(completion)
                return completion
        self.counts["backend_calls"] += 1
        start = time.perf_counter()
        try:
            completion = self.backend.complete(messages, candidates)
        except LLMBackendError as exc:
            self.counts["backend_retries"] += exc.attempts - 1
            raise
        finally:
            self.latency_s += time.perf_counter() - start  # failed calls cost time too
        self.counts["backend_retries"] += completion.attempts - 1
        self._count_usage(completion)
        if key is not None and self.cache is not None:
            record = {
                "text": completion.text,
                "tokens_in": completion.tokens_in,
                "tokens_out": completion.tokens_out,
                "identity": self.backend.identity(),
                "template": self.template.name,
            }
            try:
                self.cache.put(key, record)
            except (OSError, TypeError, ValueError) as exc:  # the reply itself is fine: use it uncached
                self.counts["cache_errors"] += 1
                self.last_error = (
                    f"cannot write the LLM cache entry {self.cache.path(key)}: {type(exc).__name__}: {exc}; "
                    f"the reply was used uncached (fix the folder, point ETHOGYM_LLM_CACHE / cache= at a "
                    f"writable folder, or use cache=off)"
                )
        return completion

    def _count_usage(self, completion: Completion) -> None:
        if completion.tokens_in is None or completion.tokens_out is None:
            self.counts["usage_missing"] += 1
        self.counts["tokens_in"] += completion.tokens_in or 0
        self.counts["tokens_out"] += completion.tokens_out or 0

    def _no_skill(self) -> None:
        self._consecutive_failures += 1
        limit = self.max_consecutive_failures
        if limit is not None and self._consecutive_failures >= limit:
            self.counts["gave_up"] = 1

    def _execute(self, step: PlannedSkill, info: Mapping[str, Any]) -> int | str | None:
        """The action for a planned skill, counting its errors; None when it is rejected instead (a
        masked-out skill under ``strict_actions``, where the env would raise rather than fail it)."""
        env = self.env
        skill = env.table[step.index]
        held = env.robot.held.label if env.robot.held is not None else None
        action: int | str = step.index
        if step.claim is not None and step.claim != held:
            reason = f"holding {held or 'nothing'}, not {step.claim}"
            action = step.text  # the env checks the claim itself
            wrong_order = held is None
        else:
            reason = (
                None if self._mask(info)[step.index] else (env.executor.precondition(skill) or "masked out")
            )
            wrong_order = reason is not None and " first" in reason
        if reason is not None:
            self.counts["precondition_failure"] += 1
            self.counts["wrong_order"] += int(wrong_order)
            if env.episode_config.get("strict_actions"):
                message = f"{step.text} is masked out: {reason}"
                self.history.append(f"rejected {step.text!r}: precondition_failure: {message[:160]}")
                self.last_error = message
                self._plan.clear()  # the rest of the plan followed from this step
                self._after_failure = True
                return None
        if step.text == self._last_executed and skill.name != "wait":
            self.counts["repeated_action"] += 1
        if skill.name == "done" and not info.get("is_success", False):
            self.counts["false_completion_claim"] += 1
        self.counts["skills_executed"] += 1
        self._last_executed = step.text
        self._pending = step.text
        if self.mode == "step":
            self._plan.clear()
        return action

    def _fallback(self) -> int:
        """``wait()``: the safe action when the model gave no usable skill."""
        self.counts["fallback_actions"] += 1
        self._pending = "wait()"
        self._pending_fallback = True
        self._last_executed = "wait()"
        return self.env.table.index[("wait", None)]


# --- spec strings --------------------------------------------------------------------------------------
_COMMON_KEYS = {"mode", "template", "history", "max_failures", "cache"}
_OPENAI_KEYS = {"temperature", "max_tokens", "top_p", "seed", "timeout", "retries", "backoff", "api_key_env"}
_HF_KEYS = {"device", "score", "batch_size"}
_SPEC_HELP = "write it as llm:openai:MODEL[@BASE_URL][,key=value...] or llm:hf:PATH[,key=value...]"


def _number(
    key: str, raw: str, kind: type, low: float = 0, high: float = math.inf, above: bool = False
) -> Any:
    """Spec option ``key=raw`` as an int (``kind`` int: an integer >= ``low``) or a float (a finite
    number in [low, high], or (low, high] with ``above``); a ConfigError naming the option otherwise."""
    name = f"LLM spec option {key}={raw!r}"
    try:
        value = kind(raw)
    except ValueError:
        value = raw  # not a number at all: the check below says what the option takes
    if kind is int:
        return checked_int(name, value, low=int(low))
    return checked_number(name, value, low, high, above=above)


def parse_llm_spec(argument: str) -> tuple[str, str, str | None, dict[str, str]]:
    """Split the argument of an ``llm:`` spec into (backend, model or path, base URL, options)."""
    kind, sep, rest = argument.partition(":")
    if not sep or kind not in ("openai", "hf") or not rest:
        raise ConfigError(f"cannot read LLM spec 'llm:{argument}'; {_SPEC_HELP}")
    head, *pairs = rest.split(",")
    options: dict[str, str] = {}
    allowed = _COMMON_KEYS | (_OPENAI_KEYS if kind == "openai" else _HF_KEYS)
    for pair in pairs:
        key, eq, value = pair.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ConfigError(f"LLM spec option {pair!r} is not key=value; {_SPEC_HELP}")
        if key not in allowed:
            raise ConfigError(f"unknown option {key!r} for llm:{kind}; known: {', '.join(sorted(allowed))}")
        if key in options:
            raise ConfigError(
                f"LLM spec option {key!r} is given twice ({key}={options[key]!r} and "
                f"{key}={value.strip()!r}); give each option once"
            )
        options[key] = value.strip()
    url = None
    if kind == "openai":
        match = re.match(r"^(?P<model>.+?)@(?P<url>https?://.+)$", head)
        if match:
            head, url = match.group("model"), match.group("url")
        elif "@" in head:
            raise ConfigError(f"the base URL in 'llm:{argument}' must start with http:// or https://")
    if not head.strip():
        raise ConfigError(f"LLM spec 'llm:{argument}' names no model; {_SPEC_HELP}")
    return kind, head.strip(), url, options


def planner_from_spec(env: gym.Env, argument: str) -> LLMPlanner:
    """Build an ``LLMPlanner`` from the argument of an ``llm:`` spec (registered as policy ``llm``)."""
    kind, model, url, options = parse_llm_spec(argument)
    if options.get("api_key_env") == "":
        raise ConfigError(
            "LLM spec option api_key_env= is empty; name the environment variable that holds the API key, "
            "e.g. api_key_env=OPENAI_API_KEY (or leave the option out to read ETHOGYM_LLM_API_KEY / "
            "OPENAI_API_KEY)"
        )
    if kind == "openai":
        backend: LLMBackend = OpenAIChatBackend(
            model,
            url,
            api_key_env=options.get("api_key_env"),
            temperature=_number("temperature", options.get("temperature", "0"), float),
            max_tokens=_number("max_tokens", options.get("max_tokens", "256"), int, low=1),
            top_p=_number("top_p", options["top_p"], float, high=1, above=True)
            if "top_p" in options
            else None,
            seed=_number("seed", options["seed"], int) if "seed" in options else None,
            timeout_s=_number("timeout", options.get("timeout", "60"), float, above=True),
            max_retries=_number("retries", options.get("retries", "3"), int),
            backoff_s=_number("backoff", options.get("backoff", "1"), float),
        )
    else:
        backend = HFScoringBackend(
            model,
            device=options.get("device", "cpu"),
            score=options.get("score", "mean"),
            batch_size=_number("batch_size", options.get("batch_size", "8"), int, low=1),
        )
    cache_option = options.get("cache", _AUTO)
    cache: LLMCache | str | None
    if cache_option in (_AUTO, ""):
        cache = _AUTO
    elif cache_option == "on":
        cache = LLMCache()
    elif cache_option == "off":
        cache = None
    else:
        cache = LLMCache(cache_option)
    max_failures = options.get("max_failures", "5")
    return LLMPlanner(
        env,
        backend,
        template=options.get("template", DEFAULT_TEMPLATE),
        mode=options.get("mode", "plan"),
        history=_number("history", options.get("history", "8"), int),
        cache=cache,
        max_consecutive_failures=None
        if max_failures.lower() == "none"
        else _number("max_failures", max_failures, int, low=1),
    )


def llm_spec(policy: str, base_url: str | None, model: str | None, api_key_env: str | None) -> str:
    """The policy spec for ``ethogym play --policy llm --llm-model M [--llm-base-url URL]
    [--llm-api-key-env VAR]``; other policies pass through unchanged."""
    if policy != "llm":
        if base_url or model or api_key_env:
            raise ConfigError(
                "--llm-base-url / --llm-model / --llm-api-key-env go with --policy llm; a full "
                "'llm:...' spec carries its own model, URL and options"
            )
        return policy
    if not model:
        raise ConfigError(
            "--policy llm needs --llm-model M (and --llm-base-url URL unless ETHOGYM_LLM_BASE_URL is set), "
            "or a full spec such as llm:openai:M@http://localhost:8000/v1"
        )
    if "," in model or (base_url and "," in base_url):
        raise ConfigError("the LLM model name and base URL cannot contain a comma")
    spec = f"llm:openai:{model}" + (f"@{base_url}" if base_url else "")
    return spec + (f",api_key_env={api_key_env}" if api_key_env else "")
