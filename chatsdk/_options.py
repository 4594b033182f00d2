"""Settings that a client and each request accept, checked once with the parameter's name.

Each check names the parameter and says what to do, and never quotes a value that may be a
secret (a key, a header's value).

Example::

    timeout = as_timeout(30)                              # httpx.Timeout(30)
    policy = retry_policy(RetryPolicy(), max_retries=5)   # RetryPolicy(max_retries=5, ...)
    deadline = check_deadline(120)                        # 120.0
    check_api_key("sk-...\\n")                            # ValueError: api_key has whitespace...
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from ._retry import RetryPolicy

__all__ = [
    "MAX_JSON_DEPTH",
    "NOT_GIVEN",
    "TimeoutTypes",
    "as_timeout",
    "check_api_key",
    "check_backend",
    "check_deadline",
    "check_headers",
    "check_http_client",
    "check_json",
    "check_telemetry",
    "connection_limits",
    "retry_policy",
]

# How deep ``extra_body`` may nest. Python's JSON encoder fails near its recursion limit (about
# 1,000 levels); no API field nests anywhere near 100, so a body deeper than that is a mistake
# (often a structure that contains itself), refused before it is sent.
MAX_JSON_DEPTH = 100
# What HTTP allows in a header: a name is a token; a value is visible ASCII with inner spaces or
# tabs. A newline or a non-ASCII character would fail deep in the HTTP stack, after retries.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?)?")
# An API key: visible ASCII, no whitespace at all.
_API_KEY = re.compile(r"[\x21-\x7e]+")

TimeoutTypes = float | httpx.Timeout | None


class _NotGiven:
    """The default of a setting left out, told apart from ``None``, which means "no limit"."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()


def as_timeout(timeout: TimeoutTypes) -> httpx.Timeout:
    """``timeout`` as an ``httpx.Timeout``: seconds, an ``httpx.Timeout`` or ``None`` (none)."""
    if isinstance(timeout, httpx.Timeout):
        limits = (timeout.connect, timeout.read, timeout.write, timeout.pool)
        if all(limit is None or limit > 0 for limit in limits):
            return timeout
        raise TypeError(
            f"timeout must have limits > 0 seconds (or None for no limit), not {timeout!r}."
        )
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
        raise TypeError(f"timeout must be seconds, an httpx.Timeout or None, not {timeout!r}.")
    if timeout is not None and not timeout > 0:
        raise TypeError(
            f"timeout must be a positive number of seconds (or None for no limit), not {timeout!r}."
        )
    return httpx.Timeout(timeout)


def check_deadline(deadline: Any) -> float | None:
    """``deadline`` in seconds, or ``None`` for none; anything else is a ``TypeError``."""
    if deadline is None:
        return None
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or deadline <= 0:
        raise TypeError(f"deadline must be a positive number of seconds or None, not {deadline!r}.")
    return float(deadline)


def check_telemetry(telemetry: object) -> bool:
    """``telemetry`` as given when it is ``True`` or ``False``; anything else is a ``TypeError``."""
    if not isinstance(telemetry, bool):
        raise TypeError(f"telemetry must be True or False, not {type(telemetry).__name__}")
    return telemetry


def retry_policy(base: Any, max_retries: Any = NOT_GIVEN) -> RetryPolicy:
    """The policy ``base`` (a ``RetryPolicy``), with ``max_retries`` applied when given."""
    if not isinstance(base, RetryPolicy):
        raise TypeError(
            f"retry must be a chatsdk.RetryPolicy, such as RetryPolicy(max_retries=3), not "
            f"{base!r}."
        )
    if max_retries is NOT_GIVEN or (type(max_retries) is int and max_retries == base.max_retries):
        return base
    return base.replace(max_retries=max_retries)


def check_api_key(api_key: object) -> None:
    """``api_key`` is ``None`` or a string of visible ASCII characters, or an error that never
    quotes it."""
    if api_key is None:
        return
    if not isinstance(api_key, str):
        raise TypeError(f"api_key must be a string, not {type(api_key).__name__}.")
    if api_key and not _API_KEY.fullmatch(api_key):
        raise ValueError(
            "api_key contains whitespace or a character that cannot be sent in an HTTP header "
            "(a key read from a file often keeps its newline: pass key.strip()). The key is not "
            "shown here."
        )


def check_headers(headers: object, parameter: str) -> None:
    """``headers`` maps header names to values that HTTP can carry (``None`` removes one)."""
    if not isinstance(headers, Mapping):
        raise TypeError(f"{parameter} must be a mapping of header names to values.")
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{parameter} has a header name HTTP does not allow: {name!r}.")
        if value is None:
            continue
        if not isinstance(value, str):
            raise TypeError(
                f"{parameter}[{name!r}] must be a string (or None to remove the header), not "
                f"{type(value).__name__}."
            )
        if not _HEADER_VALUE.fullmatch(value):
            raise ValueError(
                f"{parameter}[{name!r}] has a newline, a control or non-ASCII character, or "
                "whitespace at an end, which HTTP headers cannot carry (the value is not shown: "
                "it may be a secret). Strip it, or encode it as the server expects."
            )


def check_http_client(http_client: object) -> None:
    """``http_client`` is ``None`` or an ``httpx.AsyncClient``."""
    if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
        raise TypeError(
            f"http_client must be an httpx.AsyncClient (chatsdk is async), not "
            f"{type(http_client).__module__}.{type(http_client).__qualname__}."
        )


BACKENDS = ("httpx", "aiohttp")


def check_backend(
    backend: object, http_client: object, loop: object = None, from_env: str | None = None
) -> str:
    """``backend`` is one of :data:`BACKENDS`, not given with an ``http_client``, and not
    aiohttp where ``loop`` (the running event loop, if any) is trio's. Not given, it is
    ``from_env`` (``CHATSDK_BACKEND``) where no ``http_client`` is, else ``"httpx"``."""
    if backend is NOT_GIVEN:
        backend = (from_env or "httpx") if http_client is None else "httpx"
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(
            f"backend must be 'httpx' (the default) or 'aiohttp' (pip install "
            f"'chatsdk[aiohttp]'), not {backend!r}."
        )
    if backend != "httpx" and http_client is not None:
        raise ValueError(
            f"backend={backend!r} and http_client cannot be used together: the backend is the "
            "transport of the HTTP client chatsdk makes. Leave one of them out."
        )
    if backend == "aiohttp" and type(loop).__name__ == "TrioToken":
        raise ValueError(
            "backend='aiohttp' runs on asyncio only (aiohttp has no trio support); use the "
            "default backend='httpx' under trio."
        )
    return backend


# httpx's default of 100 connections makes the 101st concurrent stream wait for a free one; chat
# servers are used with hundreds of streams open at once, so the pool allows 1,000 unless told
# otherwise, and keeps up to 100 idle connections alive for reuse.
DEFAULT_MAX_CONNECTIONS = 1000
MAX_KEEPALIVE = 100


def connection_limits(max_connections: object, http_client: object) -> httpx.Limits:
    """The pool's limits: ``max_connections`` (1,000 when not given), up to 100 kept idle; not
    with an ``http_client``, whose pool is its own."""
    if max_connections is NOT_GIVEN:
        max_connections = DEFAULT_MAX_CONNECTIONS
    elif http_client is not None:
        raise ValueError(
            "max_connections and http_client cannot be used together: the pool is the "
            "http_client's. Set httpx.Limits(max_connections=...) on it, or leave it out."
        )
    if type(max_connections) is not int or max_connections < 1:
        raise TypeError(
            f"max_connections must be an int >= 1 (concurrent connections in the pool), not "
            f"{max_connections!r}."
        )
    return httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=min(max_connections, MAX_KEEPALIVE),
    )


def check_json(value: Any, parameter: str) -> None:
    """``value`` can be sent as JSON as it is: every key a string (or a number, which JSON turns
    into a string, once), every value JSON's, at most :data:`MAX_JSON_DEPTH` deep, no cycle."""
    # Each place is (its parent's place, its key): the path is spelled out only for an error.
    places: list[tuple[int, Any]] = [(-1, None)]
    pending: list[tuple[Any, int, int]] = [(value, 0, 0)]

    def where(place: int) -> str:
        keys: list[str] = []
        while place > 0:
            place, key = places[place]
            keys.append(f"[{key!r}]")
        return parameter + "".join(reversed(keys))

    while pending:
        item, place, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(
                f"{parameter} nests deeper than {MAX_JSON_DEPTH} levels (does it contain "
                "itself?); flatten it."
            )
        if isinstance(item, Mapping):
            seen: set[str] = set()
            for key, child in item.items():
                if isinstance(key, bool) or not isinstance(key, (str, int)):
                    raise TypeError(f"{where(place)} has a key JSON cannot carry: {key!r}.")
                text = str(key)
                if text in seen:
                    raise ValueError(
                        f"{where(place)} has the key {text!r} twice once sent as JSON (as a "
                        "number and as a string); keep one."
                    )
                seen.add(text)
                places.append((place, key))
                pending.append((child, len(places) - 1, depth + 1))
        elif isinstance(item, (list, tuple)):
            for index, child in enumerate(item):
                places.append((place, index))
                pending.append((child, len(places) - 1, depth + 1))
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                raise TypeError(f"{where(place)} is {item!r}, which JSON cannot carry.")
        elif item is not None and not isinstance(item, (str, int)):
            raise TypeError(
                f"{where(place)} is a {type(item).__name__}, which cannot be sent as JSON; use a "
                "str, number, bool, None, list or dict."
            )
