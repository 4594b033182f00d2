"""Which event loop is running: asyncio's loop or trio's run token (neither is imported here).

Example::

    loop = running_loop()     # asyncio's loop, trio's token, or None outside both
"""

from __future__ import annotations

import sys

__all__ = ["running_loop"]


def running_loop() -> object:
    """The running event loop (asyncio's loop, trio's run token); ``None`` if neither is known."""
    asyncio = sys.modules.get("asyncio")  # not imported: no asyncio loop can be running
    if asyncio is not None:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            pass
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            return trio.lowlevel.current_trio_token()
        except RuntimeError:
            pass
    return None
