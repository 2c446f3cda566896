"""Cancelling an order that has not shipped; the refund is the order total. Asking again gives
the same outcome (the cancellation row is UNIQUE per order)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..store.database import Store
from ..store.models import Cancellation, Order
from .caller import CallerState
from .errors import SupportError
from .money import money_dict
from .normalize import normalize_order_number, require_reason
from .verification import current_customer, find_own_order, require_verified

if TYPE_CHECKING:
    from datetime import datetime

    from .rules import ShopRules

REFUND_TIMING = "The refund goes back to the original payment method within 5-7 business days."


def _result(order: Order, cancellation: Cancellation, *, already: bool) -> dict[str, Any]:
    return {
        "order_number": order.number,
        "status": "cancelled",
        "refund": money_dict(cancellation.refund_minor, cancellation.currency),
        "already_cancelled": already,
        "next_steps": REFUND_TIMING,
    }


def _refusal(order: Order, rules: ShopRules) -> SupportError:
    status = order.status
    if status in ("shipped", "in_transit", "out_for_delivery"):
        return SupportError(
            f"Order {order.number} has already shipped, so it can no longer be cancelled. The caller "
            f"can refuse the delivery, or start a return within {rules.return_window_days} days "
            "after it is delivered."
        )
    if status == "delivered":
        return SupportError(
            f"Order {order.number} has been delivered, so it cannot be cancelled. Items can be "
            f"returned within {rules.return_window_days} days of delivery (start_return)."
        )
    return SupportError(f"Order {order.number} has been returned, so it cannot be cancelled.")


async def cancel_order(
    store: Store, rules: ShopRules, now: datetime, caller: CallerState, order_number: object, reason: object
) -> dict[str, Any]:
    require_verified(caller)
    number = normalize_order_number(order_number)
    why = require_reason(reason)

    async def operation(session: AsyncSession) -> dict[str, Any]:
        customer = await current_customer(session, caller)
        order = await find_own_order(session, customer, number, for_update=True)
        existing = await session.scalar(select(Cancellation).where(Cancellation.order_id == order.id))
        if existing is not None:
            return _result(order, existing, already=True)
        if order.status == "cancelled":  # cancelled outside this service: no refund row
            made = Cancellation(order_id=order.id, reason="", refund_minor=order.total_minor, currency=order.currency, created_at=now)
            return _result(order, made, already=True)
        if order.status != "processing":
            raise _refusal(order, rules)
        cancellation = Cancellation(
            order_id=order.id,
            reason=why,
            refund_minor=order.total_minor,
            currency=order.currency,
            created_at=now,
            session_id=caller.session_id,
        )
        session.add(cancellation)
        await session.flush()
        changed = await session.execute(
            update(Order).where(Order.id == order.id, Order.status == "processing").values(status="cancelled")
        )
        if changed.rowcount != 1:  # it shipped in the meantime: undo everything
            raise SupportError(f"Order {order.number} has just shipped, so it can no longer be cancelled.")
        order.status = "cancelled"
        return _result(order, cancellation, already=False)

    return await store.write(operation)
