"""Starting and stopping the server: context managers, client(), pytest plugin, run()."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import chatsdk
from chatsdk.testing import Faults, LocalServer, serve
from chatsdk.testing._uvicorn import listening_socket

# One TLS context for all clients: building one per client costs ~30 ms, and every
# connection here is plain HTTP on loopback anyway.
TLS = ssl.create_default_context()
PLUGIN_TEST = '''
import httpx
import pytest

from chatsdk.testing import Faults


def test_default(chat_server):
    r = httpx.post(chat_server.base_url + "/chat/completions",
                   json={"model": "m", "messages": [{"role": "user", "content": "yo"}]})
    assert r.json()["choices"][0]["message"]["content"].endswith("You said: yo")


@pytest.mark.chat_server(replies=["Hi!"], api_key="sk-x", faults=Faults(times=0))
def test_marker(chat_server):
    r = httpx.post(chat_server.base_url + "/chat/completions",
                   headers={"authorization": "Bearer sk-x"},
                   json={"model": "m", "messages": [{"role": "user", "content": "yo"}]})
    assert r.json()["choices"][0]["message"]["content"] == "Hi!"
    assert len(chat_server.requests) == 1
'''


def test_sync_context_manager_and_restart() -> None:
    server = LocalServer(replies=["a", "b"])
    with server:
        port = server.port
        assert server.base_url == f"http://127.0.0.1:{port}/v1"
        first = httpx.post(server.base_url + "/chat/completions",
                           json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
        with pytest.raises(RuntimeError, match="already started"):
            server.start()
    assert first.json()["choices"][0]["message"]["content"] == "a"
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.port
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/v1/models")
    server.stop()  # stopping twice is harmless
    server.faults = Faults(delay=0.01)  # delays work again after a restart
    with server:  # and it can start again, keeping its state
        again = httpx.post(server.base_url + "/chat/completions",
                           json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert again.json()["choices"][0]["message"]["content"] == "b"
    assert len(server.requests) == 2


def test_busy_port_fails_clearly() -> None:
    with LocalServer() as first, pytest.raises(RuntimeError, match="failed to start") as caught:
        busy = first.port
        LocalServer(port=busy).start()
    assert f"could not listen on 127.0.0.1:{busy}" in str(caught.value)
    assert isinstance(caught.value.__cause__, OSError)


@pytest.mark.anyio
async def test_client_builds_a_chat_client(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, Any]] = []

    class FakeClient:
        def __init__(self, **kwargs: Any) -> None:
            made.append(kwargs)

    monkeypatch.setattr(chatsdk, "AsyncChatClient", FakeClient, raising=False)
    async with serve(api_key="sk-key") as keyed:
        keyed.client(max_retries=0)
        keyed_url = keyed.base_url
    async with serve() as open_server:
        open_server.client()
        open_url = open_server.base_url
        open_server.client(api_key="other", base_url="http://elsewhere/v1")
    assert made == [
        {"max_retries": 0, "api_key": "sk-key", "base_url": keyed_url},
        {"api_key": "test", "base_url": open_url},
        {"api_key": "other", "base_url": "http://elsewhere/v1"},
    ]


@pytest.mark.anyio
async def test_many_concurrent_streams_with_seeded_faults() -> None:
    def faults(index: int, body: Any) -> Faults | None:
        return [None, Faults(status=503), Faults(disconnect_after=2),
                Faults(error_after=1), Faults(keepalive=True)][index % 5]

    outcomes: dict[str, str] = {}

    async def one(http: httpx.AsyncClient, tag: str) -> None:
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": tag}]}
        try:
            async with http.stream("POST", "/chat/completions", json=body) as response:
                raw = await response.aread()
        except httpx.RemoteProtocolError:
            outcomes[tag] = "broken"
            return
        if response.status_code != 200:
            outcomes[tag] = str(response.status_code)
        elif raw.endswith(b"data: [DONE]\n\n"):
            outcomes[tag] = "keepalive" if b": keep-alive" in raw else "ok"
        else:
            outcomes[tag] = "error-event" if b'"error"' in raw else "?"

    async with serve(faults=faults) as server, httpx.AsyncClient(
        verify=TLS, base_url=server.base_url, limits=httpx.Limits(max_connections=20)
    ) as http:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for i in range(60):
                    tg.start_soon(one, http, f"t{i}")
    expected = {"ok": 12, "503": 12, "broken": 12, "error-event": 12, "keepalive": 12}
    counts = {k: list(outcomes.values()).count(k) for k in expected}
    assert counts == expected
    # Each outcome belongs to the request index the faults function saw for that message.
    by_tag = {r.body["messages"][0]["content"]: i for i, r in enumerate(server.chat_requests)}
    names = ["ok", "503", "broken", "error-event", "keepalive"]
    assert all(outcomes[tag] == names[i % 5] for tag, i in by_tag.items())


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(chatsdk.__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]
    )
    return env


def test_pytest_plugin_fixture(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["chatsdk.testing.pytest_plugin"]\n')
    (tmp_path / "test_plugin_use.py").write_text(PLUGIN_TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_run_prints_its_url_and_stops_on_ctrl_c() -> None:
    code = "from chatsdk.testing import run; run(port=0, api_key='sk-run')"
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("chatsdk local test server listening on http://127.0.0.1:")
        base_url = line.split()[-1]
        models = httpx.get(base_url + "/models", headers={"authorization": "Bearer sk-run"})
        assert models.status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_core_package_does_not_import_the_server() -> None:
    code = textwrap.dedent("""
        import sys, chatsdk
        loaded = [m for m in ("chatsdk.testing", "uvicorn") if m in sys.modules]
        assert not loaded, loaded
    """)
    result = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_accepted_connections_send_without_nagle_delay(host: str) -> None:
    # The server's listening socket: what it accepts inherits TCP_NODELAY, so a reply on a
    # kept-alive connection is not held back waiting for a delayed ACK.
    try:
        listener = listening_socket(host, 0)
    except OSError as exc:  # a machine without IPv6 on loopback
        pytest.skip(f"cannot listen on {host}: {exc}")
    with listener, socket.create_connection(listener.getsockname()[:2]) as peer:
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            peer.sendall(b"ping")
            assert accepted.recv(4) == b"ping"


def test_a_busy_port_is_a_plain_os_error_naming_it() -> None:
    with listening_socket("127.0.0.1", 0) as first:
        port = first.getsockname()[1]
        with pytest.raises(OSError, match=f"could not listen on 127.0.0.1:{port}"):
            listening_socket("127.0.0.1", port)
