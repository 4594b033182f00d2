"""The Batch API's line formats: requests read and checked, results written and read back.

Pure: nothing here sends or opens anything. The input format is OpenAI's Batch API input (one
``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": {...}}`` per line), the
output format its output (``{"id", "custom_id", "response": {"status_code", "request_id",
"body"}, "error"}``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._params import _BODY_PARAMS, build_body

__all__ = [
    "BatchInputError",
    "BatchRequest",
    "BatchResult",
    "parse_batch_requests",
    "batch_shard_of",
]

URLS = ("/v1/chat/completions", "/chat/completions")
# A custom_id longer than this is refused (the Batch API's own limit is 64 characters for ids it
# makes; people's ids are data set keys, so this is generous but bounded).
MAX_CUSTOM_ID = 512


class BatchInputError(ValueError):
    """Batch input that cannot be sent: every problem found, each with its line number.

    ``problems`` is a list of ``(line_number, message)``; the message lists them one a line.

    Example::

        try:
            requests = chatsdk.parse_batch_requests(open("requests.jsonl"))
        except chatsdk.BatchInputError as exc:
            for line, problem in exc.problems:
                print(f"line {line}: {problem}")
    """

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        shown = "\n".join(f"line {line}: {text}" for line, text in problems[:20])
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} bad line(s) in the batch input:\n{shown}{more}")


@dataclass(frozen=True)
class BatchRequest:
    """One request of a batch: its ``custom_id`` and the chat completion ``body`` to send.

    ``line`` is its line number in the input (0 when not read from a file).

    Example::

        chatsdk.BatchRequest(
            "q1", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
        )
    """

    custom_id: str
    body: Mapping[str, Any]
    line: int = 0

    @classmethod
    def from_dict(cls, item: object, line: int = 0) -> BatchRequest:
        """A request from one line of Batch API input, already parsed from JSON.

        Raises ``ValueError`` naming the field at fault.

        Example::

            chatsdk.BatchRequest.from_dict({
                "custom_id": "q1", "method": "POST", "url": "/v1/chat/completions",
                "body": {"model": "m", "messages": [{"role": "user", "content": "Hi"}]},
            })
        """
        if not isinstance(item, Mapping):
            raise ValueError(f"expected a JSON object, got {type(item).__name__}")
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise ValueError("'custom_id' is missing or not a non-empty string")
        if len(custom_id) > MAX_CUSTOM_ID:
            raise ValueError(f"'custom_id' is longer than {MAX_CUSTOM_ID} characters")
        method = item.get("method", "POST")
        if method != "POST":
            raise ValueError(f"'method' must be \"POST\", not {method!r}")
        url = item.get("url")
        if url not in URLS:
            raise ValueError(f"'url' {url!r} is not supported: only \"/v1/chat/completions\" is")
        body = item.get("body")
        if not isinstance(body, Mapping):
            raise ValueError("'body' is missing or not a JSON object")
        check_body(body)
        unknown = set(item) - {"custom_id", "method", "url", "body"}
        if unknown:
            raise ValueError(
                f"unknown field(s) {sorted(unknown)}: a line has custom_id, method, url and body"
            )
        return cls(custom_id, body, line)

    def create_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``client.chat.completions.create`` that send this body."""
        known, extra = split_body(self.body)
        arguments: dict[str, Any] = {
            "model": self.body["model"],
            "messages": self.body["messages"],
            **known,
        }
        if extra:
            arguments["extra_body"] = extra
        return arguments


def split_body(body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(parameters ``create`` knows, the others), leaving out ``model`` and ``messages``."""
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for name, value in body.items():
        if name in ("model", "messages"):
            continue
        (known if name in _BODY_PARAMS else extra)[name] = value
    return known, extra


def check_body(body: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` if ``body`` is not a chat completion request this batch can send."""
    if not isinstance(body.get("model"), str) or not body.get("model"):
        raise ValueError("'body.model' is missing or not a non-empty string")
    if body.get("stream"):
        raise ValueError("'body.stream' must be false or left out: batch answers are whole")
    known, extra = split_body(body)
    try:
        build_body(body["model"], body.get("messages", ()), False, known, extra or None)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"'body': {exc}") from None


def parse_batch_requests(lines: Iterable[str | bytes]) -> list[BatchRequest]:
    """Every request of Batch API input, in order; raises :class:`BatchInputError` listing
    every bad line (not JSON, a bad field, an unsupported url, a duplicate custom_id).

    Blank lines are skipped. Example::

        with open("requests.jsonl", encoding="utf-8") as f:
            requests = chatsdk.parse_batch_requests(f)
    """
    requests: list[BatchRequest] = []
    problems: list[tuple[int, str]] = []
    first_line: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if not text.strip():
            continue
        try:
            item = json.loads(text)
        except ValueError as exc:
            problems.append((number, f"not JSON ({exc})"))
            continue
        try:
            request = BatchRequest.from_dict(item, number)
        except ValueError as exc:
            problems.append((number, str(exc)))
            continue
        seen = first_line.setdefault(request.custom_id, number)
        if seen != number:
            problems.append((number, f"custom_id {request.custom_id!r} repeats line {seen}"))
            continue
        requests.append(request)
    if problems:
        raise BatchInputError(problems)
    return requests


def batch_shard_of(custom_id: str, shards: int) -> int:
    """The shard (``0`` to ``shards - 1``) a request belongs to: a stable hash of its id.

    The same on every machine and Python version (SHA-256, not ``hash()``). Example::

        mine = [r for r in requests if chatsdk.batch_shard_of(r.custom_id, 4) == 2]
    """
    import hashlib  # here: ``import chatsdk`` does not pay for it

    if shards < 1:
        raise ValueError(f"shards must be >= 1, not {shards}")
    digest = hashlib.sha256(custom_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


@dataclass(frozen=True)
class BatchResult:
    """What became of one batch request, as a line of Batch API output.

    ``status_code``, ``request_id`` and ``body`` are the server's answer (``None`` where there was
    none, as after a connection error); ``error`` is ``None`` for an answer, else
    ``{"code": ..., "message": ...}``.

    Example::

        async for result in results:
            if result.ok:
                print(result.custom_id, result.content)
            else:
                print(result.custom_id, "failed:", result.error)
    """

    custom_id: str
    status_code: int | None = None
    request_id: str | None = None
    body: Any = None
    error: dict[str, Any] | None = None
    id: str = ""

    @property
    def ok(self) -> bool:
        """Whether the request was answered (``error`` is ``None``)."""
        return self.error is None

    @property
    def content(self) -> str | None:
        """The text of the answer's first choice, if there is one."""
        try:
            content = self.body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            return None
        return content if isinstance(content, str) else None

    @property
    def total_tokens(self) -> int:
        """``usage.total_tokens`` of the answer, 0 when it has none."""
        usage = self.body.get("usage") if isinstance(self.body, Mapping) else None
        total = usage.get("total_tokens") if isinstance(usage, Mapping) else None
        return total if isinstance(total, int) and not isinstance(total, bool) else 0

    def to_dict(self) -> dict[str, Any]:
        """The result as a line of Batch API output (``json.dumps`` it)."""
        import secrets  # here: ``import chatsdk`` does not pay for it

        response = None
        if self.status_code is not None:
            response = {
                "status_code": self.status_code,
                "request_id": self.request_id,
                "body": self.body,
            }
        return {
            "id": self.id or "batch_req_" + secrets.token_hex(12),
            "custom_id": self.custom_id,
            "response": response,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, item: object) -> BatchResult:
        """A result read back from a line of Batch API output; ``ValueError`` if it is not one."""
        if not isinstance(item, Mapping) or not isinstance(item.get("custom_id"), str):
            raise ValueError("not a batch result: no string 'custom_id'")
        response = item.get("response")
        error = item.get("error")
        if response is not None and not isinstance(response, Mapping):
            raise ValueError("'response' is neither null nor an object")
        if error is not None and not isinstance(error, dict):
            raise ValueError("'error' is neither null nor an object")
        response = response or {}
        status = response.get("status_code")
        return cls(
            custom_id=item["custom_id"],
            status_code=status if isinstance(status, int) else None,
            request_id=response.get("request_id"),
            body=response.get("body"),
            error=error,
            id=str(item.get("id") or ""),
        )
