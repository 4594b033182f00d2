"""The exceptions chatsdk raises, and the one place where foreign ones are translated.

Every error chatsdk raises is an :class:`APIError`::

    APIError
    ├── APIConnectionError            the request never got a usable HTTP reply
    │   └── APITimeoutError           a timeout, an idle stream or a passed deadline
    ├── APIStatusError                the server answered 4xx/5xx (``status_code`` on the instance)
    │   ├── BadRequestError           400
    │   ├── AuthenticationError       401
    │   ├── PermissionDeniedError     403
    │   ├── NotFoundError             404
    │   ├── ConflictError             409
    │   ├── UnprocessableEntityError  422
    │   ├── RateLimitError            429
    │   └── InternalServerError       >= 500
    ├── StreamError                   a stream broke: an error event, bad data, or an early end
    ├── OutputParseError              structured output that does not parse, validate or finish
    └── ToolRoundsError               run_tools() reached max_rounds with tool calls still asked

httpx and json exceptions never escape: the call that meets one (``_call``) raises the class above
that fits, chaining the original as ``__cause__``. Reading an error out of a reply's body is
``_events``'s job; this module only draws the tree.

Example::

    try:
        reply = await client.chat.completions.create(model="m", messages=messages)
    except chatsdk.RateLimitError as exc:
        print("slow down:", exc.message, "after", exc.attempts, "attempts")
    except chatsdk.APIStatusError as exc:
        print(exc.status_code, exc.type, exc.param, exc.message)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "OutputParseError",
    "PermissionDeniedError",
    "RateLimitError",
    "StreamError",
    "ToolRoundsError",
    "UnprocessableEntityError",
]


class APIError(Exception):
    """Base class of every error chatsdk raises.

    ``message`` is the human-readable text; ``attempts`` is how many times the request was sent
    before this error was raised (1 when it was not retried); ``request_id`` is the server's
    ``x-request-id`` for the last attempt, when it sent one; ``partial_text`` is the content a
    stream delivered before it failed (empty for buffered requests).

    Example::

        try:
            reply = await client.chat.completions.create(model="m", messages=messages)
        except chatsdk.APIError as exc:
            print(f"no answer after {exc.attempts} attempt(s): {exc.message}")
    """

    message: str
    """The human-readable text of the error, without the attempt count ``str()`` adds."""
    attempts: int
    """How many times the request was sent before this error was raised (1: not retried)."""
    partial_text: str
    """The content a stream delivered before it failed; empty for buffered requests."""
    request_id: str | None
    """The server's ``x-request-id`` for the last attempt, when it sent one."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.attempts = 1
        self.partial_text = ""
        self.request_id = None

    def __str__(self) -> str:
        if self.attempts > 1:
            return f"{self.message} (after {self.attempts} attempts)"
        return self.message


class APIConnectionError(APIError):
    """The request could not be sent or its reply could not be read (DNS, refused, reset, TLS).

    The httpx exception behind it is chained as ``__cause__``.

    Example::

        try:
            reply = await client.chat.completions.create(model="m", messages=messages)
        except chatsdk.APIConnectionError as exc:   # APITimeoutError included
            print("cannot reach", client.base_url, "-", exc.message, "-", repr(exc.__cause__))
    """

    def __init__(self, message: str = "Connection error.") -> None:
        super().__init__(message)


class APITimeoutError(APIConnectionError):
    """A timeout fired: connecting, reading, the idle gap between stream events, or the deadline.

    Example::

        try:
            reply = await client.chat.completions.create(
                model="m", messages=messages, timeout=20, deadline=60
            )
        except chatsdk.APITimeoutError as exc:
            print("no answer in time:", exc.message)
    """

    def __init__(self, message: str = "Request timed out.") -> None:
        super().__init__(message)


class APIStatusError(APIError):
    """The server answered with a 4xx or 5xx status.

    The fields of the API's ``{"error": {...}}`` body are on the instance: ``type``, ``param`` and
    ``code`` (``None`` where the server did not send them); ``body`` is the parsed JSON (or the raw
    text when it was not JSON), ``headers`` the reply's headers and ``request_id`` its
    ``x-request-id``.

    Example::

        try:
            reply = await client.chat.completions.create(model="m", messages=messages)
        except chatsdk.APIStatusError as exc:   # any 4xx or 5xx
            print(exc.status_code, exc.type, exc.code, exc.message, exc.request_id)
    """

    status_code: int
    """The HTTP status of the reply, e.g. ``400``."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        type: str | None = None,
        param: str | None = None,
        code: str | int | None = None,
        body: object = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.type = type
        self.param = param
        self.code = code
        self.body = body
        self.request_id = request_id
        self.headers: Mapping[str, str] = headers if headers is not None else {}

    def __str__(self) -> str:
        text = f"Error code: {self.status_code} - {super().__str__()}"
        if self.request_id:
            text += f" [request id {self.request_id}]"
        return text


class BadRequestError(APIStatusError):
    """400: the request was malformed; ``param`` names the offending parameter when known.

    Example::

        try:
            reply = await client.chat.completions.create(
                model="m", messages=messages, max_tokens=10**9
            )
        except chatsdk.BadRequestError as exc:
            print("refused:", exc.param, "-", exc.message)   # refused: max_tokens - ...
    """


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong.

    Example::

        try:
            reply = await client.chat.completions.create(model="m", messages=messages)
        except chatsdk.AuthenticationError as exc:
            raise SystemExit(f"Check OPENAI_API_KEY: {exc.message}") from None
    """


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this model or resource.

    Example::

        try:
            reply = await client.chat.completions.create(model="m", messages=messages)
        except chatsdk.PermissionDeniedError as exc:
            print("this key may not use model 'm':", exc.message)
    """


class NotFoundError(APIStatusError):
    """404: no such model or path (check ``base_url`` and ``model``).

    Example::

        try:
            reply = await client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        except chatsdk.NotFoundError as exc:
            print("no such model or path at", client.base_url, "-", exc.message)
    """


class ConflictError(APIStatusError):
    """409: the request conflicts with the server's state; it is retried.

    Raised when the conflict outlasts the retries.

    Example::

        try:
            reply = await client.chat.completions.create(model="m", messages=messages)
        except chatsdk.ConflictError as exc:
            print("still conflicting after", exc.attempts, "attempts:", exc.message)
    """


class UnprocessableEntityError(APIStatusError):
    """422: the body was well-formed but its values were refused.

    Example::

        try:
            reply = await client.chat.completions.create(model="m", messages=messages)
        except chatsdk.UnprocessableEntityError as exc:
            print(exc.message, exc.body)   # body: the server's JSON, often listing each problem
    """


class RateLimitError(APIStatusError):
    """429: too many requests or tokens; retried with backoff, honouring ``Retry-After``.

    Raised when the limit outlasts the retries (or the deadline).

    Example::

        try:
            reply = await client.chat.completions.create(model="m", messages=messages)
        except chatsdk.RateLimitError as exc:
            print("rate limited; the server asks to wait", exc.headers.get("retry-after"), "s")
    """


class InternalServerError(APIStatusError):
    """A 5xx status: the server failed; retried.

    Raised when the failure outlasts the retries (or the deadline).

    Example::

        try:
            reply = await client.chat.completions.create(model="m", messages=messages)
        except chatsdk.InternalServerError as exc:
            print(exc.status_code, "after", exc.attempts, "attempts; request id", exc.request_id)
    """


class StreamError(APIError):
    """A stream broke after it started: an error event, undecodable data, or an early end.

    ``type`` and ``code`` come from the error event when the server sent one; ``partial_text`` is
    the content of choice 0 received before the error, so nothing already shown is lost;
    ``request_id`` and ``attempts`` say which request it was, as on every error.

    Example::

        stream = await client.chat.completions.create(model="m", messages=messages, stream=True)
        try:
            async with stream:
                async for text in stream.text():
                    print(text, end="", flush=True)
        except chatsdk.StreamError as exc:
            print()
            print(f"[cut short: {exc.message}; {len(exc.partial_text)} characters arrived]")
    """

    def __init__(
        self,
        message: str,
        *,
        type: str | None = None,
        code: str | int | None = None,
        param: str | None = None,
        body: object = None,
        partial_text: str = "",
    ) -> None:
        super().__init__(message)
        self.type = type
        self.code = code
        self.param = param
        self.body = body
        self.partial_text = partial_text


class OutputParseError(APIError):
    """Structured output (``response_format=``) that cannot be used: not JSON, not valid for the
    schema, or cut short by ``finish_reason == "length"``.

    ``content`` is the raw text the model wrote, ``finish_reason`` why it ended; the JSON or
    validation error is chained as ``__cause__``. A refusal is not an error: ``parsed`` is
    ``None`` and ``message.refusal`` says why.

    Example::

        try:
            reply = await client.chat.completions.create(
                model="m", messages=messages, response_format=Answer
            )
        except chatsdk.OutputParseError as exc:
            print("unusable answer:", exc.message, repr(exc.content), exc.__cause__)
    """

    def __init__(
        self, message: str, *, content: str | None, finish_reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.content = content
        self.finish_reason = finish_reason


class ToolRoundsError(APIError):
    """``run_tools()`` asked the model ``max_rounds`` times and it still wants tools run.

    The tools of the last round have run: ``messages`` is the whole conversation, ready to send
    again (with a higher ``max_rounds``, or after telling the model to answer); ``completion``
    is the last reply.

    Example::

        try:
            run = await client.chat.completions.run_tools(
                model="m", messages=messages, tools=[get_weather], max_rounds=3
            )
        except chatsdk.ToolRoundsError as exc:
            print("still calling tools after", exc.rounds, "rounds")
            messages = exc.messages
    """

    def __init__(
        self, message: str, *, messages: list[dict[str, Any]], completion: Any, rounds: int
    ) -> None:
        super().__init__(message)
        self.messages = messages
        self.completion = completion
        self.rounds = rounds


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The exception class for an HTTP error status."""
    if status_code >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status_code, APIStatusError)
