"""When to retry a request, and how long to wait first. Pure: no I/O, no clock of its own.

Example::

    if should_retry_status(429, headers):
        delay = retry_delay(attempt=1, headers=headers, now=time.time(), rand=random.random())
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping

__all__ = [
    "INITIAL_BACKOFF",
    "JITTER",
    "MAX_BACKOFF",
    "MAX_RETRY_AFTER",
    "RETRYABLE_STREAM_ERROR_TYPES",
    "is_retryable_stream_error",
    "parse_retry_after",
    "retry_delay",
    "should_retry_status",
]

# Backoff doubles from INITIAL_BACKOFF and stops growing at MAX_BACKOFF: short enough that a
# transient blip costs under a second, capped so that a long outage is not waited out in silence.
INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 8.0
# Up to this fraction of each delay is taken off at random, so that many clients that failed
# together do not come back together.
JITTER = 0.25
# A server's own Retry-After is honoured up to this many seconds; a longer hint is not sat
# through: ordinary backoff is used instead, and the retry budget decides the rest.
MAX_RETRY_AFTER = 60.0

# 408 timeout, 409 lock conflict, 429 rate limit: the same request can succeed later.
_RETRYABLE_STATUSES = frozenset({408, 409, 429})

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


def should_retry_status(status_code: int, headers: Mapping[str, str]) -> bool:
    """Whether a reply with this status may be retried; ``x-should-retry`` has the last word."""
    hint = headers.get("x-should-retry")
    if hint == "true":
        return True
    if hint == "false":
        return False
    return status_code in _RETRYABLE_STATUSES or status_code >= 500


def is_retryable_stream_error(type: str | None, code: object) -> bool:
    """Whether an error event in a stream says the same request may succeed later."""
    if type in RETRYABLE_STREAM_ERROR_TYPES:
        return True
    if isinstance(code, str):
        return code in RETRYABLE_STREAM_ERROR_TYPES
    if isinstance(code, int):
        return code in _RETRYABLE_STATUSES or code >= 500
    return False


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
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - now
        return max(seconds, 0.0)
    return seconds if seconds >= 0 else None


def retry_delay(attempt: int, headers: Mapping[str, str], now: float, rand: float) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry).

    A server hint within :data:`MAX_RETRY_AFTER` wins; otherwise exponential backoff from
    :data:`INITIAL_BACKOFF`, capped at :data:`MAX_BACKOFF`, less up to :data:`JITTER` of it
    (``rand`` is a number in [0, 1)).
    """
    hinted = parse_retry_after(headers, now)
    if hinted is not None and hinted <= MAX_RETRY_AFTER:
        return hinted
    backoff: float = min(INITIAL_BACKOFF * 2.0 ** (attempt - 1), MAX_BACKOFF)
    return backoff * (1.0 - JITTER * rand)
