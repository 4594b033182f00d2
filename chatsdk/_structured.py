"""Structured output: a response format's request body, strict schemas, parsing the answer.

Pure, no I/O. pydantic and jiter (the ``structured`` extra) are imported inside the functions
that need them, never when chatsdk is imported: a pydantic model class given as
``response_format`` means pydantic is loaded already.

Example::

    fmt = OutputFormat.of(Answer)                 # a pydantic model class
    fmt.body            # {"type": "json_schema", "json_schema": {..., "strict": True}}
    fmt.parse('{"answer": 4}', "stop", None)      # Answer(answer=4)
    partial_json('{"answer": "fo')                # {"answer": "fo"}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from . import _json
from ._exceptions import OutputParseError

__all__ = ["OutputFormat", "partial_json", "strict_schema", "with_output_format"]

# What the API accepts as a json_schema's name.
_NAME = re.compile(r"[^a-zA-Z0-9_-]")
_INSTALL = "pip install 'chatsdk[structured]'"


def strict_schema(schema: dict[str, Any], where: str) -> dict[str, Any]:
    """A JSON schema as strict mode needs it: every object closed, every property required.

    Objects get ``additionalProperties: false`` and ``required`` listing all their properties
    (an optional field is one that may be ``null``); ``default`` is dropped, since strict mode
    does not take it; a lone ``allOf`` is merged into its parent. A schema strict mode cannot
    express (a free-form mapping such as ``dict[str, int]``) raises ``TypeError`` naming
    ``where``.
    """
    strict: dict[str, Any] = _strict(_json.loads(_json.dumps(schema)), where)
    return strict


def _strict(node: Any, where: str) -> Any:
    if isinstance(node, list):
        return [_strict(item, where) for item in node]
    if not isinstance(node, dict):
        return node
    node.pop("default", None)
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        del node["allOf"]
        node.update({k: v for k, v in all_of[0].items() if k not in node})
    if node.get("type") == "object" or "properties" in node:
        extra = node.get("additionalProperties")
        if extra not in (None, False):
            raise TypeError(
                f"{where}: a mapping with free-form keys cannot be described in strict mode; "
                "use a model with named fields instead."
            )
        node["additionalProperties"] = False
        node["required"] = list(node.get("properties", {}))
    for key in ("properties", "$defs", "definitions"):
        children = node.get(key)
        if isinstance(children, dict):
            node[key] = {name: _strict(child, where) for name, child in children.items()}
    for key in ("items", "anyOf", "oneOf", "allOf", "prefixItems"):
        if key in node:
            node[key] = _strict(node[key], where)
    return node


def partial_json(text: str) -> Any:
    """The value a piece of JSON adds up to so far (jiter's partial mode), or ``None`` while it
    holds no value yet, when it is not JSON, or when jiter is not installed."""
    if not text.strip():
        return None
    try:
        import jiter
    except ImportError:
        return None
    try:
        return jiter.from_json(text.encode(), partial_mode="trailing-strings")
    except ValueError:
        return None


class OutputFormat:
    """What ``response_format=`` asked for: the body to send and how to read the answer."""

    __slots__ = ("body", "model")

    def __init__(self, body: dict[str, Any], model: type[Any] | None) -> None:
        self.body = body
        #: The pydantic model class to validate with; ``None`` for decoded JSON.
        self.model = model

    @classmethod
    def of(cls, response_format: Any) -> OutputFormat | None:
        """The format for a ``response_format`` value, or ``None`` when the answer is text."""
        if isinstance(response_format, type):
            return cls._of_model(response_format)
        if response_format is None:
            return None  # refused where the body is built, with the other parameters
        if isinstance(response_format, Mapping):
            # A schema is parsed; json_object and text stay as the reply's text, as they were.
            if response_format.get("type") == "json_schema":
                return cls(dict(response_format), None)
            return None
        raise TypeError(
            "response_format must be a pydantic model class or a mapping such as "
            f'{{"type": "json_schema", "json_schema": {{...}}}}, not {response_format!r}.'
        )

    @classmethod
    def _of_model(cls, model: type[Any]) -> OutputFormat:
        try:
            from pydantic import BaseModel
        except ImportError:  # pragma: no cover - a model class means pydantic is there
            raise TypeError(f"response_format={model!r} needs pydantic: {_INSTALL}") from None
        if not issubclass(model, BaseModel):
            raise TypeError(
                f"response_format={model.__name__} is a class but not a pydantic model; "
                "give a subclass of pydantic.BaseModel, or a json_schema mapping."
            )
        schema = strict_schema(model.model_json_schema(), f"response_format={model.__name__}")
        name = _NAME.sub("_", model.__name__)[:64]
        body = {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": True},
        }
        return cls(body, model)

    def parse(self, content: str | None, finish_reason: str | None, refusal: str | None) -> Any:
        """The answer as the model (or decoded JSON); ``None`` for a refusal; raises
        :class:`OutputParseError` for an answer cut short, not JSON, or not valid."""
        if refusal and not content:
            return None
        if finish_reason == "length":
            raise OutputParseError(
                "The answer was cut short (finish_reason 'length') before its JSON was "
                "complete; raise max_completion_tokens or ask for less.",
                content=content,
                finish_reason=finish_reason,
            )
        if content is None:
            if finish_reason == "content_filter" or refusal:
                return None
            raise OutputParseError(
                "The answer has no content to parse.", content=None, finish_reason=finish_reason
            )
        if self.model is None:
            try:
                return _json.loads(content)
            except ValueError as exc:
                raise OutputParseError(
                    f"The answer is not JSON: {exc}",
                    content=content,
                    finish_reason=finish_reason,
                ) from exc
        from pydantic import ValidationError

        try:
            return self.model.model_validate_json(content)
        except ValidationError as exc:
            raise OutputParseError(
                f"The answer does not match {self.model.__name__}: {exc}",
                content=content,
                finish_reason=finish_reason,
            ) from exc


def with_output_format(
    params: Mapping[str, Any],
) -> tuple[Mapping[str, Any], OutputFormat | None]:
    """``create()``'s parameters with ``response_format`` as the body sends it, and the format
    to parse the answer with (``None`` for a text answer)."""
    if "response_format" not in params:
        return params, None
    output_format = OutputFormat.of(params["response_format"])
    if output_format is None:
        return params, None
    return dict(params, response_format=output_format.body), output_format
