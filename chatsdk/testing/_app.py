"""The raw ASGI application behind the local server (stdlib only)."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from ._faults import Faults, FaultsSpec, resolve_faults
from ._replies import (
    RepliesExhausted,
    Reply,
    ReplySource,
    ReplySpec,
    count_tokens,
    message_text,
    split_pieces,
)
from ._validate import RequestRejected, parse_json, validate_chat_request

__all__ = ["ChatApp", "RecordedRequest"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
_ROUTES = {CHAT_PATH: "POST", MODELS_PATH: "GET"}
# Bodies above this are refused with 413: the server is for tests, not for uploads.
MAX_BODY_BYTES = 32 * 1024 * 1024
DEFAULT_MODELS = ("chatsdk-test",)
SYSTEM_FINGERPRINT = "fp_chatsdk_local"
_DONE = b"data: [DONE]\n\n"
_KEEPALIVE = b": keep-alive\n\n"
_PING = b": ping\n\n"
_MALFORMED = b"data: {not json\n\n"


class DeliberateDrop(Exception):
    """Raised from the app to make uvicorn close the connection mid-response on purpose."""


class _DropFilter(logging.Filter):
    """Keeps uvicorn's error log quiet about connections the server drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DeliberateDrop)


def install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropFilter) for f in logger.filters):
        logger.addFilter(_DropFilter())


@dataclass
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: Any  # the parsed JSON body, or None when empty or not JSON
    raw_body: bytes = field(repr=False)
    request_id: str = ""


def _new_id(prefix: str, nbytes: int = 12) -> str:
    return prefix + os.urandom(nbytes).hex()


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class _Plan:
    """One reply, cut by `stop` and the token budget, ready to be sent."""

    reasoning: list[str]
    content: list[str] | None
    tool_calls: list[tuple[str, str, list[str]]]  # (id, name, argument pieces)
    finish_reason: str
    completion_tokens: int


def _make_plan(reply: Reply, body: dict[str, Any]) -> _Plan:
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else [s for s in stop or () if s]
    content = reply.content
    finish = "tool_calls" if reply.tool_calls else "stop"
    if content is not None and stops:
        cuts = [content.find(s) for s in stops if s in content]
        if cuts:
            content = content[: min(cuts)]
    budget = body.get("max_completion_tokens") or body.get("max_tokens")

    def take(pieces: list[str]) -> list[str]:
        nonlocal budget, finish
        if budget is None:
            return pieces
        if len(pieces) > budget:
            pieces, finish = pieces[:budget], "length"
        budget -= len(pieces)
        return pieces

    reasoning = take(split_pieces(reply.reasoning_content or ""))
    content_pieces = None if content is None else take(split_pieces(content))
    calls = [
        (call.id or _new_id("call_"), call.name, take(split_pieces(call.arguments_json)))
        for call in reply.tool_calls
    ]
    used = len(reasoning) + len(content_pieces or ()) + sum(len(c[2]) for c in calls)
    return _Plan(reasoning, content_pieces, calls, finish, used)


def _status_error(faults: Faults) -> RequestRejected:
    status = faults.status or 500
    code: str | None
    if status == 429:
        kind, code = "requests", "rate_limit_exceeded"
        message = "Rate limit reached (simulated by the chatsdk local test server)."
    elif status >= 500:
        kind, code = "server_error", ("overloaded" if status in (503, 529) else None)
        message = f"Simulated server error {status} (chatsdk local test server)."
    else:
        kind, code = "invalid_request_error", None
        message = f"Simulated error {status} (chatsdk local test server)."
    headers = []
    if faults.retry_after is not None:
        value = faults.retry_after
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # "1", not "1.0": the header is usually read as an integer
        headers.append(("retry-after", str(value)))
    return RequestRejected(
        status,
        faults.error_message or message,
        type=faults.error_type or kind,
        code=faults.error_code if faults.error_code is not None else code,
        headers=headers,
    )


def _fires(after: int | None, position: int, last: int) -> bool:
    """Whether a fault set for `after` chunks fires before the event at `position`.

    Counts past `last` (the first finish_reason chunk) fire there, so a broken stream never
    carries a finish_reason.
    """
    return after is not None and min(after, last) == position


class ChatApp:
    """ASGI 3 app serving ``POST /v1/chat/completions`` and ``GET /v1/models``."""

    def __init__(
        self,
        *,
        replies: ReplySpec = None,
        faults: FaultsSpec = None,
        api_key: str | None = None,
        models: tuple[str, ...] = DEFAULT_MODELS,
    ) -> None:
        self.replies = ReplySource(replies)
        self.faults: FaultsSpec = faults
        self.api_key = api_key
        self.models = models
        self.requests: list[RecordedRequest] = []
        self.chat_count = 0
        self.created = int(time.time())
        self._aborts: set[asyncio.Event] = set()
        self._closing = False

    def reopen(self) -> None:
        """Accept delaying and stalling responses again (after a restart)."""
        self._closing = False

    def close_streams(self) -> None:
        """Stop every delaying or stalled response (call on the server's loop)."""
        self._closing = True
        for abort in self._aborts:
            abort.set()

    # --- plumbing ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is off and websockets are disabled; nothing else arrives
        request_id = _new_id("req_")
        raw = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            raw += message.get("body", b"")
            if len(raw) > MAX_BODY_BYTES:
                too_large = RequestRejected(413, "Request body too large.")
                await self._send_error(send, request_id, too_large)
                return
            if not message.get("more_body", False):
                break
        body: Any = None
        parse_error: RequestRejected | None = None
        if raw:
            try:
                body = parse_json(bytes(raw))
            except RequestRejected as exc:
                parse_error = exc
        method: str = scope["method"]
        path: str = scope["path"]
        self.requests.append(
            RecordedRequest(
                method=method,
                path=path,
                query=scope.get("query_string", b"").decode("latin-1"),
                headers={k.decode("latin-1").lower(): v.decode("latin-1")
                         for k, v in scope["headers"]},
                body=body,
                raw_body=bytes(raw),
                request_id=request_id,
            )
        )
        try:
            allowed = _ROUTES.get(path)
            if allowed is None:
                raise RequestRejected(404, f"Invalid URL ({method} {path})")
            if method != allowed:
                raise RequestRejected(
                    405,
                    f"Method {method} is not allowed for {path}; use {allowed}.",
                    headers=[("allow", allowed)],
                )
            self._check_auth(self.requests[-1].headers.get("authorization"))
            if path == MODELS_PATH:
                await self._send_json(send, 200, self._models_body(), request_id)
                return
            await self._chat(body, parse_error, receive, send, request_id)
        except RequestRejected as exc:
            await self._send_error(send, request_id, exc)

    def _check_auth(self, header: str | None) -> None:
        if self.api_key is None:
            return
        if not header:
            raise RequestRejected(
                401,
                "You didn't provide an API key. Send it in an Authorization header using "
                "Bearer auth (Authorization: Bearer YOUR_KEY).",
                code="invalid_api_key",
            )
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            key.strip().encode(), self.api_key.encode()
        ):
            shown = key.strip()[:3] + "***" if key.strip() else "''"
            raise RequestRejected(
                401,
                f"Incorrect API key provided: {shown}. This local test server expects the key "
                "it was started with.",
                code="invalid_api_key",
            )

    def _models_body(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": self.created, "owned_by": "chatsdk"}
                for m in self.models
            ],
        }

    @staticmethod
    async def _start(send: Send, status: int, headers: list[tuple[str, str]]) -> None:
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        })

    async def _send_json(
        self,
        send: Send,
        status: int,
        obj: Any,
        request_id: str,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        data = _json_bytes(obj)
        headers = [
            ("content-type", "application/json"),
            ("content-length", str(len(data))),
            ("x-request-id", request_id),
            *(extra or ()),
        ]
        await self._start(send, status, headers)
        await send({"type": "http.response.body", "body": data, "more_body": False})

    async def _send_error(self, send: Send, request_id: str, error: RequestRejected) -> None:
        await self._send_json(send, error.status, error.body(), request_id, error.headers)

    # --- chat completions ----------------------------------------------------------------

    async def _chat(
        self,
        body: Any,
        parse_error: RequestRejected | None,
        receive: Receive,
        send: Send,
        request_id: str,
    ) -> None:
        index = self.chat_count
        self.chat_count += 1
        try:
            faults = resolve_faults(self.faults, index, body)
        except Exception as exc:
            raise RequestRejected(
                500, f"The faults function failed: {exc!r}", type="server_error"
            ) from exc
        abort: asyncio.Event | None = None
        if faults is not None and (faults.delay or faults.stall_after is not None):
            abort = asyncio.Event()
            if self._closing:
                abort.set()
            self._aborts.add(abort)
        watcher = asyncio.create_task(self._watch(receive, abort)) if abort else None
        try:
            if faults is not None and faults.status is not None:
                await self._pause(faults.delay, abort)
                raise _status_error(faults)
            if parse_error is not None:
                raise parse_error
            request = validate_chat_request(body)
            try:
                reply = await self.replies.next(request["messages"])
            except RepliesExhausted as exc:
                raise RequestRejected(
                    500, str(exc), type="server_error", code="replies_exhausted"
                ) from None
            except Exception as exc:
                raise RequestRejected(
                    500, f"The reply function failed: {exc!r}", type="server_error"
                ) from exc
            plan = _make_plan(reply, request)
            if request.get("stream"):
                await self._stream(request, plan, faults, abort, send, request_id)
            else:
                await self._buffered(request, plan, faults, abort, send, request_id)
        finally:
            if watcher is not None:
                watcher.cancel()
            if abort is not None:
                self._aborts.discard(abort)

    @staticmethod
    async def _watch(receive: Receive, abort: asyncio.Event | None) -> None:
        """Set `abort` when the client goes away."""
        while abort is not None:
            if (await receive())["type"] == "http.disconnect":
                abort.set()
                return

    @staticmethod
    async def _pause(seconds: float, abort: asyncio.Event | None) -> None:
        """Sleep, but drop the connection at once when the client leaves or the server stops."""
        if seconds <= 0:
            return
        if abort is None:
            await asyncio.sleep(seconds)
            return
        try:
            await asyncio.wait_for(abort.wait(), seconds)
        except asyncio.TimeoutError:
            return
        raise DeliberateDrop("client gone or server stopping")

    async def _stall(
        self, faults: Faults, abort: asyncio.Event | None, send: Send, ping: bytes = b""
    ) -> None:
        ping = ping or _PING
        loop = asyncio.get_running_loop()
        end = loop.time() + faults.stall_seconds
        while (remaining := end - loop.time()) > 0:
            step = min(remaining, faults.stall_ping) if faults.stall_ping else remaining
            await self._pause(step, abort)
            if faults.stall_ping and loop.time() < end:
                await send({"type": "http.response.body", "body": ping, "more_body": True})

    def _usage(self, request: dict[str, Any], plan: _Plan) -> dict[str, Any]:
        prompt = sum(count_tokens(message_text(m)) for m in request["messages"])
        n = request.get("n") or 1
        completion = plan.completion_tokens * n
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": len(plan.reasoning) * n},
        }

    async def _buffered(
        self,
        request: dict[str, Any],
        plan: _Plan,
        faults: Faults | None,
        abort: asyncio.Event | None,
        send: Send,
        request_id: str,
    ) -> None:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if plan.content is None else "".join(plan.content),
            "refusal": None,
            "annotations": [],
        }
        if plan.reasoning:
            message["reasoning_content"] = "".join(plan.reasoning)
        if plan.tool_calls:
            message["tool_calls"] = [
                {"id": cid, "type": "function",
                 "function": {"name": name, "arguments": "".join(args)}}
                for cid, name, args in plan.tool_calls
            ]
        choices = [
            {"index": i, "message": message, "logprobs": None, "finish_reason": plan.finish_reason}
            for i in range(request.get("n") or 1)
        ]
        data = _json_bytes({
            "id": _new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request["model"],
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
            "usage": self._usage(request, plan),
        })
        if faults is None:
            await self._send_json_bytes(send, data, request_id)
            return
        await self._pause(faults.delay, abort)
        headers = [("content-type", "application/json"), ("x-request-id", request_id)]
        if not faults.stall_ping:
            headers.append(("content-length", str(len(data))))
        await self._start(send, 200, headers)
        if faults.stall_after is not None:
            # A buffered reply's pings are whitespace before the JSON, which JSON allows, sent
            # chunked since the length is then not the body's.
            await self._stall(faults, abort, send, ping=b"\n")
        if faults.disconnect_after is not None:
            await send({"type": "http.response.body", "body": data[: len(data) // 2],
                        "more_body": True})
            raise DeliberateDrop("disconnect fault")
        await send({"type": "http.response.body", "body": data, "more_body": False})

    async def _send_json_bytes(self, send: Send, data: bytes, request_id: str) -> None:
        await self._start(send, 200, [
            ("content-type", "application/json"),
            ("content-length", str(len(data))),
            ("x-request-id", request_id),
        ])
        await send({"type": "http.response.body", "body": data, "more_body": False})

    def _chunks(self, request: dict[str, Any], plan: _Plan) -> tuple[list[bytes], int]:
        """The stream's `data:` events, and the position of the first finish_reason chunk."""
        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        base: dict[str, Any] = {
            "id": _new_id("chatcmpl-"),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": request["model"],
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }
        deltas: list[tuple[dict[str, Any], str | None]] = [
            ({"role": "assistant", "content": ""}, None)
        ]
        deltas += [({"reasoning_content": p}, None) for p in plan.reasoning]
        deltas += [({"content": p}, None) for p in plan.content or ()]
        for j, (cid, name, args) in enumerate(plan.tool_calls):
            deltas.append(({"tool_calls": [{
                "index": j, "id": cid, "type": "function",
                "function": {"name": name, "arguments": ""},
            }]}, None))
            deltas += [
                ({"tool_calls": [{"index": j, "function": {"arguments": p}}]}, None)
                for p in args
            ]
        deltas.append(({}, plan.finish_reason))
        n = request.get("n") or 1
        first_finish = (len(deltas) - 1) * n
        events = []
        for delta, finish in deltas:
            for i in range(n):
                chunk = {**base, "choices": [
                    {"index": i, "delta": delta, "logprobs": None, "finish_reason": finish}
                ]}
                if include_usage:
                    chunk["usage"] = None
                events.append(b"data: " + _json_bytes(chunk) + b"\n\n")
        if include_usage:
            final = {**base, "choices": [], "usage": self._usage(request, plan)}
            events.append(b"data: " + _json_bytes(final) + b"\n\n")
        return events, first_finish

    async def _stream(
        self,
        request: dict[str, Any],
        plan: _Plan,
        faults: Faults | None,
        abort: asyncio.Event | None,
        send: Send,
        request_id: str,
    ) -> None:
        events, last = self._chunks(request, plan)
        await self._start(send, 200, [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-cache"),
            ("x-request-id", request_id),
        ])

        async def body(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        if faults is None:
            for event in events:
                await body(event)
        else:
            for position, event in enumerate(events):
                if _fires(faults.stall_after, position, last):
                    await self._stall(faults, abort, send)
                if _fires(faults.malformed_after, position, last):
                    await body(_MALFORMED)
                if _fires(faults.error_after, position, last):
                    error = {"error": {
                        "message": faults.error_message
                        or "The server had an error while processing your request "
                           "(simulated by the chatsdk local test server).",
                        "type": faults.error_type or "server_error",
                        "param": None,
                        "code": faults.error_code,
                    }}
                    await body(b"data: " + _json_bytes(error) + b"\n\n")
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                if _fires(faults.disconnect_after, position, last):
                    raise DeliberateDrop("disconnect fault")
                if faults.keepalive and position > 0:
                    await body(_KEEPALIVE)
                await self._pause(faults.delay, abort)
                await body(event)
            if faults.keepalive:
                await body(_KEEPALIVE)
        await send({"type": "http.response.body", "body": _DONE, "more_body": False})
