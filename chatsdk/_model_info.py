"""Typed views over ``GET /models``: the list, and each model it names.

Example::

    models = await client.models.list()
    [model.id for model in models]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._models import ResponseInfo
from ._view import Model

__all__ = ["ModelInfo", "ModelList", "check_model_list"]


class ModelInfo(Model):
    """One model the server offers: its ``id`` (what ``model=`` takes) and who owns it.

    Any other field the server sends (``max_model_len`` from vLLM, ...) is kept, as for every view.

    Example::

        models = await client.models.list()
        print(models.data[0].id, models.data[0].owned_by)
    """

    __slots__ = ()

    @property
    def id(self) -> str:
        """The model's name, to pass as ``model=``."""
        value: str = self._data.get("id", "")
        return value

    @property
    def object(self) -> str:
        """``"model"``."""
        value: str = self._data.get("object", "")
        return value

    @property
    def created(self) -> int:
        """When the model was created, in Unix seconds (0 when the server did not say)."""
        value: int = self._data.get("created", 0)
        return value

    @property
    def owned_by(self) -> str:
        """Who owns the model ("" when the server did not say)."""
        value: str = self._data.get("owned_by", "")
        return value


class ModelList(ResponseInfo):
    """``client.models.list()``'s answer: the models in ``data``, with ``request_id``,
    ``attempts`` and ``headers``; iterating it gives the models.

    Example::

        models = await client.models.list()
        names = [model.id for model in models]
        print(len(models), models.request_id)
    """

    __slots__ = ()

    @property
    def object(self) -> str:
        """``"list"``."""
        value: str = self._data.get("object", "")
        return value

    @property
    def data(self) -> list[ModelInfo]:
        """The models, in the order the server listed them."""
        return [ModelInfo(item) for item in self._data.get("data") or ()]

    def __iter__(self) -> Iterator[ModelInfo]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self._data.get("data") or ())


def check_model_list(payload: Any) -> str | None:
    """What is wrong with a ``GET /models`` body (decoded JSON), or ``None`` when it is a list."""
    if not isinstance(payload, dict):
        return "it is not a JSON object"
    data = payload.get("data")
    if not isinstance(data, list):
        return "its 'data' is not a list"
    for position, item in enumerate(data):
        if not isinstance(item, dict):
            return f"data[{position}] is not an object"
        if not isinstance(item.get("id"), str):
            return f"data[{position}].id is not a string"
    return None
