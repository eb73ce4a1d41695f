"""The steward-queue index an erasure reads (adapters/master_record/suspect_index.py), on PostgreSQL."""

from __future__ import annotations

import pytest
from unit.test_suspect_index import check_the_index

from touchstream.adapters.master_record.application import MasterRecord

pytestmark = pytest.mark.integration


@pytest.mark.timeout(120)
def test_an_erasure_reads_the_suspects_raised_since_the_last_one_on_postgres(pg_url: str) -> None:
    app = MasterRecord.from_url(pg_url)
    try:
        check_the_index(app)
    finally:
        app.close()
