"""``chatsdk batch`` run as a subprocess against a local server: exactly once across kills.

The server answers the first K requests of a run and holds the rest open (a long ``delay``
fault, dropped when the client goes away), so a run stops at a known point: K results in the
output and requests in flight. The test waits for that state, then kills the process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import chatsdk
from chatsdk.testing import ECHO_PREFIX, Faults, LocalServer

COMMAND = [sys.executable, "-m", "chatsdk", "batch"]
RUN_TIMEOUT = 20.0  # seconds for one command to finish
WAIT = 10.0  # seconds for an expected state to be reached
TOTAL = 20
HOLD = 60.0  # seconds a held request waits; the client's leaving ends it at once
CONCURRENCY = 4  # the batch's -c in the kill tests


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


def question(i: int) -> str:
    return f"question number {i}"


def request_line(i: int, **body: Any) -> str:
    return json.dumps(
        {
            "custom_id": f"q{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "chatsdk-test",
                "messages": [{"role": "user", "content": question(i)}],
                **body,
            },
        }
    )


def write_input(path: Path, count: int = TOTAL) -> None:
    path.write_text("".join(request_line(i) + "\n" for i in range(count)), encoding="utf-8")


def env_for(server: LocalServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHATSDK_"))}
    env["OPENAI_BASE_URL"] = server.base_url
    env["OPENAI_API_KEY"] = "test-key"
    return env


def batch(server: LocalServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args, "--max-retries", "0"],
        env=env_for(server),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def answer_only(server: LocalServer, allowed: int) -> threading.Event:
    """From now on, answer ``allowed`` chat requests and hold every later one open; the event
    is set when every slot of the batch holds one of those."""
    start = len(server.chat_requests)
    all_held = threading.Event()

    def gate(index: int, body: Any) -> Faults | None:
        if index - start < allowed:
            return None
        if index - start == allowed + CONCURRENCY - 1:
            all_held.set()
        return Faults(delay=HOLD)

    server.faults = gate
    return all_held


def complete_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    data = path.read_text(encoding="utf-8")
    return data.splitlines()[: data.count("\n")]


def wait_for(event: threading.Event, process: subprocess.Popen[str]) -> None:
    """Wait for ``event``, at most WAIT seconds, while the batch runs."""
    deadline = time.monotonic() + WAIT
    while not event.wait(timeout=0.05):
        assert process.poll() is None, f"the batch ended early: {process.communicate()}"
        assert time.monotonic() < deadline, "the batch did not reach the expected state"


def start(server: LocalServer, inp: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*COMMAND, str(inp), "-o", str(out), "-c", str(CONCURRENCY), "--max-retries", "0"],
        env=env_for(server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_and_kill(server: LocalServer, inp: Path, out: Path, new_results: int, sig: int) -> str:
    """Run the batch until ``new_results`` more lines are in ``out`` with requests in flight,
    then send ``sig``; returns the process's stderr."""
    before = len(complete_lines(out))
    all_held = answer_only(server, new_results)
    process = start(server, inp, out)
    try:
        # Each slot of the batch takes its next request only after the result of the one it
        # held is written, so once every slot holds a request that gets no answer, the answered
        # ones are all in the output, and the kill lands with requests in flight.
        wait_for(all_held, process)
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=RUN_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert len(complete_lines(out)) == before + new_results
    return stderr


def check_output(out: Path, count: int = TOTAL) -> None:
    """Every custom_id once, each with its own answer."""
    lines = complete_lines(out)
    assert out.read_text(encoding="utf-8").endswith("\n")
    results = [chatsdk.BatchResult.from_dict(json.loads(line)) for line in lines]
    ids = [r.custom_id for r in results]
    assert len(ids) == len(set(ids)) == count
    assert set(ids) == {f"q{i}" for i in range(count)}
    for result in results:
        assert result.ok and result.status_code == 200, result
        assert result.request_id and result.request_id.startswith("req_")
        assert result.content == ECHO_PREFIX + question(int(result.custom_id[1:]))


def sent_questions(server: LocalServer, since: int) -> list[str]:
    return [r.body["messages"][-1]["content"] for r in server.chat_requests[since:]]


def test_killed_at_several_points_then_rerun_writes_each_result_once(
    server: LocalServer, tmp_path: Path
) -> None:
    inp, out = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    write_input(inp)
    run_and_kill(server, inp, out, 3, signal.SIGKILL)
    run_and_kill(server, inp, out, 0, signal.SIGKILL)  # killed with nothing new written
    run_and_kill(server, inp, out, 6, signal.SIGKILL)
    # A kill in the middle of a write leaves a torn last line: the next run cuts it off.
    with out.open("a", encoding="utf-8") as f:
        f.write('{"id": "batch_req_torn", "custom_id": "q1')
    stderr = run_and_kill(server, inp, out, 4, signal.SIGKILL)
    assert "torn last line" in stderr
    done = {json.loads(line)["custom_id"] for line in complete_lines(out)}
    assert len(done) == 13

    server.faults = None
    since = len(server.chat_requests)
    finished = batch(server, str(inp), "-o", str(out))
    assert finished.returncode == 0, finished.stderr
    assert "7 answered, 0 failed, 13 skipped" in finished.stderr
    check_output(out)
    # What the output held was not sent again; the rest was sent once.
    expected = {question(i) for i in range(TOTAL) if f"q{i}" not in done}
    assert sorted(sent_questions(server, since)) == sorted(expected)


def test_ctrl_c_keeps_finished_results_and_rerun_completes(
    server: LocalServer, tmp_path: Path
) -> None:
    inp, out = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    write_input(inp)
    process_stderr = run_and_kill(server, inp, out, 5, signal.SIGINT)
    assert "interrupted" in process_stderr and "rerun the same command" in process_stderr
    server.faults = None
    finished = batch(server, str(inp), "-o", str(out))
    assert finished.returncode == 0, finished.stderr
    check_output(out)


def test_bad_input_is_reported_by_line_and_nothing_is_sent(
    server: LocalServer, tmp_path: Path
) -> None:
    inp, out = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    bad_url = json.loads(request_line(3))
    bad_url["url"] = "/v1/embeddings"
    no_id = json.loads(request_line(4))
    del no_id["custom_id"]
    lines = [
        request_line(0),
        "{not json",
        json.dumps(bad_url),
        json.dumps(no_id),
        request_line(0),  # the custom_id of line 1 again
        request_line(6, temperature="hot"),
        request_line(7),
    ]
    inp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = batch(server, str(inp), "-o", str(out))
    assert result.returncode == 2
    for number, words in [
        (2, "not JSON"),
        (3, "/v1/embeddings"),
        (4, "custom_id"),
        (5, "repeats line 1"),
        (6, "temperature"),
    ]:
        assert f"requests.jsonl line {number}: " in result.stderr
        assert words in result.stderr.split(f"line {number}: ")[1].splitlines()[0]
    assert "line 1:" not in result.stderr and "line 7:" not in result.stderr
    assert "5 bad line(s)" in result.stderr and "nothing was sent" in result.stderr
    assert server.chat_requests == []
    assert not out.exists()


def test_failed_requests_are_written_with_error_and_retried_by_retry_failed(
    server: LocalServer, tmp_path: Path
) -> None:
    inp, out = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    write_input(inp, 6)
    failing = {question(1), question(4)}

    def fail_some(index: int, body: Any) -> Faults | None:
        return Faults(status=500) if body["messages"][-1]["content"] in failing else None

    server.faults = fail_some
    first = batch(server, str(inp), "-o", str(out), "--fsync-every", "0")
    assert first.returncode == 1
    assert "4 answered, 2 failed" in first.stderr
    assert "req/s" not in first.stderr  # no progress bar in a pipe: the summary line only
    assert first.stderr.count("\n") == 1
    results = [json.loads(line) for line in complete_lines(out)]
    failed = {r["custom_id"]: r for r in results if r["error"] is not None}
    assert set(failed) == {"q1", "q4"}
    assert failed["q1"]["response"]["status_code"] == 500
    assert failed["q1"]["error"]["code"] == "server_error"

    again = batch(server, str(inp), "-o", str(out))  # without --retry-failed: nothing to send
    assert again.returncode == 1
    assert "6 skipped" in again.stderr and "2 failed earlier" in again.stderr

    server.faults = None
    retried = batch(server, str(inp), "-o", str(out), "--retry-failed")
    assert retried.returncode == 0, retried.stderr
    assert "2 answered, 0 failed, 4 skipped" in retried.stderr
    check_output(out, 6)


def test_a_shard_is_the_slice_its_hash_picks(server: LocalServer, tmp_path: Path) -> None:
    inp, out = tmp_path / "requests.jsonl", tmp_path / "results-1.jsonl"
    write_input(inp)
    result = batch(server, str(inp), "-o", str(out), "--shard", "1/3")
    assert result.returncode == 0, result.stderr
    ids = sorted(json.loads(line)["custom_id"] for line in complete_lines(out))
    slices = [
        {f"q{i}" for i in range(TOTAL) if chatsdk.batch_shard_of(f"q{i}", 3) == k} for k in range(3)
    ]
    assert ids == sorted(slices[1]) and ids
    assert set().union(*slices) == {f"q{i}" for i in range(TOTAL)}
    assert sum(map(len, slices)) == TOTAL  # no request in two shards
    bad = batch(server, str(inp), "-o", str(tmp_path / "x.jsonl"), "--shard", "3/3")
    assert bad.returncode == 2 and "0 <= K < N" in bad.stderr


def test_an_output_file_of_another_input_is_refused(server: LocalServer, tmp_path: Path) -> None:
    inp, out = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    write_input(inp, 2)
    out.write_text(
        json.dumps({"id": "b", "custom_id": "other", "response": None, "error": None}) + "\n",
        encoding="utf-8",
    )
    result = batch(server, str(inp), "-o", str(out))
    assert result.returncode == 2
    assert "results.jsonl line 1" in result.stderr and "'other' is not in the input" in (
        result.stderr
    )
    folder = batch(server, str(inp), "-o", str(tmp_path))
    assert folder.returncode == 2 and f"cannot use {tmp_path}: Is a directory" in folder.stderr
    assert server.chat_requests == []


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_a_progress_bar_on_a_terminal_only(server: LocalServer, tmp_path: Path) -> None:
    pytest.importorskip("tqdm")
    import fcntl
    import select
    import struct
    import termios

    inp, out = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    write_input(inp)
    master, slave = os.openpty()
    # A terminal 100 columns wide, as a person's would be (a new pty has no size).
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        process = subprocess.Popen(
            [*COMMAND, str(inp), "-o", str(out)],
            env={**env_for(server), "TERM": "dumb"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=slave,
        )
    finally:
        os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while True:
            ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"no end of output; seen {seen!r}"
            try:
                data = os.read(master, 4096)
            except OSError:  # the child closed the terminal (Linux says EIO)
                break
            if not data:
                break
            seen += data
        assert process.wait(RUN_TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    text = seen.decode("utf-8", "replace")
    assert f"{TOTAL}/{TOTAL}" in text and "req/s" in text  # tqdm's bar and rate
    assert f"{TOTAL} answered" in text


@pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")
def test_a_second_run_on_the_same_output_stops_at_once(server: LocalServer, tmp_path: Path) -> None:
    inp, out = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    write_input(inp)
    all_held = answer_only(server, 0)
    first = start(server, inp, out)
    try:
        wait_for(all_held, first)  # it holds the file, and four requests
        second = batch(server, str(inp), "-o", str(out))
        assert second.returncode == 2
        assert "another chatsdk batch is writing to" in second.stderr
        assert len(server.chat_requests) == CONCURRENCY  # the first run's in flight, no more
    finally:
        first.kill()
        first.communicate()
