"""The fold's per-contact states held in memory between batches: compact, and bounded by bytes.

A `ContactState` as Python objects takes ~10 KB (dicts, tuples, strings); the same state as JSON ~2.9 KB,
and that JSON compressed ~0.9 KB. The cache keeps the compressed JSON — what `projection_state` stores,
so an evicted state is simply read back from there by the next batch that needs it (`steps.fold_batch`
loads what the cache lacks), and results do not depend on the bound. A batch decodes each state it
touches once and encodes each state it changed once; the rest of the time a contact costs its bytes.

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
# What an entry costs beside its bytes: the OrderedDict's slot and link, the key string and the bytes
# object's header (measured on CPython 3.11 with sys.getsizeof; close enough to bound memory by).
_ENTRY_OVERHEAD = 200


def encode_state(state: ContactState) -> bytes:
    return zlib.compress(orjson.dumps(state.to_json()), _LEVEL)


def decode_state(blob: bytes) -> ContactState:
    return ContactState.from_json(orjson.loads(zlib.decompress(blob)))


class StateCache(MutableMapping[str, ContactState]):
    """contact id -> state, stored compressed, least recently used evicted past `max_bytes`."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_MB * MIB) -> None:
        if max_bytes <= 0:
            raise ValueError(f"the state cache needs a positive size in bytes, not {max_bytes}")
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.evictions = 0
        self._blobs: OrderedDict[str, bytes] = OrderedDict()

    @classmethod
    def of_megabytes(cls, megabytes: float) -> StateCache:
        return cls(int(megabytes * MIB))

    def __getitem__(self, contact_id: str) -> ContactState:
        blob = self._blobs[contact_id]
        self._blobs.move_to_end(contact_id)
        return decode_state(blob)

    def __setitem__(self, contact_id: str, state: ContactState) -> None:
        blob = encode_state(state)
        old = self._blobs.pop(contact_id, None)
        if old is not None:
            self.nbytes -= _cost(contact_id, old)
        self._blobs[contact_id] = blob
        self.nbytes += _cost(contact_id, blob)
        while self.nbytes > self.max_bytes and len(self._blobs) > 1:
            evicted, gone = self._blobs.popitem(last=False)
            self.nbytes -= _cost(evicted, gone)
            self.evictions += 1

    def __delitem__(self, contact_id: str) -> None:
        self.nbytes -= _cost(contact_id, self._blobs.pop(contact_id))

    def __contains__(self, contact_id: object) -> bool:
        return contact_id in self._blobs

    def __iter__(self) -> Iterator[str]:
        return iter(self._blobs)

    def __len__(self) -> int:
        return len(self._blobs)

    def clear(self) -> None:
        self._blobs.clear()
        self.nbytes = 0


def _cost(contact_id: str, blob: bytes) -> int:
    return sys.getsizeof(blob) + sys.getsizeof(contact_id) + _ENTRY_OVERHEAD
