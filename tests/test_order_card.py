"""The order card reaches the caller's app on its text-stream topic, built from the store's answer."""

from __future__ import annotations

import json

from support_tools.voice.order_card import ORDER_CARD_TOPIC, build_order_card, send_order_card
from tests.fake_room import FakeRoom

ORDER = {
    "order_number": "482913",
    "status": "shipped",
    "placed_on": "2026-11-18",
    "items": [{"sku": "SM-KURTA-BLU-M", "name": "Cotton kurta", "quantity": 1}],
    "carrier": "Delhivery",
    "tracking_number": "DL123456789IN",
    "estimated_delivery": "2026-11-25",
    "delivered_on": None,
    "return_window_ends": None,
    "total": "₹1,299.00",
    "customer_email": "must-not-leak@example.com",
}


async def test_card_is_sent_to_the_caller_only_on_its_topic() -> None:
    room = FakeRoom()
    assert await send_order_card(room, "customer-1", ORDER)
    [message] = room.local_participant.sent
    assert message["topic"] == ORDER_CARD_TOPIC == "shopme.order-card"
    assert message["to"] == ["customer-1"]
    card = json.loads(message["text"])
    assert card["type"] == "order_card" and card["version"] == 1
    assert card["order_number"] == "482913"
    assert card["tracking_number"] == "DL123456789IN"
    assert card["items"][0]["sku"] == "SM-KURTA-BLU-M"
    assert card["total"] == "₹1,299.00"


def test_card_carries_only_documented_fields() -> None:
    card = build_order_card(ORDER)
    assert "customer_email" not in card
    assert set(card) == {
        "type", "version", "order_number", "status", "status_text", "placed_on", "items",
        "carrier", "tracking_number", "shipped_on", "estimated_delivery", "delivered_on", "return_window_ends", "total",
    }


async def test_nothing_is_sent_without_a_room() -> None:
    assert not await send_order_card(None, "customer-1", ORDER)
    assert not await send_order_card(FakeRoom(), None, ORDER)


async def test_a_failed_send_does_not_fail_the_tool() -> None:
    assert not await send_order_card(FakeRoom(fail_sends=True), "customer-1", ORDER)
