"""How long a tool takes to answer when the store is locked or unreachable (issue 8: within 3 s).

    .venv/bin/python bench/bench_store_faults.py                   # SQLite locked, PG refused, PG silent
    .venv/bin/python bench/bench_store_faults.py --calls 20 --postgres postgresql+asyncpg://...

Prints p50/p95/p99 per fault, and the same for the old default (the 10 s SQLite
busy timeout this project used before) when --with-old-default is given.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from support_tools.domain.caller import CallerState  # noqa: E402
from support_tools.domain.errors import SupportError  # noqa: E402
from support_tools.domain.service import SupportService  # noqa: E402
from support_tools.store import database  # noqa: E402
from support_tools.store.database import Store  # noqa: E402
from support_tools.store.seed import seed_if_empty  # noqa: E402


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000

    return f"p50 {statistics.median(ordered) * 1000:.0f} ms  p95 {at(0.95):.0f} ms  p99 {at(0.99):.0f} ms"


async def timed(call, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        try:
            await call()
        except SupportError:
            pass
        times.append(time.perf_counter() - started)
    return times


async def sqlite_locked(calls: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shop.db"
        store = await Store.open(f"sqlite+aiosqlite:///{path}")
        await seed_if_empty(store, datetime.now(UTC))
        service = SupportService(store)
        me = CallerState(session_id="bench")
        await service.verify_customer(me, "482913", "560001")
        holder = sqlite3.connect(str(path), isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            return await timed(lambda: service.cancel_order(me, "710245", "bench"), calls)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
            await store.close()


async def postgres_refused(calls: int) -> list[float]:
    store = await Store.open("postgresql+asyncpg://x:y@127.0.0.1:9/shop", migrate=False)
    try:
        return await timed(lambda: SupportService(store).get_product_info("kurta"), calls)
    finally:
        await store.close()


async def postgres_silent(calls: int) -> list[float]:
    held = []

    async def silent(_reader, writer):
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = await Store.open(f"postgresql+asyncpg://x:y@127.0.0.1:{port}/shop", migrate=False)
    try:
        return await timed(lambda: SupportService(store).get_product_info("kurta"), calls)
    finally:
        await store.close()
        for writer in held:
            writer.close()
        server.close()


async def main() -> None:
    logging.getLogger("shopme").setLevel(logging.ERROR)  # one warning per call otherwise
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--with-old-default", action="store_true", help="also time the old 10 s busy timeout")
    args = parser.parse_args()
    print(f"sqlite, write lock held   ({args.calls} calls): {percentiles(await sqlite_locked(args.calls))}")
    print(f"postgres, port refused    ({args.calls} calls): {percentiles(await postgres_refused(args.calls))}")
    print(f"postgres, server silent   ({args.calls} calls): {percentiles(await postgres_silent(args.calls))}")
    if args.with_old_default:
        database.SQLITE_BUSY_TIMEOUT_MS = 10_000
        calls = min(args.calls, 3)
        print(f"sqlite, lock held, old 10 s busy timeout ({calls} calls): {percentiles(await sqlite_locked(calls))}")


if __name__ == "__main__":
    asyncio.run(main())
