"""The fold's per-contact states held in memory between batches: compact, and bounded by bytes.

A `ContactState` as Python objects takes ~10 KB (dicts, tuples, strings); the same state as JSON ~2.9 KB,
and that JSON compressed ~0.9 KB. The cache keeps the compressed JSON — what `projection_state` stores,
so an evicted state is simply read back from there by the next batch that needs it (`steps.fold_batch`
loads what the cache lacks), and results do not depend on the bound.

The states of the last few thousand contacts used are also kept decoded (`hot`): a Faust worker's batches
are a few thousand events, and the same customers come back batch after batch, so decoding each state a
batch touches and encoding it again afterwards was ~8 % of a worker's time. A hot state is written back
to bytes only when it leaves the hot tier, and not at all when it left unchanged (its bytes are kept
beside it). The fold never changes the states it is given (it copies a contact's state at its first
event of a batch), so handing the same object out twice is safe.


Bounded by bytes, not by count, so an operator sizes it from memory (`--cache-mb`,
`TOUCHSTREAM_STATE_CACHE_MB`): the least recently used states go first.
"""

from __future__ import annotations

import sys
import zlib
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping

import orjson

from ..projections.state import ContactState

MIB = 1024 * 1024
DEFAULT_CACHE_MB = 256
# zlib level 1: most of the saving (JSON of one state compresses ~3x) for a fraction of level 6's time.
_LEVEL = 1
#: States kept decoded at most (fewer when that would take more than a quarter of the bound).
DEFAULT_HOT = 4_096
# What a decoded state costs, counted against the bound: ~10 KB of objects (module docstring).
_HOT_COST = 10_240
# What an entry costs beside its bytes: the OrderedDict's slot and link, the key string and the bytes
# object's header (measured on CPython 3.11 with sys.getsizeof; close enough to bound memory by).
_ENTRY_OVERHEAD = 200


def encode_state(state: ContactState) -> bytes:
    return zlib.compress(orjson.dumps(state.to_json()), _LEVEL)


def decode_state(blob: bytes) -> ContactState:
    return ContactState.from_json(orjson.loads(zlib.decompress(blob)))


class StateCache(MutableMapping[str, ContactState]):
    """contact id -> state, stored compressed, least recently used evicted past `max_bytes`; the most
    recently used `hot_max` also kept decoded."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_MB * MIB, hot: int = DEFAULT_HOT) -> None:
        if max_bytes <= 0:
            raise ValueError(f"the state cache needs a positive size in bytes, not {max_bytes}")
        self.max_bytes = max_bytes
        self.hot_max = max(0, min(hot, max_bytes // (4 * _HOT_COST)))
        self.nbytes = 0  # the bytes' costs and the decoded states' estimate
        self.evictions = 0  # states that left the cache altogether
        self.decodes = 0  # states read back from bytes
        self.encodes = 0  # states written to bytes
        self._blobs: OrderedDict[str, bytes] = OrderedDict()
        # A contact may be in both: hot, with bytes still current (it was read and not changed since).
        self._hot: OrderedDict[str, ContactState] = OrderedDict()

    @classmethod
    def of_megabytes(cls, megabytes: float) -> StateCache:
        return cls(int(megabytes * MIB))

    def __getitem__(self, contact_id: str) -> ContactState:
        state = self._hot.get(contact_id)
        if state is not None:
            self._hot.move_to_end(contact_id)
            return state
        blob = self._blobs[contact_id]
        self._blobs.move_to_end(contact_id)
        state = decode_state(blob)
        self.decodes += 1
        if self.hot_max:  # decoded, unchanged: the bytes stay current beside it
            self._make_hot(contact_id, state)
        return state

    def __setitem__(self, contact_id: str, state: ContactState) -> None:
        if self._hot.get(contact_id) is state:  # handed back unchanged
            self._hot.move_to_end(contact_id)
            return
        if contact_id in self._blobs:  # stale now
            self.nbytes -= _cost(contact_id, self._blobs.pop(contact_id))
        if self.hot_max:
            self._make_hot(contact_id, state)
        else:
            self._put_blob(contact_id, self._encode(state))

    def __delitem__(self, contact_id: str) -> None:
        hot = self._hot.pop(contact_id, None)
        blob = self._blobs.pop(contact_id, None)
        if hot is None and blob is None:
            raise KeyError(contact_id)
        if hot is not None:
            self.nbytes -= _HOT_COST
        if blob is not None:
            self.nbytes -= _cost(contact_id, blob)

    def __contains__(self, contact_id: object) -> bool:
        return contact_id in self._hot or contact_id in self._blobs

    def __iter__(self) -> Iterator[str]:
        yield from list(self._hot)
        yield from [c for c in self._blobs if c not in self._hot]

    def __len__(self) -> int:
        return len(self._blobs) + sum(1 for c in self._hot if c not in self._blobs)  # the hot tier is small

    def clear(self) -> None:
        self._blobs.clear()
        self._hot.clear()
        self.nbytes = 0

    def _make_hot(self, contact_id: str, state: ContactState) -> None:
        if contact_id not in self._hot:
            self.nbytes += _HOT_COST
        self._hot[contact_id] = state
        self._hot.move_to_end(contact_id)
        while len(self._hot) > self.hot_max:
            cold, cold_state = self._hot.popitem(last=False)
            self.nbytes -= _HOT_COST
            if cold not in self._blobs:  # changed while hot: its bytes are written now
                self._put_blob(cold, self._encode(cold_state))
        self._trim()

    def _encode(self, state: ContactState) -> bytes:
        self.encodes += 1
        return encode_state(state)

    def _put_blob(self, contact_id: str, blob: bytes) -> None:
        self._blobs[contact_id] = blob
        self.nbytes += _cost(contact_id, blob)
        self._trim()

    def _trim(self) -> None:
        while self.nbytes > self.max_bytes and len(self._blobs) > 1:
            evicted, gone = self._blobs.popitem(last=False)
            self.nbytes -= _cost(evicted, gone)
            if evicted not in self._hot:  # else still held decoded
                self.evictions += 1


def _cost(contact_id: str, blob: bytes) -> int:
    return sys.getsizeof(blob) + sys.getsizeof(contact_id) + _ENTRY_OVERHEAD
