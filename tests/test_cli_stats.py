"""``chatsdk ask --stats``, run as a subprocess against the local test server."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import anyio
import pytest

from chatsdk.testing import serve

pytestmark = pytest.mark.anyio
NUMBER = r"\d+(?:\.\d+)?"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the command runs in its own process; the test only waits for it


async def ask(*args: str) -> subprocess.CompletedProcess[bytes]:
    async with serve() as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHATSDK_"))}
        env.update(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-test")
        with anyio.fail_after(20):
            return await anyio.run_process(
                [sys.executable, "-m", "chatsdk", "ask", *args],
                stdin=subprocess.DEVNULL,
                env=env,
                check=False,
            )


async def test_stats_of_a_streamed_answer_go_to_stderr() -> None:
    proc = await ask("How fast?", "--stats")
    assert proc.returncode == 0, proc.stderr
    assert "How fast?" in proc.stdout.decode()
    assert "stats" not in proc.stdout.decode()  # the answer alone on stdout
    line = proc.stderr.decode().strip()
    assert re.fullmatch(
        rf"chatsdk: stats: time to first token {NUMBER} s, duration {NUMBER} s, "
        rf"chunks \d+, completion tokens \d+, tokens/s {NUMBER}",
        line,
    ), line
    chunks = int(re.search(r"chunks (\d+)", line).group(1))  # type: ignore[union-attr]
    assert chunks >= 3  # a role chunk, the content, the end


async def test_stats_of_a_whole_answer_give_its_duration() -> None:
    proc = await ask("How fast?", "--stats", "--no-stream")
    assert proc.returncode == 0, proc.stderr
    line = proc.stderr.decode().strip()
    assert re.fullmatch(rf"chatsdk: stats: duration {NUMBER} s, completion tokens \d+", line), line


async def test_no_stats_unless_asked() -> None:
    proc = await ask("How fast?")
    assert proc.returncode == 0, proc.stderr
    assert b"stats" not in proc.stderr
