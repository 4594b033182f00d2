"""``chatsdk serve``'s rehearsal options, run as a subprocess: replies, models, limits, a log."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from helpers import read_line

COMMAND = [sys.executable, "-m", "chatsdk", "serve"]
WAIT = 10.0


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHATSDK_"))}


def test_serve_with_scripted_replies_models_limits_and_a_log(tmp_path: Path) -> None:
    replies = tmp_path / "replies.jsonl"
    replies.write_text(
        '"Paris."\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n', encoding="utf-8"
    )
    log = tmp_path / "requests.log"
    args = ["--port", "0", "--replies", str(replies), "--model", "small", "--rpm", "2"]
    proc = subprocess.Popen(
        [*COMMAND, *args, "--log", str(log)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env(),
    )
    try:
        assert proc.stdout is not None
        match = re.search(r"(http://127\.0\.0\.1:\d+/v1)\s*$", read_line(proc.stdout))
        assert match
        url = match[1]
        with httpx.Client(timeout=WAIT) as http:
            ask = {"model": "small", "messages": [{"role": "user", "content": "Weather?"}]}
            first = http.post(f"{url}/chat/completions", json=ask)
            second = http.post(f"{url}/chat/completions", json=ask)
            third = http.post(f"{url}/chat/completions", json=ask)
            other = http.post(f"{url}/chat/completions", json={**ask, "model": "big"})
            models = http.get(f"{url}/models")
        proc.terminate()
        assert proc.wait(WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
        if proc.stdout is not None:
            proc.stdout.close()
    assert first.json()["choices"][0]["message"]["content"] == "Paris."
    call = second.json()["choices"][0]["message"]["tool_calls"][0]["function"]
    assert call == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert second.headers["x-ratelimit-remaining-requests"] == "0"
    assert third.status_code == 429 and int(third.headers["retry-after"]) >= 1
    assert other.status_code == 404 and other.json()["error"]["code"] == "model_not_found"
    assert [m["id"] for m in models.json()["data"]] == ["small"]
    statuses = [json.loads(line)["status"] for line in log.read_text().splitlines()]
    assert statuses == [200, 200, 429, 404, 200]


def test_serve_refuses_bad_rehearsal_options(tmp_path: Path) -> None:
    bad_replies = tmp_path / "replies.jsonl"
    bad_replies.write_text('"fine"\n{not json\n', encoding="utf-8")
    for args, words in [
        (["--fail-kinds", "429,teapot"], "unknown fault 'teapot'"),
        (["--fail-rate", "2"], "must be >= 0 and <= 1"),
        (["--rpm", "0"], "must be > 0"),
        (["--replies", str(bad_replies)], "line 2 is not a reply"),
    ]:
        result = subprocess.run(
            [*COMMAND, "--port", "0", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env(),
            timeout=WAIT,
            check=False,
        )
        assert result.returncode == 2, (args, result.stderr)
        assert words in result.stderr, (args, result.stderr)
