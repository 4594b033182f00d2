"""The ``chatsdk`` logger, switched on by ``CHATSDK_LOG=debug`` (or ``info``); secrets redacted.

Example::

    import logging
    logging.getLogger("chatsdk").setLevel(logging.DEBUG)   # or run with CHATSDK_LOG=debug
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

__all__ = ["SECRET_HEADERS", "configure_from_env", "logger", "redact_headers"]

logger = logging.getLogger("chatsdk")

# Headers whose values are credentials: their values are never logged.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "api-key", "x-api-key", "openai-api-key", "cookie"}
)

_configured = False


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
    return {
        name: "<redacted>" if name.lower() in SECRET_HEADERS else value for name, value in headers
    }
