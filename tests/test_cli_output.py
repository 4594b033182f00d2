"""What ``chatsdk ask`` and ``chatsdk chat`` print when the server's bytes are not a plain answer.

The command runs as a real process against a raw socket server on 127.0.0.1 that sends exactly
the bytes each test gives it, then closes the connection. Most runs merge stderr into stdout, as
a terminal (or ``2>&1``) shows them, so that a status line glued to the answer's last line shows.
The command runs its own event loop; the tests only wait for it, with a bound.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from helpers import chunk, completion, read_until, sse
from raw_http import split_request

from chatsdk.testing import Faults, serve

COMMAND = [sys.executable, "-m", "chatsdk"]
GUARD = 10.0  # seconds: hang guard for one socket operation
RUN_TIMEOUT = 20.0  # seconds for one command to finish
# Every run: no retry (the server answers each request once), a bounded wait.
CLIENT = ["--max-retries", "0", "--timeout", "10"]


def response(body: bytes, status: str = "200 OK", content_type: str = "application/json") -> bytes:
    """A whole HTTP/1.1 response with this body."""
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def stream(body: bytes) -> bytes:
    """A streamed HTTP/1.1 response: SSE bytes, ended by closing the connection."""
    head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
    return head.encode() + body


def json_body(value: Any) -> bytes:
    return json.dumps(value).encode()


class RawServer:
    """Answers the i-th connection's request with ``replies[i]``, byte for byte, then closes it."""

    def __init__(self, replies: list[bytes]) -> None:
        self.replies = replies
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(GUARD)
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        for reply in self.replies:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed, or no client came
                return
            with conn:
                conn.settimeout(GUARD)
                self.requests.append(_read_request(conn))
                conn.sendall(reply)
                conn.shutdown(socket.SHUT_WR)


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while (split := split_request(data)) is None:
        part = conn.recv(65536)
        if not part:
            return data
        data += part
    return split[0]


@contextmanager
def raw_server(*replies: bytes) -> Iterator[RawServer]:
    server = RawServer(list(replies))
    server.thread.start()
    try:
        yield server
    finally:
        server.sock.close()
        server.thread.join(GUARD)


def env_for(server: RawServer, **extra: str) -> dict[str, str]:
    """The test's environment without OPENAI_*/CHATSDK_* settings, pointed at ``server``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHATSDK_"))}
    env["OPENAI_BASE_URL"] = server.base_url
    env.update(extra)
    return env


def chatsdk(
    *args: str, env: dict[str, str], stdin: bytes = b"", merged: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the command; with ``merged``, stderr goes into stdout as on a terminal."""
    return subprocess.run(
        [*COMMAND, *args, *CLIENT],
        input=stdin.decode(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merged else subprocess.PIPE,
        env=env,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


USAGE = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
USAGE_LINE = "chatsdk: usage: prompt_tokens=1 completion_tokens=2 total_tokens=3"
LENGTH_NOTE = "chatsdk: stopped: length (the answer was cut at --max-tokens 2; raise it for more)"


def cut_stream() -> bytes:
    """An answer cut at the token limit: no newline at its end, usage last."""
    return stream(
        sse(
            chunk("", role="assistant"),
            chunk("Hi"),
            chunk(" there", finish_reason="length"),
            {**chunk(), "choices": [], "usage": USAGE},
        )
    )


def cut_completion() -> bytes:
    body = completion("Hi there", usage=USAGE)
    body["choices"][0]["finish_reason"] = "length"
    return response(json_body(body))


# -- status lines never share the answer's line ----------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "reply"),
    [([], cut_stream()), (["--no-stream"], cut_completion())],
    ids=["stream", "no-stream"],
)
def test_ask_usage_and_length_note_follow_the_answer_on_their_own_lines(
    mode: list[str], reply: bytes
) -> None:
    with raw_server(reply) as server:
        result = chatsdk(
            "ask", *mode, "-v", "--max-tokens", "2", "hi", env=env_for(server, OPENAI_API_KEY="k")
        )
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines() == ["Hi there", USAGE_LINE, LENGTH_NOTE]


def test_ask_length_note_goes_to_stderr_only() -> None:
    with raw_server(cut_stream()) as server:
        result = chatsdk(
            "ask", "--max-tokens", "2", "hi", env=env_for(server, OPENAI_API_KEY="k"), merged=False
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hi there\n"
    assert result.stderr == LENGTH_NOTE + "\n"


def test_ask_length_note_without_max_tokens_names_the_models_limit() -> None:
    with raw_server(cut_stream()) as server:
        result = chatsdk("ask", "hi", env=env_for(server, OPENAI_API_KEY="k"))
    assert result.stdout.splitlines() == [
        "Hi there",
        "chatsdk: stopped: length (the answer was cut at the model's token limit)",
    ]


@pytest.mark.parametrize(
    "body",
    [
        # The server reports an error inside the stream.
        sse(chunk("", role="assistant"), chunk("Half an"), {"error": {"message": "overloaded"}}),
        # The connection closes with neither a finish reason nor [DONE].
        sse(chunk("", role="assistant"), chunk("Half an"), done=False),
    ],
    ids=["error-event", "cut-off"],
)
def test_ask_error_mid_answer_starts_its_own_line(body: bytes) -> None:
    with raw_server(stream(body)) as server:
        result = chatsdk("ask", "hi", env=env_for(server, OPENAI_API_KEY="k"))
    assert result.returncode == 1
    first, second, *rest = result.stdout.splitlines()
    assert first == "Half an"
    assert second.startswith("chatsdk: error: StreamError: ")
    assert rest == []


def test_status_lines_show_the_servers_text_as_one_printable_line() -> None:
    reason = "len\ngth\x1b[31m\r" + "x" * 500
    body = sse(chunk("", role="assistant"), chunk("Hi"), chunk(finish_reason=reason))
    error = {"error": {"message": "bad\n\x1b]0;owned\x07 thing\r\n" + "y" * 5000}}
    failure = response(json_body(error), "500 Internal Server Error")
    with raw_server(stream(body), failure) as server:
        env = env_for(server, OPENAI_API_KEY="k")
        cut = chatsdk("ask", "hi", env=env)
        failed = chatsdk("ask", "hi", env=env)
    lines = cut.stdout.splitlines()
    assert lines[0] == "Hi"
    assert lines[1].startswith("chatsdk: stopped: len gth [31m xxx")
    assert len(lines) == 2 and len(lines[1]) < 100, lines
    (line,) = failed.stdout.splitlines()
    assert line.startswith("chatsdk: error: InternalServerError: Error code: 500 - bad ]0;owned")
    assert "\x1b" not in cut.stdout + failed.stdout and "\x07" not in failed.stdout
    assert len(line) < 1100


def test_ask_streamed_piece_that_is_not_text_is_a_stream_error() -> None:
    not_text = {**chunk(), "choices": [{"index": 0, "delta": {"content": {"text": "x"}}}]}
    body = sse(chunk("", role="assistant"), chunk("Half"), not_text)
    with raw_server(stream(body)) as server:
        result = chatsdk("ask", "hi", env=env_for(server, OPENAI_API_KEY="k"))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "Half",
        "chatsdk: error: StreamError: The server sent a chunk that cannot be read: "
        "choices[0].delta.content is an object where a string, null or a list of parts belongs.",
    ]


def test_ask_whole_reply_that_is_not_text_is_an_error() -> None:
    body = completion()
    body["choices"][0]["message"]["content"] = 5
    with raw_server(response(json_body(body))) as server:
        result = chatsdk("ask", "--no-stream", "hi", env=env_for(server, OPENAI_API_KEY="k"))
    assert result.returncode == 1
    assert result.stdout == (
        "chatsdk: error: APIStatusError: Error code: 200 - The server answered 200 with a chat "
        "completion that cannot be read: choices[0].message.content is the number 5 where a "
        "string, null or a list of parts belongs.\n"
    )


# -- chat ------------------------------------------------------------------------------------------


def test_chat_status_lines_follow_each_answer_on_their_own_lines() -> None:
    replies = [cut_stream(), stream(sse(chunk("", role="assistant"), chunk("Half"), done=False))]
    with raw_server(*replies) as server:
        result = chatsdk(
            "chat",
            "-v",
            "--max-tokens",
            "2",
            env=env_for(server, OPENAI_API_KEY="k"),
            stdin=b"one\ntwo\n",
        )
    lines = result.stdout.splitlines()
    assert lines[:4] == ["Hi there", USAGE_LINE, LENGTH_NOTE, "Half"]
    assert lines[4].startswith("chatsdk: error: StreamError: ")
    assert lines[5:] == ["chatsdk: error: 1 of 2 questions got no whole answer (errors above)"]


def answer(text: str) -> bytes:
    return stream(sse(chunk("", role="assistant"), chunk(text), chunk(finish_reason="stop")))


def test_chat_from_a_file_exits_1_when_a_turn_failed_after_answering_every_line() -> None:
    error = response(json_body({"error": {"message": "try later"}}), "503 Service Unavailable")
    with raw_server(answer("first"), error, answer("third")) as server:
        result = chatsdk(
            "chat",
            env=env_for(server, OPENAI_API_KEY="k"),
            stdin=b"one\ntwo\nthree\n",
            merged=False,
        )
        asked = len(server.requests)
    assert result.returncode == 1
    assert asked == 3
    assert result.stdout == "first\nthird\n"
    assert result.stderr.splitlines() == [
        "chatsdk: error: InternalServerError: Error code: 503 - try later",
        "chatsdk: error: 1 of 3 questions got no whole answer (errors above)",
    ]


def test_chat_from_a_file_exits_0_when_every_turn_was_answered() -> None:
    with raw_server(answer("first"), answer("second")) as server:
        result = chatsdk(
            "chat", env=env_for(server, OPENAI_API_KEY="k"), stdin=b"one\ntwo\n", merged=False
        )
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("first\nsecond\n", "")


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_chat_from_a_file_ends_on_ctrl_c_with_130() -> None:
    with serve(faults=Faults(stall_after=3)) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHATSDK_"))}
        env.update(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="k")
        proc = subprocess.Popen(
            [*COMMAND, "chat", *CLIENT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        try:
            assert proc.stdin is not None
            proc.stdin.write(b"slow one\nnever asked\n")
            proc.stdin.close()
            read_until(proc.stdout, "(chatsdk local")  # two pieces, then the server stalls
            proc.send_signal(signal.SIGINT)
            code = proc.wait(RUN_TIMEOUT)
            assert proc.stdout is not None and proc.stderr is not None
            rest, errors = proc.stdout.read(), proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(GUARD)
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        asked = [r.body["messages"][-1]["content"] for r in server.chat_requests]
    assert code == 130
    assert rest == b"\n"
    assert errors == b"chatsdk: answer interrupted\n"
    assert asked == ["slow one"]


# -- the API key -----------------------------------------------------------------------------------

NO_KEY_BODY = {
    "error": {
        "message": "You didn't provide an API key.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
}
NO_KEY_LINE = (
    "chatsdk: error: AuthenticationError: Error code: 401 - You didn't provide an API key. "
    "(No API key was set: set the OPENAI_API_KEY environment variable or pass --api-key.)"
)


def unauthorized(body: dict[str, Any]) -> bytes:
    return response(json_body(body), "401 Unauthorized")


@pytest.mark.parametrize(
    ("command", "stdin"),
    [(["ask", "hi"], b""), (["ask", "--no-stream", "hi"], b""), (["chat"], b"hi\n")],
    ids=["ask-stream", "ask-no-stream", "chat"],
)
def test_missing_key_hint_names_the_variable_and_the_option(
    command: list[str], stdin: bytes
) -> None:
    with raw_server(unauthorized(NO_KEY_BODY)) as server:
        result = chatsdk(*command, env=env_for(server), stdin=stdin, merged=False)
        (request,) = server.requests
    assert b"authorization:" not in request.lower()
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == NO_KEY_LINE
    assert "api_key=" not in result.stderr


def test_wrong_key_is_reported_without_the_key_or_a_hint_to_set_one() -> None:
    key = "sk-proj-secret-0123456789abcdef"
    message = f"Incorrect API key provided: {key}."
    echoed = {"error": {"message": message, "code": "invalid_api_key"}}
    with raw_server(unauthorized(echoed), unauthorized(echoed)) as server:
        by_option = chatsdk("ask", "--api-key", key, "hi", env=env_for(server))
        by_variable = chatsdk("ask", "hi", env=env_for(server, OPENAI_API_KEY=key))
        sent = server.requests
    assert len(sent) == 2
    assert all(f"authorization: bearer {key}".lower().encode() in r.lower() for r in sent)
    for result in (by_option, by_variable):
        assert result.returncode == 1
        (line,) = result.stdout.splitlines()
        assert line.startswith("chatsdk: error: AuthenticationError: Error code: 401 - ")
        assert key not in line and "secret" not in line
        assert "No API key was set" not in line
