"""The order card: the structured order the caller's app shows next to the voice conversation.

Sent on the LiveKit text stream topic `shopme.order-card` to the caller only. The JSON schema is
in the README; it is built from the store's answer to `get_order_status`, never from the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .caller_screen import send_to_caller

if TYPE_CHECKING:
    from livekit import rtc

ORDER_CARD_TOPIC = "shopme.order-card"
CARD_VERSION = 1
CARD_FIELDS = (
    "order_number",
    "status",
    "status_text",
    "placed_on",
    "items",
    "carrier",
    "tracking_number",
    "shipped_on",
    "estimated_delivery",
    "delivered_on",
    "return_window_ends",
    "total",
)

def build_order_card(order: dict[str, Any]) -> dict[str, Any]:
    card: dict[str, Any] = {"type": "order_card", "version": CARD_VERSION}
    card.update({name: order.get(name) for name in CARD_FIELDS})
    return card


async def send_order_card(
    room: rtc.Room | None, caller_identity: str | None, order: dict[str, Any]
) -> bool:
    """Show the card on the caller's screen. Without a room (console, tests) nothing is sent.

    A failure to deliver the card is logged and never fails the tool: the spoken answer matters more.
    """
    return await send_to_caller(room, caller_identity, ORDER_CARD_TOPIC, build_order_card(order))
