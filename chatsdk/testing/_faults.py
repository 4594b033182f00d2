"""Fault injection settings for the local server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_STALL", "Faults", "FaultsSpec", "resolve_faults"]

MAX_STALL = 60.0
"""Seconds a stall lasts at most, so that a forgotten stall cannot hang a test run.

Example::

    Faults(stall_after=2)                 # silent after 2 chunks for MAX_STALL seconds
    Faults(stall_after=2, stall_for=0.5)  # ... or for half a second, then the stream goes on
"""


@dataclass(frozen=True)
class Faults:
    """What to break in a response. Every field is off by default; combine freely.

    Chunk counts (``*_after``) count ``data:`` events of a stream, the first (role) chunk
    included; ``0`` means right after the headers. A count past the content chunks fires just
    before the first ``finish_reason`` chunk, so a broken stream never carries one.

    Example::

        Faults(status=429, retry_after=1, times=2)   # the first two requests get a 429
        Faults(delay=0.01, disconnect_after=3)       # slow stream that breaks after 3 chunks
    """

    delay: float = 0.0
    """Seconds to wait before each stream chunk (before the whole body when not streaming)."""
    status: int | None = None
    """Answer with this HTTP status and a JSON error body instead of a completion."""
    retry_after: float | str | None = None
    """With ``status``: the Retry-After header (seconds, or any string such as an HTTP date)."""
    error_message: str | None = None
    """Overrides the ``message`` of the error body of ``status`` and ``error_after``."""
    error_type: str | None = None
    """Overrides the ``type`` of the error body (the default depends on the fault)."""
    error_code: str | None = None
    """Overrides the ``code`` of the error body (the default depends on the fault)."""
    disconnect_after: int | None = None
    """Close the connection after this many chunks: no finish_reason, no [DONE].

    Without streaming: send the headers and half the body, then close.
    """
    error_after: int | None = None
    """Send ``data: {"error": {...}}`` after this many chunks, then end the stream (no [DONE])."""
    malformed_after: int | None = None
    """Send ``data: {not json`` after this many chunks, then carry on with the stream.

    Without streaming: the body is cut in half (not JSON), with status 200."""
    keepalive: bool = False
    """Send ``: keep-alive`` comments between chunks."""
    stall_after: int | None = None
    """After this many chunks go silent (connection open) for ``stall_for`` seconds, then carry on.

    Without streaming: the headers are sent, then the body waits.
    """
    stall_for: float = MAX_STALL
    """How long a stall lasts, in seconds (at most :data:`MAX_STALL`)."""
    stall_ping: float | None = None
    """During a stall, send a ``: ping`` comment every this many seconds."""
    times: int | None = None
    """Apply these faults only to the first ``times`` chat requests (by request index)."""

    def __post_init__(self) -> None:
        for name in ("delay", "stall_for"):
            if getattr(self, name) < 0:
                raise ValueError(f"Faults.{name} must be >= 0")
        for name in ("disconnect_after", "error_after", "malformed_after", "stall_after", "times"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"Faults.{name} must be >= 0 or None")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError("Faults.status must be an HTTP status code (100-599)")
        if self.stall_ping is not None and self.stall_ping <= 0:
            raise ValueError("Faults.stall_ping must be > 0 or None")

    @property
    def stall_seconds(self) -> float:
        """How long a stall lasts: ``stall_for``, capped at :data:`MAX_STALL`."""
        return min(self.stall_for, MAX_STALL)


FaultsSpec = Faults | Callable[[int, Any], Faults | None] | None
"""Server-wide faults: one :class:`Faults` for every request, or a function.

The function takes (request index, parsed body) and returns ``Faults`` or ``None``; it is called
once per chat request, for per-request (e.g. seeded random) faults.

Example::

    def every_third(index: int, body: Any) -> Faults | None:
        return Faults(status=503) if index % 3 == 2 else None

    async with chatsdk.testing.serve(faults=every_third) as server:
        ...
"""


def resolve_faults(spec: FaultsSpec, index: int, body: Any) -> Faults | None:
    """The faults for the chat request number *index* (0-based), or None."""
    faults = spec(index, body) if callable(spec) else spec
    if faults is None:
        return None
    if not isinstance(faults, Faults):
        raise TypeError(f"the faults function returned {faults!r}, expected Faults or None")
    if faults.times is not None and index >= faults.times:
        return None
    return faults
