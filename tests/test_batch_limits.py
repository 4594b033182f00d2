"""``chatsdk batch --rpm/--tpm``: the client's own rate limits, run as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from chatsdk.testing import LocalServer, RateLimits

COMMAND = [sys.executable, "-m", "chatsdk", "batch"]
RUN_TIMEOUT = 20.0  # seconds for one command to finish


def write_input(path: Path, count: int) -> None:
    lines = [
        {
            "custom_id": f"q{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "chatsdk-test",
                "messages": [{"role": "user", "content": f"question {i}"}],
                "max_tokens": 20,
            },
        }
        for i in range(count)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def batch(server: LocalServer | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHATSDK_"))}
    env["OPENAI_API_KEY"] = "test-key"
    env["OPENAI_BASE_URL"] = server.base_url if server else "http://127.0.0.1:9/v1"
    return subprocess.run(
        [*COMMAND, *args], env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )


def test_limits_equal_to_the_servers_meet_no_429(tmp_path: Path) -> None:
    # No retries: a single 429 would be a failed result and exit status 1.
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(inp, 12)
    limits = RateLimits(rpm=600, tpm=60_000)
    with LocalServer(rate_limits=limits) as server:
        limited = ("--rpm", "600", "--tpm", "60000", "--max-retries", "0")
        proc = batch(server, str(inp), "-o", str(out), *limited)
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["custom_id"] for r in results) == sorted(f"q{i}" for i in range(12))
    assert all(r["error"] is None and r["response"]["status_code"] == 200 for r in results)


def test_a_bad_limit_is_a_usage_error_naming_the_flag(tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    write_input(inp, 1)
    for flag, value in (("--rpm", "0"), ("--tpm", "lots")):
        proc = batch(None, str(inp), "-o", str(tmp_path / "out.jsonl"), flag, value)
        assert proc.returncode == 2
        assert flag in proc.stderr
    assert not (tmp_path / "out.jsonl").exists()
