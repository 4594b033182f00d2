"""The parameters of a chat completion request, and the checks that turn them into a JSON body.

A parameter that is not passed is not sent. ``None`` is sent as JSON ``null`` (the API reads it as
"use the default") where the API accepts ``null``; where it does not, ``None`` is refused with a
``TypeError`` that says to leave the parameter out. Values are checked for type here; ranges are
left to the server, because OpenAI-compatible servers differ on them (vLLM accepts more than four
``stop`` strings, for one), and a server's refusal comes back as :class:`BadRequestError` naming
the parameter.

Example::

    body = build_body("gpt-4o-mini", [{"role": "user", "content": "Hi"}], False, {"temperature": 0})
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypedDict

from ._messages import (
    AssistantMessageParam,
    DeveloperMessageParam,
    SystemMessageParam,
    ToolMessageParam,
    UserMessageParam,
)
from ._models import ChatCompletionMessage
from ._options import TimeoutTypes
from ._retry import RetryPolicy

__all__ = ["CreateParams", "MessageParam", "build_body", "split_options"]

MessageParam = (
    SystemMessageParam
    | DeveloperMessageParam
    | UserMessageParam
    | AssistantMessageParam
    | ToolMessageParam
    | ChatCompletionMessage
)
"""A message to send: a dict of one of the role types, or a reply's message as it came.

A reply's message (``reply.choices[0].message``, ``(await stream.final()).choices[0].message``)
is sent as its ``to_param()``, so a conversation continues with ``messages.append(...)``.

Example::

    messages: list[chatsdk.MessageParam] = [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Hello!"},
    ]
    reply = await client.chat.completions.create(model="m", messages=messages)
    messages.append(reply.choices[0].message)
    messages.append({"role": "user", "content": "And again?"})
"""


class CreateParams(TypedDict, total=False):
    """Keyword parameters of ``create()`` besides ``model``, ``messages`` and ``stream``.

    Example::

        params: chatsdk.CreateParams = {"temperature": 0.2, "max_tokens": 200}
        reply = await client.chat.completions.create(model="m", messages=messages, **params)
    """

    temperature: float | None
    top_p: float | None
    n: int | None
    stop: str | Sequence[str] | None
    max_tokens: int | None
    max_completion_tokens: int | None
    presence_penalty: float | None
    frequency_penalty: float | None
    logit_bias: Mapping[int | str, int] | None
    user: str
    stream_options: Mapping[str, Any] | None
    tools: Sequence[Mapping[str, Any]]
    tool_choice: str | Mapping[str, Any]
    response_format: Mapping[str, Any]
    seed: int | None
    logprobs: bool | None
    top_logprobs: int | None
    parallel_tool_calls: bool
    reasoning_effort: str | None
    metadata: Mapping[str, str] | None
    store: bool | None
    service_tier: str | None
    modalities: Sequence[str] | None
    prediction: Mapping[str, Any] | None
    audio: Mapping[str, Any] | None
    verbosity: str | None
    web_search_options: Mapping[str, Any]
    safety_identifier: str | None
    prompt_cache_key: str | None
    # Request options: how the request is sent, not part of the body.
    extra_headers: Mapping[str, str | None] | None
    extra_query: Mapping[str, Any] | None
    extra_body: Mapping[str, Any] | None
    timeout: TimeoutTypes
    deadline: float | None
    retry: RetryPolicy
    max_retries: int


_OPTIONS = frozenset(
    {"extra_headers", "extra_query", "extra_body", "timeout", "deadline", "retry", "max_retries"}
)

_Kind = Literal["number", "int", "bool", "str", "object", "array", "str_or_object"]

# What each body parameter must be, and whether the API accepts null for it.
_BODY_PARAMS: dict[str, tuple[_Kind, bool]] = {
    "temperature": ("number", True),
    "top_p": ("number", True),
    "n": ("int", True),
    "max_tokens": ("int", True),
    "max_completion_tokens": ("int", True),
    "presence_penalty": ("number", True),
    "frequency_penalty": ("number", True),
    "user": ("str", False),
    "stream_options": ("object", True),
    "tools": ("array", False),
    "tool_choice": ("str_or_object", False),
    "response_format": ("object", False),
    "seed": ("int", True),
    "logprobs": ("bool", True),
    "top_logprobs": ("int", True),
    "parallel_tool_calls": ("bool", False),
    "reasoning_effort": ("str", True),
    "metadata": ("object", True),
    "store": ("bool", True),
    "service_tier": ("str", True),
    "modalities": ("array", True),
    "prediction": ("object", True),
    "audio": ("object", True),
    "verbosity": ("str", True),
    "web_search_options": ("object", False),
    "safety_identifier": ("str", True),
    "prompt_cache_key": ("str", True),
    # Checked by their own functions below.
    "stop": ("str", True),
    "logit_bias": ("object", True),
}

_KIND_TEXT = {
    "number": "a number",
    "int": "an integer",
    "bool": "True or False",
    "str": "a string",
    "object": "a mapping (dict)",
    "array": "a list",
    "str_or_object": "a string or a mapping (dict)",
}


def _is_kind(value: Any, kind: _Kind) -> bool:
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "object":
        return isinstance(value, Mapping)
    if kind == "array":
        return isinstance(value, Sequence) and not isinstance(value, (str, bytes))
    return isinstance(value, (str, Mapping))


def _plain(value: Any) -> Any:
    """Mappings and sequences as the dicts and lists ``json`` writes."""
    if isinstance(value, dict):
        return value
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


def split_options(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``create()``'s keyword arguments into body parameters and request options."""
    body: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for name, value in params.items():
        if name in _OPTIONS:
            options[name] = value
        elif name in _BODY_PARAMS:
            body[name] = value
        else:
            raise TypeError(_unknown_parameter(name))
    return body, options


def _unknown_parameter(name: str) -> str:
    import difflib

    known = [*_BODY_PARAMS, *_OPTIONS]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (
        f"create() got an unexpected keyword argument {name!r}.{hint} To send a field this "
        f"library does not know, pass extra_body={{{name!r}: ...}}."
    )


def _check_messages(messages: Iterable[MessageParam]) -> list[Any]:
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Iterable):
        raise TypeError(
            "messages must be a list of message mappings such as "
            f"[{{'role': 'user', 'content': 'Hello!'}}], not {type(messages).__name__}."
        )
    checked: list[Any] = []
    for position, message in enumerate(messages):
        if isinstance(message, ChatCompletionMessage):
            checked.append(message.to_param())
            continue
        if not isinstance(message, Mapping):
            raise TypeError(
                f"messages[{position}] must be a mapping with 'role' and 'content' (or a "
                f"reply's message), not {type(message).__name__}."
            )
        role = message.get("role")
        if not isinstance(role, str) or not role:
            raise ValueError(
                f"messages[{position}] has no 'role'; give one of 'system', 'developer', "
                "'user', 'assistant' or 'tool'."
            )
        checked.append(_plain(message))
    if not checked:
        raise ValueError("messages is empty; give at least one message.")
    return checked


def _check_stop(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        stops = list(value)
        if stops and all(isinstance(stop, str) for stop in stops):
            return stops
    raise TypeError(f"stop must be a string or a non-empty list of strings, not {value!r}.")


def _check_logit_bias(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(
            f"logit_bias must map token ids to biases, e.g. {{50256: -100}}, not {value!r}."
        )
    bias: dict[str, int] = {}
    for token, amount in value.items():
        token_ok = (isinstance(token, int) and not isinstance(token, bool)) or (
            isinstance(token, str) and token.isdigit()
        )
        if not token_ok:
            raise TypeError(f"logit_bias keys must be token ids (integers), not {token!r}.")
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise TypeError(
                f"logit_bias[{token!r}] must be an integer from -100 to 100, not {amount!r}."
            )
        bias[str(token)] = amount
    return bias


def build_body(
    model: str,
    messages: Iterable[MessageParam],
    stream: bool,
    params: Mapping[str, Any],
    extra_body: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body for a request; raises ``TypeError``/``ValueError`` on bad values."""
    if not isinstance(model, str) or not model:
        raise TypeError(f"model must be a non-empty string such as 'gpt-4o-mini', not {model!r}.")
    if not isinstance(stream, bool):
        raise TypeError(f"stream must be True or False, not {stream!r}.")
    body: dict[str, Any] = {"model": model, "messages": _check_messages(messages)}
    if stream:
        body["stream"] = True
    for name, value in params.items():
        if name == "stop":
            value = _check_stop(value)
        elif name == "logit_bias":
            value = _check_logit_bias(value)
        else:
            kind, nullable = _BODY_PARAMS[name]
            if value is None:
                if not nullable:
                    raise TypeError(
                        f"{name}=None is not accepted by the API; leave {name} out to use the "
                        "server's default."
                    )
            elif not _is_kind(value, kind):
                raise TypeError(f"{name} must be {_KIND_TEXT[kind]}, not {value!r}.")
            else:
                value = _plain(value)
        body[name] = value
    if extra_body:
        if not isinstance(extra_body, Mapping):
            raise TypeError(f"extra_body must be a mapping, not {type(extra_body).__name__}.")
        body.update(extra_body)
    return body
