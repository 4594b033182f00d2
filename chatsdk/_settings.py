"""The client's settings checked and turned into what a request needs: URL, headers, hints.

Pure: no I/O. ``AsyncChatClient`` (and ``with_options()``) call these once per client.

Example::

    url = parse_base_url("http://127.0.0.1:8000/v1")
    merge_headers(headers, {"X-Trace": "1", "User-Agent": None})   # None removes one
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from . import _json
from ._exceptions import APIConnectionError
from ._logging import SECRET_HEADERS

__all__ = [
    "closed_pool",
    "has_credentials",
    "merge_headers",
    "not_found_hint",
    "parse_base_url",
    "unsendable",
]

# A path segment naming an API version (v1, v1beta, v2): a base_url without one is often the
# reason for a 404.
_VERSION_SEGMENT = re.compile(r"/v\d+[a-z0-9]*(/|$)")


def merge_headers(
    headers: dict[str, Any], changes: Mapping[str, str | None], *, keep_none: bool = False
) -> None:
    """Set each header of ``changes`` in ``headers`` (``None`` removes it, or with ``keep_none``
    is kept, to remove the header where these are merged in turn); names match in any case, as
    HTTP says."""
    for name, value in changes.items():
        lower = name.lower()
        for existing in [key for key in headers if key.lower() == lower]:
            del headers[existing]
        if value is not None or keep_none:
            headers[name] = value


def parse_base_url(base_url: object) -> httpx.URL:
    """``base_url`` as an http(s) URL without credentials in it, or a ``ValueError``."""
    try:
        url = httpx.URL(str(base_url))
    except httpx.InvalidURL as exc:
        raise ValueError(f"base_url is not a valid URL: {exc}") from exc
    if url.userinfo:
        raise ValueError(
            "base_url must not carry a user name or password ('https://user:pass@host/...'): "
            "httpx would send them as Basic auth in place of the API key. Pass the key as "
            "api_key= and take them out of the URL (it is not shown here: it holds a secret)."
        )
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(
            f"base_url must be an http(s) URL such as 'https://api.openai.com/v1', not "
            f"{str(base_url)!r}."
        )
    return url


def has_credentials(headers: Mapping[str, str | None] | None) -> bool:
    if not headers:
        return False
    return any(name.lower() in SECRET_HEADERS and value for name, value in headers.items())


def not_found_hint(url: httpx.URL) -> str:
    """What to change in ``base_url`` when the server answers 404, if it looks like the reason."""
    path = url.path.rstrip("/")
    base = str(url.copy_with(query=None, fragment=None)).rstrip("/")
    if path.endswith("/chat/completions"):
        return (
            f"base_url is the endpoint's address; set it to the API's base, "
            f"{base[: -len('/chat/completions')]!r}: chatsdk adds '/chat/completions' itself"
        )
    if not _VERSION_SEGMENT.search(path + "/"):
        return (
            f"base_url has no version in its path; if the server serves the API under /v1, "
            f"set base_url to {base + '/v1'!r}"
        )
    return ""


def unsendable(body: Mapping[str, Any], exc: BaseException) -> Exception:
    """The error for a body JSON cannot carry, naming the field at fault."""
    culprit = "the request body"
    for name, value in body.items():
        try:
            _json.dumps(value)
        except (TypeError, ValueError, RecursionError):
            culprit = name
            break
    if isinstance(exc, RecursionError):
        return ValueError(
            f"{culprit} is nested too deeply to be sent as JSON (does it contain itself?)."
        )
    return TypeError(f"{culprit} cannot be sent as JSON: {exc}")


def closed_pool(derived: bool, owns_http: bool) -> APIConnectionError:
    """The error for a call on a closed pool: a ``derived`` client's (from ``with_options()``),
    the client's own (``owns_http``), or an ``http_client`` it was given."""
    if derived:
        return APIConnectionError(
            "The client this one was derived from with with_options() is closed, and with it the "
            "connection pool they share; keep it open while derived clients are used."
        )
    if owns_http:
        return APIConnectionError(
            "This client is closed (by aclose() or the end of its 'async with' block); make a new "
            "AsyncChatClient, or keep this one open while it is used."
        )
    return APIConnectionError(
        "The http_client given to this client is closed; keep it open while the client is used, "
        "or leave http_client out."
    )
