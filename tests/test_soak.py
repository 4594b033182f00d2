"""Fault-injection soak: thousands of buffered and streamed requests against the local server over
loopback, with seeded random 429s, 5xx, disconnects, malformed chunks, error events and stalls.

Every request must end with exactly the expected text or a typed chatsdk exception; none may
return short text, hang past its deadline, retry what may not be retried, or leave a connection,
a task or a socket behind. Faults are drawn per attempt from ``random.Random(seed, request,
attempt)``, so each request's fate is reproducible whatever the scheduling, and the test checks
the client's behaviour against what the faults of its recorded attempts imply. Run with
``pytest -s tests/test_soak.py`` to see the tally (docs/reliability.md has one)."""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import pytest
from helpers import (
    busy_connections,
    open_fds,
    pool_is_closed,
    pool_of,
    requests_in,
    settled_task_count,
)

import chatsdk
from chatsdk.testing import ECHO_PREFIX, Faults, serve, split_pieces

# A soak of thousands of requests: the end-to-end group, run by CI with `pytest -m e2e`.
pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SEED = 20_261_126
STREAMED = 1_200
BUFFERED = 800
CONCURRENCY = 50
MAX_RETRIES = 2
DEADLINE = 10.0  # per request; nothing in the fault mix needs more than ~4 s
READ_TIMEOUT = 0.5  # read timeout, and the idle limit between stream events
LONG_STALL = 1.0  # > READ_TIMEOUT: seen as a timeout
SHORT_STALL = 0.05  # < READ_TIMEOUT: the stall ends and the answer completes
WHOLE_RUN_LIMIT = 120.0

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa 你 好 世 界 🙂 λ".split()


@dataclass(frozen=True)
class Plan:
    """The fault for one attempt, and what it must lead to.

    ``kind`` is "ok" (the attempt succeeds), "retry" (it fails in a way that must be retried
    while the budget lasts) or "fail" (it fails in a way that must be raised at once); ``error``
    is the exception type the attempt ends with when it is the last.
    """

    label: str
    faults: Faults | None
    kind: str
    error: type[chatsdk.APIError] | None = None


def plan_attempt(rng: random.Random, streamed: bool, pieces: int) -> Plan:
    # Chunk positions: 0 is the role chunk (empty content), 1..pieces carry text, then finish.
    # A fault at position <= 1 fires before any text; later ones after some.
    position = rng.randint(0, pieces + 2)
    before_text = position <= 1
    roll = rng.random()
    if roll < 0.50:
        return Plan("clean", None, "ok")
    if roll < 0.58:
        hints: list[float | str] = [0, 0.01, 0.05, "0"]
        hint = rng.choice(hints)
        return Plan("429", Faults(status=429, retry_after=hint), "retry", chatsdk.RateLimitError)
    if roll < 0.64:
        status = rng.choice([500, 502, 503, 504])
        return Plan(
            f"{status}", Faults(status=status, retry_after=0), "retry", chatsdk.InternalServerError
        )
    if roll < 0.66:  # no hint: exponential backoff
        return Plan("500-backoff", Faults(status=500), "retry", chatsdk.InternalServerError)
    if roll < 0.67:
        return Plan("400", Faults(status=400), "fail", chatsdk.BadRequestError)
    if roll < 0.75:
        faults = Faults(disconnect_after=position)
        if not streamed:
            return Plan("disconnect", faults, "retry", chatsdk.APIConnectionError)
        kind = "retry" if before_text else "fail"
        return Plan(f"disconnect-{kind}", faults, kind, chatsdk.StreamError)
    if roll < 0.81:
        stall = Faults(
            stall_after=position,
            stall_for=LONG_STALL,
            # Pings only in streams (the server cannot ping inside a buffered JSON body).
            stall_ping=0.05 if streamed and rng.random() < 0.5 else None,
        )
        if not streamed:
            return Plan("stall", stall, "retry", chatsdk.APITimeoutError)
        kind = "retry" if before_text else "fail"
        return Plan(f"stall-{kind}", stall, kind, chatsdk.APITimeoutError)
    if roll < 0.85:
        return Plan("short-stall", Faults(stall_after=position, stall_for=SHORT_STALL), "ok")
    if roll < 0.88:
        return Plan("keepalive", Faults(keepalive=True), "ok")
    if not streamed:
        return Plan("delay", Faults(delay=0.01), "ok")
    if roll < 0.93:
        error_type = rng.choice(
            ["server_error", "rate_limit_exceeded", "overloaded_error", "invalid_request_error"]
        )
        faults = Faults(error_after=position, error_type=error_type)
        retryable = error_type != "invalid_request_error"
        kind = "retry" if before_text and retryable else "fail"
        return Plan(f"error-event-{kind}", faults, kind, chatsdk.StreamError)
    return Plan("malformed", Faults(malformed_after=position), "fail", chatsdk.StreamError)


@dataclass
class Request:
    index: int
    streamed: bool
    text: str
    attempts: list[Plan] = field(default_factory=list)  # as the server saw them
    outcome: str = ""  # "ok" or the exception's class name
    error: chatsdk.APIError | None = None
    client_attempts: int | None = None
    elapsed: float = 0.0

    @property
    def expected(self) -> str:
        return ECHO_PREFIX + self.text


class Soak:
    def __init__(self) -> None:
        words = random.Random(SEED)
        self.requests: list[Request] = []
        kinds = [True] * STREAMED + [False] * BUFFERED
        words.shuffle(kinds)
        for i, streamed in enumerate(kinds):
            text = f"soak#{i} " + " ".join(words.choices(WORDS, k=words.randint(1, 12)))
            self.requests.append(Request(i, streamed, text))
        self.unexpected: list[str] = []

    def faults(self, index: int, body: Any) -> Faults | None:
        """The server's per-request faults callable (runs on the server's thread)."""
        content = body["messages"][-1]["content"]
        request = self.requests[int(content.split(" ", 1)[0].removeprefix("soak#"))]
        attempt = len(request.attempts) + 1
        rng = random.Random(f"{SEED}:{request.index}:{attempt}")
        pieces = len(split_pieces(request.expected))
        plan = plan_attempt(rng, request.streamed, pieces)
        request.attempts.append(plan)
        return plan.faults

    async def run_one(self, client: chatsdk.AsyncChatClient, request: Request) -> None:
        messages: list[chatsdk.MessageParam] = [{"role": "user", "content": request.text}]
        started = time.monotonic()
        try:
            if request.streamed:
                stream = await client.chat.completions.create(
                    model="chatsdk-test", messages=messages, stream=True, deadline=DEADLINE
                )
                async with stream:
                    if request.index % 3 == 0:
                        text = (await stream.final()).choices[0].message.content
                    elif request.index % 3 == 1:
                        text = "".join([piece async for piece in stream.text()])
                    else:
                        text = "".join(
                            [c.choices[0].delta.content or "" async for c in stream if c.choices]
                        )
                request.client_attempts = stream.attempts
            else:
                reply = await client.chat.completions.create(
                    model="chatsdk-test", messages=messages, deadline=DEADLINE
                )
                text = reply.choices[0].message.content
            request.outcome = "ok"
            if text != request.expected:
                self.unexpected.append(f"#{request.index}: returned {text!r}")
        except chatsdk.APIError as exc:
            request.outcome = type(exc).__name__
            request.error = exc
            request.client_attempts = exc.attempts
        except Exception as exc:  # anything else escaping is a failure of the test
            request.outcome = f"untyped {type(exc).__name__}"
            self.unexpected.append(f"#{request.index}: untyped {exc!r}")
        finally:
            request.elapsed = time.monotonic() - started

    def check(self, request: Request) -> tuple[list[str], bool]:
        """Problems with one request, and whether timing (not faults) changed its course."""
        problems: list[str] = []
        timing = False
        attempts = request.attempts
        name = f"#{request.index} ({'streamed' if request.streamed else 'buffered'}, attempts "
        name += f"{[p.label for p in attempts]}, outcome {request.outcome})"
        if not attempts:
            return [f"{name}: the server never saw it"], timing
        if len(attempts) > MAX_RETRIES + 1:
            problems.append(f"{name}: more attempts than max_retries allows")
        for plan in attempts[:-1]:
            if plan.kind == "fail":
                problems.append(f"{name}: retried after a fault that must be raised ({plan.label})")
            elif plan.kind == "ok":
                timing = True  # a clean attempt timed out before its first token (load)
        last = attempts[-1]
        error = request.error
        if request.outcome == "ok":
            if last.kind != "ok":
                problems.append(f"{name}: succeeded although its last attempt was {last.label}")
        elif isinstance(error, chatsdk.APITimeoutError) and last.error is not error.__class__:
            timing = True  # an attempt that would have succeeded or failed otherwise timed out
        elif last.kind == "ok":
            problems.append(f"{name}: failed although its last attempt was clean")
        elif last.kind == "retry" and len(attempts) <= MAX_RETRIES:
            problems.append(f"{name}: not retried after {last.label}")
        elif last.error is not None and type(error) is not last.error:
            problems.append(f"{name}: raised {request.outcome}, expected {last.error.__name__}")
        if error is not None:
            if not request.expected.startswith(error.partial_text):
                problems.append(f"{name}: partial_text {error.partial_text!r} is not a prefix")
            if not request.streamed and error.partial_text:
                problems.append(f"{name}: a buffered request has partial_text")
        # Attempts the client reports match the server's count.
        if request.client_attempts is not None and request.client_attempts != len(attempts):
            problems.append(f"{name}: client says {request.client_attempts} attempts")
        if request.elapsed > DEADLINE + 2.0:
            problems.append(f"{name}: took {request.elapsed:.1f} s, past its deadline")
        return problems, timing


async def test_fault_injection_soak(anyio_backend: str) -> None:
    soak = Soak()
    fds_before = open_fds()
    started = time.monotonic()
    async with serve(faults=soak.faults) as server:
        tasks_before = await settled_task_count(anyio_backend)
        client = server.client(
            max_retries=MAX_RETRIES, timeout=httpx.Timeout(10.0, read=READ_TIMEOUT)
        )
        pool = pool_of(client)
        queue = iter(soak.requests)

        async def worker() -> None:
            for request in queue:
                await soak.run_one(client, request)

        with anyio.fail_after(WHOLE_RUN_LIMIT):
            async with anyio.create_task_group() as tg:
                for _ in range(CONCURRENCY):
                    tg.start_soon(worker)
        wall = time.monotonic() - started

        busy = busy_connections(pool)
        idle_connections = len(getattr(pool, "connections", []))
        assert busy == [], "connections still held after every request ended"
        assert requests_in(pool) == 0
        assert await settled_task_count(anyio_backend) == tasks_before
        # The pool is still usable afterwards.
        server.faults = None
        reply = await client.chat.completions.create(
            model="chatsdk-test", messages=[{"role": "user", "content": "after"}]
        )
        assert reply.choices[0].message.content == ECHO_PREFIX + "after"
        await client.aclose()
        assert pool_is_closed(pool)
        server_attempts = len(server.chat_requests) - 1
    if fds_before:
        assert open_fds() <= fds_before + 2, "sockets left open"

    problems: list[str] = list(soak.unexpected)
    tally: Counter[str] = Counter()
    faults_seen: Counter[str] = Counter()
    timing = 0
    for request in soak.requests:
        found, timed = soak.check(request)
        problems += found
        timing += timed
        faults_seen.update(p.label.split("-")[0] for p in request.attempts)
        if request.outcome == "ok":
            first_try = len(request.attempts) == 1
            tally["completed first try" if first_try else "completed after retry"] += 1
        else:
            tally[f"failed: {request.outcome}"] += 1
    assert server_attempts == sum(len(r.attempts) for r in soak.requests)
    retried = sum(1 for r in soak.requests if len(r.attempts) > 1)
    max_elapsed = max(r.elapsed for r in soak.requests)
    lines = [
        f"soak [{anyio_backend}]: {len(soak.requests)} requests ({STREAMED} streamed, "
        f"{BUFFERED} buffered), {server_attempts} attempts, {retried} retried, "
        f"wall {wall:.1f} s, slowest request {max_elapsed:.2f} s, "
        f"{idle_connections} idle connections at the end",
        *(f"  {key}: {tally[key]}" for key in sorted(tally)),
        f"  timing deviations (load, not faults): {timing}",
        "  faults injected per attempt: "
        + ", ".join(f"{k} {v}" for k, v in sorted(faults_seen.items())),
    ]
    print("\n" + "\n".join(lines))
    assert not problems, "\n".join(problems[:30])
    assert sum(tally.values()) == len(soak.requests) >= 2000
    assert tally["completed first try"] and tally["completed after retry"]
    # Load may make a few clean attempts time out; many would mean the client misjudges time.
    assert timing <= len(soak.requests) // 20
