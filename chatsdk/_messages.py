"""Message params as the API defines them (TypedDicts), and a reply's message turned back into one.

Each role has its own ``TypedDict`` with a ``Literal`` role, so a type checker flags
``{"role": "doctor", ...}`` or a ``tool`` message without ``tool_call_id``; at run time they are
plain dicts. :func:`assistant_param` is what ``ChatCompletionMessage.to_param()`` returns: the
exact dict the API accepts for an assistant message, built from the one the server sent.

Example::

    messages: list[chatsdk.MessageParam] = [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
    ]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

__all__ = [
    "AssistantMessageParam",
    "ContentPartParam",
    "DeveloperMessageParam",
    "FileContentPartParam",
    "ImageContentPartParam",
    "InputAudioContentPartParam",
    "RoleMessageParam",
    "RefusalContentPartParam",
    "SystemMessageParam",
    "TextContentPartParam",
    "ToolCallParam",
    "ToolMessageParam",
    "UserMessageParam",
    "assistant_param",
]

# Python 3.10 has no NotRequired: each TypedDict with optional keys is a required base and a
# ``total=False`` subclass (the way typeshed spells it without typing_extensions).


class TextContentPartParam(TypedDict):
    """A piece of text in a message's content list.

    Example::

        {"role": "user", "content": [{"type": "text", "text": "What is in this image?"}]}
    """

    type: Literal["text"]
    text: str


class _ImageURLRequired(TypedDict):
    url: str


class ImageURLParam(_ImageURLRequired, total=False):
    """An image's address (or ``data:`` URL) and the detail to read it at."""

    detail: Literal["auto", "low", "high"]


class ImageContentPartParam(TypedDict):
    """An image in a user message, by URL or as a base64 ``data:`` URL.

    Example::

        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}
    """

    type: Literal["image_url"]
    image_url: ImageURLParam


class InputAudioParam(TypedDict):
    """Base64 audio data and its format."""

    data: str
    format: Literal["wav", "mp3"]


class InputAudioContentPartParam(TypedDict):
    """Audio in a user message (base64, wav or mp3).

    Example::

        {"type": "input_audio", "input_audio": {"data": encoded, "format": "wav"}}
    """

    type: Literal["input_audio"]
    input_audio: InputAudioParam


class FileParam(TypedDict, total=False):
    """A file by id, or its data inline with a name."""

    file_id: str
    file_data: str
    filename: str


class FileContentPartParam(TypedDict):
    """A file in a user message: an uploaded file's id, or base64 data with a file name.

    Example::

        {"type": "file", "file": {"file_id": "file-abc123"}}
    """

    type: Literal["file"]
    file: FileParam


class RefusalContentPartParam(TypedDict):
    """A refusal in an assistant message's content list.

    Example::

        {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't help."}]}
    """

    type: Literal["refusal"]
    refusal: str


ContentPartParam = (
    TextContentPartParam | ImageContentPartParam | InputAudioContentPartParam | FileContentPartParam
)
"""A part of a user message's content: text, an image, audio or a file.

Example::

    parts: list[chatsdk.ContentPartParam] = [
        {"type": "text", "text": "Describe it."},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
"""


class _SystemRequired(TypedDict):
    role: Literal["system"]
    content: str | Sequence[TextContentPartParam]


class SystemMessageParam(_SystemRequired, total=False):
    """Instructions for the model (``developer`` replaces it on newer OpenAI models).

    Example::

        {"role": "system", "content": "Answer in one word."}
    """

    name: str


class _DeveloperRequired(TypedDict):
    role: Literal["developer"]
    content: str | Sequence[TextContentPartParam]


class DeveloperMessageParam(_DeveloperRequired, total=False):
    """Instructions for the model, as newer OpenAI models take them.

    Example::

        {"role": "developer", "content": "Answer in one word."}
    """

    name: str


class _UserRequired(TypedDict):
    role: Literal["user"]
    content: str | Sequence[ContentPartParam]


class UserMessageParam(_UserRequired, total=False):
    """What the user says: text, or a list of parts (text, images, audio, files).

    Example::

        {"role": "user", "content": "Hello!"}
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}},
        ]}
    """

    name: str


class FunctionCallParam(TypedDict):
    """The function a tool call names and its arguments as JSON text."""

    name: str
    arguments: str


class ToolCallParam(TypedDict):
    """A tool call of an assistant message, as sent back to the API.

    Example::

        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    """

    id: str
    type: Literal["function"]
    function: FunctionCallParam


class _AssistantAudio(TypedDict):
    id: str


class _AssistantRequired(TypedDict):
    role: Literal["assistant"]


class AssistantMessageParam(_AssistantRequired, total=False):
    """What the model said before: text, a refusal, and/or the tool calls it asked for.

    ``reply.choices[0].message.to_param()`` builds one from a reply.

    Example::

        {"role": "assistant", "content": "Paris."}
        {"role": "assistant", "content": None, "tool_calls": [call]}
    """

    content: str | Sequence[TextContentPartParam | RefusalContentPartParam] | None
    refusal: str | None
    name: str
    tool_calls: Sequence[ToolCallParam]
    audio: _AssistantAudio | None


class ToolMessageParam(TypedDict):
    """A tool's result, answering the call whose id it names.

    Example::

        {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 21}'}
    """

    role: Literal["tool"]
    content: str | Sequence[TextContentPartParam]
    tool_call_id: str


RoleMessageParam = (
    SystemMessageParam
    | DeveloperMessageParam
    | UserMessageParam
    | AssistantMessageParam
    | ToolMessageParam
)
"""A message written as a dict: one of the role types (``chatsdk.MessageParam`` adds a reply's
message)."""

# Fields of a reply's message that an assistant message param takes, in the spec's order.
# Reasoning text (reasoning_content, reasoning) is left out: the API has no such field, and
# DeepSeek refuses a request that sends its reasoning_content back.
_OPTIONAL_FIELDS = ("refusal", "name", "function_call")


def _tool_call_param(call: Any) -> Any:
    if not isinstance(call, Mapping):
        return call
    return {key: value for key, value in call.items() if key != "index"}


def assistant_param(message: Mapping[str, Any]) -> dict[str, Any]:
    """The assistant message param for a reply's message (a dict the server sent).

    ``role`` and ``content`` as received (``content`` is ``null`` with tool calls only);
    ``refusal``, ``name`` and ``function_call`` only when not null; ``tool_calls`` without a
    stream's ``index``; ``audio`` as its ``id``. Other fields of a reply's message
    (``annotations``, reasoning text) are not fields of a request.
    """
    param: dict[str, Any] = {"role": message.get("role") or "assistant"}
    calls = message.get("tool_calls")
    if "content" in message or not (calls or message.get("function_call")):
        # Required unless there are tool calls; null where the server sent none.
        param["content"] = message.get("content")
    for field in _OPTIONAL_FIELDS:
        value = message.get(field)
        if value is not None:
            param[field] = value
    if calls:
        param["tool_calls"] = [_tool_call_param(call) for call in calls]
    audio = message.get("audio")
    if isinstance(audio, Mapping) and audio.get("id"):
        param["audio"] = {"id": audio["id"]}
    return param
