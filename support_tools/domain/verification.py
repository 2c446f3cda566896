"""Who is on the line: verification by order number + delivery postal code, trusted app users,
and the checks every customer-specific operation starts with.

Failures never say whether an order exists: an unknown number, a wrong postal code and another
customer's order all get the same words.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..store.database import Reads, Store
from ..store.models import Customer, Order
from . import lookups, throttle
from .caller import MAX_VERIFICATION_ATTEMPTS, CallerState
from .errors import SupportError
from .normalize import normalize_order_number, normalize_postal_code

if TYPE_CHECKING:
    from datetime import datetime

    from .rules import ShopRules

NOT_VERIFIED = (
    "The caller is not verified yet, so I cannot discuss any order or account. Ask for one of "
    "their order numbers and the postal code it was delivered to, then call verify_customer."
)
VERIFY_FAILED = (
    "Those details could not be verified. Ask the caller to check the order number and the "
    "postal code the order was delivered to."
)
# The same words as a wrong postal code, whether the order exists or not, plus the way out.
VERIFY_THROTTLED = VERIFY_FAILED + (
    " For the caller's security, do not try again now: offer to connect them with a colleague "
    "(escalate_to_human)."
)
VERIFY_LOCKED = (
    "Those details could not be verified, and for the caller's security verification is now "
    "locked for this conversation. Offer to connect them with a colleague (escalate_to_human)."
)
ALREADY_VERIFIED_OTHER = (
    "This conversation is already verified for one customer, and only that customer's orders "
    "can be discussed. Someone else's account needs its own conversation."
)
ORDER_NOT_FOUND = (
    "I could not find an order with that number on this customer's account. Ask the caller to "
    "check the number."
)
UNKNOWN_CUSTOMER = "That customer account is not known to the shop."
CUSTOMER_ID = re.compile(r"^CUS-\d{5,9}$")


def _postal_key(code: str) -> str:
    return "".join(code.split()).upper()


def require_verified(caller: CallerState) -> str:
    if not caller.verified:
        raise SupportError(NOT_VERIFIED)
    return caller.customer_id  # type: ignore[return-value]


async def current_customer(session: AsyncSession, caller: CallerState, *, for_update: bool = False) -> Customer:
    public_id = require_verified(caller)
    query = select(Customer).where(Customer.public_id == public_id)
    if for_update:
        query = query.with_for_update()
    customer = await session.scalar(query)
    if customer is None:  # the account went away mid-session
        raise SupportError(NOT_VERIFIED)
    return customer


async def find_own_order(
    session: AsyncSession, customer: Customer, order_number: str, *, for_update: bool = False
) -> Order:
    """The customer's order with that (canonical) number; another customer's order is "not found"."""
    query = select(Order).where(Order.number == order_number, Order.customer_id == customer.id)
    if for_update:
        query = query.with_for_update()
    order = await session.scalar(query)
    if order is None:
        raise SupportError(ORDER_NOT_FOUND)
    return order


async def customer_overview(store: Store, customer: Row, rules: ShopRules) -> dict[str, Any]:
    """First name and the customer's orders (number, status, date), newest first; nothing else
    personal. `customer` is a row of `lookups.ORDER_OWNER` or `lookups.CUSTOMER_BY_PUBLIC_ID`."""
    rows = await store.all(lookups.RECENT_ORDERS, customer_key=customer.customer_key)
    result: dict[str, Any] = {
        "verified": True,
        "first_name": customer.first_name,
        "orders": [
            {"order_number": r.number, "status": r.status, "placed_on": rules.local_date(r.placed_at).isoformat()}
            for r in rows
        ],
    }
    total = rows[0].orders_total if rows else 0
    if total > len(rows):
        result["more_orders"] = total - len(rows)
    return result


def _attempts_lock(caller: CallerState) -> asyncio.Lock:
    """One model response may hold several verify_customer calls, run concurrently. They take
    turns, so each one sees the failures counted before it and the lockout cannot be raced."""
    lock = caller.extra.get("verification_lock")
    if not isinstance(lock, asyncio.Lock):
        lock = caller.extra["verification_lock"] = asyncio.Lock()
    return lock


async def verify_customer(
    store: Store, caller: CallerState, order_number: object, postal_code: object, rules: ShopRules, now: datetime
) -> dict[str, Any]:
    async with _attempts_lock(caller):
        return await _verify_customer(store, caller, order_number, postal_code, rules, now)


async def _verify_customer(
    store: Store, caller: CallerState, order_number: object, postal_code: object, rules: ShopRules, now: datetime
) -> dict[str, Any]:
    if caller.verification_locked:
        raise SupportError(VERIFY_LOCKED)
    number = normalize_order_number(order_number)
    postal = normalize_postal_code(postal_code)
    attempt = throttle.Attempt(number, throttle.caller_key(caller.identity))

    async def right_answer(reads: Reads) -> Row | None:
        """The owner, when the postal code matches and nothing is locked: a right answer writes
        nothing, so it needs no write transaction. Anything else takes the counted path below."""
        row = await reads.first(lookups.ORDER_OWNER, {"number": number})
        if row is None or _postal_key(row.delivery_postal_code) != postal:
            return None
        locked = await reads.first(throttle.LOCKED_SUBJECTS, {"subjects": attempt.subjects, "now": now})
        return None if locked is None or locked[0] else row

    owner = await store.read(right_answer)
    if owner is not None and (not caller.verified or owner.public_id == caller.customer_id):
        caller.customer_id = owner.public_id
        return await customer_overview(store, owner, rules)

    async def check(session: AsyncSession) -> tuple[str, Row | None]:
        """("ok", the owner row), or why not: "failed", "throttled", "other_customer". A failure is
        stored by this same transaction, so it is returned, not raised (which would undo it)."""
        await throttle.take_turns(session, attempt)
        if not caller.verified and await throttle.is_locked(session, attempt, now):
            return "throttled", None
        row = (await session.execute(lookups.ORDER_OWNER, {"number": number})).first()
        customer = row if row is not None and _postal_key(row.delivery_postal_code) == postal else None
        if caller.verified:
            if customer is not None and customer.public_id == caller.customer_id:
                return "ok", customer
            return "other_customer", None
        if customer is None:
            locked = await throttle.record_failure(session, attempt, caller.session_id, now, rules.throttle)
            return ("throttled" if locked else "failed"), None
        caller.customer_id = customer.public_id
        return "ok", customer

    verdict, customer = await store.write(check)
    if verdict == "ok" and customer is not None:
        return await customer_overview(store, customer, rules)
    if verdict == "other_customer":
        raise SupportError(ALREADY_VERIFIED_OTHER)
    caller.failed_verifications += 1
    if caller.verification_locked:
        raise SupportError(VERIFY_LOCKED)
    raise SupportError(VERIFY_THROTTLED if verdict == "throttled" else VERIFY_FAILED)


async def trust_customer(store: Store, caller: CallerState, customer_id: object, rules: ShopRules) -> dict[str, Any]:
    """Verify from the shop backend's `customer_id` participant attribute (already authenticated)."""
    if not isinstance(customer_id, str) or not CUSTOMER_ID.match(customer_id.strip()):
        raise SupportError(UNKNOWN_CUSTOMER)
    public_id = customer_id.strip()
    if caller.verified and caller.customer_id != public_id:
        raise SupportError(ALREADY_VERIFIED_OTHER)
    customer = await store.first(lookups.CUSTOMER_BY_PUBLIC_ID, public_id=public_id)
    if customer is None:
        raise SupportError(UNKNOWN_CUSTOMER)
    caller.customer_id = customer.public_id
    return await customer_overview(store, customer, rules)


__all__ = [
    "MAX_VERIFICATION_ATTEMPTS",
    "ORDER_NOT_FOUND",
    "NOT_VERIFIED",
    "current_customer",
    "find_own_order",
    "require_verified",
    "trust_customer",
    "verify_customer",
]
