"""The log port's contract, subclassed per backend (the Kafka backend joins in the ingestion work)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest

from touchstream.adapters.logs.kafka_log import KafkaEventLog
from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.streams.partitioning import partition_for
from touchstream.streams.ports import AbstractEventLog


class EventLogContract:
    partitions = 3

    @pytest.fixture
    def log(self, tmp_path: Path) -> AbstractEventLog:
        return self.create_log(tmp_path)

    def create_log(self, tmp_path: Path) -> AbstractEventLog:
        raise NotImplementedError

    def test_appends_are_ordered_per_key_and_partitioned_like_kafka(self, log: AbstractEventLog) -> None:
        records = [(f"k{i % 5}".encode(), f"v{i}".encode()) for i in range(50)]
        placed = log.append(records)
        assert [p for p, _ in placed] == [partition_for(k, self.partitions) for k, _ in records]
        for partition in range(self.partitions):
            got = log.read(partition, 0, 1000)
            assert [r.offset for r in got] == list(range(len(got)))
            expected = [v for (k, v) in records if partition_for(k, self.partitions) == partition]
            assert [r.value for r in got] == expected
        assert sum(log.end_offset(p) for p in range(self.partitions)) == 50

    def test_reads_resume_from_an_offset_with_a_limit(self, log: AbstractEventLog) -> None:
        log.append([(b"same", str(i).encode()) for i in range(10)])
        partition = partition_for(b"same", self.partitions)
        assert [r.value for r in log.read(partition, 4, 3)] == [b"4", b"5", b"6"]
        assert log.read(partition, 10, 3) == []

    def test_read_containing_finds_the_records_holding_a_needle_between_two_offsets(
        self, log: AbstractEventLog
    ) -> None:
        values = [
            b'{"type":"ContactsMerged","n":%d}' % i if i % 4 == 0 else b'{"type":"Other"}' for i in range(40)
        ]
        values[7] = b'{"type":"ContactsUnmerged","n":7}'
        values[9] = b'\x00\xffbinary,"type":"ContactsMerged"\x00'  # a sealed record: bytes around it
        log.append([(b"same", v) for v in values])
        partition = partition_for(b"same", self.partitions)
        needles = (b'"type":"ContactsMerged"', b'"type":"ContactsUnmerged"')
        found = log.read_containing(partition, 5, 30, needles)
        assert [r.offset for r in found] == [7, 8, 9, 12, 16, 20, 24, 28]
        assert [r.value for r in found] == [values[r.offset] for r in found]
        assert log.read_containing(partition, 0, 40, ()) == []
        assert log.read_containing(partition, 30, 30, needles) == []
        other = (partition + 1) % self.partitions
        assert log.read_containing(other, 0, 40, needles) == []

    def test_group_positions_and_lag(self, log: AbstractEventLog) -> None:
        log.append([(f"k{i}".encode(), b"x") for i in range(20)])
        assert log.lag("g") == 20
        log.commit("g", [(p, log.end_offset(p)) for p in range(self.partitions)])
        assert log.lag("g") == 0
        assert log.lag("other") == 20
        log.commit("g", [(0, 0)])
        assert log.committed("g", 0) == 0


def _append_many(path: str, worker: int) -> None:
    with SQLiteEventLog(path) as log:
        for i in range(20):
            log.append([(b"shared", f"{worker}-{i}".encode())])


class TestSQLiteEventLog(EventLogContract):
    def create_log(self, tmp_path: Path) -> AbstractEventLog:
        return SQLiteEventLog(tmp_path / "log.sqlite", partitions=self.partitions)

    def test_survives_reopening(self, tmp_path: Path) -> None:
        with SQLiteEventLog(tmp_path / "log.sqlite") as log:
            log.append([(b"a", b"1")])
            log.commit("g", [(0, 1)])
        with SQLiteEventLog(tmp_path / "log.sqlite") as log:
            assert log.end_offset(partition_for(b"a", 3)) == 1
            assert log.committed("g", 0) == 1

    def test_refuses_a_different_partition_count(self, tmp_path: Path) -> None:
        SQLiteEventLog(tmp_path / "log.sqlite", partitions=3).close()
        with pytest.raises(ValueError, match="has 3 partitions"):
            SQLiteEventLog(tmp_path / "log.sqlite", partitions=4)

    def test_concurrent_writers_never_collide_on_offsets(self, tmp_path: Path) -> None:
        path = str(tmp_path / "log.sqlite")
        SQLiteEventLog(path).close()
        workers = [multiprocessing.Process(target=_append_many, args=(path, w)) for w in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        with SQLiteEventLog(path) as log:
            got = log.read(partition_for(b"shared", 3), 0, 1000)
        assert [r.offset for r in got] == list(range(80))
        assert len({r.value for r in got}) == 80
        for w in range(4):  # each writer's own records stay in its order
            mine = [r.value.decode() for r in got if r.value.startswith(f"{w}-".encode())]
            assert mine == [f"{w}-{i}" for i in range(20)]


@pytest.mark.integration
class TestKafkaEventLog(EventLogContract):
    @pytest.fixture
    def log(self, kafka_bootstrap: str, unique_name: str) -> Iterator[AbstractEventLog]:
        log = KafkaEventLog(kafka_bootstrap, unique_name, partitions=self.partitions, create=True)
        yield log
        log.close()


del EventLogContract
