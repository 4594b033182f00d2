"""chatsdk benchmark: chatsdk vs openai-python vs a bare httpx + httpx-sse + json loop.

    python benchmarks/run.py                 # full run (a few minutes on 2 cores)
    python benchmarks/run.py --smoke         # tiny sizes: checks the harness works, no timing value
    python benchmarks/run.py --quick         # the figures the targets are read from, 3 repeats
    python benchmarks/run.py --only stream_long --repeat 7 --json out.json
    python benchmarks/run.py --only buffered_c50 \
        --adapters floor,floor-httpx-defaults,floor-fastpool
    python benchmarks/run.py --scale                       # 1,000 / 5,000 / 10,000 open streams
    python benchmarks/run.py --scale 200 --plot curve.png  # a tiny step, and the curve as a PNG
    python benchmarks/run.py --only rate_limit   # chatsdk's rate limits against a limiting server

A local server runs in its own process; each measurement runs in a fresh client process, and
the adapters are interleaved across repeats (A B C, A B C, ...). See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import adapters  # noqa: E402
import scale  # noqa: E402
from client import FIGURES, SIZES  # noqa: E402

# rate_limit is chatsdk's alone (benchmarks/ratelimit.py): client limits against a server
# enforcing the same ones.
ALL_FIGURES = ("import", *FIGURES, "rate_limit")
# --quick: the figures both backends' targets are read from (about 2 minutes on 2 cores).
QUICK_FIGURES = ("buffered_c50", "stream_long", "stream_many", "ttft")

# (figure, metric, unit, lower is better)
METRICS = {
    "import": [("import_ms", "ms", True), ("process_ms", "ms", True)],
    "buffered_c1": [("cpu_us_per_req", "µs", True), ("req_per_s", "req/s", False)],
    "buffered_c50": [("cpu_us_per_req", "µs", True), ("req_per_s", "req/s", False)],
    "stream_long": [("cpu_us_per_chunk", "µs", True), ("chunks_per_s", "chunk/s", False)],
    "stream_many": [("cpu_us_per_chunk", "µs", True), ("chunks_per_s", "chunk/s", False)],
    "ttft": [("p50_ms", "ms", True), ("p99_ms", "ms", True), ("cpu_us_per_stream", "µs", True)],
    "rss_paused": [("kib_per_stream", "KiB", True), ("open_ms_per_stream", "ms", True)],
    "batch_c64": [("req_per_s", "req/s", False), ("cpu_us_per_req", "µs", True)],
    "batch_c256": [("req_per_s", "req/s", False), ("cpu_us_per_req", "µs", True)],
    "batch_c1024": [("req_per_s", "req/s", False), ("cpu_us_per_req", "µs", True)],
    "rate_limit": [
        ("limited_429s", "429s", True),
        ("limited_requests", "requests", False),
        ("limited_rpm_pct", "% of limit", False),
        ("limited_tpm_pct", "% of limit", False),
        ("limited_peak_1s_requests_pct", "% of 1 s share", True),
        ("limited_peak_1s_tokens_pct", "% of 1 s share", True),
        ("limited_answered_pct", "%", False),
        ("adaptive_429s", "429s", True),
        ("adaptive_answered_pct", "%", False),
        ("unlimited_429s", "429s", True),
        ("unlimited_answered_pct", "%", False),
    ],
}

# The targets: (figure, metric, compared with, max ratio chatsdk / that adapter).
TARGETS = [
    ("import", "import_ms", "floor", 1.3),
    ("stream_long", "cpu_us_per_chunk", "floor", 1.2),
    ("stream_many", "cpu_us_per_chunk", "floor", 1.2),
    ("ttft", "p50_ms", "floor", 1.2),
    ("buffered_c50", "cpu_us_per_req", "openai", 1.0),
    ("rss_paused", "kib_per_stream", "floor", 1.1),
]
# The aiohttp backend's targets: chatsdk-aiohttp / that adapter.
AIOHTTP_TARGETS = [
    ("stream_long", "cpu_us_per_chunk", "floor", 0.5),
    ("stream_many", "cpu_us_per_chunk", "floor", 0.4),
    ("buffered_c50", "cpu_us_per_req", "openai", 0.25),
    ("ttft", "p50_ms", "floor", 0.7),
]
# Targets on a figure's own value: (figure, metric) -> (wanted, test).
VALUE_TARGETS: dict[tuple[str, str], tuple[str, Callable[[float], bool]]] = {
    ("rate_limit", "limited_429s"): ("= 0", lambda v: v == 0),
    ("rate_limit", "limited_answered_pct"): ("= 100", lambda v: v == 100),
    ("rate_limit", "adaptive_answered_pct"): ("= 100", lambda v: v == 100),
    ("rate_limit", "unlimited_answered_pct"): ("= 100", lambda v: v == 100),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Server:
    """The benchmark server in its own process; it exits when its stdin closes."""

    def __init__(self, script: str = "server.py") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout=30):
                self.stop()
                raise SystemExit("benchmark server did not report its port within 30 s")
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise SystemExit(f"benchmark server failed to start: {line!r}")
        self.port = int(line.split()[1])
        self.pid = self.proc.pid

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def probe(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """Keep the adapters whose package imports; say why the others were skipped."""
    ok: list[str] = []
    skipped: dict[str, str] = {}
    cache: dict[str, str | None] = {}
    for name in names:
        fam = adapters.family(name)
        if fam not in cache:
            proc = subprocess.run(
                [sys.executable, "-c", adapters.PROBES[fam]],
                capture_output=True,
                text=True,
                timeout=60,
            )
            err = proc.stderr.strip().splitlines()
            cache[fam] = None if proc.returncode == 0 else (err[-1] if err else "failed")
        if cache[fam] is None:
            ok.append(name)
        else:
            skipped[name] = str(cache[fam])
    return ok, skipped


def measure_import(name: str, *, write_bytecode: bool = False) -> dict[str, Any]:
    """Import time in a fresh interpreter. ``write_bytecode`` lets it cache bytecode even where
    PYTHONDONTWRITEBYTECODE is set: installed packages come with bytecode, and an editable
    checkout without it would compile its source on every import, which no user's install does.
    """
    stmt = adapters.IMPORTS[adapters.family(name)]
    code = f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
    env = dict(os.environ)
    if write_bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
    )
    process = time.perf_counter() - t0
    return {
        "figure": "import",
        "adapter": name,
        "metrics": {"import_ms": float(proc.stdout) * 1e3, "process_ms": process * 1e3},
        "wall_s": process,
        "server_cpu_s": 0.0,
    }


def measure_rate_limit(size: str) -> dict[str, Any]:
    """chatsdk's rate limits against a server enforcing the same ones (benchmarks/ratelimit.py)."""
    proc = subprocess.run(
        [sys.executable, str(HERE / "ratelimit.py"), "--size", size],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        log(proc.stderr)
        raise SystemExit(f"FAILED: rate_limit (exit {proc.returncode})")
    sample: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return sample


def measure(
    name: str, figures: list[str], server: Server, size: str, profile: str | None = None
) -> list[dict[str, Any]]:
    cmd = [
        sys.executable,
        str(HERE / "client.py"),
        "--adapter",
        name,
        "--figures",
        ",".join(figures),
        "--port",
        str(server.port),
        "--server-pid",
        str(server.pid),
        "--size",
        size,
    ]
    if profile:
        cmd += ["--profile", profile]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        log(proc.stderr)
        raise SystemExit(f"FAILED: {name} on {','.join(figures)} (exit {proc.returncode})")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def summarize(samples: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, float]]:
    out: dict[tuple[str, str, str], dict[str, float]] = {}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for s in samples:
        groups.setdefault((s["figure"], s["adapter"]), []).append(s)
    for (figure, adapter), group in groups.items():
        server_pct = [100 * g["server_cpu_s"] / g["wall_s"] for g in group if g["wall_s"] > 0]
        for metric, _unit, _lower in METRICS[figure]:
            values = [g["metrics"][metric] for g in group]
            out[(figure, metric, adapter)] = {
                "median": statistics.median(values),
                "min": min(values),
                "max": max(values),
                "n": len(values),
                "server_cpu_pct": statistics.median(server_pct) if server_pct else 0.0,
            }
    return out


# What OpenTelemetry may cost once switched on: chatsdk-otel / chatsdk, CPU figures only.
OTEL_TARGETS = {("buffered_c50", "cpu_us_per_req"): 1.1, ("stream_long", "cpu_us_per_chunk"): 1.1}


def _telemetry_cost(
    summary: dict[tuple[str, str, str], dict[str, float]],
    figures: list[str],
    sdk: dict[str, Any] | None = None,
) -> list[str]:
    """The table of chatsdk with OpenTelemetry on against off, when both were measured, and
    what the SDK alone costs for the same span and records (``sdk``, from otel_floor.py)."""
    rows = []
    for figure in figures:
        for metric, _unit, lower in METRICS[figure]:
            on = summary.get((figure, metric, "chatsdk-otel"))
            off = summary.get((figure, metric, "chatsdk"))
            if on is None or off is None or off["median"] == 0 or not lower:
                continue
            got = on["median"] / off["median"]
            limit = OTEL_TARGETS.get((figure, metric))
            status = "" if limit is None else ("met" if got <= limit else "NOT MET")
            target = "" if limit is None else f"<= {limit}"
            rows.append(f"| {figure} | {metric} | {got:.2f} | {target} | {status} |")
    if not rows:
        return []
    head = ["", "| figure | metric | otel on/off | target | status |", "|---|---|---:|---|---|"]
    off = summary.get(("buffered_c50", "cpu_us_per_req", "chatsdk"))
    on = summary.get(("buffered_c50", "cpu_us_per_req", "chatsdk-otel"))
    if sdk is not None and off is not None and on is not None:
        rows += [
            "",
            f"buffered_c50 with otel on adds {on['median'] - off['median']:.0f} µs per request; "
            f"opentelemetry-sdk {sdk['sdk_version']} alone, replaying the same span "
            f"({sdk['span_attributes']} attributes) and {sdk['records']} histogram records "
            f"without chatsdk, costs {sdk['us_per_call']:.1f} µs "
            f"({1 + sdk['us_per_call'] / off['median']:.2f}x the off figure by itself).",
        ]
    return head + rows


def render(
    summary: dict[tuple[str, str, str], dict[str, float]],
    figures: list[str],
    names: list[str],
    skipped: dict[str, str],
    sdk: dict[str, Any] | None = None,
) -> str:
    lines = [
        "| figure | metric | adapter | median | min-max | n | server CPU % of wall |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for figure in figures:
        for metric, unit, _lower in METRICS[figure]:
            for name in names:
                row = summary.get((figure, metric, name))
                if row is None:
                    continue
                server = "-" if figure == "import" else f"{row['server_cpu_pct']:.0f}"
                lines.append(
                    f"| {figure} | {metric} ({unit}) | {name} | {fmt(row['median'])} | "
                    f"{fmt(row['min'])}-{fmt(row['max'])} | {row['n']:.0f} | {server} |"
                )
    lines += [
        "",
        "| figure | metric | chatsdk/floor | chatsdk/openai | target | status |",
        "|---|---|---:|---:|---|---|",
    ]
    targets = {(f, m): (ref, limit) for f, m, ref, limit in TARGETS}

    def ratio(figure: str, metric: str, ref: str, of: str = "chatsdk") -> float | None:
        a = summary.get((figure, metric, of))
        b = summary.get((figure, metric, ref))
        if a is None or b is None or b["median"] == 0:
            return None
        return a["median"] / b["median"]

    for figure in figures:
        for metric, _unit, lower in METRICS[figure]:
            vs_floor = ratio(figure, metric, "floor")
            vs_openai = ratio(figure, metric, "openai")
            target = status = ""
            value_target = VALUE_TARGETS.get((figure, metric))
            if value_target is not None:
                row = summary.get((figure, metric, "chatsdk"))
                target = f"{metric} {value_target[0]}"
                if row is None:
                    status = "not measured"
                else:
                    status = "met" if value_target[1](row["max" if lower else "min"]) else "NOT MET"
            elif (figure, metric) in targets:
                ref, limit = targets[(figure, metric)]
                target = f"chatsdk/{ref} <= {limit}"
                got = vs_floor if ref == "floor" else vs_openai
                if got is None:
                    status = "not measured"
                elif got <= limit:
                    status = "met"
                else:
                    status = f"NOT MET (+{(got / limit - 1) * 100:.0f}% over)"
            elif not lower:
                target = "(higher is better)"
            lines.append(
                f"| {figure} | {metric} | "
                f"{'-' if vs_floor is None else f'{vs_floor:.2f}'} | "
                f"{'-' if vs_openai is None else f'{vs_openai:.2f}'} | {target} | {status} |"
            )
    if "chatsdk-aiohttp" in names:
        lines += [
            "",
            "| figure | metric | chatsdk-aiohttp / | ratio | target | status |",
            "|---|---|---|---:|---|---|",
        ]
        for figure, metric, ref, limit in AIOHTTP_TARGETS:
            if figure not in figures:
                continue
            got = ratio(figure, metric, ref, of="chatsdk-aiohttp")
            status = "not measured" if got is None else "met" if got <= limit else "NOT MET"
            shown = "-" if got is None else f"{got:.2f}"
            lines.append(f"| {figure} | {metric} | {ref} | {shown} | <= {limit} | {status} |")
    lines += _telemetry_cost(summary, figures, sdk)
    if skipped:
        lines.append("")
    for name, why in skipped.items():
        lines.append(f"SKIPPED {name}: {why}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat (for CI)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"only the figures the backends' targets are read from ({', '.join(QUICK_FIGURES)}), "
        "3 repeats",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="FIGURE",
        help=f"run only these figures (repeatable or comma-separated): {', '.join(ALL_FIGURES)}",
    )
    parser.add_argument("--repeat", type=int, help="measurements per adapter (default 5, smoke 1)")
    parser.add_argument("--import-runs", type=int, help="import timings per adapter (default 9)")
    parser.add_argument(
        "--adapters",
        default=",".join(adapters.DEFAULT_ADAPTERS),
        help="comma-separated adapters (see benchmarks/adapters.py for the pool-study variants)",
    )
    parser.add_argument("--json", metavar="PATH", help="write every sample and the summary here")
    parser.add_argument("--profile-dir", help="write a cProfile file per measurement here")
    parser.add_argument(
        "--scale",
        nargs="?",
        const=",".join(map(str, scale.STEPS)),
        metavar="STEPS",
        help="the cost curve instead: concurrent streams per step (default 1000,5000,10000); "
        f"adapters default to {','.join(scale.SCALE_ADAPTERS)}",
    )
    parser.add_argument("--plot", metavar="PNG", help="with --scale: draw the curve here")
    parser.add_argument(
        "--gc-threshold",
        type=scale.gc_thresholds,
        metavar="A,B,C",
        help="with --scale: run each step under gc.set_threshold(A, B, C)",
    )
    parser.add_argument(
        "--h2",
        action="store_true",
        help="with --scale: over HTTP/2 (h2server.py, adapter chatsdk-h2); reports connections",
    )
    args = parser.parse_args()
    if args.scale:
        run_scale(args, parser)
        return

    figures = list(QUICK_FIGURES if args.quick else ALL_FIGURES)
    if args.only:
        figures = [f for spec in args.only for f in spec.split(",") if f]
        unknown = [f for f in figures if f not in ALL_FIGURES]
        if unknown:
            parser.error(f"unknown figure(s) {unknown}; choose from {', '.join(ALL_FIGURES)}")
    size = "smoke" if args.smoke else "full"
    repeat = args.repeat or (1 if args.smoke else 3 if args.quick else 5)
    import_runs = args.import_runs or (1 if args.smoke else 9)

    requested = [a for a in args.adapters.split(",") if a]
    for name in requested:
        adapters.make_adapter(name)  # fail early on a bad name
    names, skipped = probe(requested)
    for name, why in skipped.items():
        log(f"SKIPPED {name}: {why}")
    if not names:
        raise SystemExit("no adapter available")

    samples: list[dict[str, Any]] = []
    started = time.perf_counter()
    if "import" in figures:
        for name in names:  # unmeasured: compile and cache bytecode
            measure_import(name, write_bytecode=True)
        for _ in range(import_runs):
            for name in names:
                samples.append(measure_import(name))
        log(f"import: {import_runs} runs x {len(names)} adapters")

    if "rate_limit" in figures:
        # One run: it is paced by the limits (about a minute in full), not by the machine.
        samples.append(measure_rate_limit(size))
        log("rate_limit: one run")

    net_figures = [f for f in figures if f not in ("import", "rate_limit")]
    if net_figures:
        server = Server()
        log(f"server pid {server.pid} on 127.0.0.1:{server.port}")
        try:
            if args.smoke:
                # One process per adapter runs every figure: the smoke only checks it all works.
                for name in names:
                    samples += measure(name, net_figures, server, size)
            else:
                for figure in net_figures:
                    for rep in range(repeat):
                        for name in names:
                            prof = None
                            if args.profile_dir:
                                os.makedirs(args.profile_dir, exist_ok=True)
                                prof = os.path.join(args.profile_dir, f"{figure}-{name}-{rep}.prof")
                            samples += measure(name, [figure], server, size, prof)
                    log(f"{figure}: {repeat} repeats x {len(names)} adapters")
        finally:
            server.stop()

    summary = summarize(samples)
    print(f"\nsizes ({size}): " + json.dumps({f: SIZES[size][f] for f in net_figures}))
    print(f"repeats: {repeat}; import runs: {import_runs}; adapters: {', '.join(names)}")
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
        f"took {time.perf_counter() - started:.0f} s\n"
    )
    sdk = None
    if "chatsdk-otel" in names and "buffered_c50" in figures and not args.smoke:
        import otel_floor

        sdk = otel_floor.sdk_cost()
    print(render(summary, figures, names, skipped, sdk))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "samples": samples,
                    "skipped": skipped,
                    "summary": [
                        {"figure": k[0], "metric": k[1], "adapter": k[2], **v}
                        for k, v in summary.items()
                    ],
                },
                f,
                indent=1,
            )


def run_scale(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    steps = [int(step) for step in args.scale.split(",") if step]
    requested = args.adapters.split(",")
    if args.adapters == ",".join(adapters.DEFAULT_ADAPTERS):
        requested = ["chatsdk-h2"] if args.h2 else list(scale.SCALE_ADAPTERS)
    for name in requested:
        adapters.make_adapter(name)  # fail early on a bad name
    names, skipped = probe(requested)
    server = Server("h2server.py" if args.h2 else "server.py")
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        for streams in steps:
            for name in names:
                profile = None
                if args.profile_dir:
                    os.makedirs(args.profile_dir, exist_ok=True)
                    profile = os.path.join(args.profile_dir, f"scale-{name}-{streams}.prof")
                rows.append(
                    scale.run_step(
                        name, streams, server.port, server.pid, profile, args.gc_threshold
                    )
                )
                log(f"scale: {name} at {streams}: {rows[-1]}")
    finally:
        server.stop()
    over = "HTTP/2 (h2c)" if args.h2 else "HTTP/1.1"
    tuned = f"; gc.set_threshold{args.gc_threshold}" if args.gc_threshold else ""
    print(f"\nscale: {scale.K}-chunk streams over {over}, all open at once; steps {steps}{tuned}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; ", end="")
    print(f"took {time.perf_counter() - started:.0f} s\n")
    print(scale.render(rows))
    for name, why in skipped.items():
        print(f"SKIPPED {name}: {why}")
    if args.plot:
        scale.plot(rows, args.plot)
        print(f"\ncurve written to {args.plot}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"scale": rows, "skipped": skipped}, f, indent=1)


if __name__ == "__main__":
    main()
