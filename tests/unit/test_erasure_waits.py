"""An erasure waits a bounded time for the read store's deletions, never for ever: a mutation that cannot
finish yet (a replica stopped, or one waiting for a data part only a stopped replica holds) stays queued in
the engine, the erasure returns, and the next erasure waits for it again.

The cluster suite found the unbounded wait: a worker held its master-record thread, and with it every
resolution, for the whole five minutes of the old wait and the retry after it. The read store here is a
stand-in for exactly that engine state (mutations accepted, not done); what the SQL does is the read-store
contract's and the cluster suite's to show.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Sequence
from typing import Any, cast

import pytest

from touchstream.streams.erasure import Eraser, ErasureRequest, ErasureScope
from touchstream.streams.forgetting import ForgetReport, TableForgotten
from touchstream.streams.ports import AbstractReadStore, ReadStoreError


class MasterRecordStandIn:
    def erasure_scope(self, contact_id: uuid.UUID) -> ErasureScope:
        return ErasureScope((contact_id,), (), (contact_id,))

    def forget(self, scope: ErasureScope) -> int:
        return 1


class QueuedMutations:
    """A read store whose deletions are accepted and, until `finish()`, not done."""

    def __init__(self) -> None:
        self.done = False
        self.waits: list[tuple[str, float]] = []
        self.dropped: list[list[str]] = []

    def finish(self) -> None:
        self.done = True

    def forget_contacts(self, contact_ids: Collection[str], *, drop_parts: bool = True) -> ForgetReport:
        table = "customer_360" if not self.dropped else "touchpoints"
        return ForgetReport(tuple(contact_ids), (), (TableForgotten(table, "deleted", 2),), 0)

    def wait_for_mutations(self, table: str, timeout: float = 30.0) -> None:
        self.waits.append((table, timeout))
        if not self.done:
            raise ReadStoreError("clickhouse-server", "SELECT count() FROM system.mutations", "1 not done")

    def drop_inactive_parts(self, tables: Sequence[str], timeout: float = 60.0) -> int:
        self.dropped.append(list(tables))
        return 0


def eraser(store: QueuedMutations, **options: Any) -> Eraser:
    return Eraser(MasterRecordStandIn(), cast(AbstractReadStore, store), **options)


def request() -> list[ErasureRequest]:
    return [ErasureRequest(str(uuid.uuid4()), str(uuid.uuid4()), "test")]


def test_an_erasure_whose_deletions_are_not_done_in_time_returns_and_the_next_one_waits_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = QueuedMutations()
    step = eraser(store, mutation_wait_s=0.5)
    with caplog.at_level(logging.WARNING, "touchstream.erasure"):
        outcomes = step.erase(request())
    assert [o.values_replaced for o in outcomes] == [1]
    assert step.tables_to_drop == {"customer_360"}
    assert store.dropped == []
    assert "customer_360 are queued, not done after 0.5s" in caplog.text
    assert all(timeout <= 0.5 for _, timeout in store.waits)

    store.finish()
    store.dropped.append([])  # the next erasure changes another table
    step.erase(request())
    assert store.dropped[-1] == ["customer_360", "touchpoints"]  # the earlier table waited for again
    assert step.tables_to_drop == set()


def test_a_deferred_flush_that_times_out_raises_and_keeps_its_tables() -> None:
    store = QueuedMutations()
    step = eraser(store, defer_part_drop=True)
    step.erase(request())
    assert store.waits == []  # deferred: nothing waited for during the run
    with pytest.raises(ReadStoreError):
        step.flush(timeout=0.0)
    assert step.tables_to_drop == {"customer_360"}
    store.finish()
    assert step.flush() == 0
    assert step.tables_to_drop == set()
    assert step.flush() == 0  # nothing left: no wait
    assert len(store.waits) == 2
