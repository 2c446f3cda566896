"""Order status: everything the caller may hear about one of their orders, and the order card.

Dates are calendar dates in the shop's time zone; amounts are formatted by the store.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..store.database import Store
from ..store.models import COUNTED_RETURN_STATUSES, Order, OrderItem, Return
from .caller import CallerState
from .money import format_money
from .normalize import normalize_order_number
from .verification import current_customer, find_own_order, require_verified

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


def return_window_end(order: Order, rules: ShopRules) -> date | None:
    """Last day a return can be started: the N-th calendar day after the delivery date, both in
    the shop's time zone. Delivered 30 days ago (window 30) is still eligible today."""
    if order.delivered_at is None:
        return None
    return rules.local_date(order.delivered_at) + timedelta(days=rules.return_window_days)


async def returned_quantities(session: AsyncSession, item_ids: list[int]) -> dict[int, int]:
    """Per order item: how many are already being returned or were returned."""
    if not item_ids:
        return {}
    rows = await session.execute(
        select(Return.order_item_id, func.sum(Return.quantity))
        .where(Return.order_item_id.in_(item_ids), Return.status.in_(COUNTED_RETURN_STATUSES))
        .group_by(Return.order_item_id)
    )
    counts: dict[int, int] = defaultdict(int)
    for item_id, quantity in rows:
        counts[item_id] = int(quantity or 0)
    return counts


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


async def order_view(session: AsyncSession, order: Order, rules: ShopRules, now: datetime) -> dict[str, Any]:
    items = (await session.scalars(select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.id))).all()
    returned = await returned_quantities(session, [item.id for item in items])
    window_end = return_window_end(order, rules) if order.status == "delivered" else None
    view: dict[str, Any] = {
        "order_number": order.number,
        "status": order.status,
        "status_text": STATUS_WORDS[order.status],
        "placed_on": rules.local_date(order.placed_at).isoformat(),
        "items": [
            {
                "sku": item.sku,
                "name": item.name,
                "quantity": item.quantity,
                "unit_price": format_money(item.unit_price_minor, order.currency),
                "final_sale": item.final_sale,
                "returned_quantity": returned.get(item.id, 0),
            }
            for item in items
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
    require_verified(caller)
    number = normalize_order_number(order_number)
    async with store.session() as session:
        customer = await current_customer(session, caller)
        order = await find_own_order(session, customer, number)
        return await order_view(session, order, rules, now)
