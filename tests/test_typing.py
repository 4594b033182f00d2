"""Type checkers see the truth: ``stream=`` picks the return type, and mistakes are errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

SAMPLES = Path(__file__).parent / "typing"


def mypy(tmp_path: Path, *files: Path) -> tuple[str, int]:
    out, err, status = mypy_api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / ".mypy"), *map(str, files)]
    )
    return out + err, status


def test_overloads_parameters_and_message_params_type_check(tmp_path: Path) -> None:
    out, status = mypy(tmp_path, SAMPLES / "overloads.py", SAMPLES / "messages.py")
    assert status == 0, out
    assert "Success" in out


# Each line marked ``# E: <code>`` must be reported by mypy --strict with that code, and no other.
MISTAKES = """\
import chatsdk


async def mistakes(client: chatsdk.AsyncChatClient) -> None:
    await client.chat.completions.create(
        model="m",
        messages=[{"role": "doctor", "content": "Hi"}],  # E: list-item
    )
    bad_role: chatsdk.MessageParam = {"role": "doctor", "content": "Hi"}  # E: assignment
    no_call_id: chatsdk.ToolMessageParam = {"role": "tool", "content": "x"}  # E: typeddict-item
    part: chatsdk.ContentPartParam = {"type": "video", "url": "x"}  # E: assignment
    messages: list[chatsdk.MessageParam] = []
    messages.append({"role": "user", "content": 42})  # E: arg-type
    print(bad_role, no_call_id, part)
"""


def test_a_wrong_role_or_field_is_flagged(tmp_path: Path) -> None:
    sample = tmp_path / "mistakes.py"
    sample.write_text(MISTAKES, encoding="utf-8")
    expected = {
        (number, match.group(1))
        for number, line in enumerate(MISTAKES.splitlines(), start=1)
        if (match := re.search(r"# E: ([\w-]+)", line))
    }
    out, status = mypy(tmp_path, sample)
    assert status == 1, out
    found = {
        (int(match.group(1)), match.group(2))
        for match in re.finditer(r"mistakes\.py:(\d+): error: .*\[([\w-]+)\]$", out, re.M)
    }
    assert found == expected, out
