"""A command against a stopped broker says so at once, instead of after kafka-python's bootstrap timeout."""

from __future__ import annotations

import socket

import pytest

from touchstream.adapters.logs.kafka_log import KafkaEventLog, refused_everywhere
from touchstream.streams.ports import LogUnavailable


def test_only_addresses_that_all_refuse_count_as_no_broker() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nobody = f"127.0.0.1:{closed.getsockname()[1]}"
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        someone = f"127.0.0.1:{listening.getsockname()[1]}"
        assert refused_everywhere(nobody)
        assert not refused_everywhere(someone)
        assert not refused_everywhere(f"{nobody},{someone}"), "one broker answering is enough to try"
    # The probe's own answer (kafka-python's, after its bootstrap timeout, names no listener).
    with pytest.raises(LogUnavailable, match="no broker is listening"):
        _ = KafkaEventLog(nobody, "touchpoints.dlq").partitions
