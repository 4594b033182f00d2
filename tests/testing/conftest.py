"""Fixtures for the chatsdk.testing tests; backends and spec checks are in tests/conftest.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class SSE:
    """A raw event stream split into `data:` payloads and `:` comments, in order."""

    data: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    @property
    def chunks(self) -> list[dict[str, Any]]:
        return [json.loads(d) for d in self.data if d != "[DONE]"]

    @property
    def done(self) -> bool:
        return bool(self.data) and self.data[-1] == "[DONE]"


def parse_sse_bytes(raw: bytes) -> SSE:
    result = SSE()
    for block in raw.decode("utf-8").split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: "):
                result.data.append(line[len("data: "):])
            elif line.startswith(":"):
                result.comments.append(line[1:].strip())
    return result


@pytest.fixture
def parse_sse() -> Callable[[bytes], SSE]:
    return parse_sse_bytes


@pytest.fixture
def chat_body() -> Callable[..., dict[str, Any]]:
    """`chat_body(text="hello", **params)`: a minimal valid request body."""

    def make(text: str = "hello", **params: Any) -> dict[str, Any]:
        return {"model": "test-model", "messages": [{"role": "user", "content": text}], **params}

    return make
