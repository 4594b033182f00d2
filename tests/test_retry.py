"""The retry policy, on literal headers and numbers."""

from __future__ import annotations

import email.utils

import pytest

from chatsdk._retry import (
    INITIAL_BACKOFF,
    JITTER,
    MAX_BACKOFF,
    MAX_RETRY_AFTER,
    is_retryable_stream_error,
    parse_retry_after,
    retry_delay,
    should_retry_status,
)

NOW = 1_700_000_000.0


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_retryable_statuses(status: int) -> None:
    assert should_retry_status(status, {})


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_final_statuses(status: int) -> None:
    assert not should_retry_status(status, {})


def test_x_should_retry_overrides() -> None:
    assert should_retry_status(400, {"x-should-retry": "true"})
    assert not should_retry_status(503, {"x-should-retry": "false"})


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after-ms": "250"}, NOW) == 0.25
    assert parse_retry_after({"retry-after": "3"}, NOW) == 3.0
    date = email.utils.formatdate(NOW + 7, usegmt=True)
    assert parse_retry_after({"retry-after": date}, NOW) == pytest.approx(7.0)
    assert parse_retry_after({"retry-after": "soon"}, NOW) is None
    assert parse_retry_after({}, NOW) is None


def test_retry_after_ms_wins_over_seconds() -> None:
    assert parse_retry_after({"retry-after-ms": "100", "retry-after": "9"}, NOW) == 0.1


def test_backoff_doubles_and_is_capped() -> None:
    delays = [retry_delay(attempt, {}, NOW, 0.0) for attempt in range(1, 10)]
    assert delays[0] == INITIAL_BACKOFF
    assert delays[1] == INITIAL_BACKOFF * 2
    assert max(delays) == MAX_BACKOFF


def test_jitter_takes_off_at_most_its_share() -> None:
    assert retry_delay(1, {}, NOW, 0.999) == pytest.approx(INITIAL_BACKOFF * (1 - JITTER), rel=1e-2)


def test_server_hint_used_within_cap_only() -> None:
    assert retry_delay(1, {"retry-after": "2"}, NOW, 0.5) == 2.0
    too_long = {"retry-after": str(MAX_RETRY_AFTER + 1)}
    assert retry_delay(1, too_long, NOW, 0.0) == INITIAL_BACKOFF


def test_stream_error_types() -> None:
    assert is_retryable_stream_error("rate_limit_exceeded", None)
    assert is_retryable_stream_error(None, "overloaded")
    assert is_retryable_stream_error("server_error", None)
    assert is_retryable_stream_error(None, 503)
    assert not is_retryable_stream_error("invalid_request_error", "context_length_exceeded")
    assert not is_retryable_stream_error(None, 400)
