"""The master record's stored JSON, the library's bytes exactly, written by orjson.

eventsourcing's `JSONTranscoder` writes each stored event with the standard library's encoder and a
Python callback per typed value (every event has its `timestamp`; claims and links carry ids): ~12 us an
event, a tenth of resolving new people on PostgreSQL (six to seven stored events a touchpoint). Here the
typed values are tagged first, as the library's callback would tag them, and orjson writes the rest.

The bytes must stay the library's, byte for byte: stored events are read back by the library's decoder
and parsed by the relay (relay.py), and the same event must not become two byte strings. So only values
whose orjson form is known to equal the standard library's take this way: strings, integers, booleans,
None, floats but the tiny ones (the survivorship's confidences: most events carry one), lists, tuples
and string-keyed dicts of them, and the registered typed values (UUIDs, decimals, datetimes: a UTC
datetime is left to orjson, whose RFC 3339 form is `isoformat()`'s). Anything else (a float under 1e-4,
where `repr` writes an exponent and orjson none; NaN; an int beyond 64 bits; a key that is not a string)
sends the whole event the library's way. `tests/unit/test_master_record_transcoder.py` holds the
equality, over generated values, against the library's own transcoder.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import orjson
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder

_PLAIN = frozenset({str, int, bool, type(None)})
_SMALLEST_PLAIN_FLOAT = 1e-4  # below, `repr` writes 1e-05 where orjson writes 0.00001


class _Unusual(Exception):
    """A value orjson might write differently: the event goes the library's way."""


class OrjsonTranscoder(JSONTranscoder):
    """`JSONTranscoder` (register the same transcodings), encoding through orjson where the bytes are
    provably the same. Decoding is the library's."""

    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(self._tagged(obj))
        except (_Unusual, orjson.JSONEncodeError):
            return super().encode(obj)

    def _tagged(self, value: Any) -> Any:
        kind = type(value)
        if kind in _PLAIN:
            return value
        if kind is dict:
            tagged = {}
            for key, item in value.items():
                if type(key) is not str:
                    raise _Unusual
                tagged[key] = item if type(item) in _PLAIN else self._tagged(item)
            return tagged
        if kind is list or kind is tuple:
            return [item if type(item) in _PLAIN else self._tagged(item) for item in value]
        if kind is float:
            # `repr` (the library's) and orjson both write the shortest round-trip digits, exponents
            # from 1e+16 up alike; they differ below 1e-4 (1e-05 / 0.00001) and for NaN and infinities.
            if value == 0.0 or _SMALLEST_PLAIN_FLOAT <= abs(value) < math.inf:
                return value
            raise _Unusual
        transcoding = self.types.get(kind)
        if transcoding is None:
            raise _Unusual
        if kind is datetime and value.tzinfo is UTC and type(transcoding) is DatetimeAsISO:
            return {"_type_": transcoding.name, "_data_": value}  # orjson writes isoformat()'s text
        return {"_type_": transcoding.name, "_data_": self._tagged(transcoding.encode(value))}
