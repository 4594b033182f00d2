"""chatsdk: a small, fast async client for OpenAI-style Chat Completions APIs.

Example::

    import chatsdk

    async with chatsdk.AsyncChatClient() as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello!"}], stream=True
        )
        async with stream:
            async for text in stream.text():
                print(text, end="", flush=True)

The package is layered; each module imports only from the layers below it, never up, never in a
cycle (a test walks the imports), and every module's docstring says its one job::

    layer 3  __init__ (this namespace) · _cli/ (the chatsdk command, one module per command)
             _azure         AsyncAzureChatClient: Azure's addresses, api-version, credentials
             _client        AsyncChatClient: settings, headers, the pool; starts calls;
                            with_options() shares the pool
             _completions   client.chat.completions: builds the request, wraps the reply
             _tool_runner   run_tools()/stream_tools(): ask, run the tools called, repeat
             _model_list    client.models: GET /models, its answer typed
             _batch         run_batch: many requests at a bounded concurrency, results as
                            they finish
    layer 2  _streaming     AsyncChatStream: decodes and folds the events of its reply
             _parsed_stream AsyncParsedChatStream: a structured answer's stream, final() typed
             _reader        one attempt's body as events: framed, idle-bounded, drained
             _call          one call's life: send, retry, wait, deadline, read; httpx ends here
             _gate          a client's concurrency slots and rate limiter; a call's ticket
             _loops         which event loop is running (asyncio's or trio's)
             _telemetry     a call's OpenTelemetry span and metrics, once instrument() is on
             _operations    the spans that hold calls: a tool loop, a tool's run
             _body          a reply's body read within a cap, inflated in bounded steps
             _pool          the HTTP transport a client makes for itself
             _aiohttp       backend="aiohttp": an httpx transport over aiohttp (lazily imported)
    layer 1  _sse (bytes -> events) · _events (event -> chunk | end | error; error bodies)
    (pure)   · _batch_format (Batch API input and output lines, shards) · _shapes (a chunk's
             or reply's fields checked) · _inflate (Content-Encoding undone in bounded steps)
             · _accumulate (chunks -> reply) · _models, _view (views over JSON; a reply's
             message -> its param) · _model_info (views of GET /models) · _messages (message
             params, TypedDicts) · _params (request body) · _options (settings checked)
             · _settings (URL, headers, hints) · _retry (RetryPolicy) · _exceptions (the error
             tree) · _json (the one JSON helper) · _logging · _stream_events (chunks -> typed
             events) · _event_types (the events) · _structured (response_format, strict
             schemas, parsing) · _parsed (parsed replies) · _tools (functions -> strict tool
             definitions) · _limits (RateLimit, token buckets, x-ratelimit-*
             headers) · _metrics (a stream's figures) · _text (stream.text())

Where a change goes: a new endpoint is a resource module in layer 3 that builds a request and
hands it to a call (like ``_completions``); a new retry rule goes in ``_retry``; a new server quirk
in ``_events`` or ``_accumulate``, with its literal bytes as the test; a new stream feature in
``_streaming``, fed by a pure module below it.
"""

from ._azure import AsyncAzureChatClient
from ._batch import BatchRun, run_batch
from ._batch_format import (
    BatchInputError,
    BatchRequest,
    BatchResult,
    batch_shard_of,
    parse_batch_requests,
)
from ._client import AsyncChatClient
from ._completions import Chat, Completions
from ._event_types import (
    ChoiceDoneEvent,
    ContentDeltaEvent,
    ContentDoneEvent,
    ReasoningDeltaEvent,
    ReasoningDoneEvent,
    RefusalDeltaEvent,
    RefusalDoneEvent,
    StreamEvent,
    ToolArgumentsDeltaEvent,
    ToolArgumentsDoneEvent,
    ToolResultEvent,
    UsageEvent,
)
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    OutputParseError,
    PermissionDeniedError,
    RateLimitError,
    StreamError,
    ToolRoundsError,
    UnprocessableEntityError,
)
from ._limits import RateLimit
from ._messages import (
    AssistantMessageParam,
    ContentPartParam,
    DeveloperMessageParam,
    FileContentPartParam,
    ImageContentPartParam,
    InputAudioContentPartParam,
    RefusalContentPartParam,
    SystemMessageParam,
    TextContentPartParam,
    ToolCallParam,
    ToolMessageParam,
    UserMessageParam,
)
from ._metrics import StreamMetrics
from ._model_info import ModelInfo, ModelList
from ._model_list import Models
from ._models import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    Choice,
    ChoiceDelta,
    ChunkChoice,
    CompletionUsage,
    FunctionCall,
    ToolCall,
)
from ._params import CreateParams, MessageParam
from ._parsed import ParsedChatCompletion, ParsedChatCompletionMessage, ParsedChoice
from ._parsed_stream import AsyncParsedChatStream
from ._retry import RetryPolicy
from ._streaming import AsyncChatStream
from ._telemetry import instrument, uninstrument
from ._tool_runner import ToolRunCompletion, ToolRunStream
from ._tools import FunctionTool, function_tool
from ._version import __version__
from ._view import Model

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AssistantMessageParam",
    "AsyncAzureChatClient",
    "AsyncChatClient",
    "AsyncChatStream",
    "AsyncParsedChatStream",
    "AuthenticationError",
    "BadRequestError",
    "BatchInputError",
    "BatchRequest",
    "BatchResult",
    "BatchRun",
    "Chat",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "Choice",
    "ChoiceDelta",
    "ChoiceDoneEvent",
    "ChunkChoice",
    "CompletionUsage",
    "Completions",
    "ConflictError",
    "ContentDeltaEvent",
    "ContentDoneEvent",
    "ContentPartParam",
    "CreateParams",
    "DeveloperMessageParam",
    "FileContentPartParam",
    "FunctionCall",
    "FunctionTool",
    "ImageContentPartParam",
    "InputAudioContentPartParam",
    "InternalServerError",
    "MessageParam",
    "Model",
    "ModelInfo",
    "ModelList",
    "Models",
    "NotFoundError",
    "OutputParseError",
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "ReasoningDeltaEvent",
    "ReasoningDoneEvent",
    "RefusalContentPartParam",
    "RefusalDeltaEvent",
    "RefusalDoneEvent",
    "RetryPolicy",
    "StreamError",
    "StreamEvent",
    "StreamMetrics",
    "SystemMessageParam",
    "TextContentPartParam",
    "ToolArgumentsDeltaEvent",
    "ToolArgumentsDoneEvent",
    "ToolCall",
    "ToolCallParam",
    "ToolMessageParam",
    "ToolResultEvent",
    "ToolRoundsError",
    "ToolRunCompletion",
    "ToolRunStream",
    "UnprocessableEntityError",
    "UsageEvent",
    "UserMessageParam",
    "__version__",
    "batch_shard_of",
    "parse_batch_requests",
    "run_batch",
    "function_tool",
    "instrument",
    "uninstrument",
]

# Classes defined here report the public module, not the private one they are defined in.
# (Checked by name: on Python 3.10 a type alias such as MessageParam also passes
# isinstance(x, type).)
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and getattr(_obj, "__module__", "").startswith("chatsdk."):
        _obj.__module__ = "chatsdk"
del _name, _obj
