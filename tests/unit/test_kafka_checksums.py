"""kafka-python checksums each record batch it produces or reads with the C `crc32c` module (its `crc32c`
extra, pyproject.toml), not its pure-Python fallback: that one cost ~110 ns a byte in the relay, the SDK
publisher and the worker's re-reads of the raw topic."""

from __future__ import annotations

from kafka.record import util


def test_kafka_python_checksums_in_c() -> None:
    assert util.crc32c_c is not None, "crc32c is missing: install kafka-python[crc32c] (pyproject.toml)"
    assert util.calc_crc32c(b"123456789") == 0xE3069283  # CRC-32C's check value
