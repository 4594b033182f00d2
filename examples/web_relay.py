"""A small web app that relays a streamed answer to the browser as server-sent events.

    pip install 'chatsdk[server]'          # uvicorn
    OPENAI_API_KEY=sk-... python examples/web_relay.py 8080
    # then open http://127.0.0.1:8080/ or: curl -N 'http://127.0.0.1:8080/ask?q=hello'

``GET /ask?q=...`` asks the API with ``stream=True`` and forwards each token as it arrives, as
``data: <token>`` events, then ``event: done``. When the browser goes away, the upstream stream is
closed at once: the relay runs in a task group next to a task that waits for the ASGI
``http.disconnect`` message and cancels the group, and ``async with stream`` releases the
connection on cancellation. It is a raw ASGI app, so it needs nothing but uvicorn; port 0 picks a
free port, and the first line printed is the relay's address.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import anyio
import uvicorn

import chatsdk

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

MODEL = os.environ.get("CHATSDK_MODEL", "gpt-4o-mini")
PAGE = b"""<!doctype html><meta charset="utf-8"><title>chatsdk relay</title>
<form id="f"><input id="q" size="60" placeholder="Ask something"> <button>Ask</button></form>
<pre id="out" style="white-space: pre-wrap"></pre>
<script>
f.onsubmit = (e) => {
  e.preventDefault(); out.textContent = "";
  const source = new EventSource("/ask?q=" + encodeURIComponent(q.value));
  source.onmessage = (m) => { out.textContent += m.data; };
  source.addEventListener("done", () => source.close());
  source.addEventListener("error", () => source.close());
};
</script>
"""


def sse(data: str, event: str | None = None) -> bytes:
    """One server-sent event; a newline inside the data becomes a second ``data:`` line."""
    head = f"event: {event}\n" if event else ""
    return (head + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n").encode()


def log(message: str) -> None:
    print(f"relay: {message}", file=sys.stderr, flush=True)


class Relay:
    """The ASGI app: ``/`` is a page with a form, ``/ask?q=...`` the event stream."""

    def __init__(self) -> None:
        self.client: chatsdk.AsyncChatClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif scope["type"] == "http" and scope["path"] == "/":
            await self.respond(send, 200, "text/html; charset=utf-8", PAGE)
        elif scope["type"] == "http" and scope["path"] == "/ask":
            query = parse_qs(scope["query_string"].decode())
            question = query.get("q", [""])[0].strip()
            if not question:
                await self.respond(send, 400, "text/plain", b"Ask with /ask?q=your+question\n")
            else:
                await self.relay(question, receive, send)
        elif scope["type"] == "http":
            await self.respond(send, 404, "text/plain", b"Not found\n")

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.client = chatsdk.AsyncChatClient()  # OPENAI_API_KEY, OPENAI_BASE_URL
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.client is not None:
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    async def respond(send: Send, status: int, content_type: str, body: bytes) -> None:
        headers = [(b"content-type", content_type.encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def relay(self, question: str, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

        async def watch_browser(scope: anyio.CancelScope) -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            scope.cancel()  # stops the relay below, wherever it is waiting

        completed = False
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_browser, tg.cancel_scope)
            await self.forward(question, send)
            completed = True
            tg.cancel_scope.cancel()  # the answer is complete: stop watching
        if not completed:
            log(f"browser disconnected; upstream stream closed ({question!r})")

    async def forward(self, question: str, send: Send) -> None:
        assert self.client is not None
        try:
            stream = await self.client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": question}], stream=True
            )
            async with stream:
                async for text in stream.text():
                    await send({"type": "http.response.body", "body": sse(text), "more_body": True})
        except chatsdk.APIError as exc:
            await send(
                {
                    "type": "http.response.body",
                    "body": sse(f"{type(exc).__name__}: {exc.message}", "error"),
                }
            )
            return
        await send({"type": "http.response.body", "body": sse("", "done")})


def main(port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    print(f"relay listening on http://127.0.0.1:{sock.getsockname()[1]}/", flush=True)
    config = uvicorn.Config(Relay(), lifespan="on", log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8080)
