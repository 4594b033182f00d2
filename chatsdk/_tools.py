"""Python functions as tools: a strict tool definition from a signature, arguments checked.

Pure, no I/O. The parameters' JSON schema is pydantic's, generated from a model built from the
function's signature (``create_model``), then made strict (:func:`._structured.strict_schema`);
the same model validates the arguments the model sends. pydantic comes with the ``structured``
extra and is imported when a tool is made, never by ``import chatsdk``.

Example::

    def get_weather(city: str) -> dict[str, object]:
        '''The current weather in a city.'''
        ...

    tool = function_tool(get_weather)
    tool.to_param()   # {"type": "function", "function": {"name": "get_weather", ...}}
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any

from . import _json
from ._structured import strict_schema

__all__ = ["FunctionTool", "as_tools", "function_tool"]

_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_INSTALL = "pip install 'chatsdk[structured]'"


class FunctionTool:
    """A Python function the model may call, with its strict definition.

    Made by :func:`function_tool`; ``to_param()`` is the entry for ``tools=`` and
    :meth:`arguments` checks what the model sent. ``run_tools(tools=[...])`` takes these or the
    plain functions.

    Example::

        tool = chatsdk.function_tool(get_weather)
        reply = await client.chat.completions.create(
            model="m", messages=messages, tools=[tool.to_param()]
        )
    """

    __slots__ = ("_model", "description", "function", "name", "parameters")

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        name: str,
        description: str | None,
        parameters: dict[str, Any],
        model: Any,
    ) -> None:
        self.function = function
        """The Python function, sync or async."""
        self.name = name
        """The name the model calls it by."""
        self.description = description
        """What the model reads about it (the function's docstring)."""
        self.parameters = parameters
        """The strict JSON schema of its arguments."""
        self._model = model

    @property
    def is_async(self) -> bool:
        """True for an ``async def`` function (awaited); false for one run in a worker thread.

        Example::

            tool.is_async   # False for "def get_weather(city: str)"
        """
        return inspect.iscoroutinefunction(self.function)

    def to_param(self) -> dict[str, Any]:
        """The tool as ``tools=`` sends it, with ``strict: true``.

        Example::

            tools = [chatsdk.function_tool(get_weather).to_param()]
        """
        function: dict[str, Any] = {"name": self.name}
        if self.description:
            function["description"] = self.description
        function["parameters"] = self.parameters
        function["strict"] = True
        return {"type": "function", "function": function}

    def arguments(self, arguments: str) -> dict[str, Any]:
        """The keyword arguments for the function, from the JSON text the model sent.

        Raises ``ValueError`` (pydantic's ``ValidationError`` is one) saying what is wrong.

        Example::

            kwargs = tool.arguments('{"city": "Paris"}')   # {"city": "Paris"}
        """
        value = _json.loads(arguments) if arguments.strip() else {}
        if not isinstance(value, dict):
            raise ValueError(f"the arguments must be a JSON object, not {arguments!r}")
        validated = self._model.model_validate(value)
        return {name: getattr(validated, f"p_{name}") for name in self._fields()}

    def _fields(self) -> list[str]:
        return [field.alias for field in self._model.model_fields.values()]

    def __repr__(self) -> str:
        return f"<FunctionTool {self.name}>"


def function_tool(
    function: Callable[..., Any] | FunctionTool,
    *,
    name: str | None = None,
    description: str | None = None,
) -> FunctionTool:
    """A strict tool definition for ``function``, from its signature and docstring.

    Each parameter becomes a property typed by its annotation (pydantic's schema generation:
    ``str``, ``int``, ``Literal[...]``, ``list[...]``, models, ``X | None``...); a description
    for one comes from ``Annotated[str, pydantic.Field(description="...")]``. The tool's
    description is the docstring (or ``description``), its name the function's (or ``name``).
    Strict mode makes every parameter required (one with a default may be sent ``null`` only
    if its type allows ``None``). Needs the ``structured`` extra (pydantic).

    Raises ``TypeError`` for a parameter without an annotation, ``*args``/``**kwargs``, or a
    name the API does not accept.

    Example::

        async def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict[str, object]:
            '''The current weather in a city.'''
            return {"city": city, "sky": "sunny", "temperature": 21}

        tool = chatsdk.function_tool(get_weather)
        tool.to_param()["function"]["parameters"]["required"]   # ["city", "unit"]
    """
    if isinstance(function, FunctionTool):
        return function
    if not callable(function):
        raise TypeError(f"function_tool() needs a function, not {function!r}.")
    try:
        import pydantic
    except ImportError:
        raise TypeError(f"function_tool() needs pydantic: {_INSTALL}") from None
    tool_name = str(name or getattr(function, "__name__", ""))
    if not _NAME.fullmatch(tool_name):
        raise TypeError(
            f"function_tool(): {tool_name!r} is not a tool name the API accepts (letters, "
            "digits, '_' and '-', at most 64); pass name=..."
        )
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except NameError as exc:
        raise TypeError(
            f"function_tool({tool_name}): an annotation cannot be resolved ({exc}); types named "
            "in a signature must be importable where the function is defined (module level)."
        ) from exc
    fields: dict[str, Any] = {}
    for parameter in inspect.signature(function).parameters.values():
        where = f"function_tool({tool_name}): parameter {parameter.name!r}"
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(f"{where}: *args and **kwargs cannot be described to the model.")
        if parameter.name not in hints:
            raise TypeError(f"{where} has no type annotation; add one, e.g. 'city: str'.")
        default = ... if parameter.default is parameter.empty else parameter.default
        field = pydantic.Field(default, alias=parameter.name)
        # Prefixed names never clash with BaseModel's own attributes; the alias is what is sent.
        fields[f"p_{parameter.name}"] = (hints[parameter.name], field)
    model = pydantic.create_model(tool_name, **fields)
    schema = strict_schema(model.model_json_schema(by_alias=True), f"function_tool({tool_name})")
    schema.pop("title", None)
    doc = description if description is not None else inspect.getdoc(function)
    return FunctionTool(function, name=tool_name, description=doc, parameters=schema, model=model)


def as_tools(tools: object) -> dict[str, FunctionTool]:
    """``run_tools(tools=...)`` as tools by name; ``TypeError`` for anything else."""
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, typing.Iterable):
        raise TypeError("tools must be a list of functions or FunctionTool objects.")
    by_name: dict[str, FunctionTool] = {}
    for position, item in enumerate(tools):
        if not callable(item) and not isinstance(item, FunctionTool):
            raise TypeError(
                f"tools[{position}] must be a function or a FunctionTool, not {item!r}; "
                "run_tools() runs the tools itself, so it needs the functions."
            )
        tool = function_tool(item)
        if tool.name in by_name:
            raise ValueError(f"tools has two tools named {tool.name!r}.")
        by_name[tool.name] = tool
    if not by_name:
        raise ValueError("tools is empty; give at least one function.")
    return by_name
