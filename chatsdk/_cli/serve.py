"""``chatsdk serve``: run the local test server in the foreground until interrupted."""

from __future__ import annotations

import argparse
import logging
import sys

from ._common import EXIT_OK, CLIError, Subcommands, add_command, require_server_extra

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


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Start the server, say where it listens, and serve until Ctrl-C or SIGTERM."""
    require_server_extra()
    from chatsdk.testing import LocalServer
    from chatsdk.testing._server import wait_until_interrupted

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
