"""What the OpenTelemetry SDK itself costs for the work one traced chat call gives it.

``python benchmarks/run.py`` prints this beside the otel on/off ratio when the ``chatsdk-otel``
adapter runs: one chat call goes through ``chatsdk`` (over MockTransport) with the benchmark's
SDK providers; the attributes of its finished span and of its metric points are captured; then
those exact SDK calls (start a span with every attribute, end it, one histogram record per
point) are replayed in a loop without chatsdk. The figure is the least any instrumentation
that records the same span and metrics can add to a call, on the SDK version installed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

# Replays per timing and timings per figure (the least is kept: noise only adds time).
CALLS = 5_000
TIMINGS = 5


def _one_call_recorded() -> tuple[Any, list[tuple[str, float, dict[str, Any]]]]:
    """The finished span and (histogram, value, attributes) of one buffered chat call."""
    import httpx
    from client import BUFFERED_K
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from payload import completion_body

    import chatsdk

    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    chatsdk.instrument(tracer_provider=tracer_provider, meter_provider=MeterProvider([reader]))
    reply = completion_body(BUFFERED_K)

    async def call() -> None:
        transport = httpx.MockTransport(lambda request: httpx.Response(200, content=reply))
        async with chatsdk.AsyncChatClient(
            api_key="sk-bench",
            base_url="http://127.0.0.1:8000/v1",
            http_client=httpx.AsyncClient(transport=transport),
        ) as client:
            await client.chat.completions.create(
                model=f"bench-k{BUFFERED_K}", messages=[{"role": "user", "content": "hi"}]
            )

    try:
        asyncio.run(call())
    finally:
        chatsdk.uninstrument()
    (span,) = spans.get_finished_spans()
    records = []
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    assert isinstance(point, HistogramDataPoint)  # chatsdk records histograms only
                    attributes = dict(point.attributes or {})
                    records.append((metric.name, point.sum / point.count, attributes))
    return span, records


def sdk_cost(calls: int = CALLS, timings: int = TIMINGS) -> dict[str, Any]:
    """µs of SDK work per traced buffered call, and the SDK's version."""
    from importlib.metadata import version

    from adapters import sdk_providers
    from opentelemetry.trace import SpanKind

    span, records = _one_call_recorded()
    tracer_provider, meter_provider = sdk_providers()
    tracer = tracer_provider.get_tracer("floor")
    meter = meter_provider.get_meter("floor")
    histograms = {name: meter.create_histogram(name) for name in {r[0] for r in records}}
    replay = [(histograms[name], value, attributes) for name, value, attributes in records]
    name, attributes = span.name, dict(span.attributes or {})

    def once() -> None:
        tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes).end()
        for histogram, value, point_attributes in replay:
            histogram.record(value, point_attributes)

    for _ in range(calls // 10):
        once()
    best = float("inf")
    for _ in range(timings):
        started = time.process_time()
        for _ in range(calls):
            once()
        best = min(best, (time.process_time() - started) / calls * 1e6)
    return {
        "sdk_version": version("opentelemetry-sdk"),
        "us_per_call": best,
        "span_attributes": len(attributes),
        "records": len(replay),
    }
