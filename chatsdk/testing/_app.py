"""The local server's raw ASGI app: reads, records, routes and answers each request (stdlib only).

The chat route plans the reply (``_plan``) and hands it to ``_writer``, which applies the
request's faults (``_fault_effects``) while sending it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from ._asgi import ASGIMessage, Receive, Scope, Send, json_bytes, new_id, send_json
from ._fault_effects import pause, status_error
from ._faults import FaultsSpec, resolve_faults
from ._limits import RateLimits
from ._plan import make_plan, total_tokens
from ._replies import RepliesExhausted, ReplySource, ReplySpec
from ._validate import RequestRejected, parse_json, validate_chat_request
from ._writer import Pace, write_buffered, write_stream

__all__ = ["DEFAULT_MODELS", "ChatApp", "RecordedRequest"]

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
_ROUTES = {CHAT_PATH: "POST", MODELS_PATH: "GET"}
# Bodies above this are refused with 413: the server is for tests, not for uploads.
MAX_BODY_BYTES = 32 * 1024 * 1024
DEFAULT_MODELS = ("chatsdk-test",)


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
    status: int | None = None
    """The HTTP status the server answered with (``None`` until it answers, or if it dropped the
    connection first)."""
    ended_at: float | None = None
    """``time.monotonic()`` when the server was done with the request (answered, failed or
    dropped); ``None`` while it is still in flight."""
    disconnected_at: float | None = None
    """``time.monotonic()`` when the server saw the client close the connection before the answer
    was complete. Seen while the server waits (``Faults(delay=...)`` or ``stall_after``), which is
    when a client that gives up leaves."""


class ChatApp:
    """ASGI 3 app serving ``POST /v1/chat/completions`` and ``GET /v1/models``."""

    def __init__(
        self,
        *,
        replies: ReplySpec = None,
        faults: FaultsSpec = None,
        api_key: str | None = None,
        models: tuple[str, ...] | None = None,
        rate_limits: RateLimits | None = None,
        pace: Pace | None = None,
        log: str | None = None,
    ) -> None:
        self.replies = ReplySource(replies)
        self.faults: FaultsSpec = faults
        self.api_key = api_key
        # Given models are the only ones served; without, any model name is answered.
        self.models = models if models is not None else DEFAULT_MODELS
        self.check_model = models is not None
        self.rate_limits = rate_limits
        self.pace = pace if pace and (pace.first_token or pace.between_tokens) else None
        self.log = log
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
        request_id = new_id("req_")
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
        record = RecordedRequest(
            method=method,
            path=path,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body=body,
            raw_body=bytes(raw),
            request_id=request_id,
        )
        self.requests.append(record)
        extra: list[tuple[str, str]] = []  # headers for the answer, such as the rate limits
        started = time.monotonic()

        async def send_answer(message: ASGIMessage) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                added = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in extra]
                message = {**message, "headers": [*message.get("headers", ()), *added]}
            await send(message)

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
            self._check_auth(record.headers.get("authorization"))
            if path == MODELS_PATH:
                await send_json(send_answer, 200, json_bytes(self._models_body()), request_id)
                return
            await self._chat(record, parse_error, receive, send_answer, extra)
        except RequestRejected as exc:
            await self._send_error(send_answer, request_id, exc)
        finally:
            record.ended_at = time.monotonic()
            if self.log is not None:
                self._write_log(record, record.ended_at - started)

    def _write_log(self, record: RecordedRequest, seconds: float) -> None:
        """Append the request's line to the log file: when, what, for which model, the status."""
        body = record.body if isinstance(record.body, dict) else {}
        line = {
            "time": round(time.time(), 3),
            "request_id": record.request_id,
            "method": record.method,
            "path": record.path,
            "model": body.get("model"),
            "stream": bool(body.get("stream")),
            "status": record.status,  # null: the connection was dropped before an answer
            "seconds": round(seconds, 4),
        }
        assert self.log is not None
        with open(self.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")

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
    async def _send_error(send: Send, request_id: str, error: RequestRejected) -> None:
        await send_json(send, error.status, json_bytes(error.body()), request_id, error.headers)

    # --- chat completions ----------------------------------------------------------------

    async def _chat(
        self,
        record: RecordedRequest,
        parse_error: RequestRejected | None,
        receive: Receive,
        send: Send,
        extra: list[tuple[str, str]],
    ) -> None:
        body, request_id = record.body, record.request_id
        index = self.chat_count
        self.chat_count += 1
        try:
            faults = resolve_faults(self.faults, index, body)
        except Exception as exc:
            raise RequestRejected(
                500, f"The faults function failed: {exc!r}", type="server_error"
            ) from exc
        abort: asyncio.Event | None = None
        if self.pace or (faults is not None and (faults.delay or faults.stall_after is not None)):
            abort = asyncio.Event()
            if self._closing:
                abort.set()
            self._aborts.add(abort)
        watcher = asyncio.create_task(self._watch(receive, abort, record)) if abort else None
        try:
            if faults is not None and faults.status is not None:
                await pause(faults.delay, abort)
                raise status_error(faults)
            if parse_error is not None:
                raise parse_error
            request = validate_chat_request(body)
            if self.check_model and request["model"] not in self.models:
                raise RequestRejected(
                    404,
                    f"The model `{request['model']}` does not exist or you do not have access "
                    "to it.",
                    code="model_not_found",
                )
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
            plan = make_plan(reply, request)
            if self.rate_limits is not None:
                extra += self.rate_limits.take(total_tokens(request, plan), request["model"])
            write = write_stream if request.get("stream") else write_buffered
            await write(request, plan, faults, abort, send, request_id, self.pace)
        finally:
            if watcher is not None:
                watcher.cancel()
            if abort is not None:
                self._aborts.discard(abort)

    @staticmethod
    async def _watch(
        receive: Receive, abort: asyncio.Event | None, record: RecordedRequest
    ) -> None:
        """Set `abort` and note the time when the client goes away."""
        while abort is not None:
            if (await receive())["type"] == "http.disconnect":
                record.disconnected_at = time.monotonic()
                abort.set()
                return
