"""The cost curve: thousands of concurrent streams in one process (``run.py --scale``).

For each adapter and each step (1,000, 5,000 and 10,000 streams by default), a fresh process
opens that many 20-chunk streams against the benchmark server, all at once: each reads up to its
first content delta and waits there, until every stream is open; then the server releases them
and each reads the rest. It prints one JSON line:

* ``cpu_us_per_chunk``: the process's CPU from the first request to the last chunk, set-up
  included, divided by the chunks read;
* ``kib_per_stream``: RSS growth while the streams are opened, per open stream;
* ``ttft_p50_ms``, ``ttft_p99_ms``: from the start to each stream's first content delta (the
  wait for the stream's turn included);
* ``open_at_once``: the streams open (first delta read) before the release; all of them unless
  the client caps them, as httpcore does at 100 per HTTP/2 connection;
* ``connections``: the connections those open streams came over, as the server counted them;
* ``errors``: streams that failed (their first error is printed on stderr);
* ``gc_pct``, ``gc_full``: the share of that CPU spent in CPython's cyclic garbage collector
  (timed with ``gc.callbacks``) and how many full (generation 2) collections ran;
* ``cpu_us_per_chunk_ex_gc``: CPU per chunk without the collector's share. A full collection
  walks every live object, and 10,000 open streams hold ten times the objects of 1,000: that
  growth is the collector's, not the pool's or the event loop's.

``--gc-threshold 50000,20,100`` runs the steps with ``gc.set_threshold(...)`` as an application
with thousands of streams per process may choose to.

The open-file limit is raised to its hard limit first, in the client and the server.

    python benchmarks/scale.py --adapter chatsdk --streams 1000 --port P --server-pid PID
    python benchmarks/run.py --scale --profile-dir prof   # a cProfile per adapter and step
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from typing import Any

import adapters
import client
from server import raise_open_file_limit

K = 20  # content chunks per stream, as in the measurements
STEPS = (1000, 5000, 10000)
OPEN_LIMIT_S = 300.0  # give up on a step that has not opened every stream by then
# Stop waiting for the rest once no stream has opened for this long: a client that caps the
# streams it keeps open (httpcore: 100 per HTTP/2 connection) would otherwise wait for ever, its
# open streams paused until all are open. ``open_at_once`` says how many were.
STALL_S = 10.0


class GcTimer:
    """Time spent in the cyclic garbage collector, and collections per generation, while on."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0

    def start(self) -> GcTimer:
        gc.callbacks.append(self._on_gc)
        return self

    def stop(self) -> None:
        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:  # the collector runs on this thread, in one go: wall time is its CPU time
            self.seconds += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1


async def measure(a: adapters.Adapter, streams: int, port: int) -> dict[str, Any]:
    model = f"bench-pause-k{K}"
    release = asyncio.Event()
    opened = asyncio.Event()
    firsts: list[float] = []
    start = 0.0

    def on_first() -> None:
        firsts.append(time.perf_counter() - start)
        if len(firsts) == streams:
            opened.set()

    # Warm-up: one stream end to end, so code paths and caches are loaded.
    client.check(a, await a.stream_text(f"bench-k{K}"), K)
    gc.collect()
    rss0 = client.rss_bytes()
    collector = GcTimer().start()
    cpu0 = time.process_time()
    start = time.perf_counter()
    tasks = [asyncio.create_task(a.stream_paused(model, on_first, release)) for _ in range(streams)]
    errors: list[BaseException] = []
    waiter = asyncio.create_task(opened.wait())
    pending: set[asyncio.Future[Any]] = {waiter, *tasks}
    deadline = start + OPEN_LIMIT_S
    seen = -1
    while not waiter.done() and time.perf_counter() < deadline and len(firsts) > seen:
        seen = len(firsts)
        done, pending = await asyncio.wait(
            pending,
            timeout=min(deadline - time.perf_counter(), STALL_S),
            return_when=asyncio.FIRST_COMPLETED,
        )
        for task in done:
            if task is not waiter and task.exception() is not None:
                errors.append(task.exception())
        if len(firsts) + len(errors) >= streams:
            break
    rss1 = client.rss_bytes()
    opened_at = time.perf_counter() - start
    open_at_once = len(firsts)
    released = await client_release(port)
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    if released.get("rearm"):
        await client_release(port, "/rearm")
    cpu = time.process_time() - cpu0
    collector.stop()
    wall = time.perf_counter() - start
    waiter.cancel()
    texts = [r for r in results if isinstance(r, str)]
    errors = [r for r in results if isinstance(r, BaseException)]
    for text in texts:
        client.check(a, text, K)
    if errors:
        print(f"{a.name} at {streams}: {len(errors)} errors, first: {errors[0]!r}", file=sys.stderr)
    firsts.sort()
    chunks = max(len(texts) * K, 1)
    return {
        "adapter": a.name,
        "streams": streams,
        "cpu_us_per_chunk": cpu / chunks * 1e6,
        "cpu_us_per_chunk_ex_gc": (cpu - collector.seconds) / chunks * 1e6,
        "gc_pct": collector.seconds / cpu * 100 if cpu else 0.0,
        "gc_full": collector.collections[2],
        "kib_per_stream": (rss1 - rss0) / max(len(firsts), 1) / 1024,
        "ttft_p50_ms": firsts[(len(firsts) - 1) // 2] * 1e3 if firsts else None,
        "ttft_p99_ms": firsts[round(0.99 * (len(firsts) - 1))] * 1e3 if firsts else None,
        "open_s": opened_at,
        "wall_s": wall,
        "open_at_once": open_at_once,
        "connections": released["connections"],
        "released": released["released"],
        "errors": len(errors),
    }


async def client_release(port: int, path: str = "/release") -> dict[str, int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n".encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        body = await asyncio.wait_for(reader.readexactly(length), 60)
    finally:
        writer.close()
    out: dict[str, int] = json.loads(body)
    return out


# --------------------------------------------------------------------------- the driver (run.py)

SCALE_ADAPTERS = ("chatsdk", "chatsdk-aiohttp", "floor", "aiohttp")
COLUMNS = (
    ("cpu_us_per_chunk", "CPU µs / chunk"),
    ("gc_pct", "GC % of CPU"),
    ("gc_full", "full GCs"),
    ("cpu_us_per_chunk_ex_gc", "CPU µs / chunk ex GC"),
    ("kib_per_stream", "KiB / open stream"),
    ("ttft_p50_ms", "TTFT p50 ms"),
    ("ttft_p99_ms", "TTFT p99 ms"),
    ("open_at_once", "open at once"),
    ("connections", "connections"),
    ("errors", "errors"),
)


def run_step(
    name: str,
    streams: int,
    port: int,
    server_pid: int,
    profile: str | None = None,
    gc_threshold: tuple[int, int, int] | None = None,
) -> dict[str, Any]:
    """One adapter at one step, in a fresh process; a failure is a row saying so. With
    ``profile`` (a path), the step runs under cProfile and its stats are written there; with
    ``gc_threshold``, under ``gc.set_threshold(*gc_threshold)``."""
    import subprocess

    cmd = [sys.executable, __file__, "--adapter", name, "--streams", str(streams)]
    cmd += ["--port", str(port), "--server-pid", str(server_pid)]
    if profile:
        cmd += ["--profile", profile]
    if gc_threshold:
        cmd += ["--gc-threshold", ",".join(map(str, gc_threshold))]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=OPEN_LIMIT_S * 3)
    except subprocess.TimeoutExpired:
        return {"adapter": name, "streams": streams, "failed": "did not finish in time"}
    sys.stderr.write(proc.stderr)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"adapter": name, "streams": streams, "failed": tail}
    row: dict[str, Any] = json.loads(lines[-1])
    return row


def render(rows: list[dict[str, Any]]) -> str:
    head = "| adapter | streams | " + " | ".join(label for _, label in COLUMNS) + " |"
    lines = [head, "|---|---:|" + "---:|" * len(COLUMNS)]
    for row in rows:
        if "failed" in row:
            cells = [f"FAILED: {row['failed']}"] + [""] * (len(COLUMNS) - 1)
        else:
            cells = [_cell(row[key]) for key, _ in COLUMNS]
        lines.append(f"| {row['adapter']} | {row['streams']:,} | " + " | ".join(cells) + " |")
    growth = []
    for name in dict.fromkeys(row["adapter"] for row in rows):
        mine = [r for r in rows if r["adapter"] == name and "failed" not in r]
        if len(mine) >= 2:
            first, last = mine[0], mine[-1]
            ratio = last["cpu_us_per_chunk"] / first["cpu_us_per_chunk"]
            ex_gc = last["cpu_us_per_chunk_ex_gc"] / first["cpu_us_per_chunk_ex_gc"]
            growth.append(
                f"{name}: CPU per chunk at {last['streams']:,} is {ratio:.2f}x its value at "
                f"{first['streams']:,} ({ex_gc:.2f}x without the garbage collector's share)"
            )
    return "\n".join([*lines, "", *growth])


def _cell(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def plot(rows: list[dict[str, Any]], path: str) -> None:
    """The curve as a PNG: CPU per chunk, KiB per stream and TTFT p50 against open streams."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = dict(COLUMNS)
    panels = [(key, labels[key]) for key in ("cpu_us_per_chunk", "kib_per_stream", "ttft_p50_ms")]
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4))
    for axis, (key, label) in zip(axes, panels, strict=True):
        for name in dict.fromkeys(row["adapter"] for row in rows):
            points = [
                (r["streams"], r[key])
                for r in rows
                if r["adapter"] == name and "failed" not in r and r[key] is not None
            ]
            if points:
                axis.plot(*zip(*points, strict=True), marker="o", label=name)
        axis.set_xscale("log")
        axis.set_xlabel("concurrent streams")
        axis.set_title(label)
        axis.grid(True, alpha=0.3)
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def gc_thresholds(text: str) -> tuple[int, int, int]:
    """``"50000,20,100"`` -> (50000, 20, 100): the three thresholds of ``gc.set_threshold``."""
    parts = [int(part) for part in text.split(",")]
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError("give three positive integers, e.g. 50000,20,100")
    return parts[0], parts[1], parts[2]


async def main_async(args: argparse.Namespace) -> None:
    adapter = adapters.make_adapter(args.adapter)
    adapter.max_connections = args.streams + 10  # room for every stream at once
    await adapter.open(f"http://127.0.0.1:{args.port}/v1")
    profile = None
    if args.profile:
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
    try:
        row = await measure(adapter, args.streams, args.port)
    finally:
        if profile is not None:
            profile.disable()
            profile.dump_stats(args.profile)
        await adapter.aclose()
    print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", required=True)
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--profile", metavar="PATH", help="write a cProfile of the step here")
    parser.add_argument(
        "--gc-threshold", type=gc_thresholds, metavar="A,B,C", help="gc.set_threshold(A, B, C)"
    )
    args = parser.parse_args()
    if args.gc_threshold:
        gc.set_threshold(*args.gc_threshold)
    limit = raise_open_file_limit()
    if limit < args.streams + 100:
        raise SystemExit(f"open-file limit {limit} is too low for {args.streams} streams")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
