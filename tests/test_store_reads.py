"""Lookups outside a transaction: they see what was just committed, list a busy customer's orders
right, and survive a database connection that died while it sat in the pool."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest
from sqlalchemy import text

from support_tools.domain.lookups import ORDERS_LISTED
from support_tools.domain.service import SupportService
from support_tools.store.database import Store
from support_tools.store.models import Order
from tests.store_fixtures import (
    NOW,
    PG_MISSING,
    backend_url,
    build_world,
    caller,
    empty_tables,
    verified,
)


async def add_orders(store: Store, customer_public_id: str, count: int) -> None:
    async def write(session) -> None:
        customer = (await session.execute(
            text("SELECT id FROM customers WHERE public_id = :p"), {"p": customer_public_id}
        )).scalar_one()
        for index in range(count):
            session.add(Order(
                number=f"9{index:05d}", customer_id=customer, status="processing",
                placed_at=NOW - timedelta(days=400 + index), delivery_postal_code="560001",
                delivery_country="IN", currency="INR", total_minor=100,
            ))

    await store.write(write)


async def test_verification_lists_the_newest_orders_and_counts_the_rest(service) -> None:
    await add_orders(service.store, "CUS-00001", ORDERS_LISTED + 3)
    total = (await service.store.first(text(
        "SELECT count(*) AS n FROM orders JOIN customers ON customers.id = orders.customer_id "
        "WHERE customers.public_id = 'CUS-00001'"
    ))).n
    result = await service.verify_customer(caller(), "482913", "560001")
    listed = result["orders"]
    assert len(listed) == ORDERS_LISTED
    assert result["more_orders"] == total - ORDERS_LISTED
    dates = [o["placed_on"] for o in listed]
    assert dates == sorted(dates, reverse=True)
    assert "482913" in {o["order_number"] for o in listed}  # recent: listed before the old ones


async def test_a_lookup_sees_a_write_committed_just_before(service) -> None:
    me = verified()
    assert (await service.get_order_status(me, "710245"))["status"] == "processing"

    async def ship(session) -> None:
        order = (await session.execute(
            text("SELECT id FROM orders WHERE number = '710245'")
        )).scalar_one()
        await session.execute(
            text("UPDATE orders SET status = 'cancelled' WHERE id = :id"), {"id": order}
        )

    await service.store.write(ship)
    assert (await service.get_order_status(me, "710245"))["status"] == "cancelled"


@pytest.fixture
async def pg_store(tmp_path, pg_schema):
    if pg_schema is None:
        pytest.fail(PG_MISSING)
    url, schema = backend_url("postgresql", tmp_path, pg_schema)
    store = await Store.open(url, search_path=schema)
    await empty_tables(store)
    await build_world(store)
    try:
        yield store, url
    finally:
        await store.close()


async def kill_pooled_connections(store: Store, url: str) -> None:
    """What a PostgreSQL restart or an idle timeout does to the connections in the pool."""
    pid = (await store.first(text("SELECT pg_backend_pid() AS pid"))).pid
    admin = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def test_lookups_and_writes_work_after_the_pooled_connection_died(pg_store) -> None:
    store, url = pg_store
    service = SupportService(store)
    me = caller()
    await kill_pooled_connections(store, url)
    assert (await service.verify_customer(me, "482913", "560001"))["first_name"] == "Priya"

    await kill_pooled_connections(store, url)

    async def rename(session) -> None:
        customer = (await session.execute(
            text("SELECT id FROM customers WHERE public_id = 'CUS-00001'")
        )).scalar_one()
        await session.execute(text("UPDATE customers SET first_name = 'Pri' WHERE id = :id"), {"id": customer})

    await store.write(rename)
    row = await store.first(text("SELECT first_name FROM customers WHERE public_id = 'CUS-00001'"))
    assert row.first_name == "Pri"
