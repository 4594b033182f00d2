"""OpenTelemetry GenAI spans and metrics for each call, once :func:`instrument` switches them on.

Off (the default) a call costs one test of a module global. On, each chat call gets one span
(``chat {model}``, kind CLIENT) named and filled as OpenTelemetry's GenAI semantic conventions say,
and four histograms are recorded. A stream's span covers the whole stream and ends wherever the
stream ends: done, ``break``, ``aclose()``, an error or cancellation. Per chunk, only a counter
moves; ``time_per_output_chunk`` is recorded once per stream, as the mean gap between chunks.

opentelemetry-api is the optional dependency ``chatsdk[otel]``; it is imported by
:func:`instrument`, never by ``import chatsdk``.

Example::

    chatsdk.instrument()            # the global tracer and meter providers
    chatsdk.uninstrument()          # off again
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from . import _json

__all__ = [
    "ChatTrace",
    "instrument",
    "instruments",
    "mark_failed",
    "qualified_name",
    "start_chat",
    "uninstrument",
]

# The conventions' recommended bucket boundaries: seconds for the three durations, tokens for
# the token counts (ExplicitBucketBoundaries in the GenAI metrics conventions).
SECONDS_BUCKETS = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
TOKEN_BUCKETS = tuple(4**i for i in range(14))  # 1, 4, 16, ... 67,108,864
# The conventions' opt-in for recording prompts and answers; read when instrument() is called.
CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
# Request parameters recorded on the span, as the conventions name them.
_REQUEST_ATTRIBUTES = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
    "n": "gen_ai.request.choice.count",
}
# gen_ai.provider.name by the API's host; any other server speaks OpenAI's API and is "openai".
_PROVIDERS = {
    "api.deepseek.com": "deepseek",
    "api.groq.com": "groq",
    "api.mistral.ai": "mistral_ai",
    "api.x.ai": "x_ai",
    "api.perplexity.ai": "perplexity",
    "generativelanguage.googleapis.com": "gcp.gemini",
}


class _Instruments:
    """The tracer and histograms in use while instrumented."""

    def __init__(self, tracer_provider: Any, meter_provider: Any) -> None:
        from opentelemetry import context, metrics, trace

        from ._version import __version__

        self.trace = trace
        self.context = context
        self.tracer = trace.get_tracer("chatsdk", __version__, tracer_provider)
        meter = metrics.get_meter("chatsdk", __version__, meter_provider)

        def histogram(name: str, unit: str, description: str, buckets: tuple[float, ...]) -> Any:
            return meter.create_histogram(
                name,
                unit=unit,
                description=description,
                explicit_bucket_boundaries_advisory=list(buckets),
            )

        self.duration = histogram(
            "gen_ai.client.operation.duration", "s", "GenAI operation duration.", SECONDS_BUCKETS
        )
        self.tokens = histogram(
            "gen_ai.client.token.usage",
            "{token}",
            "Number of input and output tokens used.",
            TOKEN_BUCKETS,
        )
        self.first_chunk = histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            "s",
            "Time from sending the request to the first chunk of a streamed answer.",
            SECONDS_BUCKETS,
        )
        self.per_chunk = histogram(
            "gen_ai.client.operation.time_per_output_chunk",
            "s",
            "Mean time between the chunks of a streamed answer after the first.",
            SECONDS_BUCKETS,
        )
        self.capture_content = os.environ.get(CAPTURE_ENV, "").strip().lower() == "true"


_instruments: _Instruments | None = None


def instrument(*, tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Record an OpenTelemetry span and GenAI metrics for every call of every client.

    ``tracer_provider`` and ``meter_provider`` default to OpenTelemetry's global providers.
    Calling it again replaces the providers; a client made with ``telemetry=False`` is never
    recorded. Prompts and answers are recorded only when the environment variable
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is ``true`` when this is called; the
    API key and headers never are. Needs ``pip install 'chatsdk[otel]'``.

    Example::

        from opentelemetry.sdk.trace import TracerProvider

        chatsdk.instrument(tracer_provider=TracerProvider())
    """
    global _instruments
    try:
        _instruments = _Instruments(tracer_provider, meter_provider)
    except ImportError as exc:
        raise ImportError(
            "chatsdk.instrument() needs the OpenTelemetry API: pip install 'chatsdk[otel]'"
        ) from exc


def uninstrument() -> None:
    """Stop recording spans and metrics; calls already started finish their spans.

    Example::

        chatsdk.uninstrument()
    """
    global _instruments
    _instruments = None


def instruments() -> _Instruments | None:
    """The tracer and histograms in use, or ``None`` when not instrumented."""
    return _instruments


def start_chat(url: Any, body: Mapping[str, Any], clock: Callable[[], float]) -> ChatTrace | None:
    """The span of a chat call about to be sent to ``url``, or ``None`` when not instrumented."""
    instruments = _instruments
    if instruments is None:
        return None
    return ChatTrace(instruments, url, body, clock)


def _message_parts(message: Mapping[str, Any]) -> dict[str, Any]:
    """An API message as the conventions' message: its role and a list of typed parts."""
    parts: list[dict[str, Any]] = []
    content = message.get("content")
    if message.get("role") == "tool":
        parts.append(
            {"type": "tool_call_response", "id": message.get("tool_call_id"), "response": content}
        )
    elif isinstance(content, str):
        parts.append({"type": "text", "content": content})
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                parts.append({"type": "text", "content": part.get("text")})
            elif isinstance(part, dict):
                parts.append({"type": str(part.get("type"))})  # images and files: their kind only
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": function.get("arguments"),
                }
            )
    return {"role": message.get("role"), "parts": parts}


def mark_failed(span: Any, error: BaseException | str, description: str = "") -> str:
    """Give ``span`` the ERROR status and ``error.type``: an exception's qualified class name,
    or ``error`` itself when it is a name already; returns that type."""
    from opentelemetry import trace  # loaded by instrument() before any span exists

    error_type = error if isinstance(error, str) else qualified_name(error)
    span.set_attribute("error.type", error_type)
    span.set_status(trace.Status(trace.StatusCode.ERROR, description or str(error) or error_type))
    return error_type


def qualified_name(exc: BaseException) -> str:
    cls = type(exc)
    module = "chatsdk" if cls.__module__.startswith("chatsdk.") else cls.__module__
    return f"{module}.{cls.__qualname__}"


class ChatTrace:
    """One call's span and the measurements its metrics are recorded from."""

    __slots__ = (
        "_clock",
        "_ended",
        "_first_at",
        "_instruments",
        "_started",
        "chunks",
        "metric",
        "span",
    )

    def __init__(
        self,
        instruments: _Instruments,
        url: Any,
        body: Mapping[str, Any],
        clock: Callable[[], float],
    ) -> None:
        model = body.get("model")
        self._instruments = instruments
        self._clock = clock
        host = url.host
        provider = _PROVIDERS.get(host)
        if provider is None:
            provider = "azure.ai.openai" if host.endswith(".openai.azure.com") else "openai"
        self.metric: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "server.address": host,
            "server.port": url.port or (443 if url.scheme == "https" else 80),
        }
        attributes = dict(self.metric)
        for name, value in body.items():  # a body has a few keys; the table has eight
            key = _REQUEST_ATTRIBUTES.get(name)
            if key is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                attributes[key] = value
        stop = body.get("stop")
        if isinstance(stop, str):
            attributes["gen_ai.request.stop_sequences"] = [stop]
        elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
            attributes["gen_ai.request.stop_sequences"] = stop
        if instruments.capture_content and isinstance(body.get("messages"), list):
            attributes["gen_ai.input.messages"] = _json.dumps(
                [_message_parts(m) for m in body["messages"] if isinstance(m, dict)]
            )
        kind = instruments.trace.SpanKind.CLIENT
        self.span = instruments.tracer.start_span(f"chat {model}", kind=kind, attributes=attributes)
        self._started = clock()
        self._first_at: float | None = None
        self._ended = False
        self.chunks = 0

    def activate(self) -> object:
        """Make this span the current one (for spans of the HTTP layer); returns the token
        :meth:`deactivate` takes."""
        instruments = self._instruments
        return instruments.context.attach(instruments.trace.set_span_in_context(self.span))

    def deactivate(self, token: object) -> None:
        """Make the span that was current before :meth:`activate` current again."""
        self._instruments.context.detach(token)

    def chunk(self) -> None:
        """One chunk of a stream arrived."""
        self.chunks += 1
        if self._first_at is None:
            self._first_at = self._clock()

    def retry(self, attempt: int, error: BaseException, delay: float) -> None:
        """Attempt ``attempt`` failed with ``error`` and the call waits ``delay`` s to retry."""
        attributes: dict[str, Any] = {
            "chatsdk.attempt": attempt,
            "error.type": qualified_name(error),
            "chatsdk.retry.delay": delay,
        }
        status = getattr(error, "status_code", None)
        if isinstance(status, int):
            attributes["http.response.status_code"] = status
        self.span.add_event("chatsdk.retry", attributes)
        # What a stream's failed attempt sent is dropped: time to first chunk is the answer's.
        self._first_at = None
        self.chunks = 0

    def succeed(self, reply: Mapping[str, Any], attempts: int) -> None:
        """The call ended with ``reply`` (a completion, or what a stream folded into one)."""
        self._end(reply, None, attempts)

    def fail(
        self, error: BaseException, attempts: int, partial: Mapping[str, Any] | None = None
    ) -> None:
        """The call ended with ``error``; ``partial`` is what a stream had folded by then."""
        self._end(partial, error, attempts)

    def _end(
        self, reply: Mapping[str, Any] | None, error: BaseException | None, attempts: int
    ) -> None:
        if self._ended:
            return
        self._ended = True
        now = self._clock()
        span, metric, instruments = self.span, self.metric, self._instruments
        # Gathered, then set in one call: the SDK checks each attribute it is given.
        ended: dict[str, Any] = {"chatsdk.attempts": attempts}
        usage = self._read_reply(reply, ended) if reply else None
        if error is not None:
            metric["error.type"] = mark_failed(span, error)
        if self._first_at is not None:
            ended["gen_ai.response.time_to_first_chunk"] = self._first_at - self._started
        counts = []
        if type(usage) is dict:
            for kind, key in (("input", "prompt_tokens"), ("output", "completion_tokens")):
                count = usage.get(key)
                if type(count) is int:
                    ended[f"gen_ai.usage.{kind}_tokens"] = count
                    counts.append((count, kind))
        span.set_attributes(ended)
        span.end()
        instruments.duration.record(now - self._started, metric)
        for count, kind in counts:
            instruments.tokens.record(count, {**metric, "gen_ai.token.type": kind})
        if self._first_at is not None:
            instruments.first_chunk.record(self._first_at - self._started, metric)
            if self.chunks > 1:
                instruments.per_chunk.record((now - self._first_at) / (self.chunks - 1), metric)

    def _read_reply(self, reply: Mapping[str, Any], ended: dict[str, Any]) -> Any:
        """Put the reply's model, id, finish reasons (and content, if opted in) in ``ended``;
        return its ``usage``."""
        model = reply.get("model")
        if isinstance(model, str) and model:
            self.metric["gen_ai.response.model"] = ended["gen_ai.response.model"] = model
        reply_id = reply.get("id")
        if isinstance(reply_id, str) and reply_id:
            ended["gen_ai.response.id"] = reply_id
        choices = reply.get("choices")
        if isinstance(choices, list):
            reasons = [c.get("finish_reason") for c in choices if isinstance(c, dict)]
            if reasons and all(isinstance(r, str) for r in reasons):
                ended["gen_ai.response.finish_reasons"] = reasons
            if self._instruments.capture_content:
                messages = [
                    {**_message_parts(c["message"]), "finish_reason": c.get("finish_reason")}
                    for c in choices
                    if isinstance(c, dict) and isinstance(c.get("message"), dict)
                ]
                ended["gen_ai.output.messages"] = _json.dumps(messages)
        return reply.get("usage")
