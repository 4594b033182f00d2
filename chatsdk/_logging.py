"""The ``chatsdk`` logger, switched on by ``CHATSDK_LOG=debug`` (or ``info``); secrets redacted.

Secrets are kept out of logs in two ways: chatsdk's own lines never print a credential header's
value (:func:`redact_headers`), and the loggers of httpx and httpcore, which print a reply's
status line and (at DEBUG) its headers as the server sent them, get a filter that takes out the
secrets of every live client (:func:`protect`), in case a server echoes them back.

Example::

    import logging
    logging.getLogger("chatsdk").setLevel(logging.DEBUG)   # or run with CHATSDK_LOG=debug
"""

from __future__ import annotations

import logging
import os
import re
import weakref
from collections.abc import Iterable
from typing import Any

__all__ = [
    "REDACTED",
    "SECRET_HEADERS",
    "configure_from_env",
    "logger",
    "protect",
    "redact",
    "redact_headers",
    "secret_forms",
]

logger = logging.getLogger("chatsdk")

# Headers whose values are credentials: their values are never logged.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "api-key", "x-api-key", "openai-api-key", "cookie"}
)
REDACTED = "<redacted>"
# A secret shorter than this (a placeholder such as "k" or "none" for a local server) is replaced
# only where it stands as a word of its own: as a substring it would cut words of every message
# apart ("chunk" -> "chun<redacted>") while hiding nothing that could not be guessed.
WHOLE_WORD_BELOW = 8
# The loggers of the HTTP stack below chatsdk: httpx's request line, httpcore's trace (whose
# DEBUG lines quote a reply's status line and headers, and the exceptions it met).
_FOREIGN_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)

_configured = False
# The secrets of each live holder (a client), redacted from foreign logs while it lives.
_holders: weakref.WeakKeyDictionary[Any, tuple[str, ...]] = weakref.WeakKeyDictionary()
_filter_installed = False


def configure_from_env() -> None:
    """Give the logger a stderr handler at the level named by ``CHATSDK_LOG``, once."""
    global _configured
    if _configured:
        return
    _configured = True
    level = os.environ.get("CHATSDK_LOG", "").strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING"):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(asctime)s %(name)s %(levelname)s] %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The headers as a dict for a log line, credentials replaced by ``<redacted>``."""
    return {name: REDACTED if name.lower() in SECRET_HEADERS else value for name, value in headers}


def secret_forms(secret: str) -> tuple[str, ...]:
    """``secret`` as text may quote it: as it is, and as ``repr()`` of it (str or bytes) escapes
    it."""
    escaped = repr(secret)[1:-1]
    return (secret,) if escaped == secret else (secret, escaped)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each of ``secrets`` (and its escaped form) replaced by ``<redacted>``; the
    same object when none is in it. A secret shorter than :data:`WHOLE_WORD_BELOW` characters
    is replaced only where it is a word of its own."""
    for secret in secrets:
        if secret:
            for form in secret_forms(secret):
                if form not in text:
                    continue
                if len(form) >= WHOLE_WORD_BELOW:
                    text = text.replace(form, REDACTED)
                else:
                    word = rf"(?<![\w-]){re.escape(form)}(?![\w-])"
                    text = re.sub(word, REDACTED, text) if re.search(word, text) else text
    return text


class _RedactingFilter(logging.Filter):
    """Takes the secrets of live clients out of a record; runs only for records being logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = {secret for held in list(_holders.values()) for secret in held if secret}
        if secrets:
            try:
                message = record.getMessage()
            except Exception:  # a bad record: left for the handler to report, as logging does
                return True
            redacted = redact(message, secrets)
            if redacted is not message:
                record.msg, record.args = redacted, None
        return True


def protect(holder: Any, secrets: tuple[str, ...]) -> None:
    """Keep ``secrets`` out of httpx's and httpcore's log records while ``holder`` lives."""
    global _filter_installed
    if not _filter_installed:
        _filter_installed = True
        redacting = _RedactingFilter()
        for name in _FOREIGN_LOGGERS:
            logging.getLogger(name).addFilter(redacting)
    if secrets:
        _holders[holder] = secrets
