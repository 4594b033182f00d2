"""A reply's body read within a byte cap, its Content-Encoding undone in bounded steps.

The caps are the documented bounds on what one reply may cost: a whole reply, an error reply's
body. :func:`read_capped` never holds more than its cap and one inflated step, however far a
compressed body would expand.

Example::

    content = await read_capped(response, MAX_REPLY_BYTES)       # TooLarge past the cap
    chunks, decoder = body_pieces(response)                      # a stream's raw pieces
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import httpx

from ._inflate import BodyDecoder, DecodingError, body_decoder

__all__ = ["MAX_ERROR_BODY_BYTES", "MAX_REPLY_BYTES", "TooLarge", "body_pieces", "read_capped"]

# A whole (not streamed) reply is read up to this size; past it the server is broken or hostile.
# Large enough for n=128 long answers with logprobs.
MAX_REPLY_BYTES = 64 * 1024 * 1024
# An error reply's body is read up to this size: an error message is short, and what is past it
# is not needed to say what went wrong.
MAX_ERROR_BODY_BYTES = 1024 * 1024


class TooLarge(Exception):
    """A body grew past the bound it was read with."""


def body_pieces(response: httpx.Response) -> tuple[AsyncIterator[bytes], BodyDecoder | None]:
    """The raw pieces of a reply's body, and the decoder that undoes its Content-Encoding in
    bounded steps (``None`` for a plain body)."""
    if response.is_stream_consumed:
        # Built in memory and read already (as a test's transport hands it over): httpx has
        # decoded it, and holds it whole.
        return response.aiter_bytes(), None
    return response.aiter_raw(), body_decoder(response.headers.get("content-encoding", ""))


async def read_capped(response: httpx.Response, limit: int, *, keep_head: bool = False) -> bytes:
    """The body of ``response`` up to ``limit`` bytes, decoded: past it, ``TooLarge`` or (with
    ``keep_head``) the first ``limit`` bytes. A compressed body is inflated one bounded step at a
    time, so no more than ``limit`` and one step is ever held."""
    chunks, decoder = body_pieces(response)
    parts: list[bytes] = []
    size = 0
    try:
        async for raw in chunks:
            if decoder is None:
                steps: Iterable[bytes] = (raw,)
            else:
                decoder.push(raw)
                steps = iter(decoder.pull, b"")
            for part in steps:
                size += len(part)
                if size > limit:
                    await response.aclose()
                    if keep_head:
                        parts.append(part[: len(part) - (size - limit)])
                        return b"".join(parts)
                    raise TooLarge
                parts.append(part)
        if decoder is not None:
            parts.append(decoder.finish())
    except DecodingError:
        await response.aclose()
        if keep_head:
            return b"".join(parts)[:limit]  # an error reply: what could be read says enough
        raise
    return b"".join(parts)
