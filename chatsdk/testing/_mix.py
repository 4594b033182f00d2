"""A seeded mix of faults over many requests: ``chatsdk serve --fail-rate``, a bad day rehearsed."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._faults import MAX_STALL, Faults

__all__ = ["FAULT_KINDS", "FaultMix"]

FAULT_KINDS = ("429", "500", "503", "disconnect", "stall", "malformed")
"""The faults :class:`FaultMix` draws from: two statuses and an overload, a connection closed
mid-answer, a silence, a chunk (or body) that is not JSON.

Example::

    FaultMix(rate=0.1, kinds=("429", "disconnect"))
"""


@dataclass(frozen=True)
class FaultMix:
    """Fail a share ``rate`` (0 to 1) of chat requests, each with a fault drawn from ``kinds``.

    Seeded: which request fails, and how, depends only on ``seed`` and the request's number (its
    place in arrival order), so a run can be repeated. A ``429`` carries ``Retry-After: 1``;
    ``stall`` goes silent for ``stall_for`` seconds, long enough for a client's read timeout.
    Pass it as ``faults=`` (it is a faults function).

    Example::

        async with chatsdk.testing.serve(faults=FaultMix(rate=0.2, seed=7)) as server:
            ...  # about one request in five fails, the same ones on every run
    """

    rate: float
    seed: int = 0
    kinds: Sequence[str] = FAULT_KINDS
    stall_for: float = 10.0

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1:
            raise ValueError(f"FaultMix.rate must be between 0 and 1, not {self.rate!r}")
        unknown = [k for k in self.kinds if k not in FAULT_KINDS]
        if unknown or not self.kinds:
            raise ValueError(
                f"FaultMix.kinds must be some of {', '.join(FAULT_KINDS)}, not {list(self.kinds)}"
            )
        if not 0 <= self.stall_for <= MAX_STALL:
            raise ValueError(f"FaultMix.stall_for must be between 0 and {MAX_STALL} seconds")

    def kind_for(self, index: int) -> str | None:
        """The fault of chat request number ``index`` (0-based), or ``None``."""
        draw = random.Random(f"{self.seed}:{index}")
        if draw.random() >= self.rate:
            return None
        return draw.choice(list(self.kinds))

    def __call__(self, index: int, body: Any) -> Faults | None:
        kind = self.kind_for(index)
        if kind is None:
            return None
        if kind == "disconnect":
            return Faults(disconnect_after=2)
        if kind == "stall":
            return Faults(stall_after=2, stall_for=self.stall_for)
        if kind == "malformed":
            return Faults(malformed_after=2)
        return Faults(status=int(kind), retry_after=1 if kind == "429" else None)
