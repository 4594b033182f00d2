"""A local OpenAI-compatible Chat Completions server for tests (``pip install chatsdk[server]``).

Two lines in a test::

    async with chatsdk.testing.serve(replies=["Hello!"]) as server:
        ...  # point any client at server.base_url; server.requests records what arrived

By default the server echoes the last user message, clearly labelled as coming from the local
test server. Replies can be scripted (:class:`Reply`, :class:`ToolCallReply`, strings, or a
function of the messages) and failures injected with :class:`Faults` (or a seeded
:class:`FaultMix`); :class:`RateLimits`, pacing, a model list and a request log rehearse a
production API. See docs/testing.md.
"""

from __future__ import annotations

from ._app import RecordedRequest
from ._faults import MAX_STALL, Faults, FaultsSpec
from ._limits import RateLimits
from ._mix import FAULT_KINDS, FaultMix
from ._replies import (
    ECHO_PREFIX,
    Reply,
    ReplyLike,
    ReplySpec,
    ToolCallReply,
    count_tokens,
    split_pieces,
)
from ._server import LocalServer, run, serve
from ._validate import ROLES

__all__ = [
    "ECHO_PREFIX",
    "FAULT_KINDS",
    "MAX_STALL",
    "ROLES",
    "FaultMix",
    "Faults",
    "FaultsSpec",
    "LocalServer",
    "RateLimits",
    "RecordedRequest",
    "Reply",
    "ReplyLike",
    "ReplySpec",
    "ToolCallReply",
    "count_tokens",
    "run",
    "serve",
    "split_pieces",
]
