"""What a chat completion answer is made of: the reply cut to a plan, its body, its stream events.

Pure data: nothing here sends anything or applies faults.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ._asgi import json_bytes, new_id
from ._replies import Reply, count_tokens, message_text, split_pieces

__all__ = [
    "SYSTEM_FINGERPRINT",
    "Plan",
    "completion_bytes",
    "make_plan",
    "stream_events",
    "total_tokens",
]

SYSTEM_FINGERPRINT = "fp_chatsdk_local"


@dataclass
class Plan:
    """One reply, cut by `stop` and the token budget, ready to be sent."""

    reasoning: list[str]
    content: list[str] | None
    tool_calls: list[tuple[str, str, list[str]]]  # (id, name, argument pieces)
    finish_reason: str
    completion_tokens: int


def make_plan(reply: Reply, body: dict[str, Any]) -> Plan:
    """Cut ``reply`` into pieces (one token each) as the request's `stop` and budget allow."""
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else [s for s in stop or () if s]
    content = reply.content
    finish = "tool_calls" if reply.tool_calls else "stop"
    if content is not None and stops:
        cuts = [content.find(s) for s in stops if s in content]
        if cuts:
            content = content[: min(cuts)]
    budget = body.get("max_completion_tokens") or body.get("max_tokens")

    def take(pieces: list[str]) -> list[str]:
        nonlocal budget, finish
        if budget is None:
            return pieces
        if len(pieces) > budget:
            pieces, finish = pieces[:budget], "length"
        budget -= len(pieces)
        return pieces

    reasoning = take(split_pieces(reply.reasoning_content or ""))
    content_pieces = None if content is None else take(split_pieces(content))
    calls = [
        (call.id or new_id("call_"), call.name, take(split_pieces(call.arguments_json)))
        for call in reply.tool_calls
    ]
    used = len(reasoning) + len(content_pieces or ()) + sum(len(c[2]) for c in calls)
    return Plan(reasoning, content_pieces, calls, finish, used)


def _usage(request: dict[str, Any], plan: Plan) -> dict[str, Any]:
    prompt = sum(count_tokens(message_text(m)) for m in request["messages"])
    n = request.get("n") or 1
    completion = plan.completion_tokens * n
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": len(plan.reasoning) * n},
    }


def total_tokens(request: dict[str, Any], plan: Plan) -> int:
    """What the answer costs: its ``usage.total_tokens``."""
    return int(_usage(request, plan)["total_tokens"])


def completion_bytes(request: dict[str, Any], plan: Plan) -> bytes:
    """The body of a buffered (non-stream) answer: a ``chat.completion`` object."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if plan.content is None else "".join(plan.content),
        "refusal": None,
    }
    if plan.reasoning:
        message["reasoning_content"] = "".join(plan.reasoning)
    if plan.tool_calls:
        message["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": "".join(args)}}
            for cid, name, args in plan.tool_calls
        ]
    choices = [
        {"index": i, "message": message, "logprobs": None, "finish_reason": plan.finish_reason}
        for i in range(request.get("n") or 1)
    ]
    return json_bytes(
        {
            "id": new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request["model"],
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
            "usage": _usage(request, plan),
        }
    )


def stream_events(request: dict[str, Any], plan: Plan) -> tuple[list[bytes], int]:
    """The stream's `data:` events, and the position of the first finish_reason chunk."""
    include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
    base: dict[str, Any] = {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request["model"],
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }
    deltas: list[tuple[dict[str, Any], str | None]] = [({"role": "assistant", "content": ""}, None)]
    deltas += [({"reasoning_content": p}, None) for p in plan.reasoning]
    deltas += [({"content": p}, None) for p in plan.content or ()]
    for j, (cid, name, args) in enumerate(plan.tool_calls):
        deltas.append(
            (
                {
                    "tool_calls": [
                        {
                            "index": j,
                            "id": cid,
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                },
                None,
            )
        )
        deltas += [
            ({"tool_calls": [{"index": j, "function": {"arguments": p}}]}, None) for p in args
        ]
    deltas.append(({}, plan.finish_reason))
    n = request.get("n") or 1
    first_finish = (len(deltas) - 1) * n
    events = []
    for delta, finish in deltas:
        for i in range(n):
            chunk = {
                **base,
                "choices": [
                    {"index": i, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                chunk["usage"] = None
            events.append(b"data: " + json_bytes(chunk) + b"\n\n")
    if include_usage:
        final = {**base, "choices": [], "usage": _usage(request, plan)}
        events.append(b"data: " + json_bytes(final) + b"\n\n")
    return events, first_finish
