"""``chatsdk chat``: an interactive conversation that keeps its history."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ._client_args import (
    add_client_options,
    api_error_line,
    first_messages,
    make_client,
    stream_answer,
)
from ._common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CLIError,
    Subcommands,
    add_command,
    report,
    run_async,
    status,
    write,
)

if TYPE_CHECKING:
    from chatsdk import MessageParam

__all__ = ["CHAT_PROMPT", "register", "run"]

CHAT_PROMPT = "you> "


def register(commands: Subcommands) -> None:
    """Add ``chat`` and its arguments to the ``chatsdk`` command."""
    parser = add_command(
        commands,
        "chat",
        run,
        help="interactive conversation",
        description=(
            "An interactive conversation that keeps its history. Ctrl-C during an answer stops "
            "that answer; Ctrl-D (or Ctrl-C at the prompt) ends the session."
        ),
    )
    add_client_options(parser)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """The conversation loop: the prompt is read synchronously, each answer in its own loop.

    Every answer runs in its own ``anyio.run``. A Ctrl-C during an answer makes the event loop
    cancel it: the stream is closed (``async with stream``) and ``KeyboardInterrupt`` comes out
    of ``anyio.run``, which ends that answer only. The question and the part of the answer that
    arrived stay in the history; if nothing arrived, the question is dropped as well.

    With stdin not a terminal (``chat < questions.txt``) the session is a script: a Ctrl-C ends
    it (exit code 130), and it exits 1 if any answer failed, after answering every line.
    """

    import chatsdk

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
    messages: list[MessageParam] = first_messages(args)
    asked = failed = 0
    while True:
        try:
            line = input(prompt)
        except EOFError:
            if interactive:
                write(sys.stdout, "\n")
                return EXIT_OK
            return _script_end(failed, asked)
        except KeyboardInterrupt:
            write(sys.stdout, "\n")
            return EXIT_INTERRUPTED
        question = line.strip()
        if not question:
            continue
        messages.append({"role": "user", "content": question})
        asked += 1
        received: list[str] = []
        try:
            run_async(_chat_turn, args, messages, received)
        except KeyboardInterrupt:
            write(sys.stdout, "\n")
            status("answer interrupted")
            if not interactive:
                return EXIT_INTERRUPTED
        except chatsdk.APIError as exc:
            failed += 1
            report(api_error_line(exc, args))
        except CLIError as exc:
            report(exc.message)
            return exc.code
        if received:
            messages.append({"role": "assistant", "content": "".join(received)})
        else:
            messages.pop()


def _script_end(failed: int, asked: int) -> int:
    """The exit code of a session read from a file or a pipe: 1 if any answer failed."""
    if not failed:
        return EXIT_OK
    status(f"error: {failed} of {asked} questions got no whole answer (errors above)")
    return EXIT_ERROR


async def _chat_turn(
    args: argparse.Namespace, messages: list[MessageParam], received: list[str]
) -> None:
    async with make_client(args) as client:
        await stream_answer(client, args, messages, received)
