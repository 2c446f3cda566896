"""Returns: window edges by shop-local calendar date, final sale, quantities, idempotency, races."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from support_tools.domain.errors import SupportError
from support_tools.domain.rules import ShopRules
from support_tools.domain.service import SupportService
from support_tools.store.database import Store
from support_tools.store.models import Order, OrderItem, Return
from tests.store_fixtures import NOW, TODAY, at_local, snapshot, verified

RMA = re.compile(r"^RMA-[A-Z0-9]{6,}$")


async def returns_of(store, sku: str) -> list[Return]:
    async with store.session() as s:
        return list(
            (await s.scalars(select(Return).join(OrderItem).where(OrderItem.sku == sku).order_by(Return.id))).all()
        )


async def test_return_inside_the_window(service, store) -> None:
    result = await service.start_return(verified(), "517204", "sm-tshirt-blk-m", "Too small", 2)
    assert RMA.match(result["rma"])
    assert result["refund"] == {"amount": "₹1,198.00", "minor_units": 119800, "currency": "INR"}
    assert result["quantity"] == 2 and result["already_started"] is False
    assert result["rma"] in result["next_steps"]
    [row] = await returns_of(store, "SM-TSHIRT-BLK-M")
    assert row.rma == result["rma"] and row.refund_minor == 119800 and row.status == "requested"


async def test_delivered_exactly_30_days_ago_is_the_last_day(service) -> None:
    result = await service.start_return(verified(), "530030", "SM-SNEAK-WHT-42", "Does not fit")
    assert RMA.match(result["rma"])


async def test_delivered_31_days_ago_is_refused_without_a_write(service, store) -> None:
    before = await snapshot(store)
    with pytest.raises(SupportError) as refusal:
        await service.start_return(verified(), "531031", "SM-BAG-TAN", "Changed my mind")
    assert "return window" in refusal.value.message and "2026-11-22" in refusal.value.message
    assert await snapshot(store) == before


async def test_days_are_calendar_days_in_the_shop_time_zone(store, world) -> None:
    """Delivered 23:50 IST; at 00:10 IST 30 calendar days later (29 days 20 min elapsed) the window
    is still open, and at 00:10 IST 31 calendar days later it is closed."""
    async with store.session(write=True) as s, s.begin():
        order = await s.scalar(select(Order).where(Order.number == "530030"))
        order.delivered_at = at_local(TODAY - timedelta(days=40), 23, 50)
    delivered_day = TODAY - timedelta(days=40)
    day_30 = at_local(delivered_day + timedelta(days=30), 23, 59)
    day_31 = at_local(delivered_day + timedelta(days=31), 0, 10)
    late = SupportService(store, ShopRules(), clock=lambda: day_31)
    with pytest.raises(SupportError):
        await late.start_return(verified(), "530030", "SM-SNEAK-WHT-42", "Too late")
    last_day = SupportService(store, ShopRules(), clock=lambda: day_30)
    assert RMA.match((await last_day.start_return(verified(), "530030", "SM-SNEAK-WHT-42", "In time"))["rma"])


async def test_window_length_is_configurable(store, world) -> None:
    strict = SupportService(store, ShopRules(return_window_days=7), clock=lambda: NOW)
    with pytest.raises(SupportError):
        await strict.start_return(verified(), "605118", "SM-CLR-SCARF-GRN", "x y")  # 8 days
    assert RMA.match((await strict.start_return(verified(), "517204", "SM-JEANS-IND-32", "Too long"))["rma"])


async def test_final_sale_is_refused(service, store) -> None:
    before = await snapshot(store)
    with pytest.raises(SupportError) as refusal:
        await service.start_return(verified(), "605118", "SM-CLR-SCARF-GRN", "Did not like it")
    assert "final-sale" in refusal.value.message
    assert await snapshot(store) == before


@pytest.mark.parametrize(("number", "sku", "words"), [
    ("482913", "SM-KURTA-BLU-M", "once it has been delivered"),
    ("488120", "SM-HEADPH-BT", "once it has been delivered"),
    ("710245", "SM-LAMP-BRS", "cancel"),
])
async def test_only_delivered_orders(service, store, number, sku, words) -> None:
    before = await snapshot(store)
    with pytest.raises(SupportError) as refusal:
        await service.start_return(verified(), number, sku, "Not needed")
    assert words in refusal.value.message
    assert await snapshot(store) == before


async def test_quantity_cannot_exceed_bought_minus_returned(service, store) -> None:
    before = await snapshot(store)
    with pytest.raises(SupportError) as refusal:
        await service.start_return(verified(), "640233", "SM-TSHIRT-WHT-L", "Too big", 3)
    assert "Only 2" in refusal.value.message
    with pytest.raises(SupportError):
        await service.start_return(verified(), "517204", "SM-TSHIRT-BLK-M", "Too big", 4)
    assert await snapshot(store) == before
    result = await service.start_return(verified(), "640233", "SM-TSHIRT-WHT-L", "Too big", 2)
    assert result["refund"]["minor_units"] == 2 * 59900
    order = await service.get_order_status(verified(), "640233")
    assert order["items"][0]["returned_quantity"] == 3


async def test_unknown_sku_on_own_order(service) -> None:
    with pytest.raises(SupportError) as refusal:
        await service.start_return(verified(), "517204", "SM-NOPE-1", "x y")
    assert "SM-NOPE-1" in refusal.value.message


async def test_asking_again_gives_the_same_rma_and_no_second_row(service, store) -> None:
    first = await service.start_return(verified(), "517204", "SM-TSHIRT-BLK-M", "Too small", 1)
    again = await service.start_return(verified(session_id="later"), "SM-517204", "SM-TSHIRT-BLK-M",
                                       "Still too small", 2)
    assert again["rma"] == first["rma"] and again["already_started"] is True
    assert again["quantity"] == 1
    assert len(await returns_of(store, "SM-TSHIRT-BLK-M")) == 1


async def test_two_connections_at_the_same_moment_make_one_return(store_url, store, world) -> None:
    url, schema = store_url
    other = await Store.open(url, search_path=schema)  # a second worker with its own connections
    try:
        one = SupportService(store, clock=lambda: NOW)
        two = SupportService(other, clock=lambda: NOW)
        results = await asyncio.gather(
            one.start_return(verified(session_id="a"), "517204", "SM-JEANS-IND-32", "Too long"),
            two.start_return(verified(session_id="b"), "517204", "SM-JEANS-IND-32", "Too long"),
        )
    finally:
        await other.close()
    assert results[0]["rma"] == results[1]["rma"]
    assert sorted(r["already_started"] for r in results) == [False, True]
    async with store.session() as s:
        assert await s.scalar(select(func.count()).select_from(Return).join(OrderItem).where(OrderItem.sku == "SM-JEANS-IND-32")) == 1


async def test_many_concurrent_requests_still_make_one_return(store_url, store, world) -> None:
    url, schema = store_url
    stores = [store] + [await Store.open(url, search_path=schema) for _ in range(3)]
    try:
        services = [SupportService(s, clock=lambda: NOW) for s in stores]
        results = await asyncio.gather(*[
            services[i % 4].start_return(verified(session_id=f"s{i}"), "517204", "SM-TSHIRT-BLK-M", "Too small", 1)
            for i in range(8)
        ])
    finally:
        for extra in stores[1:]:
            await extra.close()
    assert len({r["rma"] for r in results}) == 1
    assert len(await returns_of(store, "SM-TSHIRT-BLK-M")) == 1


async def test_the_unique_key_itself_refuses_a_duplicate(store, world) -> None:
    """The guarantee rests on the database, not on the read-before-write."""
    from sqlalchemy.exc import IntegrityError

    [old] = await returns_of(store, "SM-TSHIRT-WHT-L")
    with pytest.raises(IntegrityError):
        async with store.session(write=True) as s, s.begin():
            s.add(Return(rma="RMA-DUPLICATE", order_item_id=old.order_item_id, quantity=1, reason="x",
                         refund_minor=1, currency="INR", status="requested",
                         created_at=datetime.now(UTC), idempotency_key=old.idempotency_key))
