"""The ``chatsdk`` command: ``ask``, ``chat``, ``batch``, ``serve``, ``demo`` (see docs/cli.md).

Each command is a module of this package whose ``register`` adds its parser and the function
that runs it; ``COMMANDS`` lists them in the order ``chatsdk --help`` shows them. A new command
is a new module plus one line in ``COMMANDS``. Within this package the command modules import
only ``_common``, ``_client_args`` and ``_batch_output``, never the package itself, so there is
no import cycle.

At run time these modules import only the standard library, ``chatsdk._version`` and one another
at module level; the client (through the public ``chatsdk`` namespace) is imported by the code
that uses it, and the local server (``chatsdk.testing``, which needs uvicorn) only by ``serve``
and ``demo``, so ``chatsdk --help`` and ``chatsdk --version`` never load the server.

Exit codes: 0 success, 1 an API or connection error, 2 a usage error, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from .._version import __version__
from . import ask, batch, chat, demo, serve
from ._common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    PROG,
    CLIError,
    Subcommands,
    error_line,
    report,
    write,
)

__all__ = ["COMMANDS", "build_parser", "main"]

# The commands, in the order of ``chatsdk --help``: one ``register`` each.
COMMANDS: tuple[Callable[[Subcommands], None], ...] = (
    ask.register,
    chat.register,
    batch.register,
    serve.register,
    demo.register,
)


def build_parser() -> argparse.ArgumentParser:
    """The ``chatsdk`` parser, with every command in ``COMMANDS``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Talk to an OpenAI-style Chat Completions API from the command line.",
        epilog="Start with 'chatsdk demo': it needs no API key and no network.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in COMMANDS:
        register(commands)
    return parser


def _dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    code: int = args.command_run(args, args.command_parser)
    return code


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
    import chatsdk  # after parsing, like every import of the client in this package

    try:
        return _dispatch(args, parser)
    except CLIError as exc:
        report(exc.message)
        return exc.code
    except chatsdk.APIError as exc:
        report(error_line(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        try:
            write(sys.stdout, "\n")
        except (OSError, ValueError):
            pass
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_broken_pipe()
        return EXIT_ERROR
