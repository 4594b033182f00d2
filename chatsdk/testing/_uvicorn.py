"""Serving an ASGI app with uvicorn on the running loop, from a bound socket to a quick shutdown.

uvicorn is the optional dependency ``chatsdk[server]``; it is imported when serving starts.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from ._fault_effects import DeliberateDrop

__all__ = ["SHUTDOWN_GRACE", "install_log_filter", "listening_socket", "serve_app"]

# Open responses get this long to end after a stop; delays and stalls end at once, so this only
# covers responses still being written. Then their tasks are cancelled.
SHUTDOWN_GRACE = 1.0


class _DropFilter(logging.Filter):
    """Keeps uvicorn's error log quiet about connections the server drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DeliberateDrop)


def install_log_filter() -> None:
    """Add the filter that hides :class:`DeliberateDrop` to uvicorn's error log, once."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropFilter) for f in logger.filters):
        logger.addFilter(_DropFilter())


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port`` whose accepted connections send without delay.

    Bound here rather than in uvicorn, so that a busy port raises a plain ``OSError``.
    ``TCP_NODELAY`` is set on it because accepted sockets inherit it: without it, a reply on a
    kept-alive connection can wait ~40 ms for a delayed ACK (asyncio sets it only on sockets it
    recognises as TCP, and this one's protocol number is 0).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family)
    except OSError as exc:
        raise OSError(exc.errno, f"could not listen on {host}:{port}: {exc.strerror}") from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


async def serve_app(
    app: Any, host: str, port: int, *, started: Callable[[int], None], stop: asyncio.Event
) -> None:
    """Serve ``app`` on ``host:port`` until ``stop`` is set, then shut down.

    ``started`` is called with the port listened on (the one chosen for ``port=0``) once
    uvicorn accepts connections. A port that cannot be bound raises a plain ``OSError``.
    """
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http="h11",  # one HTTP implementation everywhere, so fault behaviour is the same
        ws="none",
        lifespan="off",
        log_level="warning",
        log_config=None,  # leave the host program's logging setup alone
        access_log=False,
        timeout_graceful_shutdown=int(SHUTDOWN_GRACE),
    )
    config.load()
    sock = listening_socket(host, port)
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    try:
        await server.startup(sockets=[sock])
    except BaseException:
        sock.close()
        raise
    started(sock.getsockname()[1])
    await stop.wait()
    await _shutdown(server)


async def _shutdown(server: Any) -> None:
    """uvicorn's shutdown without its fixed 0.1 s sleeps (they add up over a test suite)."""
    for listener in server.servers:
        listener.close()
    state = server.server_state
    for connection in list(state.connections):
        connection.shutdown()
    if state.tasks:
        await asyncio.wait(list(state.tasks), timeout=SHUTDOWN_GRACE)
    for task in list(state.tasks):
        task.cancel()
    for connection in list(state.connections):
        transport = getattr(connection, "transport", None)
        if transport is not None:
            transport.close()
    try:
        await asyncio.wait_for(
            asyncio.gather(*(s.wait_closed() for s in server.servers)), SHUTDOWN_GRACE
        )
    except asyncio.TimeoutError:
        pass
