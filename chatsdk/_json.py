"""The package's one JSON helper: decode what a server sent, encode what a request sends.

Decoding goes through :meth:`json.JSONDecoder.raw_decode`, the documented entry point one level
below ``json.loads``: it saves a Python call per chunk on the hot path and reports where the value
ended, so trailing bytes other than whitespace are refused as ``json.loads`` would. Every failure
comes out as one ``ValueError`` for the caller to turn into a typed error, including a value
nested deeper than :data:`MAX_DEPTH` (a hostile ``[[[[...]]]]`` would otherwise exhaust the stack
while being decoded, or later wherever the value is walked, copied or printed).

A lone UTF-16 surrogate written as an escape (``"\\ud800"`` with no partner) decodes to text that
cannot be encoded, printed to a UTF-8 terminal or written to a file; each one is replaced with
U+FFFD, the replacement character, as undecodable bytes are. A valid pair (``"\\ud83d\\ude00"``)
is one character and is kept.

Example::

    loads('{"a": 1}')          # {'a': 1}
    loads("[" * 100_000)       # ValueError, never RecursionError
    loads('"\\ud800"')          # '\\ufffd'
    dumps({"model": "m"})      # '{"model":"m"}'
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_DEPTH", "dumps", "loads", "quote"]

_decoder = json.JSONDecoder()
_raw_decode = _decoder.raw_decode
_WHITESPACE = " \t\n\r"

# How much of a bad value an error message quotes: enough to recognise it, short enough for a log.
QUOTE_CHARS = 200

# Arrays and objects may nest this deep. A chat reply nests about six levels; provider extensions
# add a few. The cap keeps every later walk of the value (copying it with ``to_dict()``, printing
# it, encoding it again) far from Python's recursion limit of 1000.
MAX_DEPTH = 256
# Nesting N levels takes N opening and N closing brackets: a text no longer than this is within
# the cap without a count.
_SHALLOW_CHARS = 2 * MAX_DEPTH

# A surrogate code point written as an escape; only such an escape can decode to a lone
# surrogate (the text itself comes from a decoder that replaces what is not UTF-8).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def loads(text: str) -> Any:
    """Decode one JSON value; ``ValueError`` for anything that is not exactly one.

    Example::

        loads(' {"x": [1, 2]} ')   # {'x': [1, 2]}
    """
    try:
        value, end = _raw_decode(text)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        # raw_decode refuses leading whitespace that json.loads accepts; retry once without it.
        stripped = text.lstrip(_WHITESPACE)
        if stripped is text or not stripped:
            raise
        return loads(stripped)
    if end != len(text) and text[end:].strip(_WHITESPACE):
        raise ValueError(f"Extra data after the JSON value at position {end}")
    # A text with few brackets needs no walk to be within the cap. Only a text with a backslash
    # can hold an escape (a test for one character costs a tenth of a test for two).
    if (len(text) > _SHALLOW_CHARS and text.count("[") + text.count("{") > MAX_DEPTH) or (
        "\\" in text and _SURROGATE_ESCAPE.search(text)
    ):
        value = _checked(value, text)
    return value


def _checked(value: Any, text: str) -> Any:
    """``value`` within :data:`MAX_DEPTH`, lone surrogates replaced; walked without recursion."""
    fix = _SURROGATE_ESCAPE.search(text) is not None
    if type(value) is not dict and type(value) is not list:
        return _SURROGATE.sub("\ufffd", value) if fix and type(value) is str else value
    # Each entry: a container and its depth; strings in it are fixed in place.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
        items: Any
        if type(node) is dict:
            if fix:
                _fix_keys(node)
            items = node.items()
        else:
            items = enumerate(node)
        for key, item in items:
            kind = type(item)
            if kind is dict or kind is list:
                stack.append((item, depth + 1))
            elif fix and kind is str and _SURROGATE.search(item):
                node[key] = _SURROGATE.sub("\ufffd", item)
    return value


def _fix_keys(node: dict[str, Any]) -> None:
    bad = [key for key in node if _SURROGATE.search(key)]
    for key in bad:
        node[_SURROGATE.sub("\ufffd", key)] = node.pop(key)


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII kept as it is; ``NaN`` and infinities are refused.

    Example::

        dumps({"content": "你好"})   # '{"content":"你好"}'
    """
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def quote(text: str) -> str:
    """``repr(text)``, cut at :data:`QUOTE_CHARS` characters, for an error message.

    Example::

        quote("x" * 500)   # "'xxx…x'..." (200 characters of it)
    """
    if len(text) > QUOTE_CHARS:
        return repr(text[:QUOTE_CHARS]) + "..."
    return repr(text)
