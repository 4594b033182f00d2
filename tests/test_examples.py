"""Every script in examples/ runs against a local server and prints what it should.

Each example takes the server from OPENAI_BASE_URL and OPENAI_API_KEY, as it would a real API.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import anyio
import httpx
import pytest
from helpers import read_line

import chatsdk
from chatsdk.testing import (
    ECHO_PREFIX,
    Faults,
    LocalServer,
    Reply,
    ReplyLike,
    ToolCallReply,
    serve,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RUN_TIMEOUT = 20.0  # seconds for one example to finish
WAIT = 10.0  # seconds for one expected piece of output


@pytest.fixture
def anyio_backend() -> str:
    # The example runs in its own process; the test's event loop only waits for it.
    return "asyncio"


def example_env(server: LocalServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHATSDK_"))}
    env["OPENAI_BASE_URL"] = server.base_url
    env["OPENAI_API_KEY"] = server.api_key or "test-key"
    return env


async def run_example(name: str, server: LocalServer, *args: str) -> str:
    with anyio.fail_after(RUN_TIMEOUT):
        result = await anyio.run_process(
            [sys.executable, str(EXAMPLES / name), *args],
            stdin=subprocess.DEVNULL,
            env=example_env(server),
            check=False,
        )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    return result.stdout.decode()


def echo(text: str) -> str:
    return ECHO_PREFIX + text


def test_every_example_is_tested_and_documented() -> None:
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    tested = Path(__file__).read_text()
    readme = (EXAMPLES / "README.md").read_text()
    for script in scripts:
        assert f'"{script}"' in tested, f"{script} has no test"
        assert script in readme, f"{script} is not in examples/README.md"
        assert (EXAMPLES / script).read_text().startswith('"""'), f"{script} has no docstring"


@pytest.mark.anyio
async def test_buffered() -> None:
    async with serve(api_key="sk-local") as server:
        out = await run_example("buffered.py", server, "What", "is", "SSE?")
        headers = server.chat_requests[0].headers
    assert out.splitlines()[0] == echo("What is SSE?")
    assert re.fullmatch(r"\[\d+ tokens, finish_reason=stop\]", out.splitlines()[1])
    assert headers["authorization"] == "Bearer sk-local"


@pytest.mark.anyio
async def test_streaming() -> None:
    async with serve() as server:
        out = await run_example("streaming.py", server, "Hello", "stream")
        body = server.chat_requests[0].body
    assert out == echo("Hello stream") + "\n"
    assert body["stream"] is True


@pytest.mark.anyio
async def test_many_questions() -> None:
    # A delay keeps requests open long enough to overlap.
    async with serve(faults=Faults(delay=0.05)) as server:
        out = await run_example("many_questions.py", server)
        count = len(server.chat_requests)
    lines = out.splitlines()
    assert count == len(lines) == 10
    for n, line in enumerate(lines, start=1):
        question = f"What is {n} squared?"
        assert line == f"{question} -> {echo(question)}"


@pytest.mark.anyio
async def test_cancel_and_timeout() -> None:
    # 0.1 s per piece: the echo takes over 2 s, past the 0.5 s scope and the 1 s deadline.
    async with serve(faults=Faults(delay=0.1)) as server:
        out = await run_example("cancel_and_timeout.py", server)
        bodies = [r.body for r in server.chat_requests]
    lines = out.splitlines()
    assert lines[0] == "1. break: kept '(chatsdk local test'; released: True"
    assert re.fullmatch(
        r"2\. move_on_after\(0\.5\): cancelled after [1-5] pieces; released: True", lines[1]
    )
    assert lines[2].startswith("3. deadline=1.0: APITimeoutError: ")
    assert lines[2].endswith("released: True")
    assert len(lines) == 3
    assert len(bodies) == 3  # no retries: each way of stopping ends its one request


@pytest.mark.anyio
async def test_cancel_and_timeout_on_a_fast_server() -> None:
    async with serve() as server:
        out = await run_example("cancel_and_timeout.py", server)
    lines = out.splitlines()
    assert "finished first" in lines[1]
    assert lines[2] == "3. deadline=1.0: the answer finished in time"


@pytest.mark.anyio
async def test_tool_calls() -> None:
    replies: list[ReplyLike] = [
        Reply(
            tool_calls=[
                ToolCallReply("get_weather", {"city": "Paris"}, id="call_1"),
                ToolCallReply("add", {"a": 2, "b": 3}, id="call_2"),
            ]
        ),
        "It is sunny in Paris, 21 degrees; 2 + 3 = 5.",
    ]
    async with serve(replies=replies) as server:
        out = await run_example("tool_calls.py", server)
        first, second = (r.body for r in server.chat_requests)
    assert out.splitlines() == [
        'calling get_weather({"city": "Paris"})',
        'calling add({"a": 2, "b": 3})',
        'get_weather -> {"city":"Paris","sky":"sunny","temperature":21}',
        "add -> 5.0",
        "It is sunny in Paris, 21 degrees; 2 + 3 = 5.",
        "[2 requests, 5 messages in the conversation]",
    ]
    assert [tool["function"]["name"] for tool in first["tools"]] == ["get_weather", "add"]
    assert first["tools"][0]["function"]["strict"] is True
    assert first["stream"] is True
    assistant, *results = second["messages"][1:]
    assert assistant["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        },
        {
            "id": "call_2",
            "type": "function",
            "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'},
        },
    ]
    assert [(r["role"], r["tool_call_id"]) for r in results] == [
        ("tool", "call_1"),
        ("tool", "call_2"),
    ]


@pytest.mark.anyio
async def test_tool_calls_without_a_tool_call() -> None:
    async with serve(replies=["No tool needed."]) as server:
        out = await run_example("tool_calls.py", server)
    assert out == "No tool needed.\n[1 requests, 2 messages in the conversation]\n"


@pytest.mark.anyio
async def test_structured_output() -> None:
    answer = {"name": "Paris", "country": "France", "population": 2100000, "landmarks": ["Louvre"]}
    async with serve(replies=[json.dumps(answer)]) as server:
        out = await run_example("structured_output.py", server)
        body = server.chat_requests[0].body
    lines = out.splitlines()
    # The local server streams the JSON word by word: each line is the object so far.
    assert lines == [
        "partial: {}",
        "partial: {'name': 'Paris'}",
        "partial: {'name': 'Paris', 'country': 'France'}",
        "partial: {'name': 'Paris', 'country': 'France', 'population': 2100000}",
        f"partial: {answer}",
        "answer: City(name='Paris', country='France', population=2100000, landmarks=['Louvre'])",
    ]
    assert body["response_format"]["json_schema"]["name"] == "City"
    assert body["response_format"]["json_schema"]["schema"]["required"] == [
        "name",
        "country",
        "population",
        "landmarks",
    ]


@pytest.mark.anyio
async def test_trio_example() -> None:
    async with serve() as server:
        out = await run_example("trio_example.py", server)
    assert out.splitlines() == [
        "buffered: " + echo("Hello from trio!"),
        "streamed: " + echo("Stream to trio, please."),
    ]


# -- the web relay ---------------------------------------------------------------------------------


@contextmanager
def relay(server: LocalServer) -> Iterator[tuple[str, queue.Queue[str]]]:
    """Start examples/web_relay.py on a free port; yields its URL and a queue of its log lines."""
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "web_relay.py"), "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=example_env(server),
    )
    logs: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None and proc.stderr is not None
    reader = threading.Thread(target=_pump, args=(proc.stderr, logs), daemon=True)
    reader.start()
    try:
        line = read_line(proc.stdout)
        match = re.fullmatch(r"relay listening on (http://127\.0\.0\.1:\d+/)\n", line)
        assert match, line
        yield match[1], logs
        proc.terminate()
        # uvicorn shuts down gracefully, then re-raises SIGTERM so that the exit status tells.
        assert proc.wait(WAIT) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
        reader.join(WAIT)
        proc.stdout.close()


def _pump(pipe: IO[bytes], lines: queue.Queue[str]) -> None:
    for line in pipe:
        lines.put(line.decode(errors="replace"))
    pipe.close()


async def read_events(response: httpx.Response, limit: int | None = None) -> list[Any]:
    """(event, data) pairs of an SSE response, until ``done``/``error`` or ``limit`` events."""
    events: list[Any] = []
    name, data = "message", []
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            data.append(line[len("data: ") :])
        elif line == "":
            events.append((name, "\n".join(data)))
            if name != "message" or len(events) == limit:
                break
            name, data = "message", []
    return events


@pytest.mark.anyio
async def test_web_relay_streams_tokens() -> None:
    async with serve() as server:
        with relay(server) as (url, logs):
            async with httpx.AsyncClient(base_url=url, timeout=WAIT) as http:
                page = await http.get("/")
                assert page.status_code == 200 and "EventSource" in page.text
                assert (await http.get("/ask")).status_code == 400
                assert (await http.get("/elsewhere")).status_code == 404
                async with http.stream("GET", "/ask", params={"q": "hi  there"}) as response:
                    assert response.headers["content-type"].startswith("text/event-stream")
                    events = await read_events(response)
        assert logs.empty(), list(logs.queue)
    assert events[-1] == ("done", "")
    tokens = [data for name, data in events[:-1]]
    assert all(name == "message" for name, _ in events[:-1])
    assert len(tokens) > 3  # token by token, not one block
    assert "".join(tokens) == echo("hi  there")


@pytest.mark.anyio
async def test_web_relay_closes_upstream_when_the_browser_leaves() -> None:
    async with serve(faults=Faults(stall_after=3)) as server:
        with relay(server) as (url, logs):
            async with httpx.AsyncClient(base_url=url, timeout=WAIT) as http:
                async with http.stream("GET", "/ask", params={"q": "bye"}) as response:
                    first = await read_events(response, limit=1)
                # The browser has gone; the upstream stream is stalled on the server.
            line = await anyio.to_thread.run_sync(lambda: logs.get(timeout=WAIT))
    assert first == [("message", "(chatsdk")]
    assert line == "relay: browser disconnected; upstream stream closed ('bye')\n"


@pytest.mark.anyio
async def test_web_relay_reports_upstream_errors() -> None:
    async with serve(faults=Faults(status=400, error_message="Nope.")) as server:
        with relay(server) as (url, _):
            async with httpx.AsyncClient(base_url=url, timeout=WAIT) as http:
                async with http.stream("GET", "/ask", params={"q": "x"}) as response:
                    events = await read_events(response)
    assert events == [("error", "BadRequestError: Nope.")]


# -- the web chat (the browser drives it in test_web_chat.py) ------------------------------------


@contextmanager
def web_chat(server: LocalServer) -> Iterator[str]:
    """Start examples/web_chat.py on a free port against ``server``; yields its URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLES / "web_chat.py"),
            "--port",
            "0",
            "--base-url",
            server.base_url,
            "--model",
            "chatsdk-test",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        env=example_env(server),
    )
    assert proc.stdout is not None
    try:
        line = read_line(proc.stdout)
        match = re.fullmatch(
            rf"web chat on (http://127\.0\.0\.1:\d+/) using {re.escape(server.base_url)}\n", line
        )
        assert match, line
        yield match[1]
        proc.terminate()
        assert proc.wait(WAIT) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
        proc.stdout.close()


def conversation(*turns: str) -> dict[str, Any]:
    roles = ["user", "assistant"]
    return {"messages": [{"role": roles[i % 2], "content": t} for i, t in enumerate(turns)]}


@pytest.mark.anyio
async def test_web_chat_relays_the_answer_as_chunks() -> None:
    async with serve() as server:
        with web_chat(server) as url:
            async with httpx.AsyncClient(base_url=url, timeout=WAIT) as http:
                page = await http.get("/")
                history = conversation("My name is Ada.", "Hello Ada.", "And yours?")
                async with http.stream("POST", "/chat", json=history) as response:
                    headers = response.headers
                    events = await read_events(response)
        received = server.chat_requests[0].body
    for element in ('id="prompt"', 'id="send"', 'id="stop"', 'id="transcript"', "AbortController"):
        assert element in page.text
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["cache-control"] == "no-cache" and headers["x-accel-buffering"] == "no"
    assert events[-1] == ("message", "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    pieces = [c["choices"][0]["delta"].get("content") or "" for c in chunks]
    assert len([p for p in pieces if p]) > 3  # token by token, not one block
    assert "".join(pieces) == echo("And yours?")
    assert received["messages"] == history["messages"]  # the whole conversation went upstream
    assert received["model"] == "chatsdk-test" and received["stream"] is True


@pytest.mark.anyio
async def test_web_chat_refuses_what_is_not_a_conversation() -> None:
    async with serve() as server:
        with web_chat(server) as url:
            async with httpx.AsyncClient(base_url=url, timeout=WAIT) as http:
                answers = [
                    await http.post("/chat", content=b"[not json"),
                    await http.post("/chat", json={"messages": []}),
                    await http.post("/chat", json={"messages": [{"role": "system"}]}),
                    await http.post("/chat", content=b" " * (1024 * 1024 + 1)),
                ]
        assert server.chat_requests == []
    assert [a.status_code for a in answers] == [400, 400, 400, 413]
    assert [a.json()["error"]["param"] for a in answers] == [
        None,
        "messages",
        "messages[0]",
        "messages",
    ]


@pytest.mark.anyio
async def test_web_chat_reports_an_upstream_error() -> None:
    async with serve(faults=Faults(status=400, error_message="Nope.")) as server:
        with web_chat(server) as url:
            async with httpx.AsyncClient(base_url=url, timeout=WAIT) as http:
                answer = await http.post("/chat", json=conversation("x"))
    assert answer.status_code == 400
    assert answer.json() == {
        "error": {"message": "Nope.", "type": "invalid_request_error", "param": None, "code": None}
    }


@pytest.mark.anyio
async def test_web_chat_closes_upstream_when_the_browser_leaves() -> None:
    async with serve(faults=Faults(stall_after=3, stall_for=30)) as server:
        with web_chat(server) as url:
            async with httpx.AsyncClient(base_url=url, timeout=WAIT) as http:
                async with http.stream("POST", "/chat", json=conversation("bye")) as response:
                    first = await read_events(response, limit=2)
                # The browser has gone; the upstream stream is stalled on the server.
            upstream = server.chat_requests[0]
            with anyio.fail_after(WAIT):
                while upstream.disconnected_at is None:
                    await anyio.to_thread.run_sync(lambda: None)  # the server's thread records it
    assert json.loads(first[1][1])["choices"][0]["delta"]["content"] == "(chatsdk"


@pytest.mark.e2e  # a Dask scheduler (a local cluster) and three chatsdk processes
@pytest.mark.parametrize("scheduler", ["threads", "distributed"])
def test_batch_dask(tmp_path: Path, scheduler: str) -> None:
    requests, results = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    lines = [
        json.dumps({
            "custom_id": f"q{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user", "content": f"n{i}"}]},
        })
        for i in range(30)
    ]
    requests.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with LocalServer() as server:
        done = subprocess.run(
            [sys.executable, str(EXAMPLES / "batch_dask.py"), str(requests), str(results),
             "--shards", "3", "--scheduler", scheduler],
            env=example_env(server),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        sent = len(server.chat_requests)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "30 results in" in done.stdout
    got = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["custom_id"] for r in got) == sorted(f"q{i}" for i in range(30))
    assert sent == 30  # no request in two shards
    for r in got:
        content = r["response"]["body"]["choices"][0]["message"]["content"]
        assert content == echo("n" + r["custom_id"][1:])
    for k in range(3):
        shard = (tmp_path / f"results.jsonl.shard-{k}-of-3").read_text(encoding="utf-8")
        ids = [json.loads(line)["custom_id"] for line in shard.splitlines()]
        assert ids and all(chatsdk.batch_shard_of(cid, 3) == k for cid in ids)
