"""The retry policy: which failures are retried, and how long to wait first. Pure: no I/O, no clock.

Example::

    policy = RetryPolicy(max_retries=5, initial_delay=0.25)
    if policy.retries(error) and attempt <= policy.max_retries:
        delay = policy.delay(attempt, headers, now=time.time(), rand=random.random())
"""

from __future__ import annotations

import dataclasses
import email.utils
from collections.abc import Mapping
from typing import Any

from ._exceptions import APIConnectionError, APIError, APIStatusError, StreamError

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "RETRYABLE_STATUSES",
    "RETRYABLE_STREAM_ERROR_TYPES",
    "RetryPolicy",
    "parse_retry_after",
]

DEFAULT_MAX_RETRIES = 2

# 408 timeout, 409 lock conflict, 429 rate limit, and every 5xx: the same request can succeed later.
RETRYABLE_STATUSES = frozenset({408, 409, 429, *range(500, 600)})

# Error types and codes that, in a stream's error event, mean "try again later" rather than
# "this request is wrong".
RETRYABLE_STREAM_ERROR_TYPES = frozenset(
    {
        "rate_limit_exceeded",
        "rate_limit_error",
        "rate_limit",
        "overloaded",
        "overloaded_error",
        "server_error",
        "internal_error",
        "internal_server_error",
        "api_error",
        "service_unavailable",
        "timeout",
    }
)

# Stream errors of chatsdk's own making that say the connection failed, not the request.
_BROKEN_STREAM_TYPES = frozenset({"connection_error", "incomplete_stream"})


def _number(name: str, value: Any, *, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise TypeError(f"RetryPolicy {name} must be a number >= 0, not {value!r}.")
    if upper is not None and value > upper:
        raise ValueError(f"RetryPolicy {name} must be at most {upper}, not {value!r}.")
    return float(value)


@dataclasses.dataclass(frozen=True, repr=False)
class RetryPolicy:
    """How a request is retried: an immutable value a client and each request accept.

    - ``max_retries``: retries after the first attempt (0 turns retrying off);
    - ``initial_delay``: seconds before the first retry; each later one waits twice as long,
      up to ``max_delay``;
    - ``jitter``: up to this fraction of each delay is taken off at random, so that many clients
      that failed together do not come back together;
    - ``max_retry_after``: a server's ``Retry-After`` (or ``retry-after-ms``) is honoured up to
      this many seconds; a longer hint is not sat through, ordinary backoff is used instead;
    - ``statuses``: the HTTP statuses that are retried (an ``x-should-retry`` header from the
      server has the last word).

    Connection errors, timeouts and a stream that broke before its first token are retried too.
    ``max_retries=`` on the client or a request is a shorthand for ``policy.replace(max_retries=)``.

    Example::

        patient = chatsdk.RetryPolicy(max_retries=6, initial_delay=1.0, max_delay=30.0)
        client = chatsdk.AsyncChatClient(retry=patient)
        # in tests: retry at once, so that no test sleeps through a backoff
        client = chatsdk.AsyncChatClient(retry=chatsdk.RetryPolicy(initial_delay=0, max_delay=0))
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    # Short enough that a transient blip costs under a second; doubling, capped so that a long
    # outage is not waited out in silence.
    initial_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25
    max_retry_after: float = 60.0
    statuses: frozenset[int] = RETRYABLE_STATUSES

    def __post_init__(self) -> None:
        retries = self.max_retries
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise TypeError(f"max_retries must be an integer >= 0, not {retries!r}.")
        set_field = object.__setattr__  # the documented way to normalise a frozen dataclass
        set_field(self, "initial_delay", _number("initial_delay", self.initial_delay))
        set_field(self, "max_delay", _number("max_delay", self.max_delay))
        set_field(self, "jitter", _number("jitter", self.jitter, upper=1.0))
        set_field(self, "max_retry_after", _number("max_retry_after", self.max_retry_after))
        if self.max_delay < self.initial_delay:
            raise ValueError(
                f"RetryPolicy max_delay ({self.max_delay}) is below initial_delay "
                f"({self.initial_delay}); raise max_delay or lower initial_delay."
            )
        statuses = self.statuses
        if isinstance(statuses, (str, bytes)) or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in statuses
        ):
            raise TypeError(f"RetryPolicy statuses must be HTTP status integers, not {statuses!r}.")
        set_field(self, "statuses", frozenset(statuses))

    def __repr__(self) -> str:
        statuses = sorted(self.statuses)
        shown = [str(s) for s in statuses if not 500 <= s < 600]
        server_errors = [s for s in statuses if 500 <= s < 600]
        if len(server_errors) == 100:
            shown.append("5xx")
        else:
            shown += [str(s) for s in server_errors]
        return (
            f"RetryPolicy(max_retries={self.max_retries}, initial_delay={self.initial_delay}, "
            f"max_delay={self.max_delay}, jitter={self.jitter}, "
            f"max_retry_after={self.max_retry_after}, statuses={{{', '.join(shown)}}})"
        )

    def replace(self, **changes: Any) -> RetryPolicy:
        """A copy with some fields changed (the policy itself never changes).

        Example::

            policy.replace(max_retries=0)
        """
        return dataclasses.replace(self, **changes)

    def retries_status(self, status_code: int, headers: Mapping[str, str]) -> bool:
        """Whether a reply with this status may be retried; ``x-should-retry`` has the last word.

        Example::

            RetryPolicy().retries_status(503, {})   # True
        """
        hint = headers.get("x-should-retry")
        if hint == "true":
            return True
        if hint == "false":
            return False
        return status_code in self.statuses

    def retries(self, error: APIError, headers: Mapping[str, str] | None = None) -> bool:
        """Whether ``error`` says the same request may succeed if sent again.

        Example::

            RetryPolicy().retries(chatsdk.APIConnectionError())   # True
        """
        if isinstance(error, APIStatusError):
            return self.retries_status(error.status_code, headers or error.headers)
        if isinstance(error, StreamError):
            return error.type in _BROKEN_STREAM_TYPES or self._retryable_event(error)
        return isinstance(error, APIConnectionError)

    def _retryable_event(self, error: StreamError) -> bool:
        if error.type in RETRYABLE_STREAM_ERROR_TYPES:
            return True
        code = error.code
        if isinstance(code, str):
            return code in RETRYABLE_STREAM_ERROR_TYPES
        if isinstance(code, int):
            return code in self.statuses
        return False

    def delay(self, attempt: int, headers: Mapping[str, str], now: float, rand: float) -> float:
        """Seconds to wait before retry number ``attempt`` (1 for the first retry).

        A server hint within ``max_retry_after`` wins; otherwise exponential backoff from
        ``initial_delay``, capped at ``max_delay``, less up to ``jitter`` of it (``rand`` is a
        number in [0, 1)); ``now`` is the wall-clock time, for a ``Retry-After`` date.

        Example::

            RetryPolicy(jitter=0).delay(3, {}, now=0.0, rand=0.5)   # 2.0
        """
        hinted = parse_retry_after(headers, now)
        if hinted is not None and hinted <= self.max_retry_after:
            return hinted
        backoff: float = min(self.initial_delay * 2.0 ** (attempt - 1), self.max_delay)
        return backoff * (1.0 - self.jitter * rand)


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds the server asked to wait, from ``retry-after-ms`` or ``Retry-After``.

    ``Retry-After`` may be seconds or an HTTP date; ``now`` is the wall-clock time for the latter.
    Returns ``None`` when there is no usable hint.
    """
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            seconds = float(value) / 1000.0
        except ValueError:
            seconds = -1.0
        if seconds >= 0:
            return seconds
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            seconds = when.timestamp() - now
        # A date past the year 9999 overflows rather than failing to parse.
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        return max(seconds, 0.0)
    return seconds if seconds >= 0 else None
