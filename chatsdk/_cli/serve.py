"""``chatsdk serve``: run the local test server in the foreground until interrupted."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from ._common import EXIT_OK, EXIT_USAGE, CLIError, Subcommands, add_command, require_server_extra

__all__ = ["register", "run"]


def register(commands: Subcommands) -> None:
    """Add ``serve`` and its arguments to the ``chatsdk`` command."""
    parser = add_command(
        commands,
        "serve",
        run,
        help="run the local test server",
        description="Run the local OpenAI-compatible test server until interrupted (Ctrl-C).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port (default %(default)s; 0: any)")
    parser.add_argument("--api-key", help="require this key from clients (default: none needed)")
    answers = parser.add_argument_group("answers")
    answers.add_argument(
        "--reply",
        action="append",
        metavar="TEXT",
        help="answer every request with TEXT (repeat it: answers in turn, round and round; "
        "default: echo the last user message)",
    )
    answers.add_argument(
        "--replies",
        metavar="FILE",
        help="answers from a JSONL file, in turn, round and round: each line a JSON string, "
        'or {"content": ...}, or a tool call {"name": ..., "arguments": {...}}, or '
        '{"tool_calls": [...]}',
    )
    answers.add_argument(
        "--first-token-delay",
        type=_non_negative,
        default=0.0,
        metavar="SECONDS",
        help="wait this long before the first token of each answer",
    )
    answers.add_argument(
        "--tokens-per-second",
        type=_positive,
        metavar="N",
        help="then send tokens at this rate (default: as fast as possible)",
    )
    answers.add_argument(
        "--model",
        action="append",
        metavar="NAME",
        help="serve this model (repeat for more): GET /v1/models lists them and any other "
        "model gets a 404 model_not_found (default: any model name is answered)",
    )
    trouble = parser.add_argument_group("faults and limits")
    trouble.add_argument(
        "--fail-rate",
        type=_fraction,
        default=0.0,
        metavar="P",
        help="fail this share of chat requests (0 to 1), each with a fault drawn from --fail-kinds",
    )
    trouble.add_argument(
        "--fail-kinds",
        type=_kinds,
        metavar="LIST",
        help="comma-separated faults to draw from (default: all): 429 (with Retry-After: 1), "
        "500, 503, disconnect (mid-answer), stall (10 s of silence), malformed (a chunk or "
        "body that is not JSON)",
    )
    trouble.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the fault draw: the same seed fails the same requests (default 0)",
    )
    trouble.add_argument(
        "--rpm",
        type=_positive_int,
        metavar="N",
        help="allow N requests per minute; over it a 429 with Retry-After; every answer has "
        "x-ratelimit-limit/remaining/reset-requests headers",
    )
    trouble.add_argument(
        "--tpm",
        type=_positive_int,
        metavar="N",
        help="allow N tokens (prompt + answer) per minute, likewise (x-ratelimit-*-tokens)",
    )
    trouble.add_argument(
        "--log",
        metavar="FILE",
        help="append one JSON line per request to FILE: time, request_id, method, path, "
        "model, stream, status, seconds",
    )


def _number(kind: type[int] | type[float], low: float, high: float | None, strict: bool) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value < low or (strict and value == low) or (high is not None and value > high):
            bounds = f"> {low}" if strict else f">= {low}"
            if high is not None:
                bounds += f" and <= {high}"
            raise argparse.ArgumentTypeError(f"must be {bounds}: {text!r}")
        return value

    return parse


_non_negative = _number(float, 0, None, False)
_positive = _number(float, 0, None, True)
_positive_int = _number(int, 0, None, True)
_fraction = _number(float, 0, 1, False)


def _kinds(text: str) -> tuple[str, ...]:
    from chatsdk.testing import FAULT_KINDS

    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown or not kinds:
        named = ", ".join(map(repr, unknown)) or repr(text)
        raise argparse.ArgumentTypeError(
            f"unknown fault {named}; choose from {','.join(FAULT_KINDS)}"
        )
    return kinds


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Start the server, say where it listens, and serve until Ctrl-C or SIGTERM."""
    require_server_extra()
    from chatsdk.testing import LocalServer
    from chatsdk.testing._server import wait_until_interrupted

    server = LocalServer(host=args.host, port=args.port, api_key=args.api_key, **_options(args))
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
        what = (
            "It answers as scripted."
            if args.reply or args.replies
            else ("It echoes the last user message.")
        )
        print(
            f"{what} Try: OPENAI_BASE_URL={server.base_url}{key} "
            'chatsdk ask "hello"\nPress Ctrl-C to stop.',
            file=sys.stderr,
            flush=True,
        )
        wait_until_interrupted()
    finally:
        server.stop()
    print("chatsdk local test server stopped", file=sys.stderr, flush=True)
    return EXIT_OK


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The server's keyword arguments for the rehearsal options given."""
    import itertools

    from chatsdk.testing import FAULT_KINDS, FaultMix, RateLimits
    from chatsdk.testing._replies import read_replies

    options: dict[str, Any] = {
        "first_token_delay": args.first_token_delay,
        "tokens_per_second": args.tokens_per_second,
        "log": args.log,
    }
    if args.replies:
        try:
            options["replies"] = itertools.cycle(read_replies(args.replies))
        except (OSError, ValueError) as exc:
            raise CLIError(f"--replies {args.replies}: {exc}", EXIT_USAGE) from None
    elif args.reply:
        options["replies"] = itertools.cycle(args.reply)
    if args.model:
        options["models"] = tuple(args.model)
    if args.fail_rate:
        options["faults"] = FaultMix(args.fail_rate, args.seed, args.fail_kinds or FAULT_KINDS)
    if args.rpm or args.tpm:
        options["rate_limits"] = RateLimits(rpm=args.rpm, tpm=args.tpm)
    if args.log:
        try:
            open(args.log, "a").close()
        except OSError as exc:
            raise CLIError(f"--log {args.log}: {exc.strerror or exc}", EXIT_USAGE) from None
    return options


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
