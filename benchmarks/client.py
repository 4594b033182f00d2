"""One measurement in a fresh process: ``python benchmarks/client.py --adapter A --figures F``.

Prints one JSON line per figure on stdout. Exits non-zero if any reply's text is not the
text the server was asked to send. ``run.py`` drives this; it is rarely run by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import adapters
import payload

BUFFERED_K = 50  # content pieces in a buffered reply
TTFT_K = 3  # content chunks in the tiny stream of the time-to-first-delta figure
PAUSED_K = 8

SIZES: dict[str, dict[str, dict[str, int]]] = {
    "full": {
        "buffered_c1": {"n": 2000, "concurrency": 1},
        "buffered_c50": {"n": 2000, "concurrency": 50},
        "stream_long": {"k": 20000},
        "stream_many": {"streams": 100, "concurrency": 50, "k": 200},
        "ttft": {"n": 300},
        "rss_paused": {"streams": 500},
        "batch_c64": {"n": 4000, "concurrency": 64},
        "batch_c256": {"n": 4000, "concurrency": 256},
        "batch_c1024": {"n": 8000, "concurrency": 1024},
    },
    "smoke": {
        "buffered_c1": {"n": 20, "concurrency": 1},
        "buffered_c50": {"n": 40, "concurrency": 5},
        "stream_long": {"k": 300},
        "stream_many": {"streams": 10, "concurrency": 5, "k": 20},
        "ttft": {"n": 10},
        "rss_paused": {"streams": 20},
        "batch_c64": {"n": 40, "concurrency": 4},
        "batch_c256": {"n": 40, "concurrency": 8},
        "batch_c1024": {"n": 40, "concurrency": 16},
    },
}
FIGURES = tuple(SIZES["full"])


class Mismatch(AssertionError):
    pass


def check(adapter: adapters.Adapter, got: str, k: int) -> None:
    want = payload.expected_text(k)
    if got != want:
        at = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
        if at is None:
            at = min(len(got), len(want))
        raise Mismatch(
            f"{adapter.name}: text mismatch at char {at} (got {len(got)} chars, want "
            f"{len(want)}): got {got[at : at + 20]!r}, want {want[at : at + 20]!r}"
        )


def server_cpu(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def run_pool(concurrency: int, n: int, job: Callable[[], Awaitable[None]]) -> None:
    """Run ``job`` ``n`` times with at most ``concurrency`` at once."""
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await job()

    await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))


class Section:
    """Wall, client CPU and server CPU around the measured part of a figure."""

    def __init__(self, server_pid: int, profile: cProfile.Profile | None) -> None:
        self.server_pid = server_pid
        self.profile = profile

    def __enter__(self) -> Section:
        gc.collect()
        self.s0 = server_cpu(self.server_pid)
        self.c0 = time.process_time()
        self.t0 = time.perf_counter()
        if self.profile is not None:
            self.profile.enable()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.profile is not None:
            self.profile.disable()
        self.wall = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.c0
        self.server = server_cpu(self.server_pid) - self.s0

    def result(self, **metrics: float) -> dict[str, Any]:
        return {
            "metrics": metrics,
            "wall_s": self.wall,
            "cpu_s": self.cpu,
            "server_cpu_s": self.server,
        }


async def fig_buffered(a: adapters.Adapter, size: dict[str, int], sec: Section) -> dict[str, Any]:
    n, conc = size["n"], size["concurrency"]
    model = f"bench-k{BUFFERED_K}"

    async def job() -> None:
        check(a, await a.buffered(model), BUFFERED_K)

    await run_pool(conc, conc * 2, job)  # warm-up: open the connections, load code paths
    with sec:
        await run_pool(conc, n, job)
    return sec.result(req_per_s=n / sec.wall, cpu_us_per_req=sec.cpu / n * 1e6)


async def fig_batch(a: adapters.Adapter, size: dict[str, int], sec: Section) -> dict[str, Any]:
    """Many buffered requests at a concurrency: chatsdk through ``chatsdk.run_batch`` (the
    engine of ``chatsdk batch``), the others through the hand-written pool of ``run_pool``."""
    n, conc = size["n"], size["concurrency"]
    model = f"bench-k{BUFFERED_K}"
    if isinstance(a, adapters.ChatsdkAdapter):
        import chatsdk

        def requests(count: int) -> list[chatsdk.BatchRequest]:
            body = {"model": model, "messages": adapters.MESSAGES}
            return [chatsdk.BatchRequest(f"r{i}", body) for i in range(count)]

        async def run(count: int) -> None:
            async with chatsdk.run_batch(a.client, requests(count), concurrency=conc) as results:
                async for result in results:
                    if not result.ok:
                        raise AssertionError(f"{a.name}: {result.error}")
                    check(a, result.content or "", BUFFERED_K)

    else:

        async def run(count: int) -> None:
            async def job() -> None:
                check(a, await a.buffered(model), BUFFERED_K)

            await run_pool(conc, count, job)

    await run(conc * 2)  # warm-up: open the connections, load code paths
    with sec:
        await run(n)
    return sec.result(req_per_s=n / sec.wall, cpu_us_per_req=sec.cpu / n * 1e6)


async def fig_stream_long(
    a: adapters.Adapter, size: dict[str, int], sec: Section
) -> dict[str, Any]:
    k = size["k"]
    check(a, await a.stream_text("bench-k50"), 50)  # warm-up
    with sec:
        text = await a.stream_text(f"bench-k{k}")
    check(a, text, k)
    return sec.result(cpu_us_per_chunk=sec.cpu / k * 1e6, chunks_per_s=k / sec.wall)


async def fig_stream_many(
    a: adapters.Adapter, size: dict[str, int], sec: Section
) -> dict[str, Any]:
    streams, conc, k = size["streams"], size["concurrency"], size["k"]

    def job_for(kk: int) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            check(a, await a.stream_text(f"bench-k{kk}"), kk)

        return job

    await run_pool(conc, conc, job_for(10))  # warm-up
    with sec:
        await run_pool(conc, streams, job_for(k))
    chunks = streams * k
    return sec.result(cpu_us_per_chunk=sec.cpu / chunks * 1e6, chunks_per_s=chunks / sec.wall)


async def fig_ttft(a: adapters.Adapter, size: dict[str, int], sec: Section) -> dict[str, Any]:
    n = size["n"]
    model = f"bench-k{TTFT_K}"
    for _ in range(5):  # warm-up
        check(a, (await a.stream_ttft(model))[1], TTFT_K)
    samples: list[float] = []
    with sec:
        for _ in range(n):
            first, text = await a.stream_ttft(model)
            check(a, text, TTFT_K)
            samples.append(first)
    samples.sort()
    return sec.result(
        p50_ms=samples[(n - 1) // 2] * 1e3,
        p99_ms=samples[round(0.99 * (n - 1))] * 1e3,
        cpu_us_per_stream=sec.cpu / n * 1e6,
    )


async def release_paused(port: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /release HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        body = await asyncio.wait_for(reader.readexactly(length), 30)
    finally:
        writer.close()
    return int(json.loads(body)["released"])


async def fig_rss_paused(
    a: adapters.Adapter, size: dict[str, int], sec: Section, port: int
) -> dict[str, Any]:
    streams = size["streams"]
    model = f"bench-pause-k{PAUSED_K}"
    # Warm-up: one paused stream end to end, so code paths and caches are loaded.
    check(a, await a.stream_text(f"bench-k{PAUSED_K}"), PAUSED_K)
    release = asyncio.Event()
    opened = asyncio.Event()
    count = 0

    def on_first() -> None:
        nonlocal count
        count += 1
        if count == target:
            opened.set()

    async def open_all(n: int) -> list[asyncio.Task[str]]:
        tasks = [asyncio.create_task(a.stream_paused(model, on_first, release)) for _ in range(n)]
        waiter = asyncio.create_task(opened.wait())
        pending: set[asyncio.Future[Any]] = {waiter, *tasks}
        deadline = time.monotonic() + 120
        while not waiter.done():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{a.name}: only {count} of {n} paused streams opened")
            done, pending = await asyncio.wait(
                pending, timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                if task is not waiter:
                    task.result()  # a stream ended early: raise its error
                    raise AssertionError(f"{a.name}: a paused stream finished before release")
        return tasks

    # A first paused stream warms the paused path (and the connection pool) too.
    target = 1
    warm = await open_all(1)
    assert await release_paused(port) == 1
    release.set()
    check(a, (await asyncio.gather(*warm))[0], PAUSED_K)
    release.clear()
    opened.clear()
    count = 0
    target = streams

    gc.collect()
    rss0 = rss_bytes()
    with sec:
        tasks = await open_all(streams)
        gc.collect()
        rss1 = rss_bytes()
    released = await release_paused(port)
    release.set()
    texts = await asyncio.gather(*tasks)
    if released != streams:
        raise AssertionError(f"{a.name}: server released {released} streams, want {streams}")
    for text in texts:
        check(a, text, PAUSED_K)
    return sec.result(
        kib_per_stream=(rss1 - rss0) / streams / 1024,
        open_ms_per_stream=sec.wall / streams * 1e3,
    )


async def main_async(args: argparse.Namespace) -> None:
    adapter = adapters.make_adapter(args.adapter)
    base_url = f"http://127.0.0.1:{args.port}/v1"
    profile = cProfile.Profile() if args.profile else None
    await adapter.open(base_url)
    try:
        for figure in args.figures.split(","):
            size = SIZES[args.size][figure]
            sec = Section(args.server_pid, profile)
            if figure in ("buffered_c1", "buffered_c50"):
                out = await fig_buffered(adapter, size, sec)
            elif figure == "stream_long":
                out = await fig_stream_long(adapter, size, sec)
            elif figure == "stream_many":
                out = await fig_stream_many(adapter, size, sec)
            elif figure == "ttft":
                out = await fig_ttft(adapter, size, sec)
            elif figure.startswith("batch_"):
                out = await fig_batch(adapter, size, sec)
            elif figure == "rss_paused":
                out = await fig_rss_paused(adapter, size, sec, args.port)
            else:
                raise SystemExit(f"unknown figure {figure!r}")
            out.update(figure=figure, adapter=adapter.name, size=size)
            print(json.dumps(out), flush=True)
    finally:
        await adapter.aclose()
    if profile is not None:
        profile.dump_stats(args.profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", required=True)
    parser.add_argument("--figures", required=True, help="comma-separated figure names")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--profile", help="write cProfile stats of the measured sections here")
    args = parser.parse_args()
    try:
        asyncio.run(main_async(args))
    except Mismatch as exc:
        print(f"TEXT MISMATCH: {exc}", file=sys.stderr)
        raise SystemExit(3) from exc


if __name__ == "__main__":
    main()
