"""The master record forgets a contact's values on PostgreSQL: the aggregates still load, and no table of the
store holds a personal value afterwards (while the other contact keeps theirs)."""

from __future__ import annotations

import psycopg
import pytest
from unit.test_forget_master_record import OTHER_EMAIL, PERSONAL, story

from touchstream.adapters.master_record.application import MasterRecord
from touchstream.adapters.master_record.forget import forget_contact_values

pytestmark = pytest.mark.integration


def every_table_as_text(url: str) -> str:
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            ).fetchall()
        ]
        dumps = [str(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in tables]  # type: ignore[call-overload]
        states = conn.execute(  # the states are bytea: read them as text too
            "SELECT string_agg(convert_from(state, 'UTF8'), ' ') FROM "
            "(SELECT state FROM masterrecord_events UNION ALL SELECT state FROM masterrecord_snapshots) s"
        ).fetchone()
    return ("\n".join(dumps) + str(states)).lower()


@pytest.mark.timeout(120)
def test_postgres_forgets_and_the_aggregate_still_loads(pg_url: str) -> None:
    app = MasterRecord.from_url(pg_url)
    try:
        contact, aggregates = story(app)
        before = app.repository.get(contact).version
        assert all(v.lower() in every_table_as_text(pg_url) for v in PERSONAL)
        assert forget_contact_values(pg_url, aggregates) > 0
        assert app.repository.get(contact).version == before
        text = every_table_as_text(pg_url)
        assert [v for v in PERSONAL if v.lower() in text] == []
        assert OTHER_EMAIL in text
    finally:
        app.close()
