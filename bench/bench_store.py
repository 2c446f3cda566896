"""Store latency at scale: generate N orders into a temp SQLite file (or --url), then time
verify_customer and get_order_status on random orders.

    .venv/bin/python bench/bench_store.py                 # 100,000 orders
    .venv/bin/python bench/bench_store.py --orders 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select  # noqa: E402

from support_tools.domain.caller import CallerState  # noqa: E402
from support_tools.domain.service import SupportService  # noqa: E402
from support_tools.store.database import Store  # noqa: E402
from support_tools.store.generate import generate, print_progress  # noqa: E402
from support_tools.store.models import Order  # noqa: E402


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"p50 {p50 * 1000:.2f} ms  p95 {p95 * 1000:.2f} ms  max {ordered[-1] * 1000:.2f} ms"


async def run(url: str, orders: int, samples: int) -> None:
    store = await Store.open(url)
    try:
        started = time.perf_counter()
        await generate(store, orders, progress=print_progress(orders))
        print(f"generated {orders:,} orders in {time.perf_counter() - started:.1f}s")
        async with store.session() as session:
            ids = random.Random(1).sample(range(1, orders + 1), samples)
            rows = (await session.execute(
                select(Order.number, Order.delivery_postal_code).where(Order.id.in_(ids))
            )).all()
        service = SupportService(store)
        verify_times, status_times = [], []
        for number, postal in rows:
            caller = CallerState(session_id=f"bench-{number}")
            t0 = time.perf_counter()
            await service.verify_customer(caller, number, postal)
            t1 = time.perf_counter()
            await service.get_order_status(caller, number)
            t2 = time.perf_counter()
            verify_times.append(t1 - t0)
            status_times.append(t2 - t1)
        print(f"verify_customer   ({len(rows)} calls): {percentiles(verify_times)}")
        print(f"get_order_status  ({len(rows)} calls): {percentiles(status_times)}")
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--url", help="database URL (default: a temp SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        asyncio.run(run(url, args.orders, args.samples))


if __name__ == "__main__":
    main()
