"""Every Python block of docs/ and README.md marked runnable runs as written, with no network.

A block is marked by an HTML comment on the line before its fence (hidden on the rendered page):

- ``<!-- runnable -->``: a script. It runs on its own (``python block.py``), with
  ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` pointing at a local test server (``chatsdk.testing``)
  that asks for that key, and must exit 0 without writing to stderr.
- ``<!-- runnable: pytest -->``: part of a test file. A page's pytest blocks, joined in order, are
  one test module, run by pytest with anyio's plugin only, under asyncio and trio;
  ``<!-- runnable: pytest conftest.py -->`` is that module's ``conftest.py``. Every test must
  pass, none may be skipped.
- ``<!-- runnable: server -->``: a script that serves until Ctrl-C. It must print its base URL,
  answer a chat request there, and exit 0 on SIGTERM.

Blocks that need a real provider, or are fragments of a larger program, stay unmarked.
``<!-- respx-example -->`` blocks are run by tests/test_docs_respx_example.py. docs/testing.md is
the page people copy tests from: every Python block in it is marked.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from helpers import read_line

from chatsdk.testing import ECHO_PREFIX, LocalServer, serve

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
RUN_TIMEOUT = 60.0  # seconds for one script or one page's tests
WAIT = 10.0  # seconds for a server block to print its address

PYTHON_FENCE = re.compile(r"^```python\n(.*?)^```$", re.M | re.S)
MARKED = re.compile(
    r"^<!-- runnable(?::[ \t]*([^\n]*?))?[ \t]*-->\n```python\n(.*?)^```$", re.M | re.S
)
ANY_MARKER = re.compile(r"^<!-- runnable\b.*-->$", re.M)
# Blocks that tests/test_docs_respx_example.py runs.
RESPX_MARKED = re.compile(r"^<!-- respx-example -->\n```python\n", re.M)
KINDS = ("script", "pytest", "pytest conftest.py", "server")
# The page every Python block of which must run.
ALL_RUNNABLE = ROOT / "docs" / "testing.md"
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:(\d+)/v1)\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    kind: str
    code: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks_of(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in MARKED.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        found.append(Block(page, line, match[1] or "script", match[2]))
    return found


ALL_BLOCKS = [block for page in PAGES for block in blocks_of(page)]


def by_kind(kind: str) -> list[Block]:
    return [block for block in ALL_BLOCKS if block.kind == kind]


def child_env(**extra: str) -> dict[str, str]:
    """This environment without OPENAI_*/CHATSDK_* settings or pytest options, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPENAI_", "CHATSDK_", "PYTEST_"))
    }
    env.update(extra)
    return env


# -- the markers -----------------------------------------------------------------------------------


def test_every_marker_is_on_a_python_block_of_a_known_kind() -> None:
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        blocks = blocks_of(page)
        assert len(ANY_MARKER.findall(text)) == len(blocks), f"a marker in {page} is misplaced"
        for block in blocks:
            assert block.kind in KINDS, f"{block}: unknown kind {block.kind!r}"


def test_every_python_block_of_the_testing_page_is_run() -> None:
    text = ALL_RUNNABLE.read_text(encoding="utf-8")
    python = len(PYTHON_FENCE.findall(text))
    run = len(blocks_of(ALL_RUNNABLE)) + len(RESPX_MARKED.findall(text))
    assert run == python, f"{python - run} Python block(s) of {ALL_RUNNABLE.name} are not marked"


def test_the_quickstart_is_run() -> None:
    assert {block.page.name for block in by_kind("script")} >= {"README.md", "index.md"}


# -- scripts ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def docs_server() -> Iterator[LocalServer]:
    with serve(api_key="sk-docs") as server:
        yield server


@pytest.mark.parametrize("block", by_kind("script"), ids=str)
def test_script_block_runs(block: Block, docs_server: LocalServer, tmp_path: Path) -> None:
    script = tmp_path / "block.py"
    script.write_text(block.code, encoding="utf-8")
    env = child_env(OPENAI_BASE_URL=docs_server.base_url, OPENAI_API_KEY="sk-docs")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, ""), f"{block}:\n{result.stderr}"
    if "AsyncChatClient()" in block.code:  # a client from the environment: it met the server
        assert ECHO_PREFIX in result.stdout, f"{block}:\n{result.stdout}"


# -- test files ------------------------------------------------------------------------------------

# Run the pages' anyio tests on both backends, as the page says they may.
BACKENDS_PLUGIN = """
import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param
"""


def pytest_pages() -> list[Path]:
    return sorted({block.page for block in by_kind("pytest")})


@pytest.mark.parametrize("page", pytest_pages(), ids=lambda page: page.name)
def test_pytest_blocks_pass(page: Path, tmp_path: Path) -> None:
    blocks = [block for block in blocks_of(page) if block.kind.startswith("pytest")]
    tests = "\n\n".join(block.code for block in blocks if block.kind == "pytest")
    conftest = "\n\n".join(block.code for block in blocks if block.kind == "pytest conftest.py")
    (tmp_path / "test_page.py").write_text(tests, encoding="utf-8")
    (tmp_path / "conftest.py").write_text(conftest, encoding="utf-8")
    (tmp_path / "backends.py").write_text(BACKENDS_PLUGIN, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # no project settings
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "anyio.pytest_plugin",
            "-p",
            "backends",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            "-q",
            "-rs",
            "test_page.py",
        ],
        cwd=tmp_path,
        # Only the plugin the page names (anyio's, installed with chatsdk): none of this
        # environment's other plugins, no project settings.
        env=child_env(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = output.strip().splitlines()[-1]
    # Every test ran, on both backends: nothing skipped, deselected or failed.
    count = 2 * len(re.findall(r"^async def test_", tests, re.M))  # asyncio and trio
    count += len(re.findall(r"^def test_", tests, re.M))
    assert re.match(rf"{count} passed in ", summary), output


# -- servers ---------------------------------------------------------------------------------------


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGTERM")
@pytest.mark.parametrize("block", by_kind("server"), ids=str)
def test_server_block_serves_until_stopped(block: Block, tmp_path: Path) -> None:
    port = re.search(r"port=(\d+)", block.code)
    if port and int(port[1]) and not port_is_free(int(port[1])):
        pytest.skip(f"port {port[1]}, which {block} uses, is taken on this machine")
    script = tmp_path / "block.py"
    script.write_text(block.code, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = read_line(proc.stdout, WAIT)
        listening = LISTENING.search(line)
        assert listening, f"{block}: {line!r}"
        reply = httpx.post(
            f"{listening[1]}/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "ping"}]},
            timeout=WAIT,
        )
        assert reply.json()["choices"][0]["message"]["content"] == ECHO_PREFIX + "ping"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
