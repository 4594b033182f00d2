"""The clients under test, each with the same four operations.

Every adapter reads the content of every chunk it receives and returns the concatenated
text, which the harness compares with the text the server was asked to send.

* ``chatsdk``: ``chatsdk.AsyncChatClient`` with its defaults.
* ``openai``: ``openai.AsyncOpenAI(max_retries=0)`` with its defaults (its own ``httpx2``
  transport; pool ``Limits(max_connections=1000, max_keepalive_connections=100)``).
* ``floor``: a bare ``httpx.AsyncClient`` + ``httpx_sse.aconnect_sse`` + ``json.loads`` loop,
  with ``Limits(max_connections=1000, max_keepalive_connections=100)`` (httpx's default of
  100/20 can hold neither 500 streams nor 50 idle keep-alive connections).
* ``chatsdk-aiohttp``: ``chatsdk.AsyncChatClient(backend="aiohttp")``.
* ``aiohttp``: a bare ``aiohttp.ClientSession`` + line reading + ``json.loads`` loop (a
  ``TCPConnector`` limited to 1,000 connections): the floor of the aiohttp backend.

Each operation writes its read loop out in full, though the loops look alike: a shared helper
(an async generator, a callback) would add a layer to the path being measured, the floor's most
of all.

Variants used by the pool study (``--adapters``), not part of the default run:

* ``floor-httpx-defaults``: the floor with httpx's default ``Limits`` (100 / 20 keep-alive).
* ``floor-limits-N``: the floor with ``Limits(max_connections=N, max_keepalive_connections=N)``.
* ``floor-fastpool``: the floor on chatsdk's own transport (httpx's, with httpcore's pool
  planning in one pass: ``chatsdk._pool``).
* ``floor-httpcore2``: the floor on httpcore2's connection pool (the pool under openai's
  ``httpx2``), wrapped as an ``httpx`` transport.
* ``floor-aiohttp``: the floor on chatsdk's aiohttp transport (``chatsdk._aiohttp``).
* ``chatsdk-default``: chatsdk given an ``http_client`` on httpx's stock transport, to show
  what its own transport saves.
* ``chatsdk-httpcore2``: chatsdk given an ``http_client`` on that transport.
* ``chatsdk-h2``: chatsdk given an ``http_client`` on its own pool speaking HTTP/2 only (httpx's
  h2 extra), for ``run.py --scale --h2`` against ``h2server.py``.
* ``chatsdk-otel``: chatsdk with ``chatsdk.instrument()`` on, an OpenTelemetry SDK tracer
  provider exporting every span to an exporter that does nothing, and an SDK meter provider:
  what tracing and metrics cost a call and a chunk.

``max_connections`` on an adapter (set before ``open``) sizes its pool: the scale mode
(``scale.py``) opens thousands of streams at once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

MESSAGES = [{"role": "user", "content": "Write a short poem about streams, please."}]
TIMEOUT = 120.0
BIG_LIMITS = {"max_connections": 1000, "max_keepalive_connections": 100}

OnOpen = Callable[[], None]


class Adapter:
    """Base class: subclasses fill in the four operations."""

    name = "?"
    max_connections: int | None = None  # None: the adapter's usual pool size

    def limits(self, usual: dict[str, int]) -> dict[str, int]:
        if self.max_connections is None:
            return usual
        keep = min(self.max_connections, usual["max_keepalive_connections"])
        return {"max_connections": self.max_connections, "max_keepalive_connections": keep}

    async def open(self, base_url: str) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    async def buffered(self, model: str) -> str:
        raise NotImplementedError

    async def stream_text(self, model: str) -> str:
        """Read a whole stream; return the concatenated content."""
        raise NotImplementedError

    async def stream_ttft(self, model: str) -> tuple[float, str]:
        """Seconds from the call to the first non-empty content delta, and the full text."""
        raise NotImplementedError

    async def stream_paused(self, model: str, on_first: OnOpen, release: asyncio.Event) -> str:
        """Open a stream, read up to its first content delta, call ``on_first``, wait for
        ``release``, then read the rest. Returns the full text."""
        raise NotImplementedError


# --------------------------------------------------------------------------- transports


def make_transport(kind: str, limits: dict[str, int]) -> Any:
    import httpx

    if kind == "default":
        return httpx.AsyncHTTPTransport(limits=httpx.Limits(**limits))
    if kind == "fastpool":
        from chatsdk._pool import make_transport as one_pass_transport

        return one_pass_transport(httpx.Limits(**limits))
    if kind == "h2":  # HTTP/2 only (prior knowledge, as h2server.py speaks it) on the same pool
        from chatsdk._pool import make_transport as one_pass_transport

        return one_pass_transport(httpx.Limits(**limits), http1=False, http2=True)
    if kind == "httpcore2":
        from fastpool import Httpcore2Transport

        return Httpcore2Transport(**limits)
    if kind == "aiohttp":
        from chatsdk._aiohttp import AiohttpTransport

        return AiohttpTransport(httpx.Limits(**limits))
    raise ValueError(f"unknown transport {kind!r}")


# --------------------------------------------------------------------------- floor


class FloorAdapter(Adapter):
    def __init__(
        self, name: str, limits: dict[str, int] | None = None, transport: str = "default"
    ) -> None:
        self.name = name
        self.limits_usual = BIG_LIMITS if limits is None else limits
        self.transport = transport

    async def open(self, base_url: str) -> None:
        import httpx
        import httpx_sse

        self._aconnect_sse = httpx_sse.aconnect_sse
        self.client = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": "Bearer sk-bench"},
            timeout=TIMEOUT,
            transport=make_transport(self.transport, self.limits(self.limits_usual)),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def buffered(self, model: str) -> str:
        response = await self.client.post(
            "/chat/completions", json={"model": model, "messages": MESSAGES}
        )
        response.raise_for_status()
        content: str = json.loads(response.content)["choices"][0]["message"]["content"]
        return content

    def _body(self, model: str) -> dict[str, object]:
        return {"model": model, "messages": MESSAGES, "stream": True}

    async def stream_text(self, model: str) -> str:
        parts: list[str] = []
        append = parts.append
        loads = json.loads
        async with self._aconnect_sse(
            self.client, "POST", "/chat/completions", json=self._body(model)
        ) as source:
            source.response.raise_for_status()
            async for sse in source.aiter_sse():
                data = sse.data
                if data == "[DONE]":
                    continue  # read on to the end so the connection goes back to the pool
                choices = loads(data)["choices"]
                if choices:
                    content = choices[0]["delta"].get("content")
                    if content:
                        append(content)
        return "".join(parts)

    async def stream_ttft(self, model: str) -> tuple[float, str]:
        parts: list[str] = []
        first = 0.0
        start = time.perf_counter()
        async with self._aconnect_sse(
            self.client, "POST", "/chat/completions", json=self._body(model)
        ) as source:
            source.response.raise_for_status()
            async for sse in source.aiter_sse():
                data = sse.data
                if data == "[DONE]":
                    continue
                choices = json.loads(data)["choices"]
                if choices:
                    content = choices[0]["delta"].get("content")
                    if content:
                        if not parts:
                            first = time.perf_counter() - start
                        parts.append(content)
        return first, "".join(parts)

    async def stream_paused(self, model: str, on_first: OnOpen, release: asyncio.Event) -> str:
        parts: list[str] = []
        async with self._aconnect_sse(
            self.client, "POST", "/chat/completions", json=self._body(model)
        ) as source:
            source.response.raise_for_status()
            async for sse in source.aiter_sse():
                data = sse.data
                if data == "[DONE]":
                    continue
                choices = json.loads(data)["choices"]
                if choices:
                    content = choices[0]["delta"].get("content")
                    if content:
                        parts.append(content)
                        if len(parts) == 1:
                            on_first()
                            await release.wait()
        return "".join(parts)


# --------------------------------------------------------------------------- SDKs


class _SdkAdapter(Adapter):
    """openai and chatsdk share the ``client.chat.completions.create`` surface."""

    client: Any

    async def buffered(self, model: str) -> str:
        reply = await self.client.chat.completions.create(model=model, messages=MESSAGES)
        content: str = reply.choices[0].message.content
        return content

    async def stream_text(self, model: str) -> str:
        parts: list[str] = []
        append = parts.append
        stream = await self.client.chat.completions.create(
            model=model, messages=MESSAGES, stream=True
        )
        async with stream:
            async for chunk in stream:
                choices = chunk.choices
                if choices:
                    content = choices[0].delta.content
                    if content:
                        append(content)
        return "".join(parts)

    async def stream_ttft(self, model: str) -> tuple[float, str]:
        parts: list[str] = []
        first = 0.0
        start = time.perf_counter()
        stream = await self.client.chat.completions.create(
            model=model, messages=MESSAGES, stream=True
        )
        async with stream:
            async for chunk in stream:
                if chunk.choices:
                    content = chunk.choices[0].delta.content
                    if content:
                        if not parts:
                            first = time.perf_counter() - start
                        parts.append(content)
        return first, "".join(parts)

    async def stream_paused(self, model: str, on_first: OnOpen, release: asyncio.Event) -> str:
        parts: list[str] = []
        stream = await self.client.chat.completions.create(
            model=model, messages=MESSAGES, stream=True
        )
        async with stream:
            async for chunk in stream:
                if chunk.choices:
                    content = chunk.choices[0].delta.content
                    if content:
                        parts.append(content)
                        if len(parts) == 1:
                            on_first()
                            await release.wait()
        return "".join(parts)


class OpenAIAdapter(_SdkAdapter):
    name = "openai"

    async def open(self, base_url: str) -> None:
        import openai

        self.client = openai.AsyncOpenAI(
            api_key="sk-bench", base_url=base_url, max_retries=0, timeout=TIMEOUT
        )

    async def aclose(self) -> None:
        await self.client.close()


class ChatsdkAdapter(_SdkAdapter):
    def __init__(
        self,
        name: str = "chatsdk",
        transport: str | None = None,
        backend: str = "httpx",
        otel: bool = False,
    ) -> None:
        self.name = name
        self.transport = transport
        self.backend = backend
        self.otel = otel

    async def open(self, base_url: str) -> None:
        import chatsdk

        if self.otel:
            instrument_with_sdk()

        http_client = None
        options: dict[str, Any] = {}
        if self.transport is not None:
            import httpx

            http_client = httpx.AsyncClient(
                timeout=TIMEOUT, transport=make_transport(self.transport, self.limits(BIG_LIMITS))
            )
        else:
            options["backend"] = self.backend
            if self.max_connections is not None:
                options["max_connections"] = self.max_connections
        self._http_client = http_client
        self.client = chatsdk.AsyncChatClient(
            api_key="sk-bench", base_url=base_url, http_client=http_client, **options
        )
        await self.client.__aenter__()

    async def aclose(self) -> None:
        await self.client.__aexit__(None, None, None)
        if self._http_client is not None:
            await self._http_client.aclose()


def sdk_providers() -> tuple[Any, Any]:
    """The OpenTelemetry SDK's tracer and meter providers with a no-op span exporter and an
    in-memory metric reader (spans are built, processed and dropped)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(Discard()))
    return tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()])


def instrument_with_sdk() -> None:
    """``chatsdk.instrument()`` with the OpenTelemetry SDK's providers and a no-op exporter."""
    import chatsdk

    tracer_provider, meter_provider = sdk_providers()
    chatsdk.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)


# --------------------------------------------------------------------------- bare aiohttp


class AiohttpAdapter(Adapter):
    """A bare aiohttp loop: the request by hand, SSE read line by line, ``json.loads``."""

    name = "aiohttp"

    async def open(self, base_url: str) -> None:
        import aiohttp

        limit = self.max_connections or BIG_LIMITS["max_connections"]
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit),
            headers={"Authorization": "Bearer sk-bench"},
            timeout=aiohttp.ClientTimeout(total=TIMEOUT),
        )
        self.url = base_url + "/chat/completions"

    async def aclose(self) -> None:
        await self.session.close()

    async def buffered(self, model: str) -> str:
        async with self.session.post(
            self.url, json={"model": model, "messages": MESSAGES}
        ) as response:
            response.raise_for_status()
            content: str = json.loads(await response.read())["choices"][0]["message"]["content"]
            return content

    async def _stream(
        self, model: str, on_content: Callable[[str], Awaitable[object] | None]
    ) -> None:
        body = {"model": model, "messages": MESSAGES, "stream": True}
        loads = json.loads
        async with self.session.post(self.url, json=body) as response:
            response.raise_for_status()
            async for line in response.content:
                if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                    continue  # read on to the end so the connection goes back to the pool
                choices = loads(line[6:])["choices"]
                if choices:
                    content = choices[0]["delta"].get("content")
                    if content:
                        waiting = on_content(content)
                        if waiting is not None:
                            await waiting

    async def stream_text(self, model: str) -> str:
        parts: list[str] = []
        await self._stream(model, parts.append)
        return "".join(parts)

    async def stream_ttft(self, model: str) -> tuple[float, str]:
        parts: list[str] = []
        first = 0.0
        start = time.perf_counter()

        def on_content(content: str) -> None:
            nonlocal first
            if not parts:
                first = time.perf_counter() - start
            parts.append(content)

        await self._stream(model, on_content)
        return first, "".join(parts)

    async def stream_paused(self, model: str, on_first: OnOpen, release: asyncio.Event) -> str:
        parts: list[str] = []

        def on_content(content: str) -> Awaitable[bool] | None:
            parts.append(content)
            if len(parts) == 1:
                on_first()
                return release.wait()
            return None

        await self._stream(model, on_content)
        return "".join(parts)


# --------------------------------------------------------------------------- registry

DEFAULT_ADAPTERS = ("chatsdk", "chatsdk-aiohttp", "openai", "floor", "aiohttp")

# What ``import`` means for each adapter in the import-time figure.
IMPORTS = {
    "chatsdk": "import chatsdk",
    "chatsdk-h2": "import chatsdk, h2",
    "chatsdk-aiohttp": "import chatsdk, aiohttp",
    "openai": "import openai",
    "floor": "import httpx, httpx_sse, anyio",
    "aiohttp": "import aiohttp",
}

# A cheap availability probe for each adapter family.
PROBES = {
    "chatsdk": "import chatsdk; chatsdk.AsyncChatClient",
    "chatsdk-h2": "import chatsdk, h2, hypercorn",
    "chatsdk-aiohttp": "import chatsdk, aiohttp",
    "openai": "import openai; openai.AsyncOpenAI",
    "floor": "import httpx, httpx_sse, anyio",
    "aiohttp": "import aiohttp",
}


def family(name: str) -> str:
    if name in PROBES:
        return name
    fam = name.split("-", 1)[0]
    return "chatsdk-aiohttp" if fam == "chatsdk" and name.endswith("-aiohttp") else fam


def make_adapter(name: str) -> Adapter:
    if name == "floor":
        return FloorAdapter(name)
    if name == "floor-httpx-defaults":
        return FloorAdapter(name, limits={"max_connections": 100, "max_keepalive_connections": 20})
    if name.startswith("floor-limits-"):
        n = int(name.rsplit("-", 1)[1])
        return FloorAdapter(name, limits={"max_connections": n, "max_keepalive_connections": n})
    if name in ("floor-fastpool", "floor-httpcore2", "floor-aiohttp"):
        return FloorAdapter(name, transport=name.split("-", 1)[1])
    if name == "openai":
        return OpenAIAdapter()
    if name == "chatsdk":
        return ChatsdkAdapter()
    if name == "chatsdk-otel":
        return ChatsdkAdapter(name, otel=True)
    if name in ("chatsdk-default", "chatsdk-httpcore2", "chatsdk-h2"):
        return ChatsdkAdapter(name, transport=name.split("-", 1)[1])
    if name == "chatsdk-aiohttp":
        return ChatsdkAdapter(name, backend="aiohttp")
    if name == "aiohttp":
        return AiohttpAdapter()
    raise ValueError(f"unknown adapter {name!r}")


Runner = Callable[[Adapter], Awaitable[dict[str, float]]]
