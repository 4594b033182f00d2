"""One batch split over Dask tasks with ``chatsdk batch --shard K/N``, the results merged.

    pip install 'chatsdk[batch]' dask
    python examples/batch_dask.py requests.jsonl results.jsonl --shards 4

Each shard is a Dask task running ``chatsdk batch requests.jsonl -o results.jsonl.shard-K-of-N
--shard K/N``: the shards never overlap (a request's shard is a hash of its custom_id), each
resumes on its own after a crash (run the script again), and when every shard has finished
their lines are merged into ``results.jsonl``. Exit status 1 if any request failed.

``--scheduler`` picks where the tasks run: ``threads`` (default; each task only waits for its
``chatsdk batch`` process), ``processes``, or ``distributed`` (a ``dask.distributed``
LocalCluster; ``pip install distributed``). On a real cluster, give ``Client`` its address.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from dask.base import compute
from dask.delayed import delayed


def run_shard(requests: str, results: str, k: int, n: int, extra: list[str]) -> tuple[int, str]:
    """Run one shard to its end; its exit status and summary line."""
    command = [sys.executable, "-m", "chatsdk", "batch", requests, "-o", results]
    command += ["--shard", f"{k}/{n}", "--no-progress", *extra]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    summary = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
    return done.returncode, summary[0]


def merge(parts: list[str], results: str) -> int:
    """Write every shard's lines into ``results`` (via a temporary file); how many lines."""
    count = 0
    temporary = results + ".tmp"
    with open(temporary, "w", encoding="utf-8") as out:
        for part in parts:
            with open(part, encoding="utf-8") as f:
                for line in f:
                    json.loads(line)  # every line whole: a shard that finished has no torn one
                    out.write(line)
                    count += 1
    os.replace(temporary, results)
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requests")
    parser.add_argument("results")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument(
        "--scheduler", choices=["threads", "processes", "distributed"], default="threads"
    )
    parser.add_argument("batch_options", nargs="*", help="passed to chatsdk batch (after --)")
    args = parser.parse_args()
    n = args.shards
    parts = [f"{args.results}.shard-{k}-of-{n}" for k in range(n)]
    tasks = [
        delayed(run_shard)(args.requests, parts[k], k, n, args.batch_options) for k in range(n)
    ]
    if args.scheduler == "distributed":
        from dask.distributed import Client, LocalCluster

        with LocalCluster(n_workers=min(n, os.cpu_count() or 1)) as cluster, Client(cluster):
            outcomes = compute(*tasks)
    else:
        outcomes = compute(*tasks, scheduler=args.scheduler, num_workers=n)
    for k, (code, summary) in enumerate(outcomes):
        print(f"shard {k}/{n}: exit {code}: {summary}")
    if any(code not in (0, 1) for code, _ in outcomes):
        print("a shard did not finish; run the same command again to resume it")
        return 2
    lines = merge(parts, args.results)
    print(f"{lines} results in {args.results}")
    return 1 if any(code for code, _ in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
