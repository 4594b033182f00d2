"""SSE framing on literal bytes: line ends, comments, BOM, UTF-8 split anywhere, bounds."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from chatsdk import StreamError
from chatsdk._sse import MAX_EVENT_CHARS, SSEParser


def parse(*parts: bytes) -> list[tuple[str, str]]:
    parser = SSEParser()
    events = []
    for part in parts:
        events += parser.feed(part)
    events += parser.close()
    return events


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(newline: bytes) -> None:
    raw = b"data: one" + newline + newline + b"data: two" + newline + newline
    assert parse(raw) == [("message", "one"), ("message", "two")]


def test_data_with_and_without_space() -> None:
    assert parse(b"data:{}\n\ndata: {}\n\n") == [("message", "{}"), ("message", "{}")]


@pytest.mark.parametrize(
    "comment", [b": keep-alive", b": OPENROUTER PROCESSING", b": ping - 2025-01-01 00:00:00"]
)
def test_comment_lines_are_ignored(comment: bytes) -> None:
    assert parse(comment + b"\n\ndata: x\n\n" + comment + b"\n\n") == [("message", "x")]


def test_leading_bom_is_dropped() -> None:
    assert parse(b"\xef\xbb\xbfdata: x\n\n") == [("message", "x")]


def test_bom_split_from_the_rest() -> None:
    assert parse(b"\xef\xbb", b"\xbfdata: x\n\n") == [("message", "x")]


def test_only_a_leading_bom_is_dropped() -> None:
    assert parse("\ufeffdata: a\ufeffb\n\n".encode()) == [("message", "a\ufeffb")]


def test_multiline_data_joined_with_newline() -> None:
    assert parse(b"data: a\ndata: b\n\n") == [("message", "a\nb")]


def test_named_event() -> None:
    assert parse(b"event: error\ndata: boom\n\n") == [("error", "boom")]


def test_bare_error_field_becomes_error_event() -> None:
    assert parse(b"error: quota exceeded\n\n") == [("error", "quota exceeded")]


def test_last_event_without_blank_line_is_kept() -> None:
    assert parse(b"data: a\n\ndata: b") == [("message", "a"), ("message", "b")]


def test_utf8_regardless_of_declared_charset() -> None:
    # The parser decodes bytes itself: a server saying charset=latin-1 cannot garble CJK.
    assert parse("data: 你好\n\n".encode()) == [("message", "你好")]


def test_unicode_line_separators_do_not_split_lines() -> None:
    text = "data: a\u2028b\u2029c\x85d\n\n"
    assert parse(text.encode()) == [("message", "a\u2028b\u2029c\x85d")]


CJK_STREAM = (
    'data: {"c": "你好，世界"}\r\n\r\n: keep-alive\r\n\r\ndata: {"c": "🙂👍🏽"}\r\n\r\n'
    "data: [DONE]\r\n\r\n"
).encode()


@pytest.mark.parametrize("cut", range(1, len(CJK_STREAM)))
def test_every_two_way_split(cut: int) -> None:
    expected = [
        ("message", '{"c": "你好，世界"}'),
        ("message", '{"c": "🙂👍🏽"}'),
        ("message", "[DONE]"),
    ]
    assert parse(CJK_STREAM[:cut], CJK_STREAM[cut:]) == expected


def test_one_byte_at_a_time() -> None:
    parts = [CJK_STREAM[i : i + 1] for i in range(len(CJK_STREAM))]
    assert [data for _, data in parse(*parts)] == [
        '{"c": "你好，世界"}',
        '{"c": "🙂👍🏽"}',
        "[DONE]",
    ]


def test_cr_split_from_lf_is_one_line_end() -> None:
    assert parse(b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n") == [
        ("message", "a"),
        ("message", "b"),
    ]


def test_endless_line_is_bounded() -> None:
    parser = SSEParser()
    piece = b"data: " + b"x" * (1024 * 1024)
    with pytest.raises(StreamError, match="grew past"):
        for _ in range(MAX_EVENT_CHARS // len(piece) + 2):
            parser.feed(piece)


def test_normal_traffic_never_hits_the_bound() -> None:
    parser = SSEParser()
    event = b"data: " + b"x" * 1000 + b"\n\n"
    count = 0
    for _ in range(MAX_EVENT_CHARS // 1000 + 10):
        count += len(parser.feed(event))
    assert count == MAX_EVENT_CHARS // 1000 + 10


# -- against httpx-sse's public decoder, on what both should read alike ----------------------

WELL_FORMED = [
    b'data: {"a": 1}\n\n',
    b'data: {"a": 1}\r\n\r\ndata: [DONE]\r\n\r\n',
    b"event: error\ndata: busy\n\n",
    b": ping\n\ndata: one\ndata: two\n\n",
    b"data:no-space\n\nid: 7\nretry: 10\ndata: x\n\n",
    "data: 你好🙂\r\r".encode(),
]


@pytest.mark.anyio
@pytest.mark.parametrize("body", WELL_FORMED)
@pytest.mark.parametrize("piece", [1, 3, 1000])
async def test_events_match_httpx_sse_on_well_formed_streams(body: bytes, piece: int) -> None:
    httpx_sse = pytest.importorskip("httpx_sse")
    parts = [body[i : i + piece] for i in range(0, len(body), piece)]
    ours: list[tuple[str, str]] = []
    parser = SSEParser()
    for part in parts:
        ours += parser.feed(part)
    ours += parser.close()

    async def content() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    response = httpx.Response(
        200, headers={"content-type": "text/event-stream; charset=utf-8"}, content=content()
    )
    theirs = [(e.event, e.data) async for e in httpx_sse.EventSource(response).aiter_sse()]
    assert ours == theirs
