"""The ``chatsdk`` command, run as a subprocess against a local server started by the test.

Interactive ``chatsdk chat`` runs in a pseudo-terminal that is the child's controlling terminal,
so that ``\\x03`` and ``\\x04`` typed into it act as Ctrl-C and Ctrl-D do for a person. Every wait
is bounded: subprocesses run under ``anyio.fail_after`` and terminal reads have deadlines.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import anyio
import pytest
from helpers import read_line, read_until

import chatsdk
from chatsdk import _cli
from chatsdk._cli.demo import DEMO_QUESTIONS
from chatsdk.testing import ECHO_PREFIX, Faults, LocalServer, count_tokens, serve

COMMAND = [sys.executable, "-m", "chatsdk"]
RUN_TIMEOUT = 20.0  # seconds for one command to finish
WAIT = 10.0  # seconds for one expected piece of output

# The pty tests need a POSIX terminal.
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")


@pytest.fixture
def anyio_backend() -> str:
    # The command runs in its own process; the test's event loop only waits for it.
    return "asyncio"


def clean_env(server: LocalServer | None = None, **extra: str) -> dict[str, str]:
    """The test's environment without OPENAI_*/CHATSDK_* settings, pointed at ``server``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHATSDK_"))}
    if server is not None:
        env["OPENAI_BASE_URL"] = server.base_url
        env["OPENAI_API_KEY"] = server.api_key or "test-key"
    env.update(extra)
    return env


async def chatsdk_cmd(
    *args: str, env: dict[str, str], stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    with anyio.fail_after(RUN_TIMEOUT):
        return await anyio.run_process(
            [*COMMAND, *args],
            input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,
            env=env,
            check=False,
        )


def closed_port() -> int:
    """A local port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def echo(text: str) -> str:
    return ECHO_PREFIX + text


# -- ask -----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_ask_streams_the_answer() -> None:
    async with serve() as server:
        result = await chatsdk_cmd("ask", "hello there", env=clean_env(server))
        body = server.chat_requests[0].body
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == echo("hello there") + "\n"
    assert result.stderr == b""
    assert body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "hello there"}]
    assert "stream_options" not in body  # only asked for with -v


@pytest.mark.anyio
async def test_ask_no_stream() -> None:
    async with serve() as server:
        result = await chatsdk_cmd("ask", "--no-stream", "hello there", env=clean_env(server))
        body = server.chat_requests[0].body
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == echo("hello there") + "\n"
    assert "stream" not in body or body["stream"] is False


@pytest.mark.anyio
async def test_ask_json_buffered_is_the_whole_reply() -> None:
    async with serve() as server:
        result = await chatsdk_cmd("ask", "--no-stream", "--json", "hi", env=clean_env(server))
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["object"] == "chat.completion"
    assert reply["choices"][0]["message"]["content"] == echo("hi")
    assert reply["usage"]["total_tokens"] > 0


@pytest.mark.anyio
async def test_ask_json_streamed_is_one_chunk_per_line() -> None:
    async with serve() as server:
        result = await chatsdk_cmd("ask", "--json", "hi you", env=clean_env(server))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    chunks = [json.loads(line) for line in lines]
    assert len(chunks) > 2
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    text = "".join(
        choice["delta"].get("content") or "" for chunk in chunks for choice in chunk["choices"]
    )
    assert text == echo("hi you")
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", [[], ["--no-stream"]], ids=["stream", "no-stream"])
async def test_ask_verbose_prints_usage_on_stderr(mode: list[str]) -> None:
    async with serve() as server:
        result = await chatsdk_cmd("ask", "-v", *mode, "one two three", env=clean_env(server))
        body = server.chat_requests[0].body
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == echo("one two three") + "\n"  # usage stays off stdout
    prompt = count_tokens("one two three")
    completion = count_tokens(echo("one two three"))
    assert result.stderr.decode() == (
        f"chatsdk: usage: prompt_tokens={prompt} completion_tokens={completion} "
        f"total_tokens={prompt + completion}\n"
    )
    if not mode:
        assert body["stream_options"] == {"include_usage": True}


@pytest.mark.anyio
@pytest.mark.parametrize("args", [["ask", "-"], ["ask"]], ids=["dash", "piped"])
async def test_ask_reads_the_question_from_stdin(args: list[str]) -> None:
    async with serve() as server:
        result = await chatsdk_cmd(*args, env=clean_env(server), stdin=b"from  stdin\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == echo("from  stdin") + "\n"


@pytest.mark.anyio
async def test_ask_options_reach_the_server() -> None:
    async with serve() as server:
        result = await chatsdk_cmd(
            "ask",
            "--system",
            "Be brief.",
            "--temperature",
            "0.25",
            "--max-tokens",
            "3",
            "--model",
            "my-model",
            "question",
            env=clean_env(server),
        )
        body = server.chat_requests[0].body
    assert result.returncode == 0, result.stderr
    assert body["model"] == "my-model"
    assert body["temperature"] == 0.25
    assert body["max_tokens"] == 3
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "question"},
    ]
    # The server cuts the answer at 3 tokens.
    assert result.stdout.decode() == "(chatsdk local test\n"


@pytest.mark.anyio
async def test_model_defaults_to_the_environment() -> None:
    async with serve() as server:
        env = clean_env(server, CHATSDK_MODEL="env-model")
        result = await chatsdk_cmd("ask", "--no-stream", "hi", env=env)
        result_default = await chatsdk_cmd("ask", "--no-stream", "hi", env=clean_env(server))
        models = [r.body["model"] for r in server.chat_requests]
    assert result.returncode == result_default.returncode == 0
    assert models == ["env-model", "gpt-4o-mini"]


@pytest.mark.anyio
async def test_base_url_and_api_key_options() -> None:
    async with serve(api_key="sk-right") as server:
        result = await chatsdk_cmd(
            "ask", "--base-url", server.base_url, "--api-key", "sk-right", "hi", env=clean_env()
        )
        headers = server.chat_requests[0].headers
    assert result.returncode == 0, result.stderr
    assert headers["authorization"] == "Bearer sk-right"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", [[], ["--no-stream"]], ids=["stream", "no-stream"])
async def test_wrong_api_key_is_a_one_line_typed_error(mode: list[str]) -> None:
    async with serve(api_key="sk-right") as server:
        env = clean_env(server, OPENAI_API_KEY="sk-wrong")
        result = await chatsdk_cmd("ask", *mode, "hi", env=env)
    assert result.returncode == 1
    assert result.stdout == b""
    stderr = result.stderr.decode()
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("chatsdk: error: AuthenticationError: Error code: 401 - ")
    assert "Traceback" not in stderr


@pytest.mark.anyio
async def test_connection_refused_is_a_one_line_typed_error() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    args = ["ask", "--base-url", url, "--max-retries", "0", "hi"]
    result = await chatsdk_cmd(*args, env=clean_env())
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("chatsdk: error: APIConnectionError: ")


@pytest.mark.anyio
async def test_error_inside_the_stream_keeps_what_arrived() -> None:
    async with serve(faults=Faults(error_after=3)) as server:
        result = await chatsdk_cmd("ask", "hi", env=clean_env(server))
    assert result.returncode == 1
    assert result.stdout.decode().startswith("(chatsdk local")
    assert result.stderr.decode().startswith("chatsdk: error: StreamError: ")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "args",
    [["ask"], ["ask", "--temperature", "warm", "hi"], ["ask", "   "], ["nope"], []],
    ids=["no-question", "bad-number", "blank", "unknown-command", "no-command"],
)
async def test_usage_errors_exit_2(args: list[str]) -> None:
    result = await chatsdk_cmd(*args, env=clean_env(), stdin=b"")
    assert result.returncode == 2
    assert result.stdout == b""
    assert b"usage: chatsdk" in result.stderr


@pytest.mark.anyio
async def test_bad_base_url_is_a_usage_error() -> None:
    result = await chatsdk_cmd("ask", "--base-url", "nowhere", "hi", env=clean_env())
    assert result.returncode == 2
    assert result.stderr.decode().startswith("chatsdk: error: ValueError: base_url must be")


@pytest.mark.anyio
async def test_version() -> None:
    result = await chatsdk_cmd("--version", env=clean_env())
    assert result.returncode == 0
    assert result.stdout.decode() == f"chatsdk {chatsdk.__version__}\n"


@pytest.mark.anyio
async def test_ctrl_c_during_ask_exits_130() -> None:
    async with serve(faults=Faults(stall_after=3)) as server:
        with spawn(["ask", "hi"], clean_env(server)) as (proc, _):
            assert read_until(proc.stdout, "(chatsdk local").endswith("(chatsdk local")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(WAIT) == 130


# -- demo and serve --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_demo() -> None:
    result = await chatsdk_cmd("demo", env=clean_env(OPENAI_API_KEY="sk-must-not-be-used"))
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "local test server" in out
    assert "no API key and no network" in out
    for question in DEMO_QUESTIONS:
        assert echo(question) in out
    assert out.index(echo(DEMO_QUESTIONS[0])) < out.index(echo(DEMO_QUESTIONS[1]))


@pytest.mark.anyio
async def test_serve_prints_its_url_and_answers() -> None:
    with spawn(["serve", "--port", "0", "--api-key", "sk-serve"], clean_env()) as (proc, _):
        assert proc.stdout is not None
        line = read_line(proc.stdout)
        match = re.search(r"(http://127\.0\.0\.1:\d+/v1)\s*$", line)
        assert match, line
        async with chatsdk.AsyncChatClient(api_key="sk-serve", base_url=match[1]) as client:
            reply = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "ping"}]
            )
        assert reply.choices[0].message.content == echo("ping")
        proc.terminate()
        assert proc.wait(WAIT) == 0


@pytest.mark.anyio
async def test_serve_reports_a_busy_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = await chatsdk_cmd("serve", "--port", str(port), env=clean_env())
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"chatsdk: error: could not start the server on 127.0.0.1:{port}: Address already in use\n"
    )


def test_server_commands_need_uvicorn(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "uvicorn" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert _cli.main(["demo"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("chatsdk: error: ") and "install chatsdk[server]" in err


def test_core_does_not_import_the_cli() -> None:
    code = (
        "import sys, chatsdk; "
        "print('chatsdk._cli' in sys.modules, 'chatsdk.testing' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=RUN_TIMEOUT, check=True
    )
    assert out.stdout.split() == [b"False", b"False"]


# -- chat in a pseudo-terminal ---------------------------------------------------------------------


class Terminal:
    """The parent side of a pseudo-terminal running ``chatsdk chat``."""

    def __init__(self, fd: int, proc: subprocess.Popen[bytes]) -> None:
        self.fd = fd
        self.proc = proc
        self.seen = ""  # everything read, carriage returns removed
        self.pos = 0  # where the next expect() starts looking

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def expect(self, text: str, timeout: float = WAIT) -> str:
        """Read until ``text`` appears after the last match; returns the output up to it."""
        deadline = time.monotonic() + timeout
        while (found := self.seen.find(text, self.pos)) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{text!r} not seen in {timeout} s; output: {self.seen!r}")
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    data = b""
                if not data:
                    raise AssertionError(f"{text!r} not seen before EOF; output: {self.seen!r}")
                self.seen += data.decode(errors="replace").replace("\r", "")
        before = self.seen[self.pos : found]
        self.pos = found + len(text)
        return before

    def interrupt_prompt(self) -> int:
        """Press Ctrl-C at the prompt, again if need be, until chat exits; its exit code.

        A Ctrl-C that lands between readline printing the prompt and starting to wait for input
        is recorded by Python but acted on only at the next signal or keystroke (CPython's
        readline loop does not re-check pending signals before its select()). A person presses
        again; so does this, a bounded number of times.
        """
        for _ in range(5):
            self.send("\x03")
            try:
                return self.proc.wait(1.0)
            except subprocess.TimeoutExpired:
                continue
        return self.wait()

    def wait(self) -> int:
        try:
            return self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            try:
                self.expect("\0", timeout=0.5)  # collect what the child printed since
            except AssertionError:
                pass
            raise AssertionError(f"chat did not exit in {WAIT} s; output: {self.seen!r}") from None


# Run in the child before chatsdk: take the terminal (stdin) as the controlling terminal of the
# new session, so that the terminal's Ctrl-C and Ctrl-D reach it.
_TAKE_TERMINAL = (
    "import fcntl, runpy, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "sys.argv = ['chatsdk', *sys.argv[1:]]; runpy.run_module('chatsdk', run_name='__main__')"
)


@contextmanager
def chat_terminal(env: dict[str, str], *args: str) -> Iterator[Terminal]:
    master, slave = os.openpty()
    env = {**env, "TERM": "dumb"}
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _TAKE_TERMINAL, "chat", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
    finally:
        os.close(slave)
    try:
        yield Terminal(master, proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
        os.close(master)


@posix_only
@pytest.mark.anyio
async def test_chat_keeps_history_and_ends_on_ctrl_d() -> None:
    async with serve() as server:

        def session() -> int:
            with chat_terminal(clean_env(server), "--system", "Be kind.") as term:
                term.expect("you> ")
                term.send("first question\n")
                assert echo("first question") in term.expect("you> ")
                term.send("second question\n")
                assert echo("second question") in term.expect("you> ")
                term.send("\x04")  # Ctrl-D
                return term.wait()

        assert await anyio.to_thread.run_sync(session) == 0
        second = server.chat_requests[1].body["messages"]
    assert second == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": echo("first question")},
        {"role": "user", "content": "second question"},
    ]


@posix_only
@pytest.mark.anyio
async def test_chat_ctrl_c_stops_the_answer_not_the_session() -> None:
    def stall_first(index: int, body: Any) -> Faults | None:
        return Faults(stall_after=3) if index == 0 else None

    async with serve(faults=stall_first) as server:

        def session() -> int:
            with chat_terminal(clean_env(server)) as term:
                term.expect("you> ")
                term.send("slow one\n")
                term.expect("(chatsdk local")  # two pieces arrived, then the server stalls
                term.send("\x03")  # Ctrl-C
                term.expect("answer interrupted")
                term.expect("you> ")
                term.send("fast one\n")
                assert echo("fast one") in term.expect("you> ")
                term.send("\x04")
                return term.wait()

        with anyio.fail_after(RUN_TIMEOUT):
            assert await anyio.to_thread.run_sync(session) == 0
        second = server.chat_requests[1].body["messages"]
    # The question and the part of the answer that arrived stay in the history.
    assert second == [
        {"role": "user", "content": "slow one"},
        {"role": "assistant", "content": "(chatsdk local"},
        {"role": "user", "content": "fast one"},
    ]


@posix_only
@pytest.mark.anyio
async def test_chat_ctrl_c_before_anything_arrived_drops_the_question() -> None:
    arrived = threading.Event()  # the server has the question: its answer is stalled

    def stall_first(index: int, body: Any) -> Faults | None:
        if index == 0:
            arrived.set()
            return Faults(stall_after=0)
        return None

    async with serve(faults=stall_first) as server:

        def session() -> int:
            with chat_terminal(clean_env(server)) as term:
                term.expect("you> ")
                term.send("never answered\n")
                assert arrived.wait(RUN_TIMEOUT), "the question never reached the server"
                term.send("\x03")
                term.expect("answer interrupted")
                term.expect("you> ")
                term.send("again\n")
                assert echo("again") in term.expect("you> ")
                return term.interrupt_prompt()  # Ctrl-C at the prompt ends the session

        with anyio.fail_after(RUN_TIMEOUT):
            assert await anyio.to_thread.run_sync(session) == 130
        second = server.chat_requests[1].body["messages"]
    assert second == [{"role": "user", "content": "again"}]


@posix_only
@pytest.mark.anyio
async def test_chat_reports_errors_and_carries_on() -> None:
    def fail_first(index: int, body: Any) -> Faults | None:
        return Faults(status=500) if index == 0 else None

    async with serve(faults=fail_first) as server:

        def session() -> int:
            with chat_terminal(clean_env(server), "--max-retries", "0") as term:
                term.expect("you> ")
                term.send("broken\n")
                term.expect("chatsdk: error: InternalServerError: Error code: 500")
                term.expect("you> ")
                term.send("works\n")
                assert echo("works") in term.expect("you> ")
                term.send("\x04")
                return term.wait()

        with anyio.fail_after(RUN_TIMEOUT):
            assert await anyio.to_thread.run_sync(session) == 0
        second = server.chat_requests[1].body["messages"]
    assert second == [{"role": "user", "content": "works"}]


@pytest.mark.anyio
async def test_chat_reads_lines_from_a_pipe() -> None:
    async with serve() as server:
        result = await chatsdk_cmd("chat", env=clean_env(server), stdin=b"one\n\ntwo\n")
        count = len(server.chat_requests)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == f"{echo('one')}\n{echo('two')}\n"
    assert count == 2


# -- subprocess helpers ----------------------------------------------------------------------------


@contextmanager
def spawn(
    args: list[str], env: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[bytes], queue.Queue[str]]]:
    """Start the command with pipes; yields it and a queue of its stderr lines."""
    proc = subprocess.Popen(
        [*COMMAND, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    errors: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    reader = threading.Thread(target=_pump, args=(proc.stderr, errors), daemon=True)
    reader.start()
    try:
        yield proc, errors
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(WAIT)
        reader.join(WAIT)
        if proc.stdout is not None:
            proc.stdout.close()


def _pump(pipe: IO[bytes], lines: queue.Queue[str]) -> None:
    for line in pipe:
        text = line.decode(errors="replace")
        # What serve prints for people on stderr is not an error.
        if not text.startswith(("It echoes", "Press Ctrl-C", "chatsdk local test server")):
            lines.put(text)
    pipe.close()
