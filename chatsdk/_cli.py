"""The ``chatsdk`` command: ``ask``, ``chat``, ``serve``, ``demo`` (see docs/cli.md).

Only the standard library and ``chatsdk._version`` are imported at start-up, so ``chatsdk --help``
and ``chatsdk --version`` are quick; the client is imported by the commands that use it, and the
local server (``chatsdk.testing``, which needs uvicorn) only by ``serve`` and ``demo``.

Exit codes: 0 success, 1 an API or connection error, 2 a usage error, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from ._version import __version__

if TYPE_CHECKING:
    from ._client import AsyncChatClient
    from ._models import CompletionUsage
    from ._params import CreateParams
    from ._params import MessageParam as Message
    from .testing import LocalServer

__all__ = ["main"]

PROG = "chatsdk"
DEFAULT_MODEL = "gpt-4o-mini"
CHAT_PROMPT = "you> "

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

DEMO_QUESTIONS = (
    "What does a buffered request look like?",
    "And a streamed one, token by token?",
)
# The demo server waits this long before each streamed piece, so that streaming is visible.
DEMO_DELAY = 0.04


class CLIError(Exception):
    """A failure reported as one line on stderr, with an exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# -- output ------------------------------------------------------------------------------------


def _error_line(exc: BaseException) -> str:
    """``Type: message`` on one line, for ``chatsdk: error: ...``."""
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"


def _report(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


def _write(stream: TextIO, text: str) -> None:
    stream.write(text)
    stream.flush()


def _print_usage(usage: CompletionUsage | None) -> None:
    if usage is None:
        print(f"{PROG}: usage: the server sent no token counts", file=sys.stderr, flush=True)
        return
    print(
        f"{PROG}: usage: prompt_tokens={usage.prompt_tokens} "
        f"completion_tokens={usage.completion_tokens} total_tokens={usage.total_tokens}",
        file=sys.stderr,
        flush=True,
    )


# -- arguments ---------------------------------------------------------------------------------


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return value


def _add_client_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("client")
    group.add_argument(
        "-m",
        "--model",
        default=os.environ.get("CHATSDK_MODEL") or DEFAULT_MODEL,
        help="model name (default: $CHATSDK_MODEL, else %(default)s)",
    )
    group.add_argument("--base-url", help="API base URL (default: $OPENAI_BASE_URL, else OpenAI)")
    group.add_argument("--api-key", help="API key (default: $OPENAI_API_KEY)")
    group.add_argument("-s", "--system", help="system prompt")
    group.add_argument("-t", "--temperature", type=float, help="sampling temperature")
    group.add_argument("--max-tokens", type=int, help="upper bound on the answer's tokens")
    group.add_argument(
        "--timeout", type=_positive_float, help="seconds for connecting and between reads"
    )
    group.add_argument(
        "--max-retries", type=int, help="retries for connection errors, 429 and 5xx (default 2)"
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print token usage (prompt, completion, total) on stderr",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Talk to an OpenAI-style Chat Completions API from the command line.",
        epilog="Start with 'chatsdk demo': it needs no API key and no network.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    ask = commands.add_parser(
        "ask",
        help="ask one question and print the answer",
        description="Ask one question and print the answer as it streams in.",
    )
    ask.add_argument(
        "question",
        nargs="?",
        help="the question; '-' (or nothing, with input piped in) reads it from stdin",
    )
    ask.add_argument(
        "--no-stream", action="store_true", help="wait for the whole answer, then print it"
    )
    ask.add_argument(
        "--json",
        action="store_true",
        help="print the raw reply as JSON (streaming: one chunk per line)",
    )
    _add_client_options(ask)
    ask.set_defaults(command_parser=ask)

    chat = commands.add_parser(
        "chat",
        help="interactive conversation",
        description=(
            "An interactive conversation that keeps its history. Ctrl-C during an answer stops "
            "that answer; Ctrl-D (or Ctrl-C at the prompt) ends the session."
        ),
    )
    _add_client_options(chat)

    serve = commands.add_parser(
        "serve",
        help="run the local test server",
        description="Run the local OpenAI-compatible test server until interrupted (Ctrl-C).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port (default %(default)s; 0: any)")
    serve.add_argument("--api-key", help="require this key from clients (default: none needed)")

    commands.add_parser(
        "demo",
        help="try the client against the local test server",
        description=(
            "Start the local test server and show a buffered and a streamed request against it. "
            "No API key and no network are used."
        ),
    )
    return parser


# -- the client commands -------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> AsyncChatClient:
    from ._client import AsyncChatClient

    options: dict[str, Any] = {}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    if args.max_retries is not None:
        options["max_retries"] = args.max_retries
    try:
        return AsyncChatClient(api_key=args.api_key, base_url=args.base_url, **options)
    except (TypeError, ValueError) as exc:
        raise CLIError(_error_line(exc), EXIT_USAGE) from None


def _params(args: argparse.Namespace) -> CreateParams:
    params: CreateParams = {}
    if args.temperature is not None:
        params["temperature"] = args.temperature
    if args.max_tokens is not None:
        params["max_tokens"] = args.max_tokens
    return params


def _first_messages(args: argparse.Namespace) -> list[Message]:
    return [{"role": "system", "content": args.system}] if args.system else []


def _read_question(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    question: str | None = args.question
    if question == "-" or (question is None and not sys.stdin.isatty()):
        question = sys.stdin.read()
    if question is None:
        parser.error("ask needs a question: chatsdk ask \"...\" (or '-' to read stdin)")
    question = question.strip()
    if not question:
        parser.error("the question is empty")
    return question


async def _ask(args: argparse.Namespace, question: str) -> None:
    messages = [*_first_messages(args), {"role": "user", "content": question}]
    out = sys.stdout
    async with _client(args) as client:
        if args.no_stream:
            reply = await client.chat.completions.create(
                model=args.model, messages=messages, **_params(args)
            )
            if args.json:
                _write(out, json.dumps(reply.to_dict(), ensure_ascii=False, indent=2) + "\n")
            else:
                content = reply.choices[0].message.content if reply.choices else None
                _write(out, (content or "").rstrip("\n") + "\n")
            if args.verbose:
                _print_usage(reply.usage)
            return
        received: list[str] = []
        await _answer(client, args, messages, received, as_json=args.json)
        if received and not received[-1].endswith("\n"):
            _write(out, "\n")


async def _answer(
    client: AsyncChatClient,
    args: argparse.Namespace,
    messages: list[Message],
    received: list[str],
    *,
    as_json: bool = False,
) -> None:
    """Stream one answer, printing each piece of choice 0 and appending it to ``received``;
    with ``as_json``, print each chunk as a line of JSON instead."""
    params = _params(args)
    if args.verbose:
        params["stream_options"] = {"include_usage": True}
    stream = await client.chat.completions.create(
        model=args.model, messages=messages, stream=True, **params
    )
    usage = None
    async with stream:
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            if as_json:
                _write(sys.stdout, json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
                continue
            for choice in chunk.choices:
                text = choice.delta.content
                if choice.index == 0 and text:
                    received.append(text)
                    _write(sys.stdout, text)
    if args.verbose:
        _print_usage(usage)


async def _chat_turn(
    args: argparse.Namespace, messages: list[Message], received: list[str]
) -> None:
    async with _client(args) as client:
        await _answer(client, args, messages, received)


def _run_chat(args: argparse.Namespace) -> int:
    """The conversation loop: the prompt is read synchronously, each answer in its own loop.

    Every answer runs in its own ``anyio.run``. A Ctrl-C during an answer makes the event loop
    cancel it: the stream is closed (``async with stream``) and ``KeyboardInterrupt`` comes out
    of ``anyio.run``, which ends that answer only. The question and the part of the answer that
    arrived stay in the history; if nothing arrived, the question is dropped as well.
    """

    from ._exceptions import APIError

    interactive = sys.stdin.isatty()
    if interactive and sys.stdout.isatty():
        try:
            import readline  # noqa: F401  (line editing and history for input())
        except ImportError:
            pass
    prompt = CHAT_PROMPT if interactive else ""
    if interactive:
        print(
            f"chatsdk chat with {args.model}: Ctrl-C stops an answer, Ctrl-D ends the session.",
            file=sys.stderr,
            flush=True,
        )
    messages: list[Message] = _first_messages(args)
    while True:
        try:
            line = input(prompt)
        except EOFError:
            if interactive:
                _write(sys.stdout, "\n")
            return EXIT_OK
        except KeyboardInterrupt:
            _write(sys.stdout, "\n")
            return EXIT_INTERRUPTED
        question = line.strip()
        if not question:
            continue
        messages.append({"role": "user", "content": question})
        received: list[str] = []
        try:
            _run_async(_chat_turn, args, messages, received)
        except KeyboardInterrupt:
            _write(sys.stdout, "\n")
            print(f"{PROG}: answer interrupted", file=sys.stderr, flush=True)
        except APIError as exc:
            if received:
                _write(sys.stdout, "\n")
            _report(_error_line(exc))
        except CLIError as exc:
            _report(exc.message)
            return exc.code
        else:
            _write(sys.stdout, "\n")
        if received:
            messages.append({"role": "assistant", "content": "".join(received)})
        else:
            messages.pop()


# -- the local server ------------------------------------------------------------------------------


def _require_server_extra() -> None:
    if importlib.util.find_spec("uvicorn") is None:
        raise CLIError(
            "the local server needs uvicorn: install chatsdk[server] "
            "(pip install 'chatsdk[server]')"
        )


def _bind_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (in use, not an address here), if it cannot."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as sock:
            sock.bind(address)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _run_serve(args: argparse.Namespace) -> int:
    _require_server_extra()
    from .testing import LocalServer
    from .testing._server import wait_until_interrupted

    server = LocalServer(host=args.host, port=args.port, api_key=args.api_key)
    # uvicorn logs a failure to bind on its own; it is reported below, in one line.
    quiet = logging.NullHandler()
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addHandler(quiet)
    try:
        server.start()
    except (RuntimeError, OSError) as exc:
        reason = _bind_problem(args.host, args.port) or str(exc)
        raise CLIError(f"could not start the server on {args.host}:{args.port}: {reason}") from None
    finally:
        uvicorn_log.removeHandler(quiet)
    try:
        print(f"chatsdk local test server listening on {server.base_url}", flush=True)
        key = f" OPENAI_API_KEY={args.api_key}" if args.api_key else ""
        print(
            f"It echoes the last user message. Try: OPENAI_BASE_URL={server.base_url}{key} "
            'chatsdk ask "hello"\nPress Ctrl-C to stop.',
            file=sys.stderr,
            flush=True,
        )
        wait_until_interrupted()
    finally:
        server.stop()
    print("chatsdk local test server stopped", file=sys.stderr, flush=True)
    return EXIT_OK


async def _demo(server: LocalServer) -> None:
    out = sys.stdout
    # An explicit key and URL: the demo never sends OPENAI_API_KEY anywhere.
    from ._client import AsyncChatClient

    async with AsyncChatClient(api_key="demo-key", base_url=server.base_url) as client:
        _write(out, "\n1. A buffered request: the whole answer arrives at once.\n")
        _write(out, f"   question: {DEMO_QUESTIONS[0]}\n")
        reply = await client.chat.completions.create(
            model="chatsdk-demo",
            messages=[{"role": "user", "content": DEMO_QUESTIONS[0]}],
        )
        _write(out, f"   answer:   {reply.choices[0].message.content}\n")

        _write(out, "\n2. A streaming request: each token is printed as it arrives.\n")
        _write(out, f"   question: {DEMO_QUESTIONS[1]}\n")
        _write(out, "   answer:   ")
        stream = await client.chat.completions.create(
            model="chatsdk-demo",
            messages=[{"role": "user", "content": DEMO_QUESTIONS[1]}],
            stream=True,
        )
        async with stream:
            async for text in stream.text():
                _write(out, text)
        _write(out, "\n")
    _write(
        out,
        "\nDone. To use a real API, set OPENAI_API_KEY (and OPENAI_BASE_URL for another "
        'provider) and run: chatsdk ask "your question"\n',
    )


def _run_demo() -> int:
    _require_server_extra()
    import anyio

    from .testing import Faults, LocalServer

    server = LocalServer(faults=Faults(delay=DEMO_DELAY))
    server.start()
    try:
        _write(
            sys.stdout,
            f"chatsdk demo: the local test server is running at {server.base_url}\n"
            "It echoes each question back; no API key and no network are used.\n",
        )
        anyio.run(_demo, server)
    finally:
        server.stop()
    return EXIT_OK


# -- entry point -----------------------------------------------------------------------------------


def _run_async(func: Callable[..., Awaitable[None]], *args: Any) -> None:
    """``anyio.run(func, *args)``, with Ctrl-C always surfacing as ``KeyboardInterrupt``.

    On Python 3.10 the event loop reports a Ctrl-C that cancelled the running answer as the
    answer task's ``CancelledError``; newer Pythons raise ``KeyboardInterrupt`` themselves.
    """
    import asyncio

    import anyio

    try:
        anyio.run(func, *args)
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None


def _dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.command == "ask":
        question = _read_question(args, args.command_parser)
        _run_async(_ask, args, question)
        return EXIT_OK
    if args.command == "chat":
        return _run_chat(args)
    if args.command == "serve":
        return _run_serve(args)
    if args.command == "demo":
        return _run_demo()
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _quiet_broken_pipe() -> None:
    """Stdout's reader went away (``chatsdk ask ... | head -1``): stop writing to it."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``chatsdk`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from ._exceptions import APIError  # after parsing: --help and --version stay quick

    try:
        return _dispatch(args, parser)
    except CLIError as exc:
        _report(exc.message)
        return exc.code
    except APIError as exc:
        _report(_error_line(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        try:
            _write(sys.stdout, "\n")
        except (OSError, ValueError):
            pass
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_broken_pipe()
        return EXIT_ERROR
