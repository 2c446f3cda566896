"""Demo data: deterministic, complete, dated relative to "now"; generation and the CLI."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import func, select

from support_tools.domain.caller import CallerState
from support_tools.domain.service import SupportService
from support_tools.store.__main__ import main as store_cli
from support_tools.store.generate import generate
from support_tools.store.models import ORDER_STATUSES, Customer, Order, Return
from support_tools.store.seed import SHOP_TZ, build_demo_data, seed_if_empty

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)


def test_same_seed_and_now_give_the_same_data() -> None:
    assert build_demo_data(NOW, 42) == build_demo_data(NOW, 42)
    assert build_demo_data(NOW, 42) != build_demo_data(NOW, 43)


def test_demo_data_covers_every_case() -> None:
    data = build_demo_data(NOW)
    assert len(data.customers) >= 50 and len(data.orders) >= 300
    assert set(Counter(o["status"] for o in data.orders)) == set(ORDER_STATUSES)
    today = NOW.astimezone(SHOP_TZ).date()
    ages = {(today - o["delivered_at"].astimezone(SHOP_TZ).date()).days for o in data.orders if o["delivered_at"]}
    assert {5, 29, 30, 31} <= ages
    assert any(i["final_sale"] for i in data.items)
    multi = Counter(i["order_id"] for i in data.items)
    partial = [r for r in data.returns if r["quantity"] < next(i["quantity"] for i in data.items if i["id"] == r["order_item_id"])
               or multi[next(i["order_id"] for i in data.items if i["id"] == r["order_item_id"])] > 1]
    assert partial
    countries = Counter(c["country"] for c in data.customers)
    assert countries["IN"] > countries["US"] + countries["GB"] and countries["US"] and countries["GB"]
    postcodes = {o["delivery_postal_code"] for o in data.orders}
    assert "SW1A 1AA" in postcodes and "94107" in postcodes
    assert all(len(o["number"]) == 6 and o["number"].isdigit() for o in data.orders)
    assert len({o["number"] for o in data.orders}) == len(data.orders)
    for order in data.orders:  # dates are consistent and in the past
        for moment in (order["placed_at"], order["shipped_at"], order["delivered_at"]):
            assert moment is None or moment <= NOW
        if order["delivered_at"]:
            assert order["placed_at"] < order["shipped_at"] < order["delivered_at"]
    fixed = {o["number"]: o for o in data.orders}["482913"]
    assert fixed["delivery_postal_code"] == "560001" and fixed["status"] == "shipped"


async def test_seed_once_then_the_fixed_cases_work(store) -> None:
    assert await seed_if_empty(store, NOW) is True
    assert await seed_if_empty(store, NOW) is False
    async with store.session() as s:
        assert await s.scalar(select(func.count()).select_from(Order)) == len(build_demo_data(NOW).orders)
    service = SupportService(store, clock=lambda: NOW)
    me = CallerState(session_id="demo")
    assert (await service.verify_customer(me, "482913", "560001"))["first_name"] == "Priya"
    assert (await service.get_order_status(me, "482913"))["tracking_number"] == "DL123456789IN"
    assert (await service.start_return(me, "530030", "SM-SNEAK-WHT-42", "Does not fit"))["rma"].startswith("RMA-")
    assert (await service.cancel_order(me, "710245", "Not needed"))["status"] == "cancelled"
    # New rows get fresh ids after the explicit-id seed (PostgreSQL sequences moved on).
    ticket, _ = await service.open_ticket(me, "Help", "normal", "", [])
    assert ticket["customer"]["id"] == "CUS-00001"


async def test_generate_adds_orders_in_batches(store) -> None:
    await seed_if_empty(store, NOW)
    made = await generate(store, 1200, now=NOW, batch_size=500)
    assert made == 1200
    async with store.session() as s:
        numbers = (await s.scalars(select(Order.number))).all()
        customers = await s.scalar(select(func.count()).select_from(Customer))
    assert len(numbers) == len(set(numbers)) == len(build_demo_data(NOW).orders) + 1200
    assert all(len(n) == 6 and n.isdigit() for n in numbers)
    assert customers >= 240
    async with store.session(write=True) as s, s.begin():  # sequences still usable afterwards
        s.add(Customer(public_id="CUS-99999", first_name="N", last_name="N", email=None, phone=None, country="IN"))


def test_cli_reset_cases_and_records(tmp_path, capsys) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    assert store_cli(["--url", url, "cases"]) == 0
    cases = capsys.readouterr().out
    for number in ("482913", "530030", "531031", "605118", "710245"):
        assert number in cases
    assert "560001" in cases
    assert store_cli(["reset", "--url", url]) == 0
    assert "orders" in capsys.readouterr().out
    assert store_cli(["records", "--url", url]) == 0
    assert "No conversation records" in capsys.readouterr().out
    assert store_cli(["records", "show", "REC-NOPE", "--url", url]) == 1


async def test_seeded_returns_count_against_quantities(store) -> None:
    await seed_if_empty(store, NOW)
    async with store.session() as s:
        keys = (await s.scalars(select(Return.idempotency_key))).all()
    assert len(keys) == len(set(keys)) > 0
