"""``client.models``: ``GET /models``, handed to a call like a completion, its answer typed.

Example::

    models = await client.models.list()
    print([model.id for model in models])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import _json
from ._call import Call
from ._events import make_status_error
from ._model_info import ModelList, check_model_list
from ._options import NOT_GIVEN, TimeoutTypes
from ._retry import RetryPolicy

__all__ = ["Models"]

StartCall = Callable[[str, str, "dict[str, Any] | None", "dict[str, Any]", bool], Call]


class Models:
    """``client.models``: the models the server offers.

    Example::

        models = await client.models.list()
        if "gpt-4o-mini" not in [model.id for model in models]:
            print("not served here")
    """

    def __init__(self, start: StartCall) -> None:
        self._start = start

    async def list(
        self,
        *,
        extra_headers: Mapping[str, str | None] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        deadline: float | None = NOT_GIVEN,
        retry: RetryPolicy = NOT_GIVEN,
        max_retries: int = NOT_GIVEN,
    ) -> ModelList:
        """The models the server offers (``GET {base_url}/models``), as a :class:`ModelList`.

        Sent, retried, bounded and redacted as a completion is: the same errors
        (:class:`NotFoundError` for a server without the endpoint, :class:`AuthenticationError`
        for a wrong key, ...). The request options are those of ``create()``; one left out is
        not sent (or the client's setting applies).

        Example::

            models = await client.models.list(timeout=10)
            for model in models:
                print(model.id, model.owned_by)
        """
        given = {
            "extra_headers": extra_headers,
            "extra_query": extra_query,
            "timeout": timeout,
            "deadline": deadline,
            "retry": retry,
            "max_retries": max_retries,
        }
        options = {
            name: value
            for name, value in given.items()
            if value is not NOT_GIVEN and not (name.startswith("extra_") and value is None)
        }
        call = self._start("GET", "/models", None, options, False)
        response, content = await call.read_whole()
        try:
            payload = _json.loads(content.decode("utf-8", errors="replace"))
        except ValueError:
            payload = None
        problem = check_model_list(payload)
        if problem is not None:
            error = make_status_error(
                response.status_code, response.reason_phrase, response.headers, content
            )
            error.message = (
                f"The server answered {response.status_code} to GET /models but not with a "
                f"list of models ({problem})."
            )
            error.args = (error.message,)
            raise call.seal(error)
        return ModelList(
            payload,
            request_id=response.headers.get("x-request-id"),
            attempts=call.attempts,
            headers=response.headers,
            duration=call.clock() - call.started_at,
        )
