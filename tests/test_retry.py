"""The retry policy, on literal headers, numbers and errors."""

from __future__ import annotations

import dataclasses
import email.utils

import pytest

import chatsdk
from chatsdk._retry import parse_retry_after

NOW = 1_700_000_000.0
POLICY = chatsdk.RetryPolicy()


def stream_error(type: str | None, code: str | int | None = None) -> chatsdk.StreamError:
    return chatsdk.StreamError("x", type=type, code=code)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_retryable_statuses(status: int) -> None:
    assert POLICY.retries_status(status, {})


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_final_statuses(status: int) -> None:
    assert not POLICY.retries_status(status, {})


def test_x_should_retry_overrides() -> None:
    assert POLICY.retries_status(400, {"x-should-retry": "true"})
    assert not POLICY.retries_status(503, {"x-should-retry": "false"})


def test_statuses_can_be_chosen() -> None:
    only_429 = chatsdk.RetryPolicy(statuses=frozenset({429}))
    assert only_429.retries_status(429, {})
    assert not only_429.retries_status(503, {})
    assert chatsdk.RetryPolicy(statuses=[503]).statuses == frozenset({503})  # type: ignore[arg-type]


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
    delays = [POLICY.delay(attempt, {}, NOW, 0.0) for attempt in range(1, 10)]
    assert delays[0] == POLICY.initial_delay
    assert delays[1] == POLICY.initial_delay * 2
    assert max(delays) == POLICY.max_delay


def test_default_policy_is_within_sane_bounds() -> None:
    assert POLICY.max_retries == 2
    assert 0 < POLICY.initial_delay <= 1
    assert POLICY.initial_delay < POLICY.max_delay <= 60
    assert 0 < POLICY.jitter < 1
    assert 0 < POLICY.max_retry_after <= 300


@pytest.mark.parametrize("rand", [0.0, 0.5, 0.999])
def test_backoff_is_exponential_jittered_and_capped(rand: float) -> None:
    delays = [POLICY.delay(attempt, {}, NOW, rand) for attempt in range(1, 8)]
    factor = 1 - POLICY.jitter * rand
    expected = [min(POLICY.initial_delay * 2**n, POLICY.max_delay) * factor for n in range(7)]
    assert delays == pytest.approx(expected)
    assert delays[-1] == delays[-2]  # capped


def test_jitter_takes_off_at_most_its_share() -> None:
    low = POLICY.initial_delay * (1 - POLICY.jitter)
    assert POLICY.delay(1, {}, NOW, 0.999) == pytest.approx(low, rel=1e-2)


def test_server_hint_used_within_cap_only() -> None:
    assert POLICY.delay(1, {"retry-after": "2"}, NOW, 0.5) == 2.0
    too_long = {"retry-after": str(POLICY.max_retry_after + 1)}
    assert POLICY.delay(1, too_long, NOW, 0.0) == POLICY.initial_delay


@pytest.mark.parametrize(
    ("headers", "low", "high"),
    [
        ({"retry-after-ms": "250"}, 0.25, 0.25),
        ({"retry-after": "2"}, 2.0, 2.0),
        ({"retry-after": "1.5"}, 1.5, 1.5),
        ({"retry-after-ms": "40", "retry-after": "9"}, 0.04, 0.04),
        ({"retry-after": email.utils.formatdate(NOW + 4, usegmt=True)}, 4.0, 4.0),
        ({"retry-after": email.utils.formatdate(NOW - 30, usegmt=True)}, 0.0, 0.0),
        # Past the cap, or unreadable: ordinary backoff instead of a long or no wait.
        ({"retry-after": "3600"}, 0.1, POLICY.max_delay),
        ({"retry-after-ms": "99999999"}, 0.1, POLICY.max_delay),
        ({"retry-after": "soon"}, 0.1, POLICY.max_delay),
        ({"retry-after": "nan"}, 0.1, POLICY.max_delay),
    ],
)
def test_server_retry_hints_are_honoured_within_the_cap(
    headers: dict[str, str], low: float, high: float
) -> None:
    for rand in (0.0, 0.999):
        assert low - 1e-9 <= POLICY.delay(1, headers, NOW, rand) <= high + 1e-9


def test_zero_delays_for_tests() -> None:
    now = chatsdk.RetryPolicy(initial_delay=0, max_delay=0)
    assert [now.delay(attempt, {}, NOW, 0.5) for attempt in range(1, 6)] == [0.0] * 5


def test_stream_error_types() -> None:
    assert POLICY.retries(stream_error("rate_limit_exceeded"))
    assert POLICY.retries(stream_error(None, "overloaded"))
    assert POLICY.retries(stream_error("server_error"))
    assert POLICY.retries(stream_error(None, 503))
    assert not POLICY.retries(stream_error("invalid_request_error", "context_length_exceeded"))
    assert not POLICY.retries(stream_error(None, 400))
    # The stream broke, or ended early: the request was fine, the connection was not.
    assert POLICY.retries(stream_error("connection_error"))
    assert POLICY.retries(stream_error("incomplete_stream"))
    assert not POLICY.retries(stream_error("invalid_data"))


def test_errors_of_each_kind() -> None:
    assert POLICY.retries(chatsdk.APIConnectionError())
    assert POLICY.retries(chatsdk.APITimeoutError())
    assert POLICY.retries(chatsdk.InternalServerError("x", status_code=502))
    assert not POLICY.retries(chatsdk.BadRequestError("x", status_code=400))
    hinted = chatsdk.BadRequestError("x", status_code=400, headers={"x-should-retry": "true"})
    assert POLICY.retries(hinted)


def test_policy_is_immutable_and_replace_makes_a_copy() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        POLICY.max_retries = 5  # type: ignore[misc]
    more = POLICY.replace(max_retries=5)
    assert more.max_retries == 5 and POLICY.max_retries == 2
    assert more.initial_delay == POLICY.initial_delay
    assert POLICY.replace() == POLICY and hash(POLICY.replace()) == hash(POLICY)


@pytest.mark.parametrize(
    ("changes", "error", "says"),
    [
        ({"max_retries": -1}, TypeError, "max_retries must be an integer >= 0"),
        ({"max_retries": 1.5}, TypeError, "max_retries must be an integer >= 0"),
        ({"max_retries": True}, TypeError, "max_retries must be an integer >= 0"),
        ({"initial_delay": -0.1}, TypeError, "initial_delay must be a number >= 0"),
        ({"initial_delay": "1"}, TypeError, "initial_delay must be a number >= 0"),
        ({"max_delay": float("nan")}, TypeError, "max_delay must be a number >= 0"),
        ({"jitter": 1.5}, ValueError, "jitter must be at most 1.0"),
        ({"initial_delay": 5, "max_delay": 1}, ValueError, "max_delay (1.0) is below"),
        ({"statuses": "429"}, TypeError, "statuses must be HTTP status integers"),
        ({"statuses": {429, "503"}}, TypeError, "statuses must be HTTP status integers"),
    ],
)
def test_bad_settings_say_what_was_wrong(
    changes: dict[str, object], error: type[Exception], says: str
) -> None:
    with pytest.raises(error) as info:
        chatsdk.RetryPolicy(**changes)  # type: ignore[arg-type]
    assert says in str(info.value)


def test_repr_is_short_and_complete() -> None:
    text = repr(chatsdk.RetryPolicy(max_retries=3))
    assert text == (
        "RetryPolicy(max_retries=3, initial_delay=0.5, max_delay=8.0, jitter=0.25, "
        "max_retry_after=60.0, statuses={408, 409, 429, 5xx})"
    )
    assert "statuses={429, 503}" in repr(chatsdk.RetryPolicy(statuses=frozenset({503, 429})))


def test_client_and_request_take_a_policy() -> None:
    policy = chatsdk.RetryPolicy(max_retries=4, initial_delay=0, max_delay=0)
    client = chatsdk.AsyncChatClient(api_key="k", base_url="http://x/v1", retry=policy)
    assert client.retry is policy and client.max_retries == 4
    shorthand = chatsdk.AsyncChatClient(
        api_key="k", base_url="http://x/v1", retry=policy, max_retries=1
    )
    assert shorthand.retry == policy.replace(max_retries=1)
    with pytest.raises(TypeError, match=r"retry must be a chatsdk\.RetryPolicy"):
        chatsdk.AsyncChatClient(api_key="k", base_url="http://x/v1", retry=3)  # type: ignore[arg-type]
