"""The local server's API: LocalServer (serving from a background thread), serve() and run().

How the app is served under uvicorn is ``_uvicorn``'s part.
"""

from __future__ import annotations

import asyncio
import importlib
import signal
import threading
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

import anyio.to_thread

if TYPE_CHECKING:
    from chatsdk import AsyncChatClient

from ._app import ChatApp, RecordedRequest
from ._faults import FaultsSpec
from ._limits import RateLimits
from ._replies import ReplySource, ReplySpec
from ._uvicorn import install_log_filter, serve_app
from ._writer import Pace

__all__ = ["LocalServer", "run", "serve"]

# Bounded waits, so a broken server fails a test instead of hanging it.
STARTUP_TIMEOUT = 10.0  # seconds for the thread to bind and listen
JOIN_TIMEOUT = 10.0  # seconds for the thread to finish after stop()


class LocalServer:
    """A local OpenAI-compatible Chat Completions server for tests.

    It runs uvicorn on its own asyncio loop in a background thread, so it works from tests under
    asyncio and trio alike, and from plain synchronous code::

        async with LocalServer(replies=["Hi!"]) as server:
            ...  # POST f"{server.base_url}/chat/completions"

        with LocalServer() as server:  # or server.start() ... server.stop()
            print(server.base_url)

    Attributes: ``base_url`` (``http://127.0.0.1:PORT/v1``), ``port``, ``requests`` (every
    :class:`RecordedRequest`, in arrival order). ``faults`` and ``replies`` may be reassigned
    while the server runs.

    Rehearsing production (each off by default):

    - ``models``: the models ``GET /v1/models`` lists and the only ones answered; another gets
      the API's 404 ``model_not_found``. Without it, ``chatsdk-test`` is listed and any model
      name is answered.
    - ``rate_limits``: a :class:`RateLimits` (requests and tokens per minute), with 429s,
      ``Retry-After`` and ``x-ratelimit-*`` headers; its ``clock`` can be a test's.
    - ``first_token_delay`` (seconds) and ``tokens_per_second``: how fast answers come.
    - ``log``: a file that gets one JSON line per request (time, id, path, model, status).
    - ``faults=FaultMix(rate=..., seed=...)``: a seeded share of requests fails.
    """

    def __init__(
        self,
        *,
        replies: ReplySpec = None,
        faults: FaultsSpec = None,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        models: tuple[str, ...] | None = None,
        rate_limits: RateLimits | None = None,
        first_token_delay: float = 0.0,
        tokens_per_second: float | None = None,
        log: str | None = None,
    ) -> None:
        if first_token_delay < 0:
            raise ValueError("first_token_delay must be >= 0 seconds")
        if tokens_per_second is not None and tokens_per_second <= 0:
            raise ValueError("tokens_per_second must be > 0 or None")
        self.host = host
        self.api_key = api_key
        self._requested_port = port
        self._port: int | None = None
        pace = Pace(first_token_delay, 1 / tokens_per_second if tokens_per_second else 0.0)
        self._app = ChatApp(
            replies=replies,
            faults=faults,
            api_key=api_key,
            models=models,
            rate_limits=rate_limits,
            pace=pace,
            log=log,
        )
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # --- public state -------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not running; use start() or a with block")
        return self._port

    @property
    def url(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:8000``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What to give a client as its base URL, e.g. ``http://127.0.0.1:8000/v1``."""
        return self.url + "/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._app.requests

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The recorded requests to the chat completions route."""
        return [r for r in self._app.requests if r.path.endswith("/chat/completions")]

    @property
    def faults(self) -> FaultsSpec:
        return self._app.faults

    @faults.setter
    def faults(self, value: FaultsSpec) -> None:
        self._app.faults = value

    def set_replies(self, replies: ReplySpec) -> None:
        """Replace what the server answers from the next request on."""
        self._app.replies = ReplySource(replies)

    def client(self, **kwargs: Any) -> AsyncChatClient:
        """A ``chatsdk.AsyncChatClient`` pointed at this server (keyword arguments pass through).

        Example::

            async with chatsdk.testing.serve() as server:
                async with server.client(max_retries=0) as client:
                    ...
        """
        chatsdk = importlib.import_module("chatsdk")  # late: the core never imports this package
        kwargs.setdefault("api_key", self.api_key or "test")
        kwargs.setdefault("base_url", self.base_url)
        client: AsyncChatClient = chatsdk.AsyncChatClient(**kwargs)
        return client

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> LocalServer:
        """Start serving in a background thread; returns once the socket listens."""
        if self._thread is not None:
            raise RuntimeError("the server is already started")
        install_log_filter()
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(
            target=self._thread_main, name="chatsdk-testing-server", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(STARTUP_TIMEOUT):
            raise RuntimeError(f"the local server did not start within {STARTUP_TIMEOUT} s")
        if self._error is not None:
            self._thread.join(JOIN_TIMEOUT)
            self._thread = None
            raise RuntimeError(f"the local server failed to start: {self._error}") from (
                self._error
            )
        return self

    def stop(self) -> None:
        """Stop the server: ends stalls and delays, closes connections, joins the thread."""
        thread, loop = self._thread, self._loop
        if thread is None:
            return
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._begin_shutdown)
            except RuntimeError:
                pass  # the loop has just closed by itself
        thread.join(JOIN_TIMEOUT)
        if thread.is_alive():
            raise RuntimeError(f"the local server did not stop within {JOIN_TIMEOUT} s")
        self._thread = None
        self._port = None

    def _begin_shutdown(self) -> None:
        self._app.close_streams()
        if self._stop_event is not None:
            self._stop_event.set()

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc  # start() re-raises it in the caller's thread
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._app.reopen()
        await serve_app(
            self._app,
            self.host,
            self._requested_port,
            started=self._started,
            stop=self._stop_event,
        )

    def _started(self, port: int) -> None:
        self._port = port
        self._ready.set()

    # --- context managers ---------------------------------------------------------------

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> LocalServer:
        return await anyio.to_thread.run_sync(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await anyio.to_thread.run_sync(self.stop)


def serve(
    *,
    replies: ReplySpec = None,
    faults: FaultsSpec = None,
    api_key: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    models: tuple[str, ...] | None = None,
    rate_limits: RateLimits | None = None,
    first_token_delay: float = 0.0,
    tokens_per_second: float | None = None,
    log: str | None = None,
) -> LocalServer:
    """A local server to use as ``async with`` (or ``with``); it starts on entry.

    ::

        async with chatsdk.testing.serve(replies=["Hello!"]) as server:
            r = await httpx.AsyncClient().post(f"{server.base_url}/chat/completions", json=...)
            assert server.requests[0].body["model"] == "m"

    The keyword arguments are :class:`LocalServer`'s.
    """
    return LocalServer(
        replies=replies,
        faults=faults,
        api_key=api_key,
        host=host,
        port=port,
        models=models,
        rate_limits=rate_limits,
        first_token_delay=first_token_delay,
        tokens_per_second=tokens_per_second,
        log=log,
    )


def run(
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    *,
    replies: ReplySpec = None,
    faults: FaultsSpec = None,
    models: tuple[str, ...] | None = None,
) -> None:
    """Serve in the foreground until Ctrl-C, printing the base URL first (``chatsdk serve``)."""
    server = LocalServer(
        replies=replies, faults=faults, api_key=api_key, host=host, port=port, models=models
    )
    server.start()
    try:
        print(f"chatsdk local test server listening on {server.base_url}", flush=True)
        wait_until_interrupted()
    finally:
        server.stop()


def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def wait_until_interrupted() -> None:
    """Block the main thread until Ctrl-C or SIGTERM (a service manager, a test harness)."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    stopped = threading.Event()
    try:
        # Waiting in steps lets the interpreter run the signal handlers in between.
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
