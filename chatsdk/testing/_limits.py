"""The local server's rate limits: requests and tokens per minute, with OpenAI's headers.

Pure: the time comes from the ``clock`` given (``time.monotonic`` by default), so a test can move
it by hand and see a limit reset without waiting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ._validate import RequestRejected

__all__ = ["RateLimits", "format_reset"]


def format_reset(seconds: float) -> str:
    """A duration as OpenAI's ``x-ratelimit-reset-*`` headers write it.

    >>> format_reset(0.02), format_reset(1), format_reset(1.5), format_reset(360)
    ('20ms', '1s', '1.5s', '6m0s')
    """
    if seconds < 1:
        return f"{max(0, math.ceil(round(seconds * 1000, 6)))}ms"
    minutes, rest = divmod(seconds, 60)
    rest = round(rest, 3)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    if minutes >= 1:
        hours, minutes = divmod(int(minutes), 60)
        text = (f"{hours}h" if hours else "") + f"{minutes}m" + text
    return text


@dataclass
class _Bucket:
    """A bucket of ``limit`` that refills in full over a minute, continuously."""

    limit: int
    level: float
    at: float

    def refill(self, now: float) -> None:
        self.level = min(self.limit, self.level + (now - self.at) * self.limit / 60.0)
        self.at = now

    def wait(self, amount: float) -> float:
        """Seconds until ``amount`` is in the bucket."""
        return max(0.0, (amount - self.level) * 60.0 / self.limit)

    def reset(self) -> float:
        """Seconds until the bucket is full again."""
        return (self.limit - self.level) * 60.0 / self.limit


@dataclass
class RateLimits:
    """Requests per minute (``rpm``) and tokens per minute (``tpm``) the server allows, as
    buckets that refill continuously; ``None`` is no limit.

    A request costs one request and its prompt plus completion tokens (the server's token rule,
    :func:`count_tokens`). Every chat answer carries ``x-ratelimit-limit-*``,
    ``x-ratelimit-remaining-*`` and ``x-ratelimit-reset-*`` headers (``requests`` and
    ``tokens``); a request over a limit gets a 429 with ``Retry-After`` (whole seconds) and
    ``retry-after-ms``. ``clock`` gives the time in seconds (``time.monotonic``).

    Example::

        serve(rate_limits=RateLimits(rpm=60, tpm=10_000))
        now = [0.0]
        serve(rate_limits=RateLimits(rpm=2, clock=lambda: now[0]))  # time moved by the test
    """

    rpm: int | None = None
    tpm: int | None = None
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        now = self.clock()
        for name, limit in (("requests", self.rpm), ("tokens", self.tpm)):
            if limit is None:
                continue
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                short = "rpm" if name == "requests" else "tpm"
                raise ValueError(f"RateLimits.{short} must be a whole number >= 1 or None")
            self._buckets[name] = _Bucket(limit, float(limit), now)

    def take(self, tokens: int, model: str) -> list[tuple[str, str]]:
        """Spend one request and ``tokens``; the headers to send, or ``RequestRejected`` (429)."""
        now = self.clock()
        cost = {"requests": 1.0, "tokens": float(tokens)}
        for bucket in self._buckets.values():
            bucket.refill(now)
        for name, bucket in self._buckets.items():
            if cost[name] > bucket.limit:
                raise RequestRejected(
                    429,
                    f"Request too large for {model} on {name} per min: Limit {bucket.limit}, "
                    f"Requested {int(cost[name])} (chatsdk local test server).",
                    type=name,
                    code="rate_limit_exceeded",
                    headers=self.headers(),
                )
            wait = bucket.wait(cost[name])
            if wait > 0:
                short = "RPM" if name == "requests" else "TPM"
                raise RequestRejected(
                    429,
                    f"Rate limit reached for {model} on {name} per min ({short}): Limit "
                    f"{bucket.limit}, Used {bucket.limit - int(bucket.level)}, Requested "
                    f"{int(cost[name])}. Please try again in {format_reset(wait)} "
                    "(chatsdk local test server).",
                    type=name,
                    code="rate_limit_exceeded",
                    headers=[
                        ("retry-after", str(max(1, math.ceil(wait)))),
                        ("retry-after-ms", str(math.ceil(wait * 1000))),
                        *self.headers(),
                    ],
                )
        for name, bucket in self._buckets.items():
            bucket.level -= cost[name]
        return self.headers()

    def headers(self) -> list[tuple[str, str]]:
        """The ``x-ratelimit-*`` headers as the limits stand."""
        headers: list[tuple[str, str]] = []
        for name, bucket in self._buckets.items():
            headers += [
                (f"x-ratelimit-limit-{name}", str(bucket.limit)),
                (f"x-ratelimit-remaining-{name}", str(max(0, int(bucket.level)))),
                (f"x-ratelimit-reset-{name}", format_reset(bucket.reset())),
            ]
        return headers
