"""``Retry-After`` in any form a server may send never breaks the call that reads it.

A hint the policy can use is honoured up to ``max_retry_after``; a date in the year 9999 or past
it, garbage, a negative number, NaN, infinity or a number too big for a float falls back to the
policy's own backoff, and the retry happens as it would without the header.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from helpers import MESSAGES, completion, mock_client, sse_response, text_stream

import chatsdk

pytestmark = pytest.mark.anyio

NO_WAIT = chatsdk.RetryPolicy(max_retries=1, initial_delay=0, max_delay=0)


def retrying_client(replies: Iterator[httpx.Response]) -> chatsdk.AsyncChatClient:
    return mock_client(lambda request: next(replies), retry=NO_WAIT, max_retries=1)


HOSTILE = [
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Fri, 31 Dec 4000000000 23:59:59 GMT",
    "Fri, 31 Dec 99999 23:59:59 GMT",
    "Mon, 01 Jan 0001 00:00:00 -2359",
    "Fri, 31 Dec 2020 99:99:99 GMT",
    "soon",
    "",
    "-5",
    "-1e400",
    "nan",
    "NaN",
    "inf",
    "1e400",
    "9" * 400,
    "0x10",
]


@pytest.mark.parametrize("header", ["retry-after", "retry-after-ms"])
@pytest.mark.parametrize("value", HOSTILE)
async def test_a_hostile_retry_after_falls_back_to_the_policys_backoff(
    header: str, value: str
) -> None:
    replies = iter(
        [
            httpx.Response(429, json={"error": {"message": "slow down"}}, headers={header: value}),
            httpx.Response(200, json=completion("after the wait")),
        ]
    )
    async with retrying_client(replies) as client:
        reply = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert reply.choices[0].message.content == "after the wait"


async def test_a_hostile_retry_after_before_a_streams_first_token_is_retried() -> None:
    replies = iter(
        [
            httpx.Response(
                429,
                json={"error": {"message": "slow down"}},
                headers={"retry-after": "Fri, 31 Dec 4000000000 23:59:59 GMT"},
            ),
            sse_response(text_stream(["Hi"])),
        ]
    )
    async with retrying_client(replies) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            assert [piece async for piece in stream.text()] == ["Hi"]
        assert stream.attempts == 2
