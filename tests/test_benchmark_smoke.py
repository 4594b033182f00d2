"""The benchmark harness runs end to end in its tiny smoke mode (no timing is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
FIGURES = [
    "import",
    "buffered_c1",
    "buffered_c50",
    "stream_long",
    "stream_many",
    "ttft",
    "rss_paused",
    "batch_c64",
    "batch_c256",
    "batch_c1024",
]


def test_benchmark_smoke() -> None:
    proc = subprocess.run(
        [sys.executable, str(RUN), "--smoke"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in proc.stdout.splitlines()
        if line.startswith("| ")
    ]
    seen = {(row[0], row[2]) for row in rows if len(row) == 7}
    adapters = ["chatsdk", "floor"]
    try:
        import openai  # noqa: F401
    except ImportError:
        assert "SKIPPED openai" in proc.stdout
    else:
        adapters.append("openai")
    for figure in FIGURES:
        for adapter in adapters:
            assert (figure, adapter) in seen, f"no {figure} row for {adapter}:\n{proc.stdout}"
    # chatsdk's rate limits against a limiting server: no 429, every request answered.
    assert ("rate_limit", "chatsdk") in seen, proc.stdout
    for metric in ("limited_429s", "limited_answered_pct", "unlimited_answered_pct"):
        assert re.search(rf"\| rate_limit \| {metric} .*\| met \|", proc.stdout), proc.stdout
    # The ratio table has a row per figure too.
    assert {row[0] for row in rows if len(row) == 6} >= set(FIGURES)


def test_the_scale_mode_runs_both_backends_at_a_tiny_step() -> None:
    pytest.importorskip("aiohttp", reason="the aiohttp backend is in the bench extra")
    proc = subprocess.run(
        [sys.executable, str(RUN), "--scale", "20", "--adapters", "chatsdk,chatsdk-aiohttp"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {
        cells[0]: cells
        for line in proc.stdout.splitlines()
        if line.startswith("| chatsdk")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    assert set(rows) == {"chatsdk", "chatsdk-aiohttp"}, proc.stdout
    for cells in rows.values():
        assert cells[1] == "20"  # streams
        cpu, gc_pct, _full, cpu_ex_gc = (float(cell) for cell in cells[2:6])
        assert 0 <= gc_pct < 100
        assert 0 < cpu_ex_gc <= cpu
        assert cells[-2] == "20"  # one connection per open stream, as the server counted them
        assert cells[-1] == "0"  # no stream failed


def test_the_sdk_floor_replays_the_span_and_records_of_one_traced_call() -> None:
    pytest.importorskip("opentelemetry.sdk")
    from importlib.metadata import version

    sys.path.insert(0, str(RUN.parent))
    try:
        import otel_floor

        cost = otel_floor.sdk_cost(calls=20, timings=1)
    finally:
        sys.path.remove(str(RUN.parent))
    # The span of one buffered call has the conventions' attributes; its metric points are the
    # duration and the input and output token counts.
    assert cost["sdk_version"] == version("opentelemetry-sdk")
    assert cost["span_attributes"] >= 10
    assert cost["records"] == 3
    assert cost["us_per_call"] > 0


def test_the_scale_modes_gc_timer_counts_a_full_collection() -> None:
    sys.path.insert(0, str(RUN.parent))
    try:
        import gc

        import scale

        collector = scale.GcTimer().start()
        gc.collect()
        collector.stop()
        gc.collect()  # after stop(): not counted
    finally:
        sys.path.remove(str(RUN.parent))
    assert collector.collections[2] == 1
    assert collector.seconds > 0


def test_the_quick_run_reads_only_the_target_figures_for_both_backends() -> None:
    pytest.importorskip("aiohttp", reason="the aiohttp backend is in the bench extra")
    proc = subprocess.run(
        [
            sys.executable,
            str(RUN),
            "--quick",
            "--smoke",
            "--adapters",
            "chatsdk,chatsdk-aiohttp,floor",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    measured = {
        line.split("|")[1].strip()
        for line in proc.stdout.splitlines()
        if line.startswith("| ") and "(" in line.split("|")[2]  # a figure's row, with its unit
    }
    assert measured == {"buffered_c50", "stream_long", "stream_many", "ttft"}
    targets = proc.stdout.split("chatsdk-aiohttp /")[1]
    for figure in ("stream_long", "stream_many", "buffered_c50", "ttft"):
        assert f"| {figure} |" in targets
