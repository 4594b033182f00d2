"""A chat in the browser: a Starlette app relays each streamed answer with ``stream.to_sse()``.

    pip install 'chatsdk[server,web]'
    chatsdk serve &                       # the local test server on port 8000, or any API:
    python examples/web_chat.py           # then open http://127.0.0.1:8001/
    OPENAI_API_KEY=sk-... python examples/web_chat.py --base-url https://api.openai.com/v1

``GET /`` is the page (web_chat.html beside this file: plain JavaScript, no build step).
``POST /chat`` takes ``{"messages": [...]}`` (the page sends the whole conversation each time) and
answers with the model's stream as server-sent events. When the browser goes away (tab closed,
Stop pressed, network lost), Starlette cancels the response and ``to_sse()`` closes the upstream
request at once. Options: ``--port`` (0 picks a free one; the first line printed is the address),
``--base-url`` (default: ``chatsdk serve``'s), ``--model``. The key comes from ``OPENAI_API_KEY``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

import chatsdk

PAGE = Path(__file__).with_name("web_chat.html")
LOCAL_SERVER = "http://127.0.0.1:8000/v1"  # what `chatsdk serve` listens on
# A conversation the page sends is refused past this size: the app holds one in memory per request.
MAX_BODY_BYTES = 1024 * 1024
# What a proxy in front must not do to an event stream: cache it, or hold it back until it ends
# (X-Accel-Buffering is nginx's switch; others have their own setting).
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
ROLES = ("user", "assistant")


def error(status: int, message: str, param: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param,
                      "code": None}}
    return JSONResponse(body, status_code=status)


def api_error(exc: chatsdk.APIError) -> JSONResponse:
    """An upstream error before the stream started, in the API's shape; 502 when it had no status.

    The client took the key out of ``exc.message``; the body, which may quote it, is not sent.
    """
    status = exc.status_code if isinstance(exc, chatsdk.APIStatusError) else 502
    body = {"error": {"message": exc.message, "type": getattr(exc, "type", None)
                      or type(exc).__name__, "param": getattr(exc, "param", None),
                      "code": getattr(exc, "code", None)}}
    return JSONResponse(body, status_code=status)


async def read_messages(request: Request) -> list[dict[str, str]] | JSONResponse:
    """The ``messages`` of a chat request, checked, or the error response to send instead."""
    raw = bytearray()
    async for piece in request.stream():
        raw += piece
        if len(raw) > MAX_BODY_BYTES:
            return error(413, f"The conversation is larger than {MAX_BODY_BYTES} bytes; start a "
                         "new one.", "messages")
    try:
        messages = json.loads(raw.decode()).get("messages")
    except (ValueError, RecursionError, AttributeError):
        return error(400, 'Send a JSON object: {"messages": [...]}.')
    if not isinstance(messages, list) or not messages:
        return error(400, "messages must be a non-empty list.", "messages")
    for i, message in enumerate(messages):
        if not (isinstance(message, dict) and message.get("role") in ROLES
                and isinstance(message.get("content"), str)):
            return error(400, f"messages[{i}] must be {{'role': 'user' or 'assistant', "
                         "'content': a string}.", f"messages[{i}]")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def make_app(base_url: str, model: str) -> Starlette:
    client: chatsdk.AsyncChatClient | None = None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal client
        async with chatsdk.AsyncChatClient(base_url=base_url) as client:  # OPENAI_API_KEY
            yield

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    async def chat(request: Request) -> Response:
        messages = await read_messages(request)
        if isinstance(messages, JSONResponse):
            return messages
        assert client is not None
        params: dict[str, Any] = {"model": model, "messages": messages, "stream": True}
        try:
            stream = await client.chat.completions.create(**params)
        except chatsdk.APIError as exc:
            return api_error(exc)
        # The stream is closed by to_sse() when it ends, fails, or the browser goes away.
        return StreamingResponse(stream.to_sse(), media_type="text/event-stream",
                                 headers=SSE_HEADERS)

    routes = [Route("/", page), Route("/chat", chat, methods=["POST"])]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    parser.add_argument("--base-url", default=LOCAL_SERVER,
                        help=f"the API's base URL (default: chatsdk serve's, {LOCAL_SERVER})")
    parser.add_argument("--model", default=os.environ.get("CHATSDK_MODEL", "gpt-4o-mini"))
    args = parser.parse_args()
    sock = socket.create_server(("127.0.0.1", args.port))
    print(f"web chat on http://127.0.0.1:{sock.getsockname()[1]}/ using {args.base_url}",
          flush=True)
    config = uvicorn.Config(make_app(args.base_url, args.model), log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
