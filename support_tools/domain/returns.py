"""Starting a return for one item of a delivered order.

Eligible when the order is delivered, the return window is open (`ShopRules.return_window_days`
calendar days after the delivery date, in the shop's time zone, last day included), the item is
not final sale, and the quantity fits in what was bought minus what is already being returned.

Idempotent: while a return of that order item is in progress, asking again gives the same RMA.
Two requests racing for the same item both try to insert the item's next idempotency key
(`<item id>#<n>`); the UNIQUE key keeps one, the loser retries and reads the winner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..store.codes import new_code
from ..store.database import Store
from ..store.models import COUNTED_RETURN_STATUSES, OPEN_RETURN_STATUSES, Order, OrderItem, Return
from .caller import CallerState
from .errors import SupportError
from .money import format_money, money_dict
from .normalize import normalize_order_number, require_quantity, require_reason, require_sku
from .orders import return_window_end
from .verification import current_customer, find_own_order, require_verified

if TYPE_CHECKING:
    from datetime import datetime

    from .rules import ShopRules

NOT_DELIVERED = {
    "processing": "Order {number} has not shipped yet, so there is nothing to return; it can still be cancelled instead (cancel_order).",
    "shipped": "Order {number} is on its way and not delivered yet. A return can be started once it has been delivered.",
    "in_transit": "Order {number} is on its way and not delivered yet. A return can be started once it has been delivered.",
    "out_for_delivery": "Order {number} is out for delivery today. A return can be started once it has been delivered.",
    "cancelled": "Order {number} was cancelled, so there is nothing to return.",
    "returned": "Order {number} has already been returned.",
}


def _next_steps(rma: str, refund: str) -> str:
    return (
        f"Pack the item with its tags and original packaging and write {rma} on the parcel. "
        "Hand it to our courier at pickup, or drop it at any partner point within 7 days. "
        f"The refund of {refund} goes to the original payment method within 5-7 business days "
        "after the item reaches our warehouse."
    )


def _result(order: Order, item: OrderItem, ret: Return, *, already_started: bool) -> dict[str, Any]:
    refund = format_money(ret.refund_minor, ret.currency)
    result: dict[str, Any] = {
        "rma": ret.rma,
        "order_number": order.number,
        "sku": item.sku,
        "item": item.name,
        "quantity": ret.quantity,
        "refund": money_dict(ret.refund_minor, ret.currency),
        "return_status": ret.status,
        "already_started": already_started,
    }
    if ret.status in OPEN_RETURN_STATUSES:
        result["next_steps"] = _next_steps(ret.rma, refund)
    else:
        result["next_steps"] = f"This return was completed ({ret.status}); nothing more to do."
    if already_started:
        result["note"] = "A return for this item was already started: this is the same return, not a new one."
    return result


async def _item(session: AsyncSession, order: Order, sku: str) -> OrderItem:
    item = await session.scalar(
        select(OrderItem).where(OrderItem.order_id == order.id, OrderItem.sku == sku).order_by(OrderItem.id).limit(1)
    )
    if item is None:
        raise SupportError(
            f"Order {order.number} has no item with SKU {sku}. Use a SKU exactly as get_order_status lists it."
        )
    return item


def _check_eligible(order: Order, item: OrderItem, rules: ShopRules, now: datetime, quantity: int, remaining: int) -> None:
    if order.status != "delivered":
        raise SupportError(NOT_DELIVERED[order.status].format(number=order.number))
    window_end = return_window_end(order, rules)
    if window_end is None or rules.local_date(now) > window_end:
        delivered = rules.local_date(order.delivered_at).isoformat() if order.delivered_at else "unknown"
        raise SupportError(
            f"The return window for order {order.number} closed on {window_end.isoformat() if window_end else 'unknown'}: "
            f"returns are possible for {rules.return_window_days} days after delivery, and it was "
            f"delivered on {delivered}. If the item is faulty, the warranty policy may still help."
        )
    if item.final_sale:
        raise SupportError(
            f"{item.name} ({item.sku}) was a final-sale item, so it cannot be returned. If it arrived "
            "damaged or defective, the warranty policy applies."
        )
    if remaining <= 0:
        raise SupportError(f"All of {item.name} in order {order.number} has already been returned.")
    if quantity > remaining:
        raise SupportError(
            f"Only {remaining} of {item.name} can be returned from order {order.number} "
            f"(bought {item.quantity}, {item.quantity - remaining} already returned or being returned)."
        )


async def start_return(
    store: Store,
    rules: ShopRules,
    now: datetime,
    caller: CallerState,
    order_number: object,
    sku: object,
    reason: object,
    quantity: object = 1,
) -> dict[str, Any]:
    require_verified(caller)
    number = normalize_order_number(order_number)
    sku_code = require_sku(sku)
    why = require_reason(reason)
    count = require_quantity(quantity)

    async def operation(session: AsyncSession) -> dict[str, Any]:
        customer = await current_customer(session, caller)
        # Locking the order row makes concurrent returns of one order take turns (PostgreSQL;
        # SQLite write transactions are serialised already).
        order = await find_own_order(session, customer, number, for_update=True)
        item = await _item(session, order, sku_code)
        earlier = (await session.scalars(select(Return).where(Return.order_item_id == item.id).order_by(Return.id))).all()
        in_progress = [r for r in earlier if r.status in OPEN_RETURN_STATUSES]
        if in_progress:
            return _result(order, item, in_progress[-1], already_started=True)
        remaining = item.quantity - sum(r.quantity for r in earlier if r.status in COUNTED_RETURN_STATUSES)
        if remaining <= 0 and earlier:
            return _result(order, item, earlier[-1], already_started=True)
        _check_eligible(order, item, rules, now, count, remaining)
        created = Return(
            rma=new_code("RMA"),
            order_item_id=item.id,
            quantity=count,
            reason=why,
            refund_minor=item.unit_price_minor * count,
            currency=order.currency,
            status="requested",
            created_at=now,
            idempotency_key=f"{item.id}#{len(earlier) + 1}",
            session_id=caller.session_id,
        )
        session.add(created)
        await session.flush()  # a racing duplicate fails here, inside the transaction
        return _result(order, item, created, already_started=False)

    return await store.write(operation)
