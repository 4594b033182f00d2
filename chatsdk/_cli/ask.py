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
from ._common import EXIT_OK, CLIError, Subcommands, add_command, run_async, write

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
            return
        await stream_answer(client, args, messages, [], as_json=args.json)
