"""Store latency at scale: `verify_customer` and `get_order_status` p50/p95/p99 on random orders of
a store holding N orders, on SQLite and (with --postgres) PostgreSQL.

The data is generated once and kept (SQLite: a file under --data-dir; PostgreSQL: a schema
`bench_<N>` in the given database), so later runs only measure. Each run also times the same
lookups as one plain driver query (sqlite3 / asyncpg), the floor the store can approach, so a
noisy machine shows up in both figures.

    .venv/bin/python bench/bench_store.py --orders 1000000
    .venv/bin/python bench/bench_store.py --orders 1000000 --postgres "$(bash scripts/test-postgres.sh)"
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402

from support_tools.domain.caller import CallerState  # noqa: E402
from support_tools.domain.service import SupportService  # noqa: E402
from support_tools.store.database import Store  # noqa: E402
from support_tools.store.generate import generate, print_progress  # noqa: E402
from support_tools.store.models import Order  # noqa: E402

WARM_UP_CALLS = 50


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    return (
        f"p50 {statistics.median(ordered) * 1000:.2f} ms  p95 {at(0.95):.2f} ms  "
        f"p99 {at(0.99):.2f} ms  max {ordered[-1] * 1000:.2f} ms"
    )


async def open_filled(url: str, orders: int, search_path: str | None) -> Store:
    store = await Store.open(url, search_path=search_path)
    async with store.session() as session:
        have = int(await session.scalar(select(func.count()).select_from(Order)) or 0)
    if have < orders:
        started = time.perf_counter()
        await generate(store, orders - have, progress=print_progress(orders - have))
        print(f"  generated {orders - have:,} orders in {time.perf_counter() - started:.0f}s")
    return store


async def sample_orders(store: Store, orders: int, samples: int) -> list[tuple[str, str]]:
    ids = random.Random(1).sample(range(1, orders + 1), samples)
    async with store.session() as session:
        rows = (await session.execute(
            select(Order.number, Order.delivery_postal_code).where(Order.id.in_(ids))
        )).all()
    shuffled = [(number, postal) for number, postal in rows]
    random.Random(2).shuffle(shuffled)
    return shuffled


async def time_service(store: Store, rows: list[tuple[str, str]]) -> tuple[list[float], list[float], float]:
    """Wall time of each call, and the process CPU time per call pair."""
    service = SupportService(store)
    verify_times, status_times = [], []
    for number, postal in rows[:WARM_UP_CALLS]:
        caller = CallerState(session_id=f"warm-{number}")
        await service.verify_customer(caller, number, postal)
        await service.get_order_status(caller, number)
    cpu_start = time.process_time()
    for number, postal in rows:
        caller = CallerState(session_id=f"bench-{number}")
        t0 = time.perf_counter()
        await service.verify_customer(caller, number, postal)
        t1 = time.perf_counter()
        await service.get_order_status(caller, number)
        t2 = time.perf_counter()
        verify_times.append(t1 - t0)
        status_times.append(t2 - t1)
    cpu_per_pair = (time.process_time() - cpu_start) / len(rows)
    return verify_times, status_times, cpu_per_pair


async def time_floor(lookup: Callable[[str], Awaitable[object]], rows: list[tuple[str, str]]) -> list[float]:
    """One plain driver query per order (the order joined to its customer): the floor."""
    times = []
    for number, _ in rows:
        t0 = time.perf_counter()
        await lookup(number)
        times.append(time.perf_counter() - t0)
    return times


FLOOR_SQL = (
    "SELECT o.delivery_postal_code, c.public_id, c.first_name FROM orders o "
    "JOIN customers c ON c.id = o.customer_id WHERE o.number = {param}"
)


async def bench_sqlite(path: Path, orders: int, samples: int) -> None:
    print(f"SQLite ({path}, {orders:,} orders)")
    store = await open_filled(f"sqlite+aiosqlite:///{path}", orders, None)
    try:
        rows = await sample_orders(store, orders, samples)
        verify, status, cpu = await time_service(store, rows)
    finally:
        await store.close()
    plain = sqlite3.connect(path)

    async def lookup(number: str) -> object:
        return plain.execute(FLOOR_SQL.format(param="?"), (number,)).fetchone()

    floor = await time_floor(lookup, rows)
    plain.close()
    report(len(rows), verify, status, cpu, floor, "plain sqlite3, same thread")


async def bench_postgres(url: str, orders: int, samples: int) -> None:
    schema = f"bench_{orders}"
    print(f"PostgreSQL (schema {schema}, {orders:,} orders)")
    import asyncpg

    plain_url = url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(plain_url)
    await admin.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    store = await open_filled(url, orders, schema)
    try:
        rows = await sample_orders(store, orders, samples)
        verify, status, cpu = await time_service(store, rows)
    finally:
        await store.close()
    await admin.execute(f'SET search_path TO "{schema}"')
    statement = await admin.prepare(FLOOR_SQL.format(param="$1"))
    floor = await time_floor(statement.fetchrow, rows)
    await admin.close()
    report(len(rows), verify, status, cpu, floor, "asyncpg prepared statement")


def report(calls: int, verify: list[float], status: list[float], cpu: float, floor: list[float], how: str) -> None:
    print(f"  verify_customer   ({calls} calls): {summary(verify)}")
    print(f"  get_order_status  ({calls} calls): {summary(status)}")
    print(f"  CPU time of this process per verify + status pair: {cpu * 1000:.2f} ms")
    print(f"  floor: one lookup query, {how}: {summary(floor)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/shopme-bench"),
                        help="where the generated SQLite file is kept between runs")
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL database")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    if not args.no_sqlite:
        asyncio.run(bench_sqlite(args.data_dir / f"store-{args.orders}.db", args.orders, args.samples))
    if args.postgres:
        asyncio.run(bench_postgres(args.postgres, args.orders, args.samples))


if __name__ == "__main__":
    main()
