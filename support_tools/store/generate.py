"""Benchmark-size data: `python -m support_tools.store generate --orders 1000000 --url ...`.

Rows are built and inserted in batches (Core executemany, one transaction per batch), so memory
stays flat whatever the size. Order numbers walk a fixed permutation of 000000..999999 and skip
numbers already taken, so the store holds at most one million orders.
"""

from __future__ import annotations

import random
import time as wallclock
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from .database import Store
from .models import Customer, Order, OrderItem, Product
from .seed import CATALOG, FIRST_NAMES, IN_PINS, LAST_NAMES, insert_rows, sync_sequences

ORDER_NUMBER_SPACE = 1_000_000
# Multiplier coprime with 10**6: i -> (A*i + C) mod 10**6 visits every number exactly once.
_A, _C = 387_419, 104_729
ORDERS_PER_CUSTOMER = 5
STATUSES = ["delivered"] * 9 + ["processing", "shipped", "in_transit", "out_for_delivery", "cancelled", "returned"]


def order_number(index: int) -> str:
    return f"{(_A * index + _C) % ORDER_NUMBER_SPACE:06d}"


async def _count(store: Store, model: Any) -> int:
    async with store.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _max_id(store: Store, model: Any) -> int:
    async with store.session() as session:
        return int(await session.scalar(select(func.max(model.id))) or 0)


async def generate(
    store: Store,
    orders: int,
    *,
    now: datetime | None = None,
    seed: int = 7,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Add `orders` orders (and a customer for every five) to the store. Returns how many."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    existing = await _count(store, Order)
    if orders < 1 or orders > ORDER_NUMBER_SPACE - existing:
        raise ValueError(f"can add 1 to {ORDER_NUMBER_SPACE - existing} orders (6-digit order numbers)")
    if await _count(store, Product) == 0:
        async with store.engine.execution_options(shopme_write=True).begin() as conn:
            await insert_rows(conn, Product.__table__, [
                {"sku": sku, "name": name, "price_minor": price, "currency": "INR", "stock": stock, "final_sale": final}
                for sku, name, price, stock, final in CATALOG
            ])
    async with store.session() as session:
        taken = set((await session.scalars(select(Order.number))).all()) if existing else set()
    rng = random.Random(seed)
    next_customer = await _max_id(store, Customer) + 1
    next_order = await _max_id(store, Order) + 1
    next_item = await _max_id(store, OrderItem) + 1
    walk = 0
    made = 0
    while made < orders:
        customers: list[dict[str, Any]] = []
        order_rows: list[dict[str, Any]] = []
        item_rows: list[dict[str, Any]] = []
        for _ in range(min(batch_size, orders - made)):
            number = order_number(walk)
            walk += 1
            while number in taken:
                number = order_number(walk)
                walk += 1
            if made % ORDERS_PER_CUSTOMER == 0:
                customers.append(_customer(rng, next_customer))
                next_customer += 1
            customer_id = next_customer - 1
            postal = customers[-1]["_pin"] if customers else rng.choice(IN_PINS)
            row, lines = _order(rng, now, next_order, number, customer_id, postal)
            for sku, name, price, quantity, final in lines:
                item_rows.append({"id": next_item, "order_id": next_order, "sku": sku, "name": name,
                                  "unit_price_minor": price, "quantity": quantity, "final_sale": final})
                next_item += 1
            order_rows.append(row)
            next_order += 1
            made += 1
        for customer in customers:
            customer.pop("_pin")
        async with store.engine.execution_options(shopme_write=True).begin() as conn:
            await insert_rows(conn, Customer.__table__, customers)
            await insert_rows(conn, Order.__table__, order_rows)
            await insert_rows(conn, OrderItem.__table__, item_rows)
        if progress:
            progress(made)
    async with store.engine.execution_options(shopme_write=True).begin() as conn:
        await sync_sequences(conn)
    return made


def _customer(rng: random.Random, cid: int) -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return {
        "id": cid, "public_id": f"CUS-{cid:05d}", "first_name": first, "last_name": last,
        "email": f"{first}.{last}{cid}@example.in".lower(),
        "phone": "+919" + f"{rng.randrange(10**9):09d}", "country": "IN", "_pin": rng.choice(IN_PINS),
    }


def _order(rng: random.Random, now: datetime, oid: int, number: str, customer_id: int, postal: str):
    status = rng.choice(STATUSES)
    placed = now - timedelta(days=rng.randint(0, 365), minutes=rng.randint(0, 1439))
    shipped = delivered = None
    eta = None
    if status != "processing" and status != "cancelled":
        shipped = placed + timedelta(hours=rng.randint(6, 40))
        eta = (shipped + timedelta(days=rng.randint(2, 6))).date()
        if status in ("delivered", "returned"):
            delivered = shipped + timedelta(days=rng.randint(1, 5))
    if (shipped and shipped > now) or (delivered and delivered > now):
        status, shipped, delivered, eta = "processing", None, None, None
    lines = []
    total = 0
    for sku, name, price, _, final in rng.sample(CATALOG, rng.randint(1, 3)):
        quantity = rng.choice((1, 1, 1, 2))
        lines.append((sku, name, price, quantity, final))
        total += price * quantity
    row = {
        "id": oid, "number": number, "customer_id": customer_id, "status": status, "placed_at": placed,
        "shipped_at": shipped, "delivered_at": delivered, "estimated_delivery": eta,
        "carrier": "Delhivery" if shipped else None,
        "tracking_number": f"DL{oid:09d}IN" if shipped else None,
        "delivery_postal_code": postal, "delivery_country": "IN", "currency": "INR", "total_minor": total,
    }
    return row, lines


def print_progress(total: int) -> Callable[[int], None]:
    started = wallclock.monotonic()

    def report(done: int) -> None:
        if done == total or done % 100_000 == 0:
            print(f"  {done:>9,} / {total:,} orders ({wallclock.monotonic() - started:.0f}s)", flush=True)

    return report
