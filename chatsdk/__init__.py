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
"""

from ._client import AsyncChatClient, Chat, Completions
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
    PermissionDeniedError,
    RateLimitError,
    StreamError,
    UnprocessableEntityError,
)
from ._models import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    Choice,
    ChoiceDelta,
    ChunkChoice,
    CompletionUsage,
    FunctionCall,
    Model,
    ToolCall,
)
from ._params import CreateParams, Message
from ._streaming import AsyncChatStream
from ._version import __version__

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncChatClient",
    "AsyncChatStream",
    "AuthenticationError",
    "BadRequestError",
    "Chat",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "Choice",
    "ChoiceDelta",
    "ChunkChoice",
    "Completions",
    "CompletionUsage",
    "ConflictError",
    "CreateParams",
    "FunctionCall",
    "InternalServerError",
    "Message",
    "Model",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "StreamError",
    "ToolCall",
    "UnprocessableEntityError",
    "__version__",
]

# Classes defined here report the public module, not the private one they are defined in.
# (Checked by name: on Python 3.10 a type alias such as Message also passes isinstance(x, type).)
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and getattr(_obj, "__module__", "").startswith("chatsdk."):
        _obj.__module__ = "chatsdk"
del _name, _obj
