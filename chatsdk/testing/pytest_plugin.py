"""A pytest plugin with a ``chat_server`` fixture: a local server for each test.

Opt in from a conftest.py::

    pytest_plugins = ["chatsdk.testing.pytest_plugin"]

    def test_echo(chat_server):
        assert chat_server.base_url.startswith("http://127.0.0.1:")

Configure the server of one test with the ``chat_server`` marker, whose keyword arguments go to
:func:`chatsdk.testing.serve`::

    @pytest.mark.chat_server(replies=["Hi!"], faults=Faults(delay=0.01), api_key="sk-test")
    async def test_hi(chat_server): ...

The fixture is synchronous (the server runs in its own thread), so it serves tests running under
asyncio, trio or no event loop at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ._server import LocalServer

__all__ = ["chat_server"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "chat_server(**kwargs): keyword arguments for the chat_server fixture's local server",
    )


@pytest.fixture
def chat_server(request: pytest.FixtureRequest) -> Iterator[LocalServer]:
    """A started :class:`chatsdk.testing.LocalServer`, stopped after the test."""
    marker = request.node.get_closest_marker("chat_server")
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker else {}
    with LocalServer(**kwargs) as server:
        yield server
