"""OpenTelemetry: one finished span per call, the GenAI attributes and metrics, nothing when off.

Spans and metrics are read with the OpenTelemetry SDK's in-memory exporter and reader, against
the local test server; the figures that depend on time are read off trio's virtual clock.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import pytest
import trio
import trio.testing
from helpers import MESSAGES, chunk, completion, mock_client, sse
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from test_tools import Script, add, call, calls_reply

import chatsdk
from chatsdk.testing import Faults, serve

pytestmark = pytest.mark.anyio

KEY = "sk-telemetry-0123456789SECRET"
FAST = chatsdk.RetryPolicy(initial_delay=0, max_delay=0)
GUARD = 10  # seconds: a hang guard only


class Recorded:
    """What the SDK received: finished spans and metric points."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    @property
    def spans(self) -> tuple[ReadableSpan, ...]:
        return tuple(self.exporter.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found += metric.data.data_points
        return found


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorded]:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    found = Recorded()
    chatsdk.instrument(tracer_provider=found.tracer_provider, meter_provider=found.meter_provider)
    yield found
    chatsdk.uninstrument()


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def only_span(found: Recorded) -> ReadableSpan:
    assert len(found.spans) == 1, [s.name for s in found.spans]
    return found.spans[0]


def assert_no_key_anywhere(found: Recorded) -> None:
    for span in found.spans:
        shown = json.dumps(attributes(span), default=str)
        shown += json.dumps([dict(e.attributes or {}) for e in span.events], default=str)
        assert KEY not in shown and KEY not in str(span.status.description)


async def test_a_buffered_call_is_one_client_span_with_the_request_and_reply(
    recorded: Recorded,
) -> None:
    async with serve() as server:
        port = server.port
        async with server.client(api_key=KEY) as client:
            reply = await client.chat.completions.create(
                model="m",
                messages=MESSAGES,
                temperature=0.5,
                top_p=0.9,
                max_tokens=50,
                stop=["END"],
                seed=7,
                n=1,
                presence_penalty=0.1,
                frequency_penalty=0.2,
            )
    span = only_span(recorded)
    assert span.name == "chat m" and span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    usage = reply.usage
    assert usage is not None
    assert attributes(span) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "m",
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 50,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.request.seed": 7,
        "gen_ai.request.choice.count": 1,
        "gen_ai.request.presence_penalty": 0.1,
        "gen_ai.request.frequency_penalty": 0.2,
        "gen_ai.response.model": reply.model,
        "gen_ai.response.id": reply.id,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
        "server.address": "127.0.0.1",
        "server.port": port,
        "chatsdk.attempts": 1,
    }
    [duration] = recorded.points("gen_ai.client.operation.duration")
    assert duration.count == 1 and "error.type" not in duration.attributes
    tokens = {
        p.attributes["gen_ai.token.type"]: p.sum
        for p in recorded.points("gen_ai.client.token.usage")
    }
    assert tokens == {"input": usage.prompt_tokens, "output": usage.completion_tokens}
    assert recorded.points("gen_ai.client.operation.time_to_first_chunk") == []
    assert_no_key_anywhere(recorded)


async def test_a_stream_read_to_its_end_is_one_span_with_time_to_first_chunk(
    recorded: Recorded,
) -> None:
    async with serve() as server:
        async with server.client() as client:
            stream = await client.chat.completions.create(
                model="m",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
            assert recorded.spans == ()  # open while the stream is
            reply = await stream.final()
    span = only_span(recorded)
    found = attributes(span)
    assert found["gen_ai.response.finish_reasons"] == ("stop",)
    assert found["gen_ai.response.id"] == reply.id
    assert reply.usage is not None
    assert found["gen_ai.usage.output_tokens"] == reply.usage.completion_tokens
    assert found["gen_ai.response.time_to_first_chunk"] > 0
    assert [p.count for p in recorded.points("gen_ai.client.operation.time_to_first_chunk")] == [1]
    assert [p.count for p in recorded.points("gen_ai.client.operation.time_per_output_chunk")] == [
        1
    ]


async def test_a_stream_broken_off_ends_its_span_without_an_error(recorded: Recorded) -> None:
    async with serve() as server:
        async with server.client() as client:
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            async with stream:
                async for _ in stream.text():
                    break
            assert len(recorded.spans) == 1  # ended by the close, not later
            await stream.aclose()
    span = only_span(recorded)
    assert span.status.status_code is StatusCode.UNSET
    assert "gen_ai.response.finish_reasons" not in attributes(span)


async def test_a_retried_call_shows_each_retry_as_an_event(recorded: Recorded) -> None:
    async with serve(faults=Faults(status=503, retry_after=0, times=1)) as server:
        async with server.client(retry=FAST) as client:
            await client.chat.completions.create(model="m", messages=MESSAGES)
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            await stream.final()
    assert len(recorded.spans) == 2
    buffered = recorded.spans[0]
    assert attributes(buffered)["chatsdk.attempts"] == 2
    [event] = buffered.events
    assert event.name == "chatsdk.retry"
    assert dict(event.attributes or {}) == {
        "chatsdk.attempt": 1,
        "error.type": "chatsdk.InternalServerError",
        "chatsdk.retry.delay": 0.0,
        "http.response.status_code": 503,
    }
    assert buffered.status.status_code is StatusCode.UNSET
    assert attributes(recorded.spans[1])["chatsdk.attempts"] == 1


async def test_a_failed_call_has_error_status_and_type(recorded: Recorded) -> None:
    async with serve(faults=Faults(status=400)) as server:
        async with server.client(api_key=KEY, retry=FAST) as client:
            with pytest.raises(chatsdk.BadRequestError):
                await client.chat.completions.create(model="m", messages=MESSAGES)
    span = only_span(recorded)
    assert span.status.status_code is StatusCode.ERROR
    assert attributes(span)["error.type"] == "chatsdk.BadRequestError"
    [duration] = recorded.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "chatsdk.BadRequestError"
    assert_no_key_anywhere(recorded)


async def test_a_stream_error_after_its_first_token_ends_the_span_as_failed(
    recorded: Recorded,
) -> None:
    async with serve(faults=Faults(disconnect_after=3)) as server:
        async with server.client(retry=FAST) as client:
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            with pytest.raises(chatsdk.StreamError):
                await stream.final()
    span = only_span(recorded)
    assert span.status.status_code is StatusCode.ERROR
    assert attributes(span)["error.type"] == "chatsdk.StreamError"


async def test_a_cancelled_stream_ends_its_span(recorded: Recorded) -> None:
    async with serve(faults=Faults(stall_after=2, stall_for=30)) as server:
        async with server.client() as client:
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            with anyio.fail_after(GUARD), anyio.CancelScope() as scope:
                async with stream:
                    async for _ in stream:
                        scope.cancel()  # the next read, waiting on the stalled body, is cancelled
    span = only_span(recorded)
    assert span.status.status_code is StatusCode.ERROR
    assert "Cancel" in attributes(span)["error.type"]


async def test_content_is_recorded_only_when_opted_in(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve() as server:
        async with server.client(api_key=KEY) as client:
            await client.chat.completions.create(model="m", messages=MESSAGES)
            assert "gen_ai.input.messages" not in attributes(recorded.spans[0])
            assert "gen_ai.output.messages" not in attributes(recorded.spans[0])
            monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
            chatsdk.instrument(
                tracer_provider=recorded.tracer_provider, meter_provider=recorded.meter_provider
            )
            reply = await client.chat.completions.create(model="m", messages=MESSAGES)
    found = attributes(recorded.spans[1])
    assert json.loads(found["gen_ai.input.messages"]) == [
        {"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]} for m in MESSAGES
    ]
    assert json.loads(found["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": reply.choices[0].message.content}],
            "finish_reason": "stop",
        }
    ]
    assert_no_key_anywhere(recorded)


async def test_a_client_with_telemetry_off_and_uninstrument_record_nothing(
    recorded: Recorded,
) -> None:
    async with serve() as server:
        async with server.client(telemetry=False) as client:
            await client.chat.completions.create(model="m", messages=MESSAGES)
        chatsdk.uninstrument()
        async with server.client() as client:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    assert recorded.spans == ()
    assert recorded.points("gen_ai.client.operation.duration") == []
    with pytest.raises(TypeError, match="telemetry"):
        chatsdk.AsyncChatClient(base_url="http://127.0.0.1:9/v1", telemetry="no")  # type: ignore[arg-type]


async def test_with_options_turns_telemetry_off_or_on_for_the_derived_client_only(
    recorded: Recorded,
) -> None:
    async with serve() as server, server.client() as client:
        quiet = client.with_options(telemetry=False)
        await quiet.chat.completions.create(model="quiet", messages=MESSAGES)
        await client.chat.completions.create(model="traced", messages=MESSAGES)
        loud = quiet.with_options(telemetry=True)
        await loud.chat.completions.create(model="loud", messages=MESSAGES)
        with pytest.raises(TypeError, match="telemetry must be True or False, not str"):
            client.with_options(telemetry="off")  # type: ignore[arg-type]
    assert [span.name for span in recorded.spans] == ["chat traced", "chat loud"]


async def test_spans_alone_with_a_no_op_meter_provider(recorded: Recorded) -> None:
    from opentelemetry.metrics import NoOpMeterProvider

    chatsdk.instrument(tracer_provider=recorded.tracer_provider, meter_provider=NoOpMeterProvider())
    async with serve() as server, server.client() as client:
        await client.chat.completions.create(model="m", messages=MESSAGES)
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            await stream.final()
    assert [span.name for span in recorded.spans] == ["chat m", "chat m"]
    assert recorded.points("gen_ai.client.operation.duration") == []


def test_import_chatsdk_does_not_import_opentelemetry() -> None:
    code = "import sys, chatsdk; print(any(m.startswith('opentelemetry') for m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# -- figures read off a virtual clock ---------------------------------------------------------


class Paced(httpx.AsyncByteStream):
    """A stream body whose pieces arrive after set (virtual) waits."""

    def __init__(self, waits: list[float]) -> None:
        self.waits = waits

    async def __aiter__(self) -> AsyncIterator[bytes]:
        pieces = [
            chunk("", role="assistant"),
            *[chunk(f"w{i} ") for i in range(len(self.waits) - 2)],
        ]
        pieces.append(chunk(None, finish_reason="stop"))
        for wait, piece in zip(self.waits, pieces, strict=True):
            await trio.sleep(wait)
            yield sse(piece, done=False)
        yield b"data: [DONE]\n\n"


@pytest.mark.parametrize(
    "anyio_backend", [("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})]
)
async def test_time_to_first_chunk_and_per_chunk_are_the_virtual_waits(recorded: Recorded) -> None:
    waits = [1.5, 0.25, 0.25, 0.5]  # first chunk at 1.5 s, then three more over 1 s

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=Paced(waits)
        )

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with chatsdk.AsyncChatClient(
        api_key=KEY, base_url="http://api.test/v1", http_client=http
    ) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        await stream.final()
    span = only_span(recorded)
    assert attributes(span)["gen_ai.response.time_to_first_chunk"] == 1.5
    [first] = recorded.points("gen_ai.client.operation.time_to_first_chunk")
    assert first.sum == 1.5
    [per_chunk] = recorded.points("gen_ai.client.operation.time_per_output_chunk")
    assert per_chunk.sum == pytest.approx(1.0 / 3)
    [duration] = recorded.points("gen_ai.client.operation.duration")
    assert duration.sum == pytest.approx(2.5)
    assert attributes(span)["server.address"] == "api.test"
    assert attributes(span)["server.port"] == 80


# -- spans that hold calls: a tool loop ------------------------------------------------------


def boom(city: str) -> str:
    """Always fails."""
    raise RuntimeError(f"no weather for {city}")


def tool_loop_script() -> Script:
    return Script(
        calls_reply(call("c1", "add", {"a": 2, "b": 3}), call("c2", "boom", {"city": "Oslo"})),
        completion("5; no weather."),
    )


def hierarchy(found: Recorded) -> dict[str, list[str]]:
    """Each span's name with the names of its children, by parent span id."""
    by_id = {span.context.span_id: span for span in found.spans if span.context}
    children: dict[str, list[str]] = {span.name: [] for span in found.spans}
    for span in found.spans:
        if span.parent is not None:
            children[by_id[span.parent.span_id].name].append(span.name)
    return {name: sorted(names) for name, names in children.items()}


async def test_run_tools_is_one_agent_span_holding_its_calls_and_tools(
    recorded: Recorded,
) -> None:
    async with mock_client(tool_loop_script()) as client:
        run = await client.chat.completions.run_tools(
            model="m", messages=MESSAGES, tools=[add, boom]
        )
    assert run.rounds == 2
    assert hierarchy(recorded)["invoke_agent chatsdk.run_tools"] == [
        "chat m",
        "chat m",
        "execute_tool add",
        "execute_tool boom",
    ]
    spans = {span.name: span for span in recorded.spans}
    agent = attributes(spans["invoke_agent chatsdk.run_tools"])
    assert agent["gen_ai.operation.name"] == "invoke_agent"
    assert agent["chatsdk.rounds"] == 2 and agent["chatsdk.tools"] == ("add", "boom")
    assert spans["invoke_agent chatsdk.run_tools"].status.status_code is StatusCode.UNSET
    added = attributes(spans["execute_tool add"])
    assert added == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "add",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.call.id": "c1",
    }
    failed = spans["execute_tool boom"]
    assert failed.status.status_code is StatusCode.ERROR
    assert attributes(failed)["error.type"] == "builtins.RuntimeError"
    assert "gen_ai.tool.call.arguments" not in attributes(failed)  # content not opted in


async def test_tool_arguments_and_results_are_recorded_only_when_opted_in(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    chatsdk.instrument(
        tracer_provider=recorded.tracer_provider, meter_provider=recorded.meter_provider
    )
    async with mock_client(tool_loop_script()) as client:
        await client.chat.completions.run_tools(model="m", messages=MESSAGES, tools=[add, boom])
    added = attributes({s.name: s for s in recorded.spans}["execute_tool add"])
    assert json.loads(added["gen_ai.tool.call.arguments"]) == {"a": 2, "b": 3}
    assert added["gen_ai.tool.call.result"] == "5"


async def test_stream_tools_left_early_ends_its_agent_span(recorded: Recorded) -> None:
    async with mock_client(tool_loop_script()) as client:
        async with client.chat.completions.stream_tools(
            model="m", messages=MESSAGES, tools=[add, boom]
        ) as run:
            async for event in run:
                if event.type == "tool.result":
                    break
    names = sorted(span.name for span in recorded.spans)
    assert names == [
        "chat m",
        "execute_tool add",
        "execute_tool boom",
        "invoke_agent chatsdk.run_tools",
    ]
    assert hierarchy(recorded)["invoke_agent chatsdk.run_tools"] == [
        "chat m",
        "execute_tool add",
        "execute_tool boom",
    ]
    agent = {s.name: s for s in recorded.spans}["invoke_agent chatsdk.run_tools"]
    assert agent.status.status_code is StatusCode.UNSET  # left by its reader, not failed


# -- spans that hold calls: a batch ----------------------------------------------------------


def batch_line(i: int) -> dict[str, Any]:
    return {
        "custom_id": f"r{i}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "m", "messages": [{"role": "user", "content": f"n{i}"}]},
    }


async def test_a_batch_is_one_span_holding_every_call(recorded: Recorded) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if b'"n1"' in request.content:
            return httpx.Response(400, json={"error": {"message": "no", "type": "bad"}})
        return httpx.Response(200, json=completion("ok"))

    async with mock_client(handler) as client:
        requests = [batch_line(i) for i in range(4)]
        async with chatsdk.run_batch(client, requests, concurrency=2) as results:
            got = [result async for result in results]
    assert len(got) == 4
    assert hierarchy(recorded)["chatsdk.batch"] == ["chat m"] * 4
    batch = {s.name: s for s in recorded.spans}["chatsdk.batch"]
    assert attributes(batch) == {
        "chatsdk.batch.concurrency": 2,
        "chatsdk.batch.answered": 3,
        "chatsdk.batch.failed": 1,
    }
    assert batch.status.status_code is StatusCode.UNSET
