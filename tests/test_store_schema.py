"""The store: schema versioning, connection settings, UTC timestamps, the write helper."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from support_tools.store.database import SCHEMA_VERSION, Store
from support_tools.store.models import Customer, Ticket


async def test_schema_version_is_recorded_and_reopening_is_a_no_op(store, store_url) -> None:
    assert SCHEMA_VERSION == 2
    assert await store.schema_version() == 2
    async with store.session(write=True) as s, s.begin():
        s.add(Customer(public_id="CUS-00001", first_name="A", last_name="B", email=None, phone=None, country="IN"))
    url, schema = store_url
    for _ in range(2):
        again = await Store.open(url, search_path=schema)
        async with again.engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version FROM schema_version"))).scalars().all()
            customers = (await conn.execute(select(Customer.public_id))).scalars().all()
        await again.close()
        assert versions == [1, 2]
        assert customers == ["CUS-00001"]


async def test_timestamps_read_back_as_aware_utc(store) -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    async with store.session(write=True) as s, s.begin():
        s.add(Ticket(number="TCK-ABCDEFGH", session_id="s", reason="r", urgency="normal", customer_id=None,
                     room=None, summary="", conversation=[{"a": 1}], status="open",
                     created_at=datetime(2026, 11, 23, 12, 0, tzinfo=ist)))
    async with store.session() as s:
        ticket = await s.scalar(select(Ticket))
    assert ticket.created_at == datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
    assert ticket.created_at.utcoffset() == timedelta(0)
    assert ticket.conversation == [{"a": 1}]


async def test_naive_timestamps_are_refused(store) -> None:
    with pytest.raises(Exception, match="naive"):
        async with store.session(write=True) as s, s.begin():
            s.add(Ticket(number="TCK-ABCDEFGH", session_id="s", reason="r", urgency="normal", summary="",
                         conversation=[], status="open", created_at=datetime(2026, 11, 23, 12, 0)))


async def test_ticket_per_session_is_unique_in_the_database(store) -> None:
    def ticket(number: str) -> Ticket:
        return Ticket(number=number, session_id="same", reason="r", urgency="normal", summary="",
                      conversation=[], status="open", created_at=datetime.now(UTC))

    async with store.session(write=True) as s, s.begin():
        s.add(ticket("TCK-AAAAAAAA"))
    with pytest.raises(IntegrityError):
        async with store.session(write=True) as s, s.begin():
            s.add(ticket("TCK-BBBBBBBB"))


async def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(store) -> None:
    if store.backend != "sqlite":
        assert store.backend == "postgresql"
        return
    async with store.engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        # long enough for concurrent writers to queue, short enough that a tool answers within 3 s
        assert 1000 <= (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() < 3000
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1


async def test_write_retries_after_a_unique_conflict_then_gives_up(store) -> None:
    calls = []

    async def flaky(session):
        calls.append(1)
        if len(calls) == 1:
            raise IntegrityError("INSERT", {}, Exception("duplicate key"))
        return "second try"

    assert await store.write(flaky) == "second try" and len(calls) == 2

    async def always(session):
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    with pytest.raises(IntegrityError):
        await store.write(always, attempts=2)


async def test_a_failed_operation_leaves_no_partial_write(store) -> None:
    async def half_then_fail(session):
        session.add(Customer(public_id="CUS-00009", first_name="A", last_name="B", email=None, phone=None, country="IN"))
        await session.flush()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await store.write(half_then_fail)
    async with store.session() as s:
        assert (await s.scalars(select(Customer))).all() == []
