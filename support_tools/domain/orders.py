"""Order status: everything the caller may hear about one of their orders, and the order card.

Dates are calendar dates in the shop's time zone; amounts are formatted by the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row

from ..store.database import Store
from . import lookups
from .caller import CallerState
from .errors import SupportError
from .money import format_money
from .normalize import normalize_order_number
from .verification import NOT_VERIFIED, ORDER_NOT_FOUND, require_verified

if TYPE_CHECKING:
    from datetime import datetime

    from .rules import ShopRules

STATUS_WORDS = {
    "processing": "processing (not shipped yet)",
    "shipped": "shipped",
    "in_transit": "in transit",
    "out_for_delivery": "out for delivery",
    "delivered": "delivered",
    "cancelled": "cancelled",
    "returned": "returned",
}


def return_window_end(order: Any, rules: ShopRules) -> date | None:
    """Last day a return can be started: the N-th calendar day after the delivery date, both in
    the shop's time zone. Delivered 30 days ago (window 30) is still eligible today."""
    if order.delivered_at is None:
        return None
    return rules.local_date(order.delivered_at) + timedelta(days=rules.return_window_days)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def order_view(lines: Sequence[Row], rules: ShopRules, now: datetime) -> dict[str, Any]:
    """The order as the caller may hear it, from its `lookups.OWN_ORDER_LINES` rows."""
    order = lines[0]
    window_end = return_window_end(order, rules) if order.status == "delivered" else None
    view: dict[str, Any] = {
        "order_number": order.number,
        "status": order.status,
        "status_text": STATUS_WORDS[order.status],
        "placed_on": rules.local_date(order.placed_at).isoformat(),
        "items": [
            {
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "unit_price": format_money(line.unit_price_minor, order.currency),
                "final_sale": line.final_sale,
                "returned_quantity": int(line.returned_quantity or 0),
            }
            for line in lines
            if line.sku is not None  # an order without lines still has its one row
        ],
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "shipped_on": _iso(rules.local_date(order.shipped_at)) if order.shipped_at else None,
        "estimated_delivery": _iso(order.estimated_delivery) if order.delivered_at is None else None,
        "delivered_on": _iso(rules.local_date(order.delivered_at)) if order.delivered_at else None,
        "return_window_ends": _iso(window_end),
        "return_window_open": (rules.local_date(now) <= window_end) if window_end else False,
        "total": format_money(order.total_minor, order.currency),
        "total_minor_units": order.total_minor,
        "currency": order.currency,
    }
    return view


async def get_order_status(
    store: Store, rules: ShopRules, now: datetime, caller: CallerState, order_number: object
) -> dict[str, Any]:
    customer_id = require_verified(caller)
    number = normalize_order_number(order_number)
    lines = await store.all(lookups.OWN_ORDER_LINES, number=number, public_id=customer_id)
    if not lines:
        # Rare path: tell "the account went away mid-session" from "not this customer's order".
        if await store.first(lookups.CUSTOMER_BY_PUBLIC_ID, public_id=customer_id) is None:
            raise SupportError(NOT_VERIFIED)
        raise SupportError(ORDER_NOT_FOUND)
    return order_view(lines, rules, now)
