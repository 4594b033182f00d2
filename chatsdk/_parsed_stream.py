"""The stream of a structured answer: ``final()`` typed as the parsed reply it returns.

``create(..., response_format=Model, stream=True)`` returns an :class:`AsyncParsedChatStream`:
the same stream, whose ``final()`` is a :class:`ParsedChatCompletion` of ``Model`` for type
checkers too.

Example::

    stream = await client.chat.completions.create(
        model="m", messages=messages, response_format=City, stream=True
    )
    async with stream:
        reply = await stream.final()
    city: City | None = reply.choices[0].message.parsed
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic

from ._parsed import ParsedChatCompletion, ParsedT
from ._streaming import AsyncChatStream

if TYPE_CHECKING:
    import httpx

    from ._call import Call
    from ._structured import OutputFormat

__all__ = ["AsyncParsedChatStream", "open_stream"]


def open_stream(
    call: Call, response: httpx.Response, output_format: OutputFormat | None
) -> AsyncChatStream:
    """The stream of ``call``'s 2xx ``response``: parsed at the end when a format was asked."""
    if output_format is None:
        return AsyncChatStream(call, response)
    return AsyncParsedChatStream(call, response, output_format)


class AsyncParsedChatStream(AsyncChatStream, Generic[ParsedT]):
    """A stream asked for with ``response_format=``: ``final()`` returns the
    :class:`ParsedChatCompletion` whose messages' ``parsed`` is the answer as that format.

    Everything else is :class:`AsyncChatStream`'s: chunks, ``text()``, ``events()`` (whose
    ``content.delta`` events carry the partial object), closing.

    Example::

        async with stream:
            reply = await stream.final()
        city = reply.choices[0].message.parsed   # City | None
    """

    __slots__ = ()

    async def final(self) -> ParsedChatCompletion[ParsedT]:
        """Read the rest of the stream and return the whole reply, parsed; see
        :meth:`AsyncChatStream.final`. A reply that does not parse raises
        :class:`OutputParseError`.

        Example::

            reply = await stream.final()
            print(reply.choices[0].message.parsed)
        """
        reply = await super().final()
        assert isinstance(reply, ParsedChatCompletion)  # the stream was given its format
        return reply
