"""``chatsdk batch``: send a Batch API input file, write each result as it finishes, exactly once.

The input is checked whole before anything is sent. Rerunning the same command after a crash
sends only what the results file does not hold yet (``_batch_output`` says how). Exit status:
0 every request answered, 1 some failed (rerun with ``--retry-failed``), 2 bad input or usage,
130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from ._batch_output import ResultsFile, read_existing
from ._client_args import make_client
from ._common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    CLIError,
    Subcommands,
    add_command,
    run_async,
    status,
)

if TYPE_CHECKING:
    from chatsdk import BatchRequest

__all__ = ["register", "run"]


def _shard(text: str) -> tuple[int, int]:
    index, slash, count = text.partition("/")
    try:
        k, n = int(index), int(count)
    except ValueError:
        k = n = -1
    if not slash or n < 1 or not 0 <= k < n:
        raise argparse.ArgumentTypeError(
            f"expected K/N with 0 <= K < N, such as 0/4 (the first of four), not {text!r}"
        )
    return k, n


def _at_least(low: float, kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}: {text!r}")
        return value

    return parse


def register(commands: Subcommands) -> None:
    """Add ``batch`` and its arguments to the ``chatsdk`` command."""
    parser = add_command(
        commands,
        "batch",
        run,
        help="send a Batch API input file, exactly once",
        description=(
            "Send every request of a Batch API input file (JSONL: custom_id, method, url, body) "
            "and append each result to the output file as it finishes (Batch API output format). "
            "Rerun the same command after a crash or Ctrl-C: what the output holds is not sent "
            "again. Exit status: 0 all answered, 1 some failed, 2 bad input."
        ),
    )
    parser.add_argument("input", help="the requests, one JSON object a line")
    parser.add_argument("-o", "--output", required=True, help="the results file (appended to)")
    parser.add_argument(
        "-c",
        "--concurrency",
        type=_at_least(1, int),
        default=16,
        help="requests in flight at once (default %(default)s)",
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="send again the requests whose results in the output failed",
    )
    parser.add_argument(
        "--shard",
        type=_shard,
        metavar="K/N",
        help="send only shard K of N (K from 0), chosen by a stable hash of custom_id",
    )
    parser.add_argument(
        "--fsync-every",
        type=_at_least(0, float),
        default=1.0,
        metavar="SECONDS",
        help="sync the output to disk this often, for power cuts (0: every line; "
        "default %(default)s); a killed process loses nothing either way",
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (there is none when stderr is not a terminal)",
    )
    group = parser.add_argument_group("client")
    group.add_argument("--base-url", help="API base URL (default: $OPENAI_BASE_URL, else OpenAI)")
    group.add_argument("--api-key", help="API key (default: $OPENAI_API_KEY)")
    group.add_argument("--timeout", type=_at_least(0, float), help="seconds for each read")
    group.add_argument(
        "--max-retries",
        type=_at_least(0, int),
        help="retries for connection errors, 429 and 5xx (default 2)",
    )
    group.add_argument(
        "--rpm",
        type=_at_least(1, float),
        help="requests per minute at most (the client's own limit; after a 429 every request "
        "waits out the same cool-down); set it to the account's limit",
    )
    group.add_argument(
        "--tpm",
        type=_at_least(1, float),
        help="tokens per minute at most, estimated before sending and corrected from usage",
    )


def read_input(path: str) -> list[BatchRequest]:
    """Every request of the input file; each bad line on stderr, then a usage error."""
    import chatsdk

    try:
        with open(path, "rb") as f:
            return chatsdk.parse_batch_requests(f)
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror or exc}", EXIT_USAGE) from None
    except chatsdk.BatchInputError as exc:
        for line, problem in exc.problems[:50]:
            status(f"{path} line {line}: {problem}")
        more = " (the first 50 shown)" if len(exc.problems) > 50 else ""
        raise CLIError(
            f"{len(exc.problems)} bad line(s) in {path}{more}; nothing was sent", EXIT_USAGE
        ) from None


class Tally:
    """What this run did, for the summary line."""

    def __init__(self, skipped: int, failed_before: int) -> None:
        self.answered = self.failed = self.tokens = 0
        self.skipped = skipped
        self.failed_before = failed_before
        self.started = time.monotonic()

    def line(self, output: str) -> str:
        elapsed = time.monotonic() - self.started
        sent = self.answered + self.failed
        rate = sent / elapsed if elapsed > 0 else 0.0
        text = (
            f"batch: {self.answered} answered, {self.failed} failed, {self.skipped} skipped "
            f"(already in {output}), {self.tokens} tokens, {elapsed:.1f} s, {rate:.1f} requests/s"
        )
        if self.failed_before:
            text += f"; {self.failed_before} failed earlier (rerun with --retry-failed)"
        return text


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Check the input, skip what is done, send the rest, and sum up."""
    import chatsdk

    if os.path.abspath(args.input) == os.path.abspath(args.output):
        parser.error("the output file must not be the input file")
    requests = read_input(args.input)
    if args.shard is not None:
        k, n = args.shard
        requests = [r for r in requests if chatsdk.batch_shard_of(r.custom_id, n) == k]
    known = {r.custom_id for r in requests}
    client = make_client(args)
    try:
        out = ResultsFile(args.output, args.fsync_every)
    except OSError as exc:
        raise CLIError(f"cannot use {args.output}: {exc.strerror or exc}", EXIT_USAGE) from None
    try:
        existing = read_existing(args.output, known, retry_failed=args.retry_failed)
        if existing.replaced:
            out.reopen()
    except BaseException:
        out.close()
        raise
    if existing.torn_bytes:
        status(f"cut off a torn last line ({existing.torn_bytes} bytes) of {args.output}")
    done = existing.answered | existing.failed
    todo = [r for r in requests if r.custom_id not in done]
    tally = Tally(len(requests) - len(todo), len(existing.failed))
    bar = _progress(args, len(requests), len(requests) - len(todo))
    try:
        run_async(_send, client, todo, args.concurrency, out, tally, bar)
    except KeyboardInterrupt:
        status(
            f"interrupted; {tally.answered + tally.failed} results of this run are in "
            f"{args.output}: rerun the same command to send the rest"
        )
        raise
    finally:
        out.close()
        if bar is not None:
            bar.close()
    status(tally.line(args.output))
    return EXIT_ERROR if tally.failed or tally.failed_before else EXIT_OK


async def _send(
    client: Any,
    todo: list[BatchRequest],
    concurrency: int,
    out: ResultsFile,
    tally: Tally,
    bar: Any,
) -> None:
    import chatsdk

    async with client, chatsdk.run_batch(client, todo, concurrency=concurrency) as results:
        async for result in results:
            out.add(result)
            if result.ok:
                tally.answered += 1
                tally.tokens += result.total_tokens
            else:
                tally.failed += 1
            if bar is not None:
                bar.update(1)


def _progress(args: argparse.Namespace, total: int, done: int) -> Any:
    """A progress bar on stderr when it is a terminal (``tqdm``, the ``batch`` extra)."""
    if args.no_progress or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        status("no progress bar: install chatsdk[batch] for one")
        return None
    return tqdm(total=total, initial=done, unit="req", file=sys.stderr, dynamic_ncols=True)
