"""A client's gate: its concurrency slots and rate limiter, and the calls that pass through it.

The client makes one :class:`Gate` from ``max_concurrency`` and ``rate_limit``; its calls are
then :class:`GatedCall` objects, each with a :class:`Ticket` (the request's estimated token
cost), filling in the hooks :class:`~chatsdk._call.Call` leaves for them. Before every attempt
the call enters: the first time it takes a concurrency slot, which it keeps through retries and,
for a stream, until the stream is closed; every time it waits until the rate limiter lets one
more request out (the buckets, the server's ``x-ratelimit-*`` budget, the shared cool-down after
a 429). Waits are on the event loop's clock, so a test's virtual clock is obeyed.

Example::

    gate = make_gate(max_concurrency=8, rate_limit=RateLimit(requests_per_minute=60))
    call = gate.call(len(content), body)(http, request, policy=policy, deadline=None, api_key=k)
    response = await call.send()   # waited for a slot and the rate limit's leave
    call.finish(usage)             # when the call is over: slot back, tokens corrected
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import httpx

from ._call import Call
from ._exceptions import APIError, RateLimitError, StreamError
from ._limits import Limiter, RateLimit, estimate_tokens

__all__ = ["Gate", "GatedCall", "Ticket", "make_gate"]


def make_gate(max_concurrency: Any, rate_limit: Any) -> Gate | None:
    """The gate for these settings, checked by name; ``None`` when neither is set."""
    if max_concurrency is not None and (
        isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int)
    ):
        raise TypeError(
            f"max_concurrency must be an integer >= 1 or None (no limit), not {max_concurrency!r}."
        )
    if max_concurrency is not None and max_concurrency < 1:
        raise ValueError(
            f"max_concurrency must be at least 1 (or None for no limit), not {max_concurrency}."
        )
    if rate_limit is not None and not isinstance(rate_limit, RateLimit):
        raise TypeError(
            "rate_limit must be a chatsdk.RateLimit, such as "
            f"RateLimit(requests_per_minute=500), or None; not {rate_limit!r}."
        )
    if max_concurrency is None and rate_limit is None:
        return None
    return Gate(max_concurrency, None if rate_limit is None else Limiter(rate_limit))


class Gate:
    """One client's concurrency slots and rate limiter, shared by all its calls.

    Calls wait for the rate limiter one at a time, in turn (``turn``): the others wait in line,
    so that each request let out wakes one call, not every call waiting.
    """

    __slots__ = ("limiter", "max_concurrency", "slots", "turn")

    def __init__(self, max_concurrency: int | None, limiter: Limiter | None) -> None:
        self.max_concurrency = max_concurrency
        self.limiter = limiter
        self.slots = Slots(max_concurrency)
        self.turn = Slots(1)

    def call(self, body_size: int, body: Mapping[str, Any] | None) -> Callable[..., Call]:
        """What makes the call for a request: a :class:`GatedCall` with its ticket (and the
        request's estimated token cost)."""
        cost = estimate_tokens(body_size, body) if self.limiter is not None else 0
        return functools.partial(GatedCall, ticket=Ticket(self, cost))


class Slots:
    """A number of slots (``None``: no limit), handed out first come, first served."""

    __slots__ = ("_free", "_waiters")

    def __init__(self, count: int | None) -> None:
        self._free = count
        self._waiters: deque[anyio.Event] = deque()

    async def take(self) -> None:
        """Wait for a slot and take it."""
        if self._free is None:
            return
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        event = anyio.Event()
        self._waiters.append(event)
        try:
            await event.wait()
        except BaseException:
            if event.is_set():
                self.give()  # handed one while being cancelled: pass it on
            else:
                self._waiters.remove(event)
            raise

    def give(self) -> None:
        """Give a slot back: straight to the first in line, if any."""
        if self._free is None:
            return
        if self._waiters:
            self._waiters.popleft().set()
        else:
            self._free += 1


class Ticket:
    """One call's passage through its client's gate."""

    __slots__ = ("cost", "gate", "holding", "settled")

    def __init__(self, gate: Gate, cost: int) -> None:
        self.gate = gate
        self.cost = cost
        self.holding = False
        self.settled = False

    async def enter(self, clock: Callable[[], float]) -> None:
        """Before an attempt: a concurrency slot (the first time), then the rate limiter's
        leave to send one more request."""
        gate = self.gate
        if not self.holding:
            await gate.slots.take()
            self.holding = True
        limiter = gate.limiter
        if limiter is None:
            return
        await gate.turn.take()
        try:
            while True:
                wait = limiter.reserve(self.cost, clock())
                if wait <= 0:
                    return
                await anyio.sleep(wait)  # the limiter's state changes with time, not on an event
        finally:
            gate.turn.give()

    def observe(self, headers: Mapping[str, str], now: float) -> None:
        """Note the server's ``x-ratelimit-*`` budget from a reply."""
        if self.gate.limiter is not None:
            self.gate.limiter.observe(headers, now)

    def cool_down(self, error: APIError, seconds: float, now: float) -> bool:
        """After a rate-limit error, make every call of the client wait ``seconds``; True when
        the wait is the gate's (the call's next :meth:`enter` does it), False when it is not a
        rate-limit error or there is no limiter."""
        limiter = self.gate.limiter
        if limiter is None or not is_rate_limited(error):
            return False
        limiter.cool_down(seconds, now)
        return True

    def leave(self, usage: object = None) -> None:
        """The call is over: its slot goes back (once); ``usage``, when given, corrects the
        token estimate (once)."""
        if self.holding:
            self.holding = False
            self.gate.slots.give()
        limiter = self.gate.limiter
        if usage is not None and not self.settled and limiter is not None:
            self.settled = True
            limiter.correct(self.cost, usage)


def is_rate_limited(error: APIError) -> bool:
    """Whether ``error`` is the server saying "too many requests or tokens"."""
    if isinstance(error, RateLimitError):
        return True
    if isinstance(error, StreamError):
        return error.code == 429 or "rate_limit" in str(error.type or error.code or "")
    return False


class GatedCall(Call):
    """A call under its client's limits: the hooks of :class:`~chatsdk._call.Call`, filled in."""

    __slots__ = ("ticket",)

    def __init__(self, *args: Any, ticket: Ticket, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ticket = ticket

    async def admit(self) -> None:
        with self.bounded():  # waiting for a slot or the rate limit keeps the deadline too
            await self.ticket.enter(self.clock)

    def observe(self, response: httpx.Response) -> None:
        self.ticket.observe(response.headers, self.clock())

    async def pause(self, error: APIError, delay: float) -> None:
        # A rate limit's wait is the whole client's: the next attempt waits it out with every call.
        if not self.ticket.cool_down(error, delay, self.clock()):
            await anyio.sleep(delay)

    def finish(self, usage: object = None) -> None:
        self.ticket.leave(usage)

    async def send(self) -> httpx.Response:
        try:
            return await super().send()
        except BaseException:
            self.ticket.leave()  # no reply, no stream: the call is over
            raise

    async def read_whole(self) -> tuple[httpx.Response, bytes]:
        try:
            return await super().read_whole()
        finally:
            self.ticket.leave()
