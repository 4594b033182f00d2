"""Request validation with the API's error format and wording."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ROLES", "RequestRejected", "parse_json", "validate_chat_request"]

# The roles the API accepts, in the order its error message lists them.
ROLES = ("system", "assistant", "user", "tool", "developer")
# The API caps `n` at 128 choices and `stop` at 4 sequences.
MAX_N = 128
MAX_STOP = 4


@dataclass
class RequestRejected(Exception):
    """A request the server answers with an error: HTTP status plus the API's ``{"error": ...}``.

    Internal to the local server: a client sees only the HTTP error response it becomes.
    """

    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _bad(param: str, message: str, code: str | None = "invalid_value") -> RequestRejected:
    return RequestRejected(400, message, param=param, code=code)


def _type_error(param: str, expected: str, value: Any) -> RequestRejected:
    return _bad(
        param,
        f"Invalid type for '{param}': expected {expected}, but got {_kind(value)} instead.",
        "invalid_type",
    )


def parse_json(raw: bytes) -> Any:
    """Parse a request body, raising the API's error for bodies that are not JSON."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestRejected(
            400,
            "We could not parse the JSON body of your request. The API expects a JSON object "
            f"with Content-Type: application/json. (Parser said: {exc})",
        ) from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_range(body: dict[str, Any], param: str, low: float, high: float) -> None:
    _check_bounds(body, param, low, high, integer=False)


def _check_int(body: dict[str, Any], param: str, low: int, high: int | None = None) -> None:
    _check_bounds(body, param, low, high, integer=True)


def _check_bounds(
    body: dict[str, Any], param: str, low: float, high: float | None, *, integer: bool
) -> None:
    """A number within [low, high], worded as the API words it for decimals and integers."""
    value = body.get(param)
    if value is None:
        return
    kind = "integer" if integer else "decimal"
    if not (_is_int(value) if integer else _is_number(value)):
        raise _type_error(param, "an integer" if integer else "a decimal", value)
    if value < low:
        raise _bad(
            param,
            f"Invalid '{param}': {kind} below minimum value. Expected a value >= {low:g}, "
            f"but got {value} instead.",
            f"{kind}_below_min_value",
        )
    if high is not None and value > high:
        raise _bad(
            param,
            f"Invalid '{param}': {kind} above maximum value. Expected a value <= {high:g}, "
            f"but got {value} instead.",
            f"{kind}_above_max_value",
        )


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list):
        raise _type_error("messages", "an array", messages)
    if not messages:
        raise _bad(
            "messages",
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            "empty_array",
        )
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(message, dict):
            raise _type_error(where, "an object", message)
        if "role" not in message:
            raise _bad(
                f"{where}.role",
                f"Missing required parameter: '{where}.role'.",
                "missing_required_parameter",
            )
        role = message["role"]
        if role not in ROLES:
            roles = ", ".join(f"'{r}'" for r in ROLES)
            raise _bad(f"{where}.role", f"{role!r} is not one of [{roles}] - '{where}.role'", None)
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise _type_error(f"{where}.content", "a string or an array", content)


def _check_logit_bias(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise _type_error("logit_bias", "an object", value)
    for key, bias in value.items():
        if not key.isdigit():
            raise _bad(
                "logit_bias",
                f"Invalid key in 'logit_bias': {key!r}. Keys must be token IDs, "
                "written as non-negative integers.",
            )
        if not _is_number(bias) or not -100 <= bias <= 100:
            raise _bad(
                "logit_bias",
                f"Invalid value for 'logit_bias' token {key}: expected a number between "
                f"-100 and 100, but got {json.dumps(bias)} instead.",
            )


def _check_stop(value: Any) -> None:
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise _type_error("stop", "a string or an array of strings", value)
    if len(value) > MAX_STOP:
        raise _bad(
            "stop",
            f"Invalid 'stop': array too long. Expected an array with maximum length {MAX_STOP}, "
            f"but got an array with length {len(value)} instead.",
            "array_above_max_length",
        )


def validate_chat_request(body: Any) -> dict[str, Any]:
    """Check a parsed chat completion request; return it, or raise :class:`RequestRejected`."""
    if not isinstance(body, dict):
        raise RequestRejected(
            400,
            f"Invalid type for the request body: expected an object, but got {_kind(body)} "
            "instead.",
            code="invalid_type",
        )
    for required in ("model", "messages"):
        if required not in body:
            raise _bad(
                required,
                f"Missing required parameter: '{required}'.",
                "missing_required_parameter",
            )
    if not isinstance(body["model"], str) or not body["model"]:
        raise _type_error("model", "a non-empty string", body["model"])
    _check_messages(body["messages"])
    _check_range(body, "temperature", 0, 2)
    _check_range(body, "top_p", 0, 1)
    _check_range(body, "presence_penalty", -2, 2)
    _check_range(body, "frequency_penalty", -2, 2)
    _check_logit_bias(body.get("logit_bias"))
    _check_stop(body.get("stop"))
    _check_int(body, "n", 1, MAX_N)
    _check_int(body, "max_tokens", 1)
    _check_int(body, "max_completion_tokens", 1)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _type_error("stream", "a boolean", stream)
    options = body.get("stream_options")
    if options is not None:
        if not stream:
            raise _bad(
                "stream_options",
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            )
        if not isinstance(options, dict):
            raise _type_error("stream_options", "an object", options)
        include_usage = options.get("include_usage")
        if include_usage is not None and not isinstance(include_usage, bool):
            raise _type_error("stream_options.include_usage", "a boolean", include_usage)
    return body
