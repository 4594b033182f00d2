"""The client options of ``ask`` and ``chat``, and the client, requests and answers they make.

The client is imported when a command makes one (``make_client``), through the public
``chatsdk`` namespace only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from ._common import EXIT_USAGE, PROG, CLIError, error_line, write

if TYPE_CHECKING:
    from chatsdk import AsyncChatClient, CompletionUsage, CreateParams, MessageParam

__all__ = [
    "DEFAULT_MODEL",
    "add_client_options",
    "first_messages",
    "make_client",
    "print_usage",
    "request_params",
    "stream_answer",
]

DEFAULT_MODEL = "gpt-4o-mini"


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return value


def add_client_options(parser: argparse.ArgumentParser) -> None:
    """Add the ``client`` option group: model, endpoint, key, sampling, timeouts, verbosity."""
    group = parser.add_argument_group("client")
    group.add_argument(
        "-m",
        "--model",
        default=os.environ.get("CHATSDK_MODEL") or DEFAULT_MODEL,
        help="model name (default: $CHATSDK_MODEL, else %(default)s)",
    )
    group.add_argument("--base-url", help="API base URL (default: $OPENAI_BASE_URL, else OpenAI)")
    group.add_argument("--api-key", help="API key (default: $OPENAI_API_KEY)")
    group.add_argument("-s", "--system", help="system prompt")
    group.add_argument("-t", "--temperature", type=float, help="sampling temperature")
    group.add_argument("--max-tokens", type=int, help="upper bound on the answer's tokens")
    group.add_argument(
        "--timeout", type=_positive_float, help="seconds for connecting and between reads"
    )
    group.add_argument(
        "--max-retries", type=int, help="retries for connection errors, 429 and 5xx (default 2)"
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print token usage (prompt, completion, total) on stderr",
    )


def make_client(args: argparse.Namespace) -> AsyncChatClient:
    """The client the options ask for; a bad option is a usage error (exit code 2)."""
    import chatsdk

    options: dict[str, Any] = {}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    if args.max_retries is not None:
        options["max_retries"] = args.max_retries
    try:
        return chatsdk.AsyncChatClient(api_key=args.api_key, base_url=args.base_url, **options)
    except (TypeError, ValueError) as exc:
        raise CLIError(error_line(exc), EXIT_USAGE) from None


def request_params(args: argparse.Namespace) -> CreateParams:
    """The sampling options given, as keyword arguments for ``create``."""
    params: CreateParams = {}
    if args.temperature is not None:
        params["temperature"] = args.temperature
    if args.max_tokens is not None:
        params["max_tokens"] = args.max_tokens
    return params


def first_messages(args: argparse.Namespace) -> list[MessageParam]:
    """The messages before the first question: the system prompt, if one was given."""
    return [{"role": "system", "content": args.system}] if args.system else []


def print_usage(usage: CompletionUsage | None) -> None:
    """Print the token counts of an answer on stderr (for ``--verbose``)."""
    if usage is None:
        print(f"{PROG}: usage: the server sent no token counts", file=sys.stderr, flush=True)
        return
    print(
        f"{PROG}: usage: prompt_tokens={usage.prompt_tokens} "
        f"completion_tokens={usage.completion_tokens} total_tokens={usage.total_tokens}",
        file=sys.stderr,
        flush=True,
    )


async def stream_answer(
    client: AsyncChatClient,
    args: argparse.Namespace,
    messages: list[MessageParam],
    received: list[str],
    *,
    as_json: bool = False,
) -> None:
    """Stream one answer, printing each piece of choice 0 and appending it to ``received``;
    with ``as_json``, print each chunk as a line of JSON instead."""
    params = request_params(args)
    if args.verbose:
        params["stream_options"] = {"include_usage": True}
    stream = await client.chat.completions.create(
        model=args.model, messages=messages, stream=True, **params
    )
    usage = None
    async with stream:
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            if as_json:
                write(sys.stdout, json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
                continue
            for choice in chunk.choices:
                text = choice.delta.content
                if choice.index == 0 and text:
                    received.append(text)
                    write(sys.stdout, text)
    if args.verbose:
        print_usage(usage)
