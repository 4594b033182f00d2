"""A body's Content-Encoding undone in bounded steps, so that a small body cannot take the memory.

Pure, no I/O. httpx decodes a compressed body as it reads it, but one read of 64 KiB of gzip can
expand to 64 MiB (zeros compress a thousandfold), and nothing bounds what one read gives. chatsdk
reads the raw body instead and undoes the encoding here, at most :data:`STEP_BYTES` of output at a
time: whatever the ratio, the reader holds one step, and its own caps (the SSE parser's line cap,
the cap on a whole reply) stop a bomb long before it is all inflated.

Only the encodings that can be bounded with the standard library are asked for
(:data:`ACCEPT_ENCODING`: gzip and deflate). A server that sends another one (``br``, ``zstd``)
anyway gets :class:`DecodingError` at the first byte, never a body inflated without a bound.

Example::

    decoder = BodyDecoder("gzip")
    decoder.push(compressed)                 # once pull() has returned b""
    while piece := decoder.pull():           # at most STEP_BYTES each
        ...
    tail = decoder.finish()                  # at the end of the body
"""

from __future__ import annotations

import zlib

__all__ = ["ACCEPT_ENCODING", "STEP_BYTES", "BodyDecoder", "DecodingError", "body_decoder"]

# The Accept-Encoding chatsdk sends: the encodings this module inflates in bounded steps.
ACCEPT_ENCODING = "gzip, deflate"

# The most a body is handed on in one piece, decoded: small enough that a piece of tiny SSE events
# makes a short list, large enough that an ordinary read of a stream is one piece.
STEP_BYTES = 16 * 1024

_GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer around deflate data
_RAW_DEFLATE_WBITS = -zlib.MAX_WBITS  # deflate data without the zlib header some servers omit


class DecodingError(ValueError):
    """A body that cannot be decoded: an encoding not asked for, or corrupt compressed data."""


class BodyDecoder:
    """Decoded pieces of one compressed body, each at most :data:`STEP_BYTES`."""

    __slots__ = ("_encoding", "_full", "_head", "_input", "_maybe_raw", "_raw", "_zlib")

    def __init__(self, content_encoding: str) -> None:
        self._encoding = content_encoding
        names = [name.strip().lower() for name in content_encoding.split(",")]
        names = [name for name in names if name and name != "identity"]
        self._zlib: zlib._Decompress | None = None
        if names in (["gzip"], ["x-gzip"]):
            self._zlib = zlib.decompressobj(_GZIP_WBITS)
        elif names == ["deflate"]:
            self._zlib = zlib.decompressobj()
        # "deflate" promises a zlib header, but some servers send raw deflate data without one;
        # the first bytes, kept in _head until there are two, tell which.
        self._maybe_raw = names == ["deflate"]
        self._raw = False
        self._head = b""
        # Compressed bytes not yet inflated, and whether the last step filled its bound (then
        # zlib may hold more output even with no input left).
        self._input = b""
        self._full = False

    def push(self, data: bytes) -> None:
        """Take the next raw piece of the body; call only once :meth:`pull` has returned b""."""
        if self._zlib is None:
            raise DecodingError(
                f"The server sent a body encoded as {self._encoding!r}, which was not asked for "
                f"(only {ACCEPT_ENCODING!r} is, as those can be read in bounded memory)."
            )
        self._input = data

    def pull(self) -> bytes:
        """The next decoded piece, at most :data:`STEP_BYTES`; b"" when more input is needed."""
        z = self._zlib
        if z is None or not (self._input or self._full):
            return b""
        data = self._input
        first = self._maybe_raw
        if first:
            # Which kind of "deflate" this is shows in its first two bytes.
            data = self._head + data
            if len(data) < 2:
                self._head, self._input = data, b""
                return b""
            self._maybe_raw = False
            if not _zlib_header(data):
                self._raw = True
                z = self._zlib = zlib.decompressobj(_RAW_DEFLATE_WBITS)
        try:
            out = z.decompress(data, STEP_BYTES)
        except zlib.error as exc:
            if first and not self._raw:
                # A header by chance: the data is raw deflate after all.
                self._raw = True
                self._zlib = zlib.decompressobj(_RAW_DEFLATE_WBITS)
                self._input = data
                return self.pull()
            raise DecodingError(f"The reply's compressed body is corrupt: {exc}") from None
        self._input = z.unconsumed_tail
        self._full = len(out) == STEP_BYTES
        return out

    def finish(self) -> bytes:
        """What is left once the body has ended and :meth:`pull` has returned b""."""
        z = self._zlib
        if z is None:
            return b""
        try:
            # Input and bounded steps are used up, so what zlib still holds is less than a step.
            return z.flush()
        except zlib.error as exc:
            raise DecodingError(f"The reply's compressed body is corrupt: {exc}") from None


def _zlib_header(data: bytes) -> bool:
    # RFC 1950: the method nibble is 8 (deflate) and the first two bytes are a multiple of 31.
    return data[0] & 0x0F == 8 and ((data[0] << 8) | data[1]) % 31 == 0


def body_decoder(content_encoding: str) -> BodyDecoder | None:
    """The decoder for a reply's ``Content-Encoding``; ``None`` when the body is not encoded."""
    if not content_encoding or content_encoding.strip().lower() in ("", "identity"):
        return None
    return BodyDecoder(content_encoding)
