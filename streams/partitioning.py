"""Kafka's default partitioner for keyed records, in one place: the embedded log, the Kafka log adapter and
the Faust worker's producer place every keyed record with it, so a key lands on the same partition number
in both modes and wherever it is sent from."""

from __future__ import annotations

import functools
import struct


def partition_for(key: bytes | None, partitions: int) -> int:
    """Kafka's default partitioner for keyed records (murmur2, positive, modulo the partition count)."""
    if key is None:
        return 0
    return _hash(key) % partitions


@functools.lru_cache(maxsize=1 << 16)
def _hash(key: bytes) -> int:
    # Pure Python; the same keys (a person's, an account's) come again and again.
    return murmur2(key) & 0x7FFFFFFF


_M, _MASK = 0x5BD1E995, 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """MurmurHash2 (32-bit, Kafka's seed 0x9747b28c) as Kafka's default partitioner computes it, unsigned.
    Here rather than imported from kafka-python: importing its package costs every command ~0.15 s, and
    the embedded log never talks to Kafka. tests/unit/test_murmur2.py checks it against kafka-python's."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    whole = length & ~3
    for (k,) in struct.iter_unpack("<I", data[:whole]):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail == 3:
        h ^= data[whole + 2] << 16
    if tail >= 2:
        h ^= data[whole + 1] << 8
    if tail >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h
