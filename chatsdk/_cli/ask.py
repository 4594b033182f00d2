"""``chatsdk ask``: ask one question and print the answer, streamed or whole, text or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from ._client_args import (
    add_client_options,
    api_error_line,
    first_messages,
    make_client,
    print_stop_reason,
    print_usage,
    request_params,
    stream_answer,
)
from ._common import EXIT_OK, CLIError, Subcommands, add_command, run_async, status, write

if TYPE_CHECKING:
    from chatsdk import MessageParam

__all__ = ["register", "run"]


def register(commands: Subcommands) -> None:
    """Add ``ask`` and its arguments to the ``chatsdk`` command."""
    parser = add_command(
        commands,
        "ask",
        run,
        help="ask one question and print the answer",
        description="Ask one question and print the answer as it streams in.",
    )
    parser.add_argument(
        "question",
        nargs="?",
        help="the question; '-' (or nothing, with input piped in) reads it from stdin",
    )
    parser.add_argument(
        "--no-stream", action="store_true", help="wait for the whole answer, then print it"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the raw reply as JSON (streaming: one chunk per line)",
    )
    parser.add_argument(
        "--stats",
        action="store_true",
        help="print on stderr what the answer took: time to first token, duration, chunks, "
        "completion tokens and tokens per second (streamed), or the duration (--no-stream)",
    )
    add_client_options(parser)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Read the question, then print its answer."""
    import chatsdk

    question = _read_question(args, parser)
    try:
        run_async(_ask, args, question)
    except chatsdk.APIError as exc:
        raise CLIError(api_error_line(exc, args)) from None
    return EXIT_OK


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
    messages: list[MessageParam] = [*first_messages(args), {"role": "user", "content": question}]
    out = sys.stdout
    async with make_client(args) as client:
        if args.no_stream:
            reply = await client.chat.completions.create(
                model=args.model, messages=messages, **request_params(args)
            )
            if args.json:
                write(out, json.dumps(reply.to_dict(), ensure_ascii=False, indent=2) + "\n")
            else:
                content = reply.choices[0].message.content if reply.choices else None
                write(out, (content or "").rstrip("\n") + "\n")
            if args.verbose:
                print_usage(reply.get("usage"))
            print_stop_reason(args, reply.choices[0].finish_reason if reply.choices else None)
            if args.stats:
                usage = reply.get("usage")
                tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
                status(
                    _stats([("duration", reply.duration, " s"), ("completion tokens", tokens, "")])
                )
            return
        metrics = await stream_answer(client, args, messages, [], as_json=args.json)
        if args.stats:
            status(
                _stats(
                    [
                        ("time to first token", metrics.time_to_first_token, " s"),
                        ("duration", metrics.duration, " s"),
                        ("chunks", metrics.chunks, ""),
                        ("completion tokens", metrics.completion_tokens, ""),
                        ("tokens/s", metrics.tokens_per_second, ""),
                    ]
                )
            )


def _stats(figures: list[tuple[str, float | int | None, str]]) -> str:
    """``stats: name value, ...``; a figure the server gave nothing for is ``n/a``."""
    shown = []
    for name, value, unit in figures:
        if value is None:
            shown.append(f"{name} n/a")
        elif isinstance(value, float):
            shown.append(f"{name} {value:.3f}{unit}" if unit else f"{name} {value:.1f}")
        else:
            shown.append(f"{name} {value}{unit}")
    return "stats: " + ", ".join(shown)
