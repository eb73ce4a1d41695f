"""The agents' offset commits, driven by the worker instead of Faust's acks (why: `streams/offsets.py`).

Each agent hands its `take_events` batch to `OffsetCommits.run`, which

1. waits while a rebalance is under way (between the revoked and the assigned signals),
2. reads the group's committed offsets for partitions assigned since (`seek_to_committed`, as Faust's own
   recovery does), and the log's start for a partition that has none,
3. keeps only what `OffsetLedger.admit` allows, seeking a partition back when records never arrived,
4. runs the batch step on them and, once it returned (its effects are durable), commits the offsets
   the ledger moved to, while the partitions are still this worker's.

A timer (`reseek_overdue`) covers what no batch can reveal: a partition sought back whose records still
have not come, and a partition that got no record for a while although the log holds records past its
next offset (records fetched and dropped around a rebalance with none after them to show the gap: seen
in the cluster suite, two partitions of `touchpoints.resolved` left unprojected for good).

On `on_partitions_revoked` (which Faust awaits before the worker rejoins the group) it closes the gate and
waits for the batch in flight, so a revoked partition's last commit is made before another worker reads
it; Faust's own wait (`Consumer.wait_empty`) no longer covers these topics, since they do not ack.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import faust
from faust.transport.consumer import Consumer
from faust.types import TP

from .offsets import Admission, Key, OffsetLedger

log = logging.getLogger("touchstream.worker")

#: A partition sought back whose missing records still have not arrived is sought again after this long
#: (Faust may drop the re-fetched records once more if its read offset was moved again meanwhile).
RESEEK_AFTER_S = 10.0
#: A held partition that got no record for this long is checked against the log's end offset.
IDLE_AFTER_S = 10.0


class OffsetCommits:
    """One per app, shared by its agents (each consumes its own topic, one batch at a time)."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self.ledger = OffsetLedger()
        self._open = asyncio.Event()  # cleared while partitions are being revoked and not yet assigned
        self._open.set()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._sought_at: dict[Key, float] = {}
        self._heard_at: dict[Key, float] = {}  # when a record of the partition last reached a batch
        self.dropped = 0
        self.rewinds = 0
        self.idle_rewinds = 0  # of `rewinds`: partitions found behind the log's end while idle

    def summary(self) -> str:
        return f"dropped={self.dropped} rewinds={self.rewinds} idle_rewinds={self.idle_rewinds}"

    @property
    def consumer(self) -> Consumer:
        return cast(Consumer, self.app.consumer)

    # --- rebalance signals --------------------------------------------------------------------------------
    async def on_revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        self._open.clear()
        await self._idle.wait()  # the batch in flight commits before the partitions go
        self.ledger.revoke_all()

    async def on_assigned(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        assigned = args[0] if args else kwargs.get("assigned", set())
        keys = [(tp.topic, tp.partition) for tp in assigned]
        self.ledger.assign(keys)
        self._sought_at.clear()
        self._heard_at = dict.fromkeys(keys, time.monotonic())
        self._open.set()

    # --- batches ------------------------------------------------------------------------------------------
    async def run(
        self, events: Sequence[faust.EventT[Any]], step: Callable[[list[Any]], Awaitable[int]]
    ) -> int:
        """Run `step` on the admitted events of one batch and commit what it made durable."""
        await self._open.wait()
        self._in_flight += 1  # no await since the gate was seen open: a revocation waits for this batch
        self._idle.clear()
        try:
            admission = await self._admit(events)
            result = await step(admission.items) if admission.items else 0
            commit = self.ledger.done(admission)
            if commit:
                await self._commit(commit)
            return result
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _admit(self, events: Sequence[faust.EventT[Any]]) -> Admission[Any]:
        records = [((e.message.topic, e.message.partition), e.message.offset, e) for e in events]
        now = time.monotonic()
        for key, _, _ in records:
            self._heard_at[key] = now
        admission = self.ledger.admit(records)
        if admission.unknown:
            await self._read_commits()
            admission = self.ledger.admit(records)
        for key, offset in admission.rewind.items():
            await self._rewind(key, offset)
        self.dropped += admission.dropped
        return admission

    async def reseek_overdue(self) -> None:
        """Seek again every partition sought back more than `RESEEK_AFTER_S` ago whose missing records still
        have not arrived: records fetched before the seek and delivered after it move Faust's read offset
        ahead again, and it drops the re-fetched ones. Then seek back every idle partition the log holds
        records for past its next offset (`_reseek_idle`). Called by a timer: the partition may get no
        further records to make a batch."""
        now = time.monotonic()
        for key, at in list(self._sought_at.items()):
            position = self.ledger.next_offset(key)
            if position is not None and now - at > RESEEK_AFTER_S:
                await self._rewind(key, position)
        await self._reseek_idle(now)

    async def _reseek_idle(self, now: float) -> None:
        """A partition none of whose records reached a batch for `IDLE_AFTER_S`, while the log's end is past
        its next offset, had records dropped before the agent with nothing after them to reveal the gap.
        Checked only while no batch runs and no rebalance is under way (a busy agent is not an idle one);
        a needless seek costs a re-fetch, never a record (the ledger drops what was processed)."""
        if not self._open.is_set() or self._in_flight:
            return
        idle = [
            key
            for key in self.ledger.held()
            if key not in self._sought_at and now - self._heard_at.get(key, now) > IDLE_AFTER_S
        ]
        if not idle:
            return
        if any(self.ledger.next_offset(key) is None for key in idle):
            await self._read_commits()
        try:
            ends = await self.consumer.highwaters(*(TP(*key) for key in idle))
        except Exception as exc:  # a broker away: the next tick looks again
            log.warning("reading the end offsets of idle partitions failed: %s", exc)
            return
        behind = self.ledger.behind({(tp.topic, tp.partition): end for tp, end in ends.items()})
        for key, position in behind.items():
            if self._open.is_set() and key in self.ledger.held():
                self.idle_rewinds += 1
                await self._rewind(key, position)

    async def _read_commits(self) -> None:
        try:
            # Every assigned partition, not only the unknown ones: Faust's `seek_to_committed` takes no
            # partitions (aiokafka's does, but is reachable only through the driver's private thread), and
            # after a rebalance all partitions are unknown at once, so one call starts them all.
            committed = await self.consumer.seek_to_committed()
            missing = [tp for tp, offset in committed.items() if offset is None or offset < 0]
            earliest = await self.consumer.earliest_offsets(*missing) if missing else {}
        except Exception as exc:  # a rebalance under way, a broker away: the batch's records wait
            log.warning("reading the committed offsets failed, records are read again: %s", exc)
            return
        self.ledger.starts(
            {(tp.topic, tp.partition): offset for tp, offset in committed.items()},
            {(tp.topic, tp.partition): offset for tp, offset in earliest.items()},
        )

    async def _rewind(self, key: Key, offset: int) -> None:
        tp = TP(*key)
        try:
            start = (await self.consumer.earliest_offsets(tp)).get(tp)
            if start is not None and start > offset:  # the log no longer holds them (retention)
                log.error(
                    "%s[%d]: offsets %d..%d are gone from the log, going on from %d",
                    *key,
                    offset,
                    start - 1,
                    start,
                )
                self.ledger.start(key, start)
                offset = start
            await self.consumer.seek(tp, offset)
        except Exception as exc:
            log.warning("%s[%d]: seeking back to %d failed: %s", *key, offset, exc)
            return
        self.ledger.rewound(key, offset)
        self._sought_at[key] = time.monotonic()
        self.rewinds += 1
        log.warning("%s[%d]: records from %d never reached the agent; read again from there", *key, offset)

    async def _commit(self, offsets: dict[Key, int]) -> None:
        for key in offsets:
            self._sought_at.pop(key, None)
        # Faust's public `commit()` commits what was acked; `_commit` is the driver's commit of given
        # offsets (the same call Faust's own commits end in), for partitions still assigned.
        await self.consumer._commit({TP(*key): offset for key, offset in offsets.items()})
