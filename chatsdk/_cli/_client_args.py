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

from ._common import EXIT_USAGE, CLIError, end_line, error_line, one_line, status, write

if TYPE_CHECKING:
    from chatsdk import APIError, AsyncChatClient, CreateParams, MessageParam, StreamMetrics

__all__ = [
    "DEFAULT_MODEL",
    "add_client_options",
    "api_error_line",
    "first_messages",
    "make_client",
    "print_usage",
    "print_stop_reason",
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
    rpm, tpm = getattr(args, "rpm", None), getattr(args, "tpm", None)  # batch's limits
    if rpm is not None or tpm is not None:
        options["rate_limit"] = chatsdk.RateLimit(requests_per_minute=rpm, tokens_per_minute=tpm)
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


def print_usage(usage: object) -> None:
    """Print the token counts of an answer (the reply's raw ``usage``) on stderr, for ``-v``."""
    if not isinstance(usage, dict):
        status("usage: the server sent no token counts")
        return
    names = ("prompt_tokens", "completion_tokens", "total_tokens")
    counts = " ".join(f"{name}={usage.get(name)}" for name in names)
    status(f"usage: {counts}")


# The finish reason of a whole answer; any other one is noted on stderr.
NORMAL_FINISH = "stop"
# A finish reason from the server is shown up to this many characters.
MAX_REASON_CHARS = 40


def print_stop_reason(args: argparse.Namespace, finish_reason: object) -> None:
    """Say on stderr why an answer ended, unless it ended normally (or the server did not say).

    ``length`` means the answer is cut short: the note names the ``--max-tokens`` that cut it.
    """
    if finish_reason is None or finish_reason == NORMAL_FINISH:
        return
    reason = one_line(str(finish_reason), MAX_REASON_CHARS)
    if reason == "length":
        if args.max_tokens is not None:
            why = f"the answer was cut at --max-tokens {args.max_tokens}; raise it for more"
        else:
            why = "the answer was cut at the model's token limit"
    elif reason == "content_filter":
        why = "the provider's content filter cut the answer"
    elif reason in ("tool_calls", "function_call"):
        why = "the model asked to call a tool, which this command does not do"
    else:
        why = "the answer may be incomplete"
    status(f"stopped: {reason} ({why})")


def api_error_line(exc: APIError, args: argparse.Namespace) -> str:
    """``error_line(exc)``, except that a 401 sent without a key says how to give one here."""
    import chatsdk

    key = args.api_key if args.api_key is not None else os.environ.get("OPENAI_API_KEY")
    if key or not isinstance(exc, chatsdk.AuthenticationError):
        return error_line(exc)
    said = _server_message(exc.body) or "the server asks for an API key"
    line = (
        f"{type(exc).__name__}: Error code: {exc.status_code} - {one_line(said)} "
        "(No API key was set: set the OPENAI_API_KEY environment variable or pass --api-key.)"
    )
    if exc.request_id:
        line += f" [request id {one_line(exc.request_id)}]"
    return line


def _server_message(body: object) -> str | None:
    """The ``error.message`` of an API error body, if it has one."""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    return message if isinstance(message, str) and message.strip() else None


async def stream_answer(
    client: AsyncChatClient,
    args: argparse.Namespace,
    messages: list[MessageParam],
    received: list[str],
    *,
    as_json: bool = False,
) -> StreamMetrics:
    """Stream one answer, printing each piece of choice 0 and appending it to ``received``;
    with ``as_json``, print each chunk as a line of JSON instead. Returns the stream's metrics.

    The answer's line is ended before anything goes to stderr: usage (``-v``), then a note if
    the answer did not end normally (``stopped: length`` ...).
    """

    params = request_params(args)
    if args.verbose or getattr(args, "stats", False):
        params["stream_options"] = {"include_usage": True}
    stream = await client.chat.completions.create(
        model=args.model, messages=messages, stream=True, **params
    )
    usage: object = None
    finish_reason: object = None
    async with stream:
        async for chunk in stream:
            if chunk.get("usage") is not None:
                usage = chunk.get("usage")
            for choice in chunk.choices:
                if choice.index == 0 and choice.finish_reason is not None:
                    finish_reason = choice.finish_reason
            if as_json:
                write(sys.stdout, json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
                continue
            for choice in chunk.choices:
                text = choice.delta.content
                if choice.index != 0 or not text:
                    continue
                received.append(text)
                write(sys.stdout, text)
    end_line()
    if args.verbose:
        print_usage(usage)
    print_stop_reason(args, finish_reason)
    metrics: StreamMetrics = stream.metrics
    return metrics
