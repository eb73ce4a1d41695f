"""An erasure finds the steward-queue entries naming its contacts through the index beside the queue
(adapters/master_record/suspect_index.py): every one of them, and by reading only the suspects raised
since the last lookup, not the whole queue again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from unit.test_forget_master_record import observed

from touchstream.adapters.master_record.application import MasterRecord


def shared_phone_pair(app: MasterRecord, name: str, phone: str) -> tuple[UUID, UUID]:
    """Two people at one company giving the same number: a suspect naming both."""
    a = observed(app, f"{name}.one@acme-widgets.com", {"first_name": f"{name}one"}, phone)
    b = observed(app, f"{name}.two@acme-widgets.com", {"first_name": f"{name}two"}, phone)
    return a, b


def raised_read(app: MasterRecord) -> list[int]:
    """Counts the `Raised` notifications the index reads from here on."""
    count = [0]
    select = app.recorder.select_notifications

    def counting(*args: Any, **kwargs: Any) -> Any:
        notes = select(*args, **kwargs)
        count[0] += len(notes)
        return notes

    app.recorder.select_notifications = counting  # type: ignore[method-assign]
    return count


def check_the_index(app: MasterRecord) -> None:
    a, b = shared_phone_pair(app, "ann", "+14155550101")
    c, d = shared_phone_pair(app, "cy", "+14155550102")
    open_suspects = {s.id: {s.contact_id, s.other_id} for s in app.suspects()}
    assert sorted(map(sorted, open_suspects.values())) == sorted([sorted([a, b]), sorted([c, d])])
    naming_a = [s for s, pair in open_suspects.items() if a in pair]

    read = raised_read(app)
    assert app.erasure_scope(a).suspect_ids == tuple(naming_a)
    assert read[0] == 2  # the first lookup indexes the queue as it stands
    assert app.erasure_scope(b).suspect_ids == tuple(naming_a)
    assert read[0] == 2  # nothing raised since: nothing read

    e, f = shared_phone_pair(app, "eve", "+14155550103")
    later = app.erasure_scope(e).suspect_ids
    assert read[0] == 3  # only the one raised since
    assert [{s.contact_id, s.other_id} for s in app.suspects_by_id(later).values()] == [{e, f}]
    assert app.erasure_scope(d).suspect_ids == tuple(s for s, pair in open_suspects.items() if d in pair)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[MasterRecord]:
    application = MasterRecord.from_url(f"sqlite:///{tmp_path / 'master.sqlite'}")
    yield application
    application.close()


def test_an_erasure_reads_the_suspects_raised_since_the_last_one_not_the_whole_queue(
    app: MasterRecord,
) -> None:
    check_the_index(app)


def test_a_second_process_finds_what_the_first_indexed_and_what_came_after(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'master.sqlite'}"
    first, second = MasterRecord.from_url(url), MasterRecord.from_url(url)
    try:
        a, b = shared_phone_pair(first, "ann", "+14155550101")
        (suspect,) = first.erasure_scope(a).suspect_ids
        c, _ = shared_phone_pair(first, "cy", "+14155550102")
        read = raised_read(second)
        assert second.erasure_scope(b).suspect_ids == (suspect,)
        assert len(second.erasure_scope(c).suspect_ids) == 1
        assert read[0] == 1  # the first process's mark holds for the second
    finally:
        first.close()
        second.close()


def test_a_master_record_without_a_sql_store_reads_the_queue() -> None:
    app = MasterRecord()  # the library's in-memory store: no table to index into
    a, b = shared_phone_pair(app, "ann", "+14155550101")
    shared_phone_pair(app, "cy", "+14155550102")
    (suspect,) = [s.id for s in app.suspects() if a in (s.contact_id, s.other_id)]
    assert app.erasure_scope(a).suspect_ids == (suspect,)
    assert app.erasure_scope(b).suspect_ids == (suspect,)
