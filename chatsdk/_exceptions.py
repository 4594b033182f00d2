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
    └── StreamError                   a stream broke: an error event, bad data, or an early end

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
    "PermissionDeniedError",
    "RateLimitError",
    "StreamError",
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
            await client.chat.completions.create(model="m", messages=messages)
        except chatsdk.APIError as exc:
            log.warning("chat failed after %d attempts: %s", exc.attempts, exc.message)
    """

    message: str
    attempts: int
    partial_text: str
    request_id: str | None

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
    """The request could not be sent or its reply could not be read (DNS, refused, reset, TLS)."""

    def __init__(self, message: str = "Connection error.") -> None:
        super().__init__(message)


class APITimeoutError(APIConnectionError):
    """A timeout fired: connecting, reading, the idle gap between stream events, or the deadline."""

    def __init__(self, message: str = "Request timed out.") -> None:
        super().__init__(message)


class APIStatusError(APIError):
    """The server answered with a 4xx or 5xx status.

    The fields of the API's ``{"error": {...}}`` body are on the instance: ``type``, ``param`` and
    ``code`` (``None`` where the server did not send them); ``body`` is the parsed JSON (or the raw
    text when it was not JSON), ``headers`` the reply's headers and ``request_id`` its
    ``x-request-id``.
    """

    status_code: int

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
    """400: the request was malformed; ``param`` names the offending parameter when known."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this model or resource."""


class NotFoundError(APIStatusError):
    """404: no such model or path (check ``base_url`` and ``model``)."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the server's state; it is retried."""


class UnprocessableEntityError(APIStatusError):
    """422: the body was well-formed but its values were refused."""


class RateLimitError(APIStatusError):
    """429: too many requests or tokens; retried with backoff, honouring ``Retry-After``."""


class InternalServerError(APIStatusError):
    """A 5xx status: the server failed; retried."""


class StreamError(APIError):
    """A stream broke after it started: an error event, undecodable data, or an early end.

    ``type`` and ``code`` come from the error event when the server sent one; ``partial_text`` is
    the content of choice 0 received before the error, so nothing already shown is lost;
    ``request_id`` and ``attempts`` say which request it was, as on every error.
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
