"""What every ``chatsdk`` command shares: exit codes, registration, errors, output, running.

Standard library only: the command modules import this at start-up, before any option is parsed.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO, TypeAlias

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROG",
    "CLIError",
    "Run",
    "Subcommands",
    "add_command",
    "end_line",
    "error_line",
    "one_line",
    "report",
    "require_server_extra",
    "run_async",
    "status",
    "write",
]

PROG = "chatsdk"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# What ``parser.add_subparsers()`` returns: each command module's ``register`` adds itself to it.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
# How a command runs: given the parsed arguments and its own parser (for usage errors), it does
# its work and returns the exit code.
Run: TypeAlias = Callable[[argparse.Namespace, argparse.ArgumentParser], int]


class CLIError(Exception):
    """A failure reported as one line on stderr, with an exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def add_command(
    commands: Subcommands, name: str, run: Run, *, help: str, description: str
) -> argparse.ArgumentParser:
    """Add the parser of command ``name``, which ``run`` carries out; returns it for arguments.

    ``main`` finds both again in the parsed arguments as ``command_run`` and ``command_parser``.
    """
    parser = commands.add_parser(name, help=help, description=description)
    parser.set_defaults(command_run=run, command_parser=parser)
    return parser


# -- errors and output -----------------------------------------------------------------------------

# A status line (an error, usage, a note) shows at most this many characters of text from the
# server, so that a hostile or broken reply cannot flood the terminal with one message.
MAX_STATUS_CHARS = 1000


def one_line(text: str, limit: int = MAX_STATUS_CHARS) -> str:
    """``text`` as one printable line: whitespace runs and control characters become one space,
    and past ``limit`` characters it is cut, ending in ``...``."""
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    line = " ".join(printable.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def error_line(exc: BaseException) -> str:
    """``Type: message`` on one line, for ``chatsdk: error: ...``."""
    return f"{type(exc).__name__}: {one_line(str(exc)) or '(no message)'}"


class _AnswerLine:
    """Whether the last text written to stdout left a line open (no newline at its end)."""

    open = False


_answer_line = _AnswerLine()


def write(stream: TextIO, text: str) -> None:
    """Write ``text`` and flush, so that it shows at once."""
    stream.write(text)
    stream.flush()
    if text and stream is sys.stdout:
        _answer_line.open = not text.endswith("\n")


def end_line() -> None:
    """End the answer's line on stdout if it is open, so that what follows starts a line.

    A terminal (or ``2>&1``) shows stdout and stderr as one text: without this, a status line on
    stderr would be glued to the answer's last line.
    """
    if not _answer_line.open:
        return
    try:
        write(sys.stdout, "\n")
    except (OSError, ValueError):  # stdout is gone (a closed pipe): nothing to glue to
        _answer_line.open = False


def status(text: str) -> None:
    """Print ``chatsdk: text`` on stderr as one line, on a line of its own."""
    end_line()
    print(f"{PROG}: {one_line(text)}", file=sys.stderr, flush=True)


def report(message: str) -> None:
    """Print ``chatsdk: error: message`` on stderr, on a line of its own."""
    status(f"error: {message}")


# -- running ---------------------------------------------------------------------------------------


def run_async(func: Callable[..., Awaitable[None]], *args: Any) -> None:
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


def require_server_extra() -> None:
    """Raise :class:`CLIError` unless uvicorn, which the local server needs, is installed."""
    if importlib.util.find_spec("uvicorn") is None:
        raise CLIError(
            "the local server needs uvicorn: install chatsdk[server] "
            "(pip install 'chatsdk[server]')"
        )
