"""Settings that a client and each request accept, checked once with the parameter's name.

Example::

    timeout = as_timeout(30)                              # httpx.Timeout(30)
    policy = retry_policy(RetryPolicy(), max_retries=5)   # RetryPolicy(max_retries=5, ...)
    deadline = check_deadline(120)                        # 120.0
"""

from __future__ import annotations

from typing import Any

import httpx

from ._retry import RetryPolicy

__all__ = ["NOT_GIVEN", "TimeoutTypes", "as_timeout", "check_deadline", "retry_policy"]

TimeoutTypes = float | httpx.Timeout | None


class _NotGiven:
    """The default of a setting left out, told apart from ``None``, which means "no limit"."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()


def as_timeout(timeout: TimeoutTypes) -> httpx.Timeout:
    """``timeout`` as an ``httpx.Timeout``: seconds, an ``httpx.Timeout`` or ``None`` (none)."""
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
        raise TypeError(f"timeout must be seconds, an httpx.Timeout or None, not {timeout!r}.")
    return httpx.Timeout(timeout)


def check_deadline(deadline: Any) -> float | None:
    """``deadline`` in seconds, or ``None`` for none; anything else is a ``TypeError``."""
    if deadline is None:
        return None
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or deadline <= 0:
        raise TypeError(f"deadline must be a positive number of seconds or None, not {deadline!r}.")
    return float(deadline)


def retry_policy(base: Any, max_retries: Any = NOT_GIVEN) -> RetryPolicy:
    """The policy ``base`` (a ``RetryPolicy``), with ``max_retries`` applied when given."""
    if not isinstance(base, RetryPolicy):
        raise TypeError(
            f"retry must be a chatsdk.RetryPolicy, such as RetryPolicy(max_retries=3), not "
            f"{base!r}."
        )
    if max_retries is NOT_GIVEN or (type(max_retries) is int and max_retries == base.max_retries):
        return base
    return base.replace(max_retries=max_retries)
