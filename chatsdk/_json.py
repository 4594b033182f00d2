"""The package's one JSON helper: decode what a server sent, encode what a request sends.

Decoding goes through :meth:`json.JSONDecoder.raw_decode`, the documented entry point one level
below ``json.loads``: it saves a Python call per chunk on the hot path and reports where the value
ended, so trailing bytes other than whitespace are refused as ``json.loads`` would. Every failure,
including a value nested so deep that the decoder runs out of stack (a hostile
``[[[[...]]]]``), comes out as one ``ValueError`` for the caller to turn into a typed error.

Example::

    loads('{"a": 1}')          # {'a': 1}
    loads("[" * 100_000)       # ValueError, never RecursionError
    dumps({"model": "m"})      # '{"model":"m"}'
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps", "loads", "quote"]

_decoder = json.JSONDecoder()
_raw_decode = _decoder.raw_decode
_WHITESPACE = " \t\n\r"

# How much of a bad value an error message quotes: enough to recognise it, short enough for a log.
QUOTE_CHARS = 200


def loads(text: str) -> Any:
    """Decode one JSON value; ``ValueError`` for anything that is not exactly one.

    Example::

        loads(' {"x": [1, 2]} ')   # {'x': [1, 2]}
    """
    try:
        value, end = _raw_decode(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to decode") from None
    except ValueError:
        # raw_decode refuses leading whitespace that json.loads accepts; retry once without it.
        stripped = text.lstrip(_WHITESPACE)
        if stripped is text or not stripped:
            raise
        return loads(stripped)
    if end != len(text) and text[end:].strip(_WHITESPACE):
        raise ValueError(f"Extra data after the JSON value at position {end}")
    return value


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
