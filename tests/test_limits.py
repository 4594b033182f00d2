"""The rate limiter's arithmetic, on a clock the test turns by hand: buckets, estimates, headers."""

from __future__ import annotations

import math

import pytest

import chatsdk
from chatsdk._limits import BURST_SECONDS, Limiter, estimate_tokens, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("1s", 1.0),
        ("250ms", 0.25),
        ("1h2m3.5s", 3723.5),
        ("17.387s", 17.387),
        ("0s", 0.0),
        ("20", 20.0),
        ("1m30s", 90.0),
        ("2m500ms", 120.5),
        ("", None),
        ("soon", None),
        ("6m0sx", None),
        ("x6m", None),
        ("-1s", None),
        ("-5", None),
        ("inf", None),
    ],
)
def test_durations_in_openais_forms(text: str, seconds: float | None) -> None:
    got = parse_duration(text)
    if seconds is None:
        assert got is None
    else:
        assert got == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"requests_per_minute": 0}, ValueError, "requests_per_minute"),
        ({"tokens_per_minute": -5}, ValueError, "tokens_per_minute"),
        ({"requests_per_minute": math.inf}, ValueError, "finite"),
        ({"requests_per_minute": "60"}, TypeError, "requests_per_minute"),
        ({"tokens_per_minute": True}, TypeError, "tokens_per_minute"),
    ],
)
def test_a_bad_rate_limit_is_refused_by_name(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        chatsdk.RateLimit(**kwargs)  # type: ignore[arg-type]


def test_the_estimate_is_the_body_over_four_plus_the_completion_asked_for() -> None:
    assert estimate_tokens(400, {}) == 100
    assert estimate_tokens(401, None) == 101  # rounded up
    assert estimate_tokens(400, {"max_tokens": 50}) == 150
    assert estimate_tokens(400, {"max_tokens": 50, "n": 3}) == 250
    assert estimate_tokens(400, {"max_completion_tokens": 20, "max_tokens": 50}) == 120
    assert estimate_tokens(400, {"max_tokens": None, "n": True}) == 100


def test_requests_go_out_at_the_rate_after_a_half_second_burst() -> None:
    limiter = Limiter(chatsdk.RateLimit(requests_per_minute=600))  # 10 a second
    burst = int(10 * BURST_SECONDS)
    assert [limiter.reserve(1, now=0.0) for _ in range(burst)] == [0.0] * burst
    assert limiter.reserve(1, now=0.0) == pytest.approx(0.1)  # nothing taken by asking
    assert limiter.reserve(1, now=0.0) == pytest.approx(0.1)
    assert limiter.reserve(1, now=0.1) == 0.0
    assert limiter.reserve(1, now=0.1) == pytest.approx(0.1)
    # A long pause refills the bucket only up to the burst.
    assert [limiter.reserve(1, now=100.0) for _ in range(burst)] == [0.0] * burst
    assert limiter.reserve(1, now=100.0) > 0


def test_a_low_limit_still_lets_one_request_through_at_a_time() -> None:
    limiter = Limiter(chatsdk.RateLimit(requests_per_minute=3))
    assert limiter.reserve(1, now=0.0) == 0.0
    assert limiter.reserve(1, now=0.0) == pytest.approx(20.0)
    assert limiter.reserve(1, now=20.0) == 0.0


def test_a_request_larger_than_the_burst_waits_for_a_full_bucket_and_leaves_a_debt() -> None:
    limiter = Limiter(chatsdk.RateLimit(tokens_per_minute=6000))  # 100 a second, burst 50
    assert limiter.reserve(500, now=0.0) == 0.0  # full: let through
    # 450 in debt: 5 s until the bucket holds the 50 the next one needs.
    assert limiter.reserve(50, now=0.0) == pytest.approx(5.0)
    assert limiter.reserve(50, now=5.0) == 0.0


def test_usage_corrects_the_estimate_both_ways() -> None:
    limiter = Limiter(chatsdk.RateLimit(tokens_per_minute=6000))  # burst 50
    assert limiter.reserve(50, now=0.0) == 0.0
    assert limiter.reserve(10, now=0.0) == pytest.approx(0.1)
    limiter.correct(50, {"total_tokens": 20})  # 30 given back
    assert limiter.reserve(30, now=0.0) == 0.0
    limiter.correct(30, {"total_tokens": 130})  # 100 more taken
    assert limiter.reserve(10, now=0.0) == pytest.approx(1.1)
    limiter.correct(10, {"no": "usage"})  # nothing to go by: the estimate stands
    limiter.correct(10, None)
    assert limiter.reserve(10, now=0.0) == pytest.approx(1.1)


def test_the_servers_budget_is_followed_until_its_reset() -> None:
    limiter = Limiter(chatsdk.RateLimit())  # no limit of its own: only the server's word
    assert limiter.reserve(10, now=0.0) == 0.0
    limiter.observe(
        {"x-ratelimit-remaining-requests": "1", "x-ratelimit-reset-requests": "6m0s"}, now=0.0
    )
    assert limiter.reserve(10, now=1.0) == 0.0  # the one that was left
    assert limiter.reserve(10, now=1.0) == pytest.approx(359.0)
    assert limiter.reserve(10, now=360.0) == 0.0
    limiter.observe(
        {"x-ratelimit-remaining-tokens": "100", "x-ratelimit-reset-tokens": "250ms"}, now=400.0
    )
    assert limiter.reserve(60, now=400.0) == 0.0
    assert limiter.reserve(60, now=400.0) == pytest.approx(0.25)  # 40 left: too few
    assert limiter.reserve(40, now=400.0) == 0.0
    # Headers it cannot read change nothing.
    limiter.observe(
        {"x-ratelimit-remaining-requests": "many", "x-ratelimit-reset-requests": "1s"}, 500.0
    )
    limiter.observe(
        {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "?"}, 500.0
    )
    assert limiter.reserve(10, now=500.0) == 0.0


def test_a_cool_down_holds_every_request_and_a_later_one_stands() -> None:
    limiter = Limiter(chatsdk.RateLimit(requests_per_minute=6000))
    limiter.cool_down(2.0, now=10.0)
    limiter.cool_down(1.0, now=10.5)  # ends earlier: the first stands
    assert limiter.reserve(1, now=10.0) == pytest.approx(2.0)
    assert limiter.reserve(1, now=11.9) == pytest.approx(0.1)
    assert limiter.reserve(1, now=12.0) == 0.0
