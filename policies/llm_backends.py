"""Model backends for the LLM planner.

``OpenAIChatBackend`` speaks the OpenAI chat-completions protocol with the standard library only, so it
works against OpenAI and the local servers that copy it (vLLM ``/v1``, Ollama ``:11434/v1``, llama.cpp
``llama-server`` ``/v1``). ``HFScoringBackend`` loads any local causal LM with transformers and picks
the admissible skill with the highest log-likelihood as the continuation of the prompt (SayCan /
LoTa-Bench style), so it never names a skill that is not on offer. torch and transformers are imported
only when that backend is built.

Both answer ``complete(messages, candidates)`` with a ``Completion``; the planner parses its text.
"""

from __future__ import annotations

import copy
import hashlib
import http.client
import inspect
import json
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ethogym.envs.options import checked_int, checked_number
from ethogym.errors import ConfigError, EthogymError

API_KEY_ENV_VARS = ("ETHOGYM_LLM_API_KEY", "OPENAI_API_KEY")
BASE_URL_ENV_VAR = "ETHOGYM_LLM_BASE_URL"
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Scoring backends score each skill as the start of the JSON reply the prompt asks for.
REPLY_PREFIX = '{"plan": ["'
CANDIDATE_SUFFIX = '"'
MAX_REPLY_BYTES = 16 << 20  # a chat reply is kilobytes; more means the wrong endpoint or a runaway stream
_READ_CHUNK = 1 << 16
_MAX_DOUBLINGS = 32  # backoff_s * 2**k stops growing here: 2**1024 overflows a float


class LLMBackendError(EthogymError, RuntimeError):
    """A model call failed: transport error after retries, HTTP error, or a malformed response."""

    def __init__(self, message: str, attempts: int = 1) -> None:
        super().__init__(message)
        self.attempts = attempts  # requests sent before giving up


@dataclass
class Completion:
    """One model reply. Token counts are None when the server does not report usage."""

    text: str
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float = 0.0
    attempts: int = 1
    cached: bool = False
    scores: dict[str, float] = field(default_factory=dict)  # scoring backends: skill -> score


class LLMBackend(Protocol):
    """What the planner needs from a model."""

    kind: str
    model: str
    uses_candidates: bool  # True when the reply depends on the candidate list (then it is in the cache key)

    def identity(self) -> dict[str, Any]:
        """Backend kind, model and sampling settings: the cache key besides the prompt."""
        ...

    def complete(self, messages: Sequence[Mapping[str, str]], candidates: Sequence[str]) -> Completion: ...


def resolve_api_key(api_key_env: str | None = None) -> str | None:
    """The API key from ``api_key_env`` when named (it must be set), else from ETHOGYM_LLM_API_KEY or
    OPENAI_API_KEY; None when none is set (local servers need no key)."""
    if api_key_env:
        value = os.environ.get(api_key_env)
        if not value:
            raise ConfigError(
                f"environment variable {api_key_env} (named as the LLM API key variable) is not set; "
                f"export it or name another with api_key_env= / --llm-api-key-env"
            )
        return value
    for name in API_KEY_ENV_VARS:
        if os.environ.get(name):
            return os.environ[name]
    return None


def chat_completions_url(base_url: str) -> str:
    """``BASE/chat/completions`` for a base URL such as ``http://localhost:8000/v1``."""
    url = base_url.strip()
    if not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"LLM base URL {base_url!r} must start with http:// or https://, e.g. http://localhost:8000/v1"
        )
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError as exc:
        raise ConfigError(
            f"LLM base URL {base_url!r} has a bad port ({exc}), e.g. http://localhost:8000/v1"
        ) from None
    if not parts.hostname or any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise ConfigError(
            f"LLM base URL {base_url!r} needs a host name and no spaces or control characters, "
            f"e.g. http://localhost:8000/v1"
        )
    try:  # what the socket layer does with the name; it would fail only at the first request
        parts.hostname.encode("idna")
    except UnicodeError:
        raise ConfigError(
            f"LLM base URL {base_url!r} has an invalid host name {parts.hostname!r} (an empty or "
            f"over-long label, e.g. a doubled dot); e.g. http://localhost:8000/v1"
        ) from None
    url = url.rstrip("/")
    return url if url.endswith("/chat/completions") else url + "/chat/completions"


class OpenAIChatBackend:
    """OpenAI-compatible ``POST {base_url}/chat/completions`` with timeouts and retries.

    Retries with exponential backoff (``backoff_s * 2**k``, capped at ``max_backoff_s``; a numeric
    ``Retry-After`` header is honoured up to the cap) on HTTP 408 / 429 / 5xx, timeouts and connection
    errors, and on a body still arriving once ``timeout_s`` has passed (a trickling server). Other HTTP
    errors (400, 401, 404, ...), redirects (not followed: the error names the Location), bodies over
    ``MAX_REPLY_BYTES`` and malformed response bodies fail at once: repeating the request would not help.
    """

    kind = "openai"
    uses_candidates = False

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        api_key_env: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 256,
        top_p: float | None = None,
        seed: int | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        if not model:
            raise ConfigError("the OpenAI-compatible backend needs a model name, e.g. 'qwen2.5:7b'")
        base_url = base_url or os.environ.get(BASE_URL_ENV_VAR)
        if not base_url:
            raise ConfigError(
                f"no LLM base URL: write the spec as llm:openai:MODEL@URL, pass --llm-base-url, "
                f"or set {BASE_URL_ENV_VAR} (e.g. http://localhost:8000/v1)"
            )
        self.model = model
        self.base_url = base_url
        self.url = chat_completions_url(base_url)
        self.api_key = api_key if api_key is not None else resolve_api_key(api_key_env)
        if self.api_key and any(not (0x20 < ord(ch) < 0x7F) for ch in self.api_key):
            raise ConfigError(
                "the LLM API key contains a space, control character (a trailing newline?) or non-ASCII "
                "character, which cannot be sent in an HTTP header; check the value of "
                f"{api_key_env or ' / '.join(API_KEY_ENV_VARS)} (or api_key=)"
            )
        # The sampling and retry settings, checked where the backend is built (the spec parser
        # names its own options the same way; a NaN temperature or timeout would reach the server).
        self.temperature = checked_number("temperature", temperature, low=0)
        self.max_tokens = checked_int("max_tokens", max_tokens, low=1)
        self.top_p = None if top_p is None else checked_number("top_p", top_p, 0, 1, above=True)
        self.seed = checked_int("seed", seed, low=0, or_none=True)
        self.timeout_s = checked_number("timeout_s", timeout_s, low=0, above=True)
        self.max_retries = checked_int("max_retries", max_retries, low=0)
        self.backoff_s = checked_number("backoff_s", backoff_s, low=0)
        self.max_backoff_s = checked_number("max_backoff_s", max_backoff_s, low=0)

    def __repr__(self) -> str:
        return f"OpenAIChatBackend(model={self.model!r}, url={self.url!r})"

    def identity(self) -> dict[str, Any]:
        return {
            "backend": self.kind,
            "model": self.model,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "seed": self.seed,
        }

    def _body(self, messages: Sequence[Mapping[str, str]]) -> bytes:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stream": False,
        }
        if self.top_p is not None:
            body["top_p"] = self.top_p
        if self.seed is not None:
            body["seed"] = self.seed
        return json.dumps(body).encode("utf-8")

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        delay = self.backoff_s * 2 ** min(attempt, _MAX_DOUBLINGS)
        if retry_after is not None:
            try:
                delay = max(delay, float(retry_after))
            except ValueError:
                pass  # an HTTP date: keep the exponential delay
        return min(delay, self.max_backoff_s)

    @staticmethod
    def _read(response: Any, deadline: float) -> bytes:
        """The response body, read in chunks: a reply still arriving at ``deadline`` (a server that
        trickles bytes, so that no single read times out) or larger than ``MAX_REPLY_BYTES`` is
        abandoned. One attempt thus lasts at most about twice the timeout."""
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = response.read1(_READ_CHUNK)
            if not chunk:
                # read1 returns b"" also when the server closes early; http.client then still
                # expects ``length`` bytes of the Content-Length.
                missing = getattr(response, "length", None)
                if isinstance(missing, int) and missing > 0:
                    raise http.client.IncompleteRead(b"".join(chunks), missing)
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_REPLY_BYTES:
                raise _ReplyTooLarge
            if time.monotonic() > deadline:
                raise _ReplyTooSlow
            chunks.append(chunk)

    def complete(self, messages: Sequence[Mapping[str, str]], candidates: Sequence[str] = ()) -> Completion:
        """Send the chat request; raise ``LLMBackendError`` when every attempt failed."""
        data = self._body(messages)
        start = time.perf_counter()
        last_error = ""
        retry_after: str | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self._delay(attempt - 1, retry_after))
                retry_after = None
            request = urllib.request.Request(self.url, data=data, headers=self._headers(), method="POST")
            try:
                with _OPENER.open(request, timeout=self.timeout_s) as response:
                    raw = self._read(response, time.monotonic() + self.timeout_s)
            except urllib.error.HTTPError as exc:
                detail = _error_detail(exc)
                last_error = f"HTTP {exc.code} from {self.url}{detail}"
                if exc.code in RETRY_STATUS:
                    retry_after = exc.headers.get("Retry-After") if exc.headers else None
                    continue
                raise LLMBackendError(last_error + _http_hint(exc.code, exc.headers), attempt + 1) from None
            except _ReplyTooLarge:
                raise LLMBackendError(
                    f"malformed reply from {self.url}: more than {MAX_REPLY_BYTES >> 20} MiB "
                    f"(check the base URL points at a chat-completions server and max_tokens)",
                    attempt + 1,
                ) from None
            except _ReplyTooSlow:
                last_error = f"the reply from {self.url} did not finish within {self.timeout_s:g} s"
                continue
            except http.client.IncompleteRead as exc:
                last_error = (
                    f"the connection to {self.url} closed mid-reply ({len(exc.partial)} bytes read, "
                    f"{exc.expected} more expected)"
                )
                continue
            except TimeoutError as exc:
                last_error = f"no reply from {self.url} within {self.timeout_s:g} s ({exc})"
                continue
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, TimeoutError):
                    last_error = f"no reply from {self.url} within {self.timeout_s:g} s"
                else:
                    last_error = f"cannot reach {self.url}: {exc.reason}"
                continue
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                last_error = f"connection to {self.url} failed: {type(exc).__name__}: {exc}"
                continue
            except UnicodeError as exc:  # a host name the socket layer cannot encode: retrying won't help
                raise LLMBackendError(
                    f"cannot send the request to {self.url}: {type(exc).__name__}: {exc} (check the host "
                    f"name in the base URL)",
                    attempt + 1,
                ) from None
            try:
                text, tokens_in, tokens_out = _parse_chat_response(raw, self.url)
            except LLMBackendError as exc:
                exc.attempts = attempt + 1
                raise
            return Completion(
                text=text,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                latency_s=time.perf_counter() - start,
                attempts=attempt + 1,
            )
        attempts = self.max_retries + 1
        raise LLMBackendError(f"{last_error} (gave up after {attempts} attempt(s))", attempts)


class _ReplyTooLarge(Exception):
    pass


class _ReplyTooSlow(Exception):
    pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: urllib would resend a POST as a GET without its body (301-303) or
    refuse it (307/308), so the 3xx itself is reported with its Location."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = exc.read(300).decode("utf-8", "replace").strip()
    except (OSError, http.client.HTTPException):
        body = ""
    return f": {body}" if body else ""


def _http_hint(code: int, headers: Any = None) -> str:
    if 300 <= code < 400:
        location = headers.get("Location") if headers is not None else None
        return (
            f" (the server redirects to {location or 'another URL'}; redirects are not followed, "
            f"give the final URL as the base URL)"
        )
    if code in (401, 403):
        return " (check the API key: ETHOGYM_LLM_API_KEY, OPENAI_API_KEY or --llm-api-key-env)"
    if code == 404:
        return " (check the base URL ends in /v1 and the model name is served there)"
    return ""


def _parse_chat_response(raw: bytes, url: str) -> tuple[str, int | None, int | None]:
    """(content, prompt tokens, completion tokens) of a chat-completions response body."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        snippet = raw[:120].decode("utf-8", "replace")
        hint = ""
        if raw.lstrip().startswith((b"data:", b"event:")):
            hint = " (a streaming server-sent-events reply although stream=false was asked for)"
        raise LLMBackendError(f"malformed reply from {url}: not JSON{hint}: {snippet!r}") from None
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LLMBackendError(
            f"malformed reply from {url}: expected choices[0].message.content, got {str(data)[:120]!r}"
        ) from None
    if not isinstance(content, str):
        kind = "null" if content is None else type(content).__name__
        choice = data["choices"][0]
        finish = choice.get("finish_reason") if isinstance(choice, dict) else None
        raise LLMBackendError(
            f"malformed reply from {url}: message content is {kind}, not a string"
            + (f" (finish_reason {finish!r})" if finish is not None else "")
        )
    usage = data.get("usage") if isinstance(data, dict) else None
    usage = usage if isinstance(usage, dict) else {}
    return (
        valid_text(content),
        _token_count(usage.get("prompt_tokens")),
        _token_count(usage.get("completion_tokens")),
    )


def valid_text(text: str) -> str:
    """``text`` with lone surrogates (JSON can spell them, ``"\\ud800"``; UTF-8 cannot) replaced by
    ``?``, so caching, hashing and printing a reply never fail on it."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _token_count(value: Any) -> int | None:
    """A reported token count, or None when it is not a non-negative integer (then usage is missing)."""
    return value if type(value) is int and value >= 0 else None


def fold_system(chat: list[dict[str, str]]) -> list[dict[str, str]]:
    """The chat with its system messages joined to the front of the first user message (a copy)."""
    system = [m["content"] for m in chat if m["role"] == "system"]
    if not system:
        return chat
    rest = [dict(m) for m in chat if m["role"] != "system"]
    first_user = next((m for m in rest if m["role"] == "user"), None)
    if first_user is None:
        return [{"role": "user", "content": "\n\n".join(system)}, *rest]
    first_user["content"] = "\n\n".join([*system, first_user["content"]])
    return rest


def model_fingerprint(path: Path) -> str:
    """A short hash of the names, sizes and modification times of the files in a model folder: it
    changes when the weights, config or tokenizer are replaced, without reading gigabytes of weights."""
    entries = []
    try:
        for item in sorted(path.iterdir()):
            if item.name.startswith(".") or not item.is_file():
                continue
            stat = item.stat()  # follows the links of a Hugging Face hub snapshot to the blobs
            entries.append([item.name, stat.st_size, stat.st_mtime_ns])
    except OSError as exc:
        raise ConfigError(f"cannot read the model folder {path}: {exc.strerror or exc}") from exc
    return hashlib.sha256(json.dumps(entries).encode("utf-8")).hexdigest()[:16]


def checked_device(torch: Any, device: str) -> str:
    """``device`` when this torch build can use it; a ConfigError naming the choices otherwise."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"device={device!r} is not a torch device; use cpu, cuda, cuda:N or mps") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(
                f"device={device!r}, but this torch build sees no CUDA GPU (torch.cuda.is_available() is "
                f"False); use device=cpu"
            )
        if parsed.index is not None and parsed.index >= count:
            raise ConfigError(
                f"device={device!r}, but this machine has {count} CUDA GPU(s) (cuda:0 to cuda:{count - 1})"
            )
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device={device!r}, but MPS is not available here; use device=cpu")
    return str(device)


class HFScoringBackend:
    """Any local causal LM (a transformers folder) choosing among the admissible skills by likelihood.

    The prefix is the prompt (the tokenizer's chat template when it has one, else system and user
    text) followed by the start of the JSON reply ``{"plan": ["``; each candidate skill plus its closing
    quote is scored by the sum (``score="sum"``, SayCan) or mean per token (``score="mean"``, the
    default, fair to long skill names) of its token log-probabilities. The best one is returned as
    ``{"plan": ["skill"]}``. ``tokens_in`` counts prompt tokens, ``tokens_out`` the chosen skill's.
    Files are read with ``local_files_only``: nothing is downloaded.
    """

    kind = "hf"
    uses_candidates = True

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        device: str = "cpu",
        score: str = "mean",
        batch_size: int = 8,
    ) -> None:
        path = Path(model_path).expanduser()
        if not path.is_dir():
            raise ConfigError(
                f"no model folder at {path}: give llm:hf: a local transformers folder (config.json, "
                f"weights, tokenizer), e.g. one saved with save_pretrained"
            )
        if score not in ("mean", "sum"):
            raise ConfigError(f"score must be 'mean' or 'sum', got {score!r}")
        batch_size = checked_int("batch_size", batch_size, low=1)
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise ConfigError(
                f"the hf backend needs torch and transformers ({exc}): pip install torch==2.13.0 "
                "--index-url https://download.pytorch.org/whl/cpu, then pip install 'ethogym[llm]'"
            ) from exc
        self.torch = torch
        path = path.resolve()
        self.model = str(path)
        # The cache must tell apart two folders reached by one relative path, and weights replaced in place.
        self.fingerprint = model_fingerprint(path)
        self.device = checked_device(torch, device)
        self.score = score
        self.batch_size = batch_size
        self._fold_system = False  # set once the chat template has refused a system message
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            lm = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load a causal LM and its tokenizer from {path}: {exc}") from exc
        try:
            self.lm = lm.to(self.device)
        except (RuntimeError, AssertionError) as exc:  # a device type this torch build lacks
            raise ConfigError(
                f"cannot move the model to device={device!r}: {type(exc).__name__}: {exc}; use device=cpu"
            ) from exc
        self.lm.eval()
        # transformers 5 names the key/value cache ``cache``; earlier versions ``past_key_values``.
        params = inspect.signature(self.lm.forward).parameters
        self.cache_arg = "cache" if "cache" in params else "past_key_values"
        config = self.lm.config
        self.max_positions = int(
            getattr(config, "max_position_embeddings", None)
            or getattr(config, "n_positions", None)
            or 1 << 30
        )
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (self.tokenizer.eos_token_id or 0))

    def __repr__(self) -> str:
        return f"HFScoringBackend(model={self.model!r}, score={self.score!r})"

    def identity(self) -> dict[str, Any]:
        return {
            "backend": self.kind,
            "model": self.model,
            "files": self.fingerprint,
            "score": self.score,
            "format": REPLY_PREFIX,
        }

    def _prefix(self, messages: Sequence[Mapping[str, str]]) -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            return "\n\n".join(m["content"] for m in messages) + "\n\n" + REPLY_PREFIX
        from jinja2 import TemplateError  # transformers renders chat templates with jinja2

        chat = [{"role": m["role"], "content": m["content"]} for m in messages]
        if self._fold_system:
            chat = fold_system(chat)
        try:
            text = self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        except TemplateError as exc:
            folded = fold_system(chat)
            if folded == chat:
                raise LLMBackendError(
                    f"the chat template of {self.model} rejects the prompt: {exc}"
                ) from None
            # Gemma / Mistral style templates refuse the system role: send it as part of the user turn.
            try:
                text = self.tokenizer.apply_chat_template(folded, tokenize=False, add_generation_prompt=True)
            except TemplateError as again:
                raise LLMBackendError(
                    f"the chat template of {self.model} rejects the prompt ({exc}), also with the system "
                    f"text folded into the first user message ({again})"
                ) from None
            self._fold_system = True
        return text + REPLY_PREFIX

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def complete(self, messages: Sequence[Mapping[str, str]], candidates: Sequence[str]) -> Completion:
        """Score every candidate and reply with the best one. Any failure (the tokenizer, the template,
        the model: out of memory, a bad dtype) is an ``LLMBackendError``, which the planner records."""
        try:
            return self._complete(messages, candidates)
        except LLMBackendError:
            raise
        except Exception as exc:
            raise LLMBackendError(
                f"the model {self.model} failed to score the skills: {type(exc).__name__}: {exc}"
            ) from exc

    def _complete(self, messages: Sequence[Mapping[str, str]], candidates: Sequence[str]) -> Completion:
        if not candidates:
            raise LLMBackendError("the scoring backend needs at least one candidate skill")
        torch = self.torch
        start = time.perf_counter()
        prefix = self._encode(self._prefix(messages))
        conts = [self._encode(c + CANDIDATE_SUFFIX) for c in candidates]
        if any(not c for c in conts):
            raise LLMBackendError("a candidate skill encodes to no tokens with this tokenizer")
        # Keep the end of a prompt longer than the model's context.
        room = self.max_positions - max(len(c) for c in conts)
        if room < 1:
            raise LLMBackendError(
                f"a candidate skill is longer than the model's {self.max_positions} positions"
            )
        prefix = prefix[-room:]
        with torch.no_grad():
            log_likelihoods = self._token_logprobs(prefix, conts)
        scores = [float(lp.sum()) / (len(lp) if self.score == "mean" else 1) for lp in log_likelihoods]
        if all(math.isnan(s) for s in scores):
            raise LLMBackendError(
                f"the model {self.model} scores every candidate skill NaN (its logits are not finite: "
                f"damaged weights, or a dtype/device it cannot run in)"
            )
        ranked = [s if not math.isnan(s) else -math.inf for s in scores]
        best = max(range(len(candidates)), key=lambda k: (ranked[k], -k))
        chosen = candidates[best]
        return Completion(
            text=json.dumps({"plan": [chosen]}),
            tokens_in=len(prefix),
            tokens_out=len(conts[best]),
            latency_s=time.perf_counter() - start,
            scores={c: (s if math.isfinite(s) else -1e30) for c, s in zip(candidates, scores, strict=True)},
        )

    def _token_logprobs(self, prefix: list[int], conts: list[list[int]]) -> list[Any]:
        """Per-token log-probabilities of each continuation after ``prefix``.

        The prefix runs once; its key/value cache is copied for each batch of continuations. Models
        whose cache cannot be repeated over a batch run prefix and continuation together instead.
        """
        torch = self.torch
        out = self.lm(input_ids=torch.tensor([prefix], device=self.device), use_cache=True)
        past = out.get(self.cache_arg)
        if not hasattr(past, "batch_repeat_interleave"):
            return self._token_logprobs_full(prefix, conts)
        first = torch.log_softmax(out.logits[0, -1].float(), dim=-1).cpu()
        result = []
        for lo in range(0, len(conts), self.batch_size):
            batch = conts[lo : lo + self.batch_size]
            width = max(len(c) for c in batch)
            rest = None
            if width > 1:
                # Right padding: under the causal mask no real token attends to the pads after it.
                ids = torch.full((len(batch), width - 1), self.pad_id, dtype=torch.long)
                for row, cont in enumerate(batch):
                    ids[row, : len(cont) - 1] = torch.tensor(cont[:-1], dtype=torch.long)
                cache = copy.deepcopy(past)
                cache.batch_repeat_interleave(len(batch))
                inputs = {"input_ids": ids.to(self.device), self.cache_arg: cache, "use_cache": True}
                logits = self.lm(**inputs).logits
                rest = torch.log_softmax(logits.float(), dim=-1).cpu()
            for row, cont in enumerate(batch):
                lps = [first[cont[0]]]
                lps += (
                    [rest[row, k - 1, tok] for k, tok in enumerate(cont) if k > 0] if rest is not None else []
                )
                result.append(torch.stack(lps))
        return result

    def _token_logprobs_full(self, prefix: list[int], conts: list[list[int]]) -> list[Any]:
        """``_token_logprobs`` by running prefix + continuation for every candidate."""
        torch = self.torch
        result = []
        for lo in range(0, len(conts), self.batch_size):
            batch = conts[lo : lo + self.batch_size]
            width = len(prefix) + max(len(c) for c in batch)
            ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
            for row, cont in enumerate(batch):
                ids[row, : len(prefix) + len(cont)] = torch.tensor(prefix + cont, dtype=torch.long)
            logits = self.lm(input_ids=ids.to(self.device)).logits
            logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
            for row, cont in enumerate(batch):
                positions = torch.arange(len(prefix) - 1, len(prefix) - 1 + len(cont))
                result.append(logprobs[row, positions, torch.tensor(cont, dtype=torch.long)])
        return result
