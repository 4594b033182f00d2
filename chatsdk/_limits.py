"""Client-side rate limits as token buckets, costs estimated and corrected. Pure: time is passed in.

A :class:`RateLimit` is what a user configures; a :class:`Limiter` is one client's state: a bucket
of requests and one of tokens that refill continuously, what the server last said about its own
budget (``x-ratelimit-remaining-*`` and ``x-ratelimit-reset-*``), and the shared cool-down after
a 429. :meth:`Limiter.reserve` either takes a request's cost and answers 0, or says how many
seconds to wait before asking again; the waiting itself is done by the caller (``_gate``).

Example::

    limiter = Limiter(RateLimit(requests_per_minute=600, tokens_per_minute=90_000), now=0.0)
    wait = limiter.reserve(cost=estimate_tokens(len(body_bytes), body), now=clock())
    limiter.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"},
                    now=clock())
    parse_duration("6m0s")   # 360.0
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["BURST_SECONDS", "Limiter", "RateLimit", "estimate_tokens", "parse_duration"]

# A bucket holds this many seconds' share of its per-minute limit: requests go out smoothly rather
# than a minute's worth at once. Servers enforce per-minute limits over shorter windows (OpenAI's
# 60,000 a minute may be 1,000 a second); half a second leaves room for the network's jitter.
BURST_SECONDS = 0.5
# Characters per token of a request body, for the estimate made before it is sent. The body's
# JSON counts its keys and quotes too, so the estimate leans high, as a limiter should.
CHARS_PER_TOKEN = 4
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def _per_minute(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"RateLimit {name} must be a number > 0 or None, not {value!r}.")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"RateLimit {name} must be a finite number > 0 (or None), not {value!r}.")
    return float(value)


@dataclasses.dataclass(frozen=True)
class RateLimit:
    """A client's own limits, per minute; ``AsyncChatClient(rate_limit=...)`` takes one.

    - ``requests_per_minute``: requests sent (each retry counts); ``None`` for no limit;
    - ``tokens_per_minute``: tokens, estimated before sending (the body's size over four, plus
      ``max_completion_tokens`` or ``max_tokens`` times ``n``) and corrected from the reply's
      ``usage``; ``None`` for no limit.

    Requests go out smoothly: at most half a second's share at once. With a rate limit set,
    the client also follows the server's ``x-ratelimit-remaining-*``/``x-ratelimit-reset-*``
    headers, and after a 429 every call of the client waits out the same cool-down.
    ``RateLimit()`` with neither number does only that.

    Example::

        limit = chatsdk.RateLimit(requests_per_minute=500, tokens_per_minute=200_000)
        client = chatsdk.AsyncChatClient(max_concurrency=64, rate_limit=limit)
    """

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute"):
            object.__setattr__(self, name, _per_minute(name, getattr(self, name)))


class _Bucket:
    """Units that refill at ``rate`` a second up to ``capacity``; a cost larger than the capacity
    is let through when the bucket is full and leaves it in debt."""

    __slots__ = ("at", "capacity", "level", "rate")

    def __init__(self, per_minute: float, least: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(self.rate * BURST_SECONDS, least)
        self.level = self.capacity
        self.at: float | None = None

    def wait(self, cost: float, now: float) -> float:
        """Seconds until ``cost`` may be taken (0 when it may now)."""
        if self.at is not None and now > self.at:
            self.level = min(self.capacity, self.level + (now - self.at) * self.rate)
        self.at = now
        need = min(cost, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def refund(self, amount: float) -> None:
        self.level = min(self.capacity, self.level + amount)


class Limiter:
    """One client's rate-limit state: its buckets, the server's last word, the cool-down."""

    __slots__ = ("_requests", "_server", "_tokens", "until")

    def __init__(self, limit: RateLimit) -> None:
        rpm, tpm = limit.requests_per_minute, limit.tokens_per_minute
        self._requests = None if rpm is None else _Bucket(rpm, least=1.0)
        self._tokens = None if tpm is None else _Bucket(tpm, least=1.0)
        # What the server said is left of its budget: {"requests"|"tokens": (left, until)}.
        self._server: dict[str, tuple[float, float]] = {}
        # No request is sent before this time: the shared cool-down after a 429.
        self.until = -math.inf

    def reserve(self, cost: int, now: float) -> float:
        """Take one request of ``cost`` tokens and return 0, or return the seconds to wait before
        asking again (nothing taken)."""
        wait = self.until - now
        for kind, units in (("requests", 1), ("tokens", cost)):
            left, until = self._server.get(kind, (math.inf, now))
            if until > now and left < units:
                wait = max(wait, until - now)
        if self._requests is not None:
            wait = max(wait, self._requests.wait(1, now))
        if self._tokens is not None:
            wait = max(wait, self._tokens.wait(cost, now))
        if wait > 0:
            return wait
        if self._requests is not None:
            self._requests.level -= 1
        if self._tokens is not None:
            self._tokens.level -= cost
        for kind, units in (("requests", 1), ("tokens", cost)):
            if kind in self._server:
                left, until = self._server[kind]
                self._server[kind] = (left - units, until)
        return 0.0

    def correct(self, estimate: int, usage: object) -> None:
        """Give back (or take) the difference between a request's estimate and the tokens its
        reply's ``usage`` says it cost."""
        if self._tokens is None or not isinstance(usage, Mapping):
            return
        total = usage.get("total_tokens")
        if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
            self._tokens.refund(estimate - total)

    def cool_down(self, seconds: float, now: float) -> None:
        """Send nothing for ``seconds`` from ``now`` (a later cool-down already set stands)."""
        self.until = max(self.until, now + seconds)

    def observe(self, headers: Mapping[str, str], now: float) -> None:
        """Note the server's budget from a reply's ``x-ratelimit-remaining-*`` and
        ``x-ratelimit-reset-*`` headers (OpenAI's forms: ``6m0s``, ``1s``, ``250ms``)."""
        for kind in ("requests", "tokens"):
            remaining = headers.get(f"x-ratelimit-remaining-{kind}")
            if remaining is None:
                continue
            reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}", ""))
            try:
                left = float(remaining)
            except ValueError:
                continue
            if reset is not None and left >= 0:
                self._server[kind] = (left, now + reset)


def parse_duration(text: str) -> float | None:
    """Seconds in a duration such as ``6m0s``, ``1s``, ``250ms``, ``1h2m3.5s`` or ``20``;
    ``None`` when it is not one.

    Example::

        parse_duration("6m0s")    # 360.0
        parse_duration("250ms")   # 0.25
    """
    text = text.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and math.isfinite(seconds) else None
    position = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    return total if position == len(text) else None


def estimate_tokens(body_size: int, body: Mapping[str, Any] | None) -> int:
    """A request's token cost before it is sent: its body's bytes over four, plus the completion
    it may ask for (``max_completion_tokens`` or ``max_tokens``, times ``n``).

    Example::

        estimate_tokens(400, {"max_tokens": 50})   # 150
    """
    cost = -(-body_size // CHARS_PER_TOKEN)
    if body:
        most = body.get("max_completion_tokens", body.get("max_tokens"))
        n = body.get("n")
        if isinstance(most, int) and not isinstance(most, bool) and most > 0:
            choices = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1
            cost += most * choices
    return cost
