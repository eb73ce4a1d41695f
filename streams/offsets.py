"""Which offsets a worker may commit: only the records whose effects are durable, in an unbroken run from
where the consumer group's commit stood when the partition was assigned — Faust-free.

Why not Faust's own acking (found by the cluster suite: 37 records of `touchpoints.resolved`, the first
offsets of two partitions, committed and never projected): faust-streaming 0.15.3 commits, per partition,
the end of the first run of consecutive *acked* offsets (`Consumer._new_offset`), and only checks that the
run starts at the committed offset when that offset is truthy (`if committed_offset:`; a committed 0 is
also turned into None by `Consumer.perform_seek`). A record Faust drops without processing (its read
offset left ahead of the fetch position: "DROPPED MESSAGE ROFF" in `Consumer._drain_messages`), or acks
without processing (a stream skips and acks a message of an older generation or fetched while flow was
suspended, `Stream._py_aiter`), is then committed past whenever the partition's commit is still at 0.
So the agents' topics are declared `acks=False` (Faust commits nothing for them) and `streams/faust_app.py`
commits what this ledger allows, after each batch's effects.

The rules, per (topic, partition) of the current assignment:

- A record below the next offset was already processed (a re-fetch after a seek or a rebalance): dropped.
- A record at the next offset is admitted, and the next offset moves past it.
- A record above it means records in between never reached the agent: it and the rest of that partition
  in the batch are dropped (not processed: folds are order-sensitive) and the partition is rewound to the
  next offset, once per position (records already queued behind the gap arrive before the re-fetch).
- A record of a partition this worker does not hold (revoked; a record queued before the rebalance) is
  dropped: its owner reads it again from the group's commit, which never passed it.
- A partition whose records stopped coming while the log's end is past its next offset (`behind`) is
  rewound too: a gap with no record after it shows itself only that way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

#: (topic, partition)
Key = tuple[str, int]


@dataclass
class Admission(Generic[T]):
    """What one batch may process, in offset order per partition."""

    items: list[T] = field(default_factory=list)
    #: partition -> the offset to seek it back to (records before a gap never arrived)
    rewind: dict[Key, int] = field(default_factory=dict)
    #: partitions whose next offset is not known yet (assigned, commit not read): nothing admitted
    unknown: set[Key] = field(default_factory=set)
    dropped: int = 0  # records already processed, or of partitions this worker does not hold
    advanced: dict[Key, int] = field(default_factory=dict)  # the next offset once `items` are durable


class OffsetLedger:
    """The next offset to process per partition this worker holds, moved only by durable batches."""

    def __init__(self) -> None:
        self._next: dict[Key, int | None] = {}  # None: assigned, the group's commit not read yet
        self._rewound: dict[Key, int] = {}  # where a partition was last sought back to

    # --- assignment ---------------------------------------------------------------------------------------
    def assign(self, keys: Iterable[Key]) -> None:
        """The new assignment (replaces the old one): every partition starts at the group's commit,
        read by the caller and given to `start`."""
        self._next = dict.fromkeys(keys)
        self._rewound.clear()

    def revoke_all(self) -> None:
        self._next.clear()
        self._rewound.clear()

    def start(self, key: Key, offset: int) -> None:
        """The group's committed offset for an assigned partition (or the log's start when it has none,
        or when the log no longer holds the records from there on)."""
        if key in self._next:
            self._next[key] = offset
            self._rewound.pop(key, None)

    def held(self) -> set[Key]:
        return set(self._next)

    def next_offset(self, key: Key) -> int | None:
        return self._next.get(key)

    # --- batches ------------------------------------------------------------------------------------------
    def admit(self, records: Sequence[tuple[Key, int, T]]) -> Admission[T]:
        """Split a batch into what may be processed now and what is dropped; see the module docstring."""
        admission: Admission[T] = Admission()
        by_key: dict[Key, list[tuple[int, T]]] = {}
        for key, offset, item in records:
            by_key.setdefault(key, []).append((offset, item))
        for key, found in by_key.items():
            if key not in self._next:
                admission.dropped += len(found)
                continue
            position = self._next[key]
            if position is None:
                admission.unknown.add(key)
                admission.dropped += len(found)
                continue
            seen: set[int] = set()
            for offset, item in sorted(found, key=lambda pair: pair[0]):
                if offset < position or offset in seen:
                    admission.dropped += 1
                    continue
                if offset > position:
                    admission.dropped += sum(1 for o, _ in found if o >= offset)
                    if self._rewound.get(key) != position:
                        admission.rewind[key] = position
                    break
                seen.add(offset)
                admission.items.append(item)
                position += 1
            if position != self._next[key]:
                admission.advanced[key] = position
        return admission

    def rewound(self, key: Key, offset: int) -> None:
        """The caller sought `key` back to `offset`: later records behind the same gap do not seek again."""
        self._rewound[key] = offset

    def done(self, admission: Admission[T]) -> dict[Key, int]:
        """The batch's effects are durable: the offsets to commit (partitions still held only)."""
        commit: dict[Key, int] = {}
        for key, position in admission.advanced.items():
            current = self._next.get(key)
            if current is not None and position > current:
                self._next[key] = position
                commit[key] = position
        return commit

    def behind(self, ends: Mapping[Key, int]) -> dict[Key, int]:
        """The held partitions whose log end (in `ends`) is past their next offset: their next offsets."""
        behind: dict[Key, int] = {}
        for key, end in ends.items():
            position = self._next.get(key)
            if position is not None and end > position:
                behind[key] = position
        return behind

    def starts(self, committed: Mapping[Key, int | None], earliest: Mapping[Key, int]) -> None:
        """Start every partition not started yet at its commit in `committed`, or at `earliest` when it
        has none (where the consumer starts reading too: `consumer_auto_offset_reset` is "earliest")."""
        for key, offset in committed.items():
            start = offset if offset is not None and offset >= 0 else earliest.get(key)
            if start is not None and key in self._next and self._next[key] is None:
                self.start(key, start)
