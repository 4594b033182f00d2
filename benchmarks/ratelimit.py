"""Rate-limit accuracy: chatsdk's client limits against a server that enforces the same limits.

    python benchmarks/ratelimit.py --size full     # 10,000 requests per run, about a minute
    python benchmarks/ratelimit.py --size smoke    # a few hundred: checks that it works

A small limiting ASGI app (token buckets for requests and tokens per minute, a second's share
at once, OpenAI's ``x-ratelimit-*`` and ``Retry-After`` headers, 429 when over) runs under
uvicorn in its own process (``--serve``). Against it, the same requests are sent three ways:

* ``limited``: ``RateLimit`` equal to the server's limits; the goal is no 429 at all, with
  requests and tokens per window close to the limit;
* ``adaptive``: ``RateLimit()`` without numbers (the server's headers and one shared cool-down);
* ``unlimited``: no client limit, only retries; every request must still be answered.

The server counts what it admits and refuses, so every figure is the server's view. Prints one
JSON line (``figure`` ``rate_limit``, adapter ``chatsdk``) that ``run.py`` reads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import selectors
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
# The server's limits: 200 requests and 7,000 tokens a second (about 30 tokens a request), well
# under what one client process and the server can do on two cores (about 300 requests a
# second), so that the limits, not the machine, set the pace.
RPM = 12_000
TPM = 420_000
COMPLETION_TOKENS = 10  # each answer's length in tokens, as its usage says
# Requests in the run with the client's limit equal to the server's, and in the other two.
SIZES = {"full": {"n": 10_000, "others": 2_000}, "smoke": {"n": 300, "others": 100}}
CONCURRENCY = 256


class Bucket:
    """``per_minute`` units refilling continuously, at most one second's share at once."""

    def __init__(self, per_minute: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = self.rate
        self.level = self.capacity
        self.at = time.monotonic()

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.at) * self.rate)
        self.at = now

    def wait(self, units: float) -> float:
        return max(0.0, (units - self.level) / self.rate)

    def reset(self) -> float:
        return (self.capacity - self.level) / self.rate


class LimitingApp:
    """An ASGI Chat Completions server that enforces requests and tokens per minute."""

    def __init__(self, rpm: float, tpm: float) -> None:
        self.rpm, self.tpm = rpm, tpm
        self.reset()

    def reset(self) -> None:
        self.requests, self.tokens = Bucket(self.rpm), Bucket(self.tpm)
        self.admitted: list[tuple[float, int]] = []
        self.refused = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/stats":
            await _send(send, 200, self.stats(), {})
            return
        if scope["path"] == "/reset":
            self.reset()
            await _send(send, 200, {}, {})
            return
        request = json.loads(body)
        prompt = math.ceil(len(json.dumps(request["messages"])) / 4)
        tokens = prompt + COMPLETION_TOKENS
        now = time.monotonic()
        self.requests.refill(now)
        self.tokens.refill(now)
        wait = max(self.requests.wait(1), self.tokens.wait(tokens))
        if wait > 0:
            self.refused += 1
            message = {"message": "Rate limit reached", "type": "requests", "code": "rate_limit"}
            headers = {"retry-after-ms": f"{wait * 1000:.0f}", **self._budget()}
            await _send(send, 429, {"error": message}, headers)
            return
        self.requests.level -= 1
        self.tokens.level -= tokens
        self.admitted.append((now, tokens))
        usage = {"prompt_tokens": prompt, "completion_tokens": COMPLETION_TOKENS}
        usage["total_tokens"] = tokens
        reply = {
            "id": "chatcmpl-rl",
            "object": "chat.completion",
            "created": 1700000000,
            "model": request.get("model", "m"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok " * COMPLETION_TOKENS},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
        await _send(send, 200, reply, self._budget())

    def _budget(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": str(self.rpm),
            "x-ratelimit-remaining-requests": str(max(0, int(self.requests.level))),
            "x-ratelimit-reset-requests": f"{self.requests.reset() * 1000:.0f}ms",
            "x-ratelimit-limit-tokens": str(self.tpm),
            "x-ratelimit-remaining-tokens": str(max(0, int(self.tokens.level))),
            "x-ratelimit-reset-tokens": f"{self.tokens.reset() * 1000:.0f}ms",
        }

    def stats(self) -> dict[str, Any]:
        """What was admitted, per minute over the run and at the peak of any one second."""
        times = [t for t, _ in self.admitted]
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        tokens = sum(n for _, n in self.admitted)
        peak_requests = peak_tokens = 0
        window: deque[tuple[float, int]] = deque()
        in_window = 0
        for t, n in self.admitted:
            window.append((t, n))
            in_window += n
            while window[0][0] <= t - 1.0:
                in_window -= window.popleft()[1]
            peak_requests = max(peak_requests, len(window))
            peak_tokens = max(peak_tokens, in_window)
        return {
            "admitted": len(times),
            "refused": self.refused,
            "tokens": tokens,
            "span_s": span,
            "rpm": (len(times) - 1) / span * 60 if span else 0.0,
            "tpm": (tokens - self.admitted[-1][1]) / span * 60 if span else 0.0,
            "peak_1s_requests": peak_requests,
            "peak_1s_tokens": peak_tokens,
        }


async def _send(send: Any, status: int, payload: Any, headers: dict[str, str]) -> None:
    content = json.dumps(payload).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(content))]
    raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})


def serve(rpm: float, tpm: float) -> None:
    """Serve the limiting app on a free port (printed as ``PORT n``) until stdin closes."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)  # connections wait in the backlog until uvicorn accepts them
    config = uvicorn.Config(LimitingApp(rpm, tpm), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        print(f"PORT {sock.getsockname()[1]}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        server.should_exit = True
        await task

    asyncio.run(main())


async def run_once(base_url: str, n: int, **client_options: Any) -> dict[str, Any]:
    """Send ``n`` requests; the server's stats for them, with the client's own count."""
    import httpx

    import chatsdk

    async with httpx.AsyncClient() as http:
        await http.post(base_url.removesuffix("/v1") + "/reset")
    answered = 0
    async with chatsdk.AsyncChatClient(
        api_key="sk-bench", base_url=base_url, max_concurrency=CONCURRENCY, **client_options
    ) as client:

        async def one(i: int) -> None:
            nonlocal answered
            question = f"Question {i}: how many tokens is this?"
            await client.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": question}],
                max_tokens=COMPLETION_TOKENS,
            )
            answered += 1

        started = time.perf_counter()
        async with _Group() as group:
            for i in range(n):
                group.create_task(one(i))
        wall = time.perf_counter() - started
    async with httpx.AsyncClient() as http:
        stats: dict[str, Any] = (await http.get(base_url.removesuffix("/v1") + "/stats")).json()
    return {**stats, "answered": answered, "wall_s": wall}


class _Group:
    """Tasks gathered on exit (``asyncio.TaskGroup`` is not in Python 3.10)."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[None]] = []

    def create_task(self, coro: Any) -> None:
        self.tasks.append(asyncio.ensure_future(coro))

    async def __aenter__(self) -> _Group:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*self.tasks)


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE), "--serve", "--rpm", str(RPM), "--tpm", str(TPM)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        line = proc.stdout.readline() if sel.select(timeout=30) else ""
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"rate-limit server failed to start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}/v1"


async def measure(base_url: str, n: int, others: int) -> dict[str, float]:
    import chatsdk

    limited = await run_once(
        base_url, n, rate_limit=chatsdk.RateLimit(requests_per_minute=RPM, tokens_per_minute=TPM)
    )
    patient = chatsdk.RetryPolicy(max_retries=100, initial_delay=0.05, max_delay=1.0)
    adaptive = await run_once(base_url, others, rate_limit=chatsdk.RateLimit(), retry=patient)
    unlimited = await run_once(base_url, others, retry=patient)
    return {
        "limited_429s": limited["refused"],
        "limited_requests": limited["admitted"],
        "limited_rpm_pct": 100 * limited["rpm"] / RPM,
        "limited_tpm_pct": 100 * limited["tpm"] / TPM,
        "limited_peak_1s_requests_pct": 100 * limited["peak_1s_requests"] / (RPM / 60),
        "limited_peak_1s_tokens_pct": 100 * limited["peak_1s_tokens"] / (TPM / 60),
        "limited_answered_pct": 100 * limited["answered"] / n,
        "adaptive_429s": adaptive["refused"],
        "adaptive_answered_pct": 100 * adaptive["answered"] / others,
        "unlimited_429s": unlimited["refused"],
        "unlimited_answered_pct": 100 * unlimited["answered"] / others,
        "wall_s": limited["wall_s"] + adaptive["wall_s"] + unlimited["wall_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--serve", action="store_true", help="run the limiting server only")
    parser.add_argument("--rpm", type=float, default=RPM)
    parser.add_argument("--tpm", type=float, default=TPM)
    args = parser.parse_args()
    if args.serve:
        serve(args.rpm, args.tpm)
        return
    proc, base_url = start_server()
    try:
        metrics = asyncio.run(measure(base_url, **SIZES[args.size]))
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
    wall = metrics.pop("wall_s")
    sample = {"figure": "rate_limit", "adapter": "chatsdk", "metrics": metrics}
    print(json.dumps({**sample, "wall_s": wall, "server_cpu_s": 0.0, "n": SIZES[args.size]["n"]}))


if __name__ == "__main__":
    main()
