"""Deterministic chat-completion payloads shared by the benchmark server and clients.

The server builds its responses from these functions and the clients compute the text they
must have received from the same functions, so every run checks the full streamed text.

Model names carry the request shape, because ``model`` is the one parameter every SDK sends:

* ``bench-k{K}``: a buffered reply, or a stream of ``K`` content chunks when ``stream`` is true.
* ``bench-pause-k{K}``: a stream that sends its role chunk and first content chunk, then waits
  until the server is told to release paused streams (``GET /release``) or the client leaves.
"""

from __future__ import annotations

import json

RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
FINGERPRINT = "fp_0ba0d124f1"
CREATED = 1732646400
COMPLETION_ID = "chatcmpl-AXbench7Qp2yZ0kR9sVtLmN3aD4fGh"

_ASCII = [
    " The",
    " quick",
    " brown",
    " fox",
    " jumps",
    " over",
    " the",
    " lazy",
    " dog",
    ",",
    " and",
    " then",
    " it",
    " writes",
    " a",
    " poem",
    " about",
    " streams",
    ".",
    "\n",
]
_CJK = [
    "你好",
    "世界",
    "\uff0c",
    "流式",
    "输出",
    "很",
    "快",
    "。",
    "数据",
    "模型",
    "こんにちは",
    "한국어",
]  # \uff0c: fullwidth comma


def content_pieces(k: int) -> list[str]:
    """The ``k`` content deltas of a reply: ASCII words alternating with CJK pieces."""
    return [_ASCII[i % len(_ASCII)] if i % 2 == 0 else _CJK[i % len(_CJK)] for i in range(k)]


def expected_text(k: int) -> str:
    return "".join(content_pieces(k))


def parse_model(model: str) -> tuple[int, bool]:
    """``bench-k12`` -> (12, False); ``bench-pause-k5`` -> (5, True)."""
    paused = model.startswith("bench-pause-k")
    k = int(model.rsplit("-k", 1)[1])
    if k < 1:
        raise ValueError("k must be at least 1")
    return k, paused


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _usage(k: int) -> dict[str, object]:
    return {
        "prompt_tokens": 9,
        "completion_tokens": k,
        "total_tokens": 9 + k,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def completion_body(k: int) -> bytes:
    """A buffered ``chat.completion`` whose message content is ``expected_text(k)``."""
    return _dumps(
        {
            "id": COMPLETION_ID,
            "object": "chat.completion",
            "created": CREATED,
            "model": RESPONSE_MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": expected_text(k),
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(k),
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }
    )


def _chunk(delta: dict[str, object], finish_reason: str | None) -> dict[str, object]:
    return {
        "id": COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": RESPONSE_MODEL,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        "usage": None,
    }


def stream_events(k: int) -> list[bytes]:
    """The SSE events of a stream with ``k`` content chunks.

    A role chunk (empty content), ``k`` content chunks, a ``finish_reason: "stop"`` chunk with an
    empty delta, a usage chunk whose ``choices`` is empty, then ``[DONE]``.
    """
    events = [_chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    events += [_chunk({"content": piece}, None) for piece in content_pieces(k)]
    events.append(_chunk({}, "stop"))
    usage_chunk = _chunk({}, None)
    usage_chunk["choices"] = []
    usage_chunk["usage"] = _usage(k)
    events.append(usage_chunk)
    out = [b"data: " + _dumps(e) + b"\n\n" for e in events]
    out.append(b"data: [DONE]\n\n")
    return out
