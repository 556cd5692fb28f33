"""A disk cache of model replies, so LLM leaderboard runs are reproducible and cheap to repeat.

A reply is keyed by the backend kind, the model, the sampling settings, the hash of the prompt
messages and (for scoring backends) the candidate skills. The base URL is not part of the key: the
same model served by vLLM, Ollama or llama.cpp answers the same prompt with the same cached reply.
Each entry is one JSON file ``<root>/<k[:2]>/<k>.json`` written atomically (temporary file in the same
folder, then ``os.replace``), so concurrent episodes in several processes never read a torn entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ethogym.errors import ConfigError

from .llm_backends import valid_text

CACHE_ENV_VAR = "ETHOGYM_LLM_CACHE"
CACHE_FORMAT = 1  # bump when the stored record changes shape


def default_cache_dir() -> Path:
    """``$ETHOGYM_LLM_CACHE``, else ``$XDG_CACHE_HOME/ethogym/llm``, else ``~/.cache/ethogym/llm``."""
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "ethogym" / "llm"


def prompt_hash(messages: Sequence[Mapping[str, str]]) -> str:
    """SHA-256 of the chat messages (role and content, in order)."""
    payload = json.dumps([[m["role"], m["content"]] for m in messages], ensure_ascii=False)
    # surrogatepass: a lone surrogate hashes instead of raising; valid text hashes as before.
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


def cache_key(
    identity: Mapping[str, Any],
    messages: Sequence[Mapping[str, str]],
    candidates: Sequence[str] | None = None,
) -> str:
    """The cache key of one request: backend identity (kind, model, sampling settings), prompt hash and
    the candidate skills a scoring backend chooses among."""
    payload = {
        "format": CACHE_FORMAT,
        "identity": dict(sorted(identity.items())),
        "prompt": prompt_hash(messages),
        "candidates": list(candidates) if candidates is not None else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode("utf-8")).hexdigest()


class LLMCache:
    """Model replies on disk, one JSON file per key."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(
                f"LLM cache path {self.root} is a file; point ETHOGYM_LLM_CACHE (or cache=) at a folder"
            )
        # The folder is made on the first put; refuse a path that can never be one.
        parent = self.root
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise ConfigError(
                f"LLM cache path {self.root} cannot be a folder: {parent} is a file; point "
                f"ETHOGYM_LLM_CACHE (or cache=) at a folder, or use cache=off"
            )
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ConfigError(
                f"LLM cache path {self.root} is not writable ({parent} is not writable); point "
                f"ETHOGYM_LLM_CACHE (or cache=) at a writable folder, or use cache=off"
            )

    def __repr__(self) -> str:
        return f"LLMCache({str(self.root)!r})"

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored record, or None when absent or unreadable (a damaged entry: not JSON, not an
        object, another format, ``text`` not a string, token counts not non-negative integers, counts as
        a miss and is overwritten by the next ``put``)."""
        try:
            record = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("format") != CACHE_FORMAT:
            return None
        if not isinstance(record.get("text"), str):
            return None
        record["text"] = valid_text(record["text"])  # an entry edited by hand may spell a lone surrogate
        for count in ("tokens_in", "tokens_out"):
            value = record.get(count)
            if value is not None and (type(value) is not int or value < 0):
                return None
        return record

    def put(self, key: str, record: Mapping[str, Any]) -> None:
        """Store ``record`` (JSON-serialisable, with a ``text`` field) under ``key`` atomically. Raises
        OSError when the entry cannot be written (the planner records it and uses the reply uncached)."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({**record, "format": CACHE_FORMAT}, ensure_ascii=False, sort_keys=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
        try:
            # backslashreplace writes a lone surrogate as the JSON escape \udXXX, which reads back as itself.
            with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.is_dir() else 0
