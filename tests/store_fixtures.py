"""Store fixtures for the store and domain tests: every test runs on SQLite AND on PostgreSQL.

Import what a test module needs: `from tests.store_fixtures import store, service  # noqa: F401`.
PostgreSQL comes from TEST_POSTGRES_URL (`make test` starts a server and sets it). Each test run
gets its own PostgreSQL schema, and each test starts from empty tables.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from support_tools.domain.caller import CallerState
from support_tools.domain.rules import ShopRules
from support_tools.domain.service import SupportService
from support_tools.store.database import Store
from support_tools.store.models import (
    DATA_TABLES_CHILDREN_FIRST,
    Customer,
    Order,
    OrderItem,
    Product,
    Return,
)

PG_MISSING = "TEST_POSTGRES_URL is not set: run `make test`"
IST = ZoneInfo("Asia/Kolkata")
# 12:00 in the shop's time zone.
NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
TODAY = NOW.astimezone(IST).date()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A PostgreSQL test without a server counts as FAILED (not an error in setup, never a skip)."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "setup" and report.failed and PG_MISSING in str(report.longrepr):
        report.when = "call"


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str | None]:
    """A private schema for this test run, so parallel runs in one database never collide."""
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        yield None
        return
    import asyncpg

    name = f"shopme_t_{secrets.token_hex(4)}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f"CREATE SCHEMA {name}"))
    yield name
    asyncio.run(run(f"DROP SCHEMA IF EXISTS {name} CASCADE"))


def backend_url(backend: str, tmp_path, pg_schema: str | None) -> tuple[str, str | None]:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", None
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        pytest.fail(PG_MISSING)
    return url, pg_schema


async def empty_tables(store: Store) -> None:
    if store.backend == "postgresql":
        names = ", ".join(t.name for t in DATA_TABLES_CHILDREN_FIRST)
        async with store.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        await store.wipe()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture
async def store_url(backend, tmp_path, pg_schema) -> tuple[str, str | None]:
    return backend_url(backend, tmp_path, pg_schema)


@pytest.fixture
async def store(store_url) -> AsyncIterator[Store]:
    url, schema = store_url
    opened = await Store.open(url, search_path=schema)
    await empty_tables(opened)
    try:
        yield opened
    finally:
        await opened.close()


# --- a small, explicit world --------------------------------------------------------------------

@dataclass
class World:
    priya: str = "CUS-00001"
    rahul: str = "CUS-00002"
    oliver: str = "CUS-00003"


def at_local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), IST).astimezone(UTC)


def delivered_days_ago(days: int, hour: int = 11) -> datetime:
    return at_local(TODAY - timedelta(days=days), hour)


async def build_world(store: Store) -> World:
    """Three customers and a handful of orders, one per situation the rules care about."""
    async with store.session(write=True) as s, s.begin():
        priya = Customer(public_id="CUS-00001", first_name="Priya", last_name="Sharma",
                         email="priya.sharma@example.com", phone="+919876543210", country="IN")
        rahul = Customer(public_id="CUS-00002", first_name="Rahul", last_name="Verma",
                         email="rahul@example.in", phone="+919812345678", country="IN")
        oliver = Customer(public_id="CUS-00003", first_name="Oliver", last_name="Bennett",
                          email="oliver@example.co.uk", phone=None, country="GB")
        s.add_all([priya, rahul, oliver])
        s.add_all([
            Product(sku="SM-KURTA-BLU-M", name="Cotton kurta, blue, M", price_minor=129900, currency="INR", stock=42, final_sale=False),
            Product(sku="SM-KURTA-WHT-L", name="Cotton kurta, white, L", price_minor=129900, currency="INR", stock=0, final_sale=False),
            Product(sku="SM-CLR-SCARF-GRN", name="Green wool scarf (clearance)", price_minor=34900, currency="INR", stock=5, final_sale=True),
            Product(sku="SM-MUG-100%", name="Mug 100% ceramic", price_minor=49900, currency="INR", stock=3, final_sale=False),
        ])
        await s.flush()

        def order(customer, number, status, lines, *, postal="560001", delivered=None, currency="INR", country="IN"):
            placed = (delivered or NOW) - timedelta(days=3)
            shipped = placed + timedelta(days=1) if status not in ("processing", "cancelled") else None
            row = Order(
                number=number, customer_id=customer.id, status=status, placed_at=placed,
                shipped_at=shipped, delivered_at=delivered,
                estimated_delivery=TODAY + timedelta(days=2) if delivered is None else None,
                carrier="Delhivery" if shipped else None,
                tracking_number=f"DL{number}000IN" if shipped else None,
                delivery_postal_code=postal, delivery_country=country, currency=currency,
                total_minor=sum(price * qty for _, _, price, qty, _ in lines),
            )
            row.lines = lines  # type: ignore[attr-defined]
            return row

        orders = [
            order(priya, "482913", "shipped", [("SM-KURTA-BLU-M", "Cotton kurta, blue, M", 129900, 1, False)]),
            order(priya, "517204", "delivered", [("SM-TSHIRT-BLK-M", "Black t-shirt, M", 59900, 3, False),
                                                  ("SM-JEANS-IND-32", "Indigo jeans, 32", 189900, 1, False)],
                  delivered=delivered_days_ago(5)),
            order(priya, "530030", "delivered", [("SM-SNEAK-WHT-42", "White sneakers", 279900, 1, False)],
                  delivered=delivered_days_ago(30)),
            order(priya, "531031", "delivered", [("SM-BAG-TAN", "Tan tote", 329900, 1, False)],
                  delivered=delivered_days_ago(31)),
            order(priya, "605118", "delivered", [("SM-CLR-SCARF-GRN", "Green wool scarf (clearance)", 34900, 1, True)],
                  delivered=delivered_days_ago(8)),
            order(priya, "640233", "delivered", [("SM-TSHIRT-WHT-L", "White t-shirt, L", 59900, 3, False)],
                  delivered=delivered_days_ago(12)),
            order(priya, "710245", "processing", [("SM-LAMP-BRS", "Brass lamp", 219900, 1, False),
                                                   ("SM-MUG-CER-2", "Mugs", 49900, 2, False)]),
            order(priya, "488120", "in_transit", [("SM-HEADPH-BT", "Headphones", 349900, 1, False)]),
            order(rahul, "300125", "delivered", [("SM-PRESSURE-5L", "Pressure cooker", 259900, 1, False)],
                  postal="110001", delivered=delivered_days_ago(3)),
            order(rahul, "300126", "processing", [("SM-TAWA-NS", "Tawa", 89900, 1, False)], postal="110001"),
            order(oliver, "268402", "delivered", [("SM-BACKPACK-GRY", "Backpack", 2199, 1, False)],
                  postal="SW1A 1AA", delivered=delivered_days_ago(6), currency="GBP", country="GB"),
        ]
        s.add_all(orders)
        await s.flush()
        for o in orders:
            for sku, name, price, qty, final in o.lines:  # type: ignore[attr-defined]
                s.add(OrderItem(order_id=o.id, sku=sku, name=name, unit_price_minor=price, quantity=qty, final_sale=final))
        await s.flush()
        white = await s.scalar(select(OrderItem).where(OrderItem.sku == "SM-TSHIRT-WHT-L"))
        s.add(Return(rma="RMA-OLD00001", order_item_id=white.id, quantity=1, reason="Too big", refund_minor=59900,
                     currency="INR", status="refunded", created_at=NOW - timedelta(days=10),
                     idempotency_key=f"{white.id}#1"))
    return World()


@pytest.fixture
async def world(store) -> World:
    return await build_world(store)


@pytest.fixture
def clock() -> list[datetime]:
    """The service's "now"; tests move it by replacing clock[0]."""
    return [NOW]


@pytest.fixture
async def service(store, world, clock) -> SupportService:
    return SupportService(store, ShopRules(), clock=lambda: clock[0])


def caller(session_id: str = "session-1", customer_id: str | None = None, room: str | None = "room-1") -> CallerState:
    return CallerState(session_id=session_id, room=room, customer_id=customer_id)


def verified(customer_id: str = "CUS-00001", session_id: str = "session-1") -> CallerState:
    return caller(session_id, customer_id)


async def row_counts(store: Store) -> dict[str, int]:
    counts = {}
    async with store.session() as s:
        for table in DATA_TABLES_CHILDREN_FIRST:
            counts[table.name] = int(await s.scalar(select(func.count()).select_from(table)))
    return counts


async def order_status(store: Store, number: str) -> str:
    async with store.session() as s:
        return await s.scalar(select(Order.status).where(Order.number == number))


async def snapshot(store: Store) -> dict[str, object]:
    """Row counts plus every value an operation may change: equal snapshots mean no write."""
    async with store.session() as s:
        contacts = (await s.execute(select(Customer.public_id, Customer.email, Customer.phone).order_by(Customer.id))).all()
        statuses = (await s.execute(select(Order.number, Order.status).order_by(Order.id))).all()
    return {"counts": await row_counts(store), "contacts": [tuple(r) for r in contacts], "statuses": [tuple(r) for r in statuses]}
