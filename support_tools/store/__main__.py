"""`python -m support_tools.store COMMAND`: manage the demo store.

    reset                        wipe every table and seed the demo data again
    cases                        print ready-to-try cases (order number, postal code, what to ask)
    generate --orders N          add N generated orders (benchmarks; up to 1,000,000)
    records [list | show ID]     list stored conversation records, or show one

The database is `--url`, else DATABASE_URL (environment, then .env), else sqlite shopme.db.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from ..settings import DEFAULT_DATABASE_URL
from .database import Store
from .generate import generate, print_progress
from .models import Customer, Order
from .seed import FIXED_PIN, SHOP_TZ, reset, seed_if_empty

# number, what it shows, what to ask, expected age of the delivery in days (None: not delivered)
CASES = [
    ("482913", "shipped, on its way", "Where is my order 482913?", None),
    ("517204", "delivered 5 days ago", "I want to return the black t-shirt from order 517204.", 5),
    ("530030", "delivered exactly 30 days ago: last day to return", "Can I still return the sneakers from 530030?", 30),
    ("531031", "delivered 31 days ago: window closed", "I want to return the tote bag from 531031.", 31),
    ("605118", "final-sale scarf", "Return the green scarf from order 605118.", 8),
    ("640233", "3 t-shirts, 1 already returned", "Return 3 white t-shirts from 640233 (only 2 are left).", 12),
    ("710245", "processing", "Please cancel order 710245.", None),
]


def database_url(explicit: str | None) -> str:
    if explicit:
        return explicit
    try:
        from dotenv import load_dotenv

        load_dotenv(Path.cwd() / ".env")
    except ImportError:
        pass
    return os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


async def cmd_reset(url: str, seed: int) -> None:
    store = await Store.open(url)
    try:
        data = await reset(store, datetime.now(UTC), seed)
    finally:
        await store.close()
    print(f"Demo data reset ({store.backend}): {len(data.customers)} customers, {len(data.orders)} orders.")


async def cmd_cases(url: str) -> None:
    store = await Store.open(url)
    try:
        await seed_if_empty(store, datetime.now(UTC))
        today = datetime.now(SHOP_TZ).date()
        async with store.session() as session:
            rows = {
                o.number: (o, c)
                for o, c in (
                    await session.execute(
                        select(Order, Customer).join(Customer).where(Order.number.in_([n for n, *_ in CASES]))
                    )
                ).all()
            }
    finally:
        await store.close()
    drifted = False
    print(f"Verify with order number and postal code (PIN) {FIXED_PIN}; caller Priya Sharma.\n")
    print("| order | postal code | situation | try saying |")
    print("| --- | --- | --- | --- |")
    for number, situation, ask, age in CASES:
        found = rows.get(number)
        if found is None:
            continue
        order, _ = found
        if age is not None and order.delivered_at is not None:
            actual = (today - order.delivered_at.astimezone(SHOP_TZ).date()).days
            drifted |= actual != age
            situation += f" (today: {actual} days)" if actual != age else ""
        print(f"| {number} | {order.delivery_postal_code} | {situation} ({order.status}) | {ask} |")
    print("\nAnother customer's order (answered like an unknown number): 300125, postal code 110001.")
    print("Wrong postal code three times locks verification for the session.")
    if drifted:
        print("\nThe demo data was seeded on an earlier day: run `python -m support_tools.store reset`.")


async def cmd_generate(url: str, orders: int, seed: int, batch: int) -> None:
    store = await Store.open(url)
    try:
        print(f"Generating {orders:,} orders into the {store.backend} store...")
        made = await generate(store, orders, seed=seed, batch_size=batch, progress=print_progress(orders))
    finally:
        await store.close()
    print(f"Added {made:,} orders.")


async def cmd_records(url: str, action: str, record_id: str | None, limit: int) -> int:
    from ..domain.service import SupportService

    store = await Store.open(url)
    try:
        service = SupportService(store)
        if action == "show":
            record = await service.get_conversation_record(record_id or "")
            if record is None:
                print(f"No conversation record {record_id!r}.", file=sys.stderr)
                return 1
            print(json.dumps(record, ensure_ascii=False, indent=2))
            return 0
        records = await service.list_conversation_records(limit)
    finally:
        await store.close()
    if not records:
        print("No conversation records yet.")
    for r in records:
        duration = str(timedelta(seconds=round(r["duration_s"])))
        print(f"{r['id']}  {r['started_at'][:19]}  {duration:>8}  {r['outcome']:<9}  "
              f"{r['customer_id'] or '-':<10}  {r['ticket_number'] or '-':<12}  {r['entries']} entries")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m support_tools.store", description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="database URL (default: DATABASE_URL)")
    commands = parser.add_subparsers(dest="command", required=True)
    p_reset = commands.add_parser("reset", help="wipe and reseed the demo data")
    p_reset.add_argument("--seed", type=int, default=42)
    commands.add_parser("cases", help="print ready-to-try cases")
    p_gen = commands.add_parser("generate", help="add generated orders for benchmarks")
    p_gen.add_argument("--orders", type=int, required=True)
    p_gen.add_argument("--seed", type=int, default=7)
    p_gen.add_argument("--batch", type=int, default=5000)
    p_rec = commands.add_parser("records", help="list or show conversation records")
    p_rec.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    p_rec.add_argument("id", nargs="?")
    p_rec.add_argument("--limit", type=int, default=20)
    for sub in (p_reset, p_gen, p_rec):
        sub.add_argument("--url", help=argparse.SUPPRESS)
    commands.choices["cases"].add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    url = database_url(args.url)
    try:
        if args.command == "reset":
            asyncio.run(cmd_reset(url, args.seed))
        elif args.command == "cases":
            asyncio.run(cmd_cases(url))
        elif args.command == "generate":
            asyncio.run(cmd_generate(url, args.orders, args.seed, args.batch))
        else:
            if args.action == "show" and not args.id:
                parser.error("records show needs a record id")
            return asyncio.run(cmd_records(url, args.action, args.id, args.limit))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
