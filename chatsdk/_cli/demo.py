"""``chatsdk demo``: a buffered and a streamed request against the local test server."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ._common import EXIT_OK, Subcommands, add_command, require_server_extra, write

if TYPE_CHECKING:
    from chatsdk.testing import LocalServer

__all__ = ["DEMO_DELAY", "DEMO_QUESTIONS", "register", "run"]

DEMO_QUESTIONS = (
    "What does a buffered request look like?",
    "And a streamed one, token by token?",
)
# The demo server waits this long before each streamed piece, so that streaming is visible.
DEMO_DELAY = 0.04


def register(commands: Subcommands) -> None:
    """Add ``demo`` to the ``chatsdk`` command."""
    add_command(
        commands,
        "demo",
        run,
        help="try the client against the local test server",
        description=(
            "Start the local test server and show a buffered and a streamed request against it. "
            "No API key and no network are used."
        ),
    )


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Start the local server, run the two requests against it, stop it."""
    require_server_extra()
    import anyio

    from chatsdk.testing import Faults, LocalServer

    server = LocalServer(faults=Faults(delay=DEMO_DELAY))
    server.start()
    try:
        write(
            sys.stdout,
            f"chatsdk demo: the local test server is running at {server.base_url}\n"
            "It echoes each question back; no API key and no network are used.\n",
        )
        anyio.run(_demo, server)
    finally:
        server.stop()
    return EXIT_OK


async def _demo(server: LocalServer) -> None:
    out = sys.stdout
    # An explicit key and URL: the demo never sends OPENAI_API_KEY anywhere.
    import chatsdk

    async with chatsdk.AsyncChatClient(api_key="demo-key", base_url=server.base_url) as client:
        write(out, "\n1. A buffered request: the whole answer arrives at once.\n")
        write(out, f"   question: {DEMO_QUESTIONS[0]}\n")
        reply = await client.chat.completions.create(
            model="chatsdk-demo",
            messages=[{"role": "user", "content": DEMO_QUESTIONS[0]}],
        )
        write(out, f"   answer:   {reply.choices[0].message.content}\n")

        write(out, "\n2. A streaming request: each token is printed as it arrives.\n")
        write(out, f"   question: {DEMO_QUESTIONS[1]}\n")
        write(out, "   answer:   ")
        stream = await client.chat.completions.create(
            model="chatsdk-demo",
            messages=[{"role": "user", "content": DEMO_QUESTIONS[1]}],
            stream=True,
        )
        async with stream:
            async for text in stream.text():
                write(out, text)
        write(out, "\n")
    write(
        out,
        "\nDone. To use a real API, set OPENAI_API_KEY (and OPENAI_BASE_URL for another "
        'provider) and run: chatsdk ask "your question"\n',
    )
