"""The public namespace is flat, complete and stable; the package is typed."""

from __future__ import annotations

import importlib.resources
import subprocess
import sys

import chatsdk

EXPECTED = {
    "BatchInputError",
    "BatchRequest",
    "BatchResult",
    "BatchRun",
    "batch_shard_of",
    "parse_batch_requests",
    "run_batch",
    "instrument",
    "uninstrument",
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
    "Chat",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "Choice",
    "ChoiceDelta",
    "ChunkChoice",
    "CompletionUsage",
    "Completions",
    "ConflictError",
    "ContentPartParam",
    "CreateParams",
    "DeveloperMessageParam",
    "FileContentPartParam",
    "FunctionCall",
    "ImageContentPartParam",
    "InputAudioContentPartParam",
    "InternalServerError",
    "MessageParam",
    "Model",
    "ModelInfo",
    "ModelList",
    "Models",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "RefusalContentPartParam",
    "RetryPolicy",
    "StreamError",
    "StreamMetrics",
    "SystemMessageParam",
    "TextContentPartParam",
    "ToolCall",
    "ToolCallParam",
    "ToolMessageParam",
    "UnprocessableEntityError",
    "UserMessageParam",
    "__version__",
}
EXPECTED |= {
    "ChoiceDoneEvent",
    "ContentDeltaEvent",
    "ContentDoneEvent",
    "FunctionTool",
    "OutputParseError",
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "ReasoningDeltaEvent",
    "ReasoningDoneEvent",
    "RefusalDeltaEvent",
    "RefusalDoneEvent",
    "StreamEvent",
    "ToolArgumentsDeltaEvent",
    "ToolArgumentsDoneEvent",
    "ToolResultEvent",
    "ToolRoundsError",
    "ToolRunCompletion",
    "ToolRunStream",
    "UsageEvent",
    "function_tool",
}


def test_exported_names() -> None:
    assert set(chatsdk.__all__) == EXPECTED
    for name in chatsdk.__all__:
        assert hasattr(chatsdk, name), name


def test_public_objects_report_the_public_module() -> None:
    assert chatsdk.AsyncChatClient.__module__ == "chatsdk"
    assert chatsdk.StreamError.__module__ == "chatsdk"


def test_exception_tree() -> None:
    assert issubclass(chatsdk.APITimeoutError, chatsdk.APIConnectionError)
    assert issubclass(chatsdk.StreamError, chatsdk.APIError)
    for cls in (
        chatsdk.BadRequestError,
        chatsdk.AuthenticationError,
        chatsdk.PermissionDeniedError,
        chatsdk.NotFoundError,
        chatsdk.ConflictError,
        chatsdk.UnprocessableEntityError,
        chatsdk.RateLimitError,
        chatsdk.InternalServerError,
    ):
        assert issubclass(cls, chatsdk.APIStatusError)
    assert issubclass(chatsdk.APIStatusError, chatsdk.APIError)


def test_py_typed_marker_shipped() -> None:
    assert importlib.resources.files("chatsdk").joinpath("py.typed").is_file()


def test_import_loads_no_server_or_cli_code() -> None:
    code = (
        "import sys, chatsdk; "
        "bad = [m for m in ('uvicorn', 'chatsdk.testing', 'chatsdk._cli', 'pydantic', "
        "'httpcore', 'trio', 'jiter', 'pydantic_core') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
