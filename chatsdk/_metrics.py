"""A stream's figures: time to first token, duration, chunks, tokens and their rate. Pure.

The stream counts its chunks and notes two times on the event loop's clock (its first token and
its end); :func:`stream_metrics` turns them into a :class:`StreamMetrics` when asked, so the
per-chunk cost stays one increment.

Example::

    metrics = stream_metrics(started=0.0, first=0.2, ended=1.2, chunks=42,
                             usage={"completion_tokens": 40})
    metrics.tokens_per_second   # 40.0
"""

from __future__ import annotations

import dataclasses

__all__ = ["StreamMetrics", "stream_metrics"]


@dataclasses.dataclass(frozen=True)
class StreamMetrics:
    """What a stream took: ``stream.metrics``, read at any time (final once it has ended).

    - ``time_to_first_token``: seconds from sending the request (retries included) to the first
      chunk with content (text, a refusal or a tool call); ``None`` before it;
    - ``duration``: seconds from sending the request to the end of the stream (or its closing);
      ``None`` while it is open;
    - ``chunks``: chunks received;
    - ``completion_tokens``: from the ``usage`` the server sent (ask for it with
      ``stream_options={"include_usage": True}``); ``None`` without one;
    - ``tokens_per_second``: ``completion_tokens`` over the time from the first token to the end;
      ``None`` until all three are known.

    Times are read from the event loop's clock, so a test's virtual clock gives exact figures.

    Example::

        async with stream:
            answer = await stream.final()
        print(f"{stream.metrics.time_to_first_token:.2f} s to first token, "
              f"{stream.metrics.tokens_per_second} tokens/s")
    """

    time_to_first_token: float | None
    duration: float | None
    chunks: int
    completion_tokens: int | None
    tokens_per_second: float | None


def stream_metrics(
    *, started: float, first: float | None, ended: float | None, chunks: int, usage: object
) -> StreamMetrics:
    """The figures of a stream sent at ``started`` whose first token came at ``first`` and that
    ended at ``ended`` (times on one clock, ``None`` when not yet)."""
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        tokens = None
    rate = None
    if tokens is not None and first is not None and ended is not None and ended > first:
        rate = tokens / (ended - first)
    return StreamMetrics(
        time_to_first_token=None if first is None else first - started,
        duration=None if ended is None else ended - started,
        chunks=chunks,
        completion_tokens=tokens,
        tokens_per_second=rate,
    )
