"""The last fitted linkage model, kept in the master record so every process scores with the same one.

One aggregate with a fixed id: each fit (the bulk scan, or the incremental linker once its index has
grown enough) appends a `Fitted` event with m, u, the prior and how many contacts it learnt from. A
process that starts reads it; none fitted yet means the default priors (`Model.default`). Stored as an
event (not a file in the data folder) because production's workers share the master record's database and
nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .linkage import Model

MODEL_ID = uuid5(UUID("3f9a6c52-1d0e-4b7a-9c55-0e2b8f6a7d41"), "linkage-model")


class LinkageModel(Aggregate):
    """m and u per field and level, the prior, and the size of the index each fit learnt from."""

    @staticmethod
    def create_id() -> UUID:
        return MODEL_ID

    @event("Created")
    def __init__(self) -> None:
        self.m: dict[str, list[float]] = {}
        self.u: dict[str, list[float]] = {}
        self.prior = 0.0
        self.contacts = 0
        self.fits = 0

    @event("Fitted")
    def fitted(
        self,
        m: Mapping[str, Sequence[float]],
        u: Mapping[str, Sequence[float]],
        prior: float,
        contacts: int,
    ) -> None:
        self.m = {f: list(v) for f, v in m.items()}
        self.u = {f: list(v) for f, v in u.items()}
        self.prior = prior
        self.contacts = contacts
        self.fits += 1

    def model(self) -> Model | None:
        """The model of the last fit (None before the first, or when the fields changed since)."""
        if not self.fits or set(self.m) != set(Model.default().m):
            return None
        return Model(self.m, self.u, self.prior)
