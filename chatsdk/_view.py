"""``Model``, the base of every reply view: a lazy, read-only window on one JSON object.

Example::

    usage = Model({"total_tokens": 5, "x_cost": 0.1})
    usage["total_tokens"], usage.get("x_cost"), usage.to_dict()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Model", "wrap"]


def _copy(value: Any) -> Any:
    """A deep copy of JSON data, made without recursion: however deep a value nests (the JSON
    helper bounds what a server can send; a caller's own dicts have no bound), no stack runs out."""
    if not isinstance(value, (dict, list)):
        return value
    root: Any = {} if isinstance(value, dict) else [None] * len(value)
    # Each entry: a container still to copy, and the empty copy to fill.
    stack: list[tuple[Any, Any]] = [(value, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            if isinstance(item, dict):
                copied: Any = {}
                stack.append((item, copied))
                item = copied
            elif isinstance(item, list):
                copied = [None] * len(item)
                stack.append((item, copied))
                item = copied
            target[key] = item
    return root


def wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return Model(value)
    if isinstance(value, list):
        return [wrap(item) for item in value]
    return value


class Model:
    """A read-only view of one JSON object from the API.

    ``model.field`` reads a field (objects come back as models), ``model["field"]`` and
    ``model.get("field")`` read the raw JSON value, and ``to_dict()`` gives a deep copy that
    ``json.dumps`` accepts and that rebuilds an equal model.

    Example::

        reply = await client.chat.completions.create(model="m", messages=messages)
        reply.choices[0].message.content    # a typed property
        reply.get("service_tier")           # the raw JSON value, or None when it was not sent
        reply.x_groq                        # a field with no property (here Groq's), as a model
        json.dumps(reply.to_dict())         # every field the server sent
    """

    __slots__ = ("_data",)

    _data: dict[str, Any]

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the JSON object, every field the server sent included."""
        result: dict[str, Any] = _copy(self._data)
        return result

    def get(self, key: str, default: Any = None) -> Any:
        """The raw JSON value of ``key``, or ``default`` when the server did not send it."""
        return self._data.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Model):
            return type(self) is type(other) and self._data == other._data
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"

    if not TYPE_CHECKING:
        # At run time any field the server sent is an attribute, so provider extensions are
        # reachable without a new release; type checkers see only the typed properties.
        def __getattr__(self, name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)
            try:
                value = self._data[name]
            except KeyError:
                raise AttributeError(
                    f"{type(self).__name__} has no field {name!r}; the server sent "
                    f"{sorted(self._data)}"
                ) from None
            return wrap(value)
