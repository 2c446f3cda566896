"""Order status: only for the verified customer's own orders, complete and from the store."""

from __future__ import annotations

import json

import pytest

from support_tools.domain.errors import SupportError
from support_tools.domain.verification import NOT_VERIFIED
from support_tools.voice.order_card import CARD_FIELDS
from tests.store_fixtures import caller, verified


async def test_nothing_before_verification(service) -> None:
    for call in (
        service.get_order_status(caller(), "482913"),
        service.start_return(caller(), "517204", "SM-TSHIRT-BLK-M", "too small"),
        service.cancel_order(caller(), "710245", "changed my mind"),
        service.update_contact_details(caller(), "email", "new@example.com"),
        service.schedule_callback(caller(), "2026-11-24T11:00:00+05:30", "refund"),
    ):
        with pytest.raises(SupportError) as refusal:
            await call
        assert refusal.value.message == NOT_VERIFIED
        assert "order number" in NOT_VERIFIED and "postal code" in NOT_VERIFIED


async def test_shipped_order(service) -> None:
    order = await service.get_order_status(verified(), "sm 482913")
    assert order["order_number"] == "482913"
    assert order["status"] == "shipped"
    assert order["carrier"] == "Delhivery" and order["tracking_number"] == "DL482913000IN"
    assert order["estimated_delivery"] == "2026-11-25"
    assert order["delivered_on"] is None and order["return_window_ends"] is None
    assert order["items"] == [
        {"sku": "SM-KURTA-BLU-M", "name": "Cotton kurta, blue, M", "quantity": 1, "unit_price": "₹1,299.00",
         "final_sale": False, "returned_quantity": 0}
    ]
    assert order["total"] == "₹1,299.00"
    assert set(CARD_FIELDS) <= set(order)  # everything the caller's order card shows
    json.dumps(order)


async def test_delivered_order_shows_the_return_window(service) -> None:
    order = await service.get_order_status(verified(), "517204")
    assert order["delivered_on"] == "2026-11-18"
    assert order["return_window_ends"] == "2026-12-18"
    assert order["return_window_open"] is True
    assert order["total"] == "₹3,696.00"  # 3 x 599 + 1,899, computed by the store


async def test_partially_returned_items_show_what_was_returned(service) -> None:
    order = await service.get_order_status(verified(), "640233")
    assert order["items"][0]["returned_quantity"] == 1


async def test_other_currencies(service) -> None:
    order = await service.get_order_status(verified("CUS-00003"), "268402")
    assert order["total"] == "£21.99" and order["currency"] == "GBP"


async def test_another_customers_order_reads_exactly_like_an_unknown_one(service) -> None:
    me = verified()
    with pytest.raises(SupportError) as theirs:
        await service.get_order_status(me, "300125")
    with pytest.raises(SupportError) as unknown:
        await service.get_order_status(me, "999999")
    assert theirs.value.message == unknown.value.message
    for number in ("300125", "300126"):
        for call in (
            service.start_return(me, number, "SM-PRESSURE-5L", "broken"),
            service.cancel_order(me, number, "not needed"),
        ):
            with pytest.raises(SupportError) as refusal:
                await call
            assert refusal.value.message == unknown.value.message
