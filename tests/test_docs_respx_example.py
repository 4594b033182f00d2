"""The respx example in docs/testing.md runs as written, as a pytest-asyncio test module.

The Python blocks marked ``<!-- respx-example -->`` are joined into one file and run by pytest in
a child process with plugin autoloading off and only pytest-asyncio loaded, so the example needs
nothing the documentation does not mention (no anyio plugin, no conftest, no project settings).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "testing.md"
SECTION = "## Faking chatsdk in your own tests with respx"
MARKED_BLOCK = re.compile(r"^<!-- respx-example -->\n```python\n(.*?)^```$", re.M | re.S)
# The section's tests: a buffered reply, a streamed reply and an error reply.
EXPECTED_TESTS = 3


def example_code() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    blocks = MARKED_BLOCK.findall(text[start : end if end != -1 else len(text)])
    assert blocks, f"no <!-- respx-example --> python blocks under {SECTION!r} in {DOC}"
    # Every marked block in the page belongs to the section: none is silently left out.
    assert len(blocks) == len(MARKED_BLOCK.findall(text))
    return "\n\n".join(blocks)


@pytest.mark.httpx_only("the example fakes httpx's transport with respx")
def test_the_documented_respx_example_passes(tmp_path: Path) -> None:
    code = example_code()
    assert code.count("@pytest.mark.asyncio") == EXPECTED_TESTS
    (tmp_path / "test_respx_example.py").write_text(code, encoding="utf-8")
    # An ini file of its own keeps the project's settings out; the one setting is pytest-asyncio's,
    # which warns (an error under -W error) when it is unset.
    ini = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    (tmp_path / "pytest.ini").write_text(ini, encoding="utf-8")
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    env.pop("PYTEST_ADDOPTS", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "pytest_asyncio.plugin",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            "-q",
            "test_respx_example.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = output.strip().splitlines()[-1]
    assert re.match(rf"{EXPECTED_TESTS} passed in ", summary), output
