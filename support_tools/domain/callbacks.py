"""Booking a call back from a person, inside support hours in the shop's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..masking import mask_phone
from ..store.database import Store
from ..store.models import Callback
from .caller import CallerState
from .errors import SupportError
from .normalize import normalize_phone, require_reason
from .verification import current_customer, require_verified

if TYPE_CHECKING:
    from .rules import ShopRules

MAX_DAYS_AHEAD = 90
EXAMPLE = "2026-11-24T15:30:00+05:30"


def parse_when(value: object) -> datetime:
    """An ISO 8601 date-time with a UTC offset; without one the moment is ambiguous."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise SupportError(f"The time must be ISO 8601 text with a UTC offset, for example {EXAMPLE}.")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise SupportError(
            f"I could not read that time. Give it as ISO 8601 with a UTC offset, for example {EXAMPLE}."
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise SupportError(
            "That time has no time zone. Ask the caller which time zone they mean and give the "
            f"time with its UTC offset, for example {EXAMPLE} for India."
        )
    return moment


def check_bookable(moment: datetime, rules: ShopRules, now: datetime) -> datetime:
    if moment <= now:
        raise SupportError("That time has already passed. Ask the caller for a time in the future.")
    if moment > now + timedelta(days=MAX_DAYS_AHEAD):
        raise SupportError(f"Callbacks can be booked up to {MAX_DAYS_AHEAD} days ahead. Ask for an earlier day.")
    # Converted only now: a time at the calendar's edge (year 1 or 9999) would overflow.
    local = moment.astimezone(rules.tz)
    if not (rules.hours_start <= local.time().replace(tzinfo=None) < rules.hours_end):
        raise SupportError(
            f"That is {local.strftime('%H:%M')} in {rules.timezone}, outside support hours "
            f"({rules.hours_start.strftime('%H:%M')} to {rules.hours_end.strftime('%H:%M')} {rules.timezone} time). "
            "Ask the caller for a time inside those hours."
        )
    return local


def _result(callback: Callback, rules: ShopRules, *, already: bool) -> dict[str, Any]:
    local = callback.scheduled_at.astimezone(rules.tz)
    return {
        "scheduled_for": local.isoformat(timespec="minutes"),
        "scheduled_for_utc": callback.scheduled_at.astimezone(UTC).isoformat(timespec="minutes"),
        "local_time": f"{local.strftime('%A %d %B %Y, %H:%M')} ({rules.timezone})",
        "phone": mask_phone(callback.phone),
        "already_booked": already,
        "next_steps": "A colleague will call the caller at that time on that number.",
    }


async def schedule_callback(
    store: Store,
    rules: ShopRules,
    now: datetime,
    caller: CallerState,
    when: object,
    reason: object,
    phone: object = None,
) -> dict[str, Any]:
    require_verified(caller)
    moment = parse_when(when)
    check_bookable(moment, rules, now)
    why = require_reason(reason)
    other_phone = None if phone is None or phone == "" else normalize_phone(phone)

    async def operation(session: AsyncSession) -> dict[str, Any]:
        customer = await current_customer(session, caller)
        number = other_phone or customer.phone
        if not number:
            raise SupportError("There is no phone number on file. Ask the caller which number to call.")
        existing = await session.scalar(
            select(Callback).where(Callback.customer_id == customer.id, Callback.scheduled_at == moment)
        )
        if existing is not None:  # the same booking asked for twice
            return _result(existing, rules, already=True)
        callback = Callback(
            customer_id=customer.id,
            scheduled_at=moment,
            phone=number,
            reason=why,
            session_id=caller.session_id,
            created_at=now,
        )
        session.add(callback)
        await session.flush()
        return _result(callback, rules, already=False)

    return await store.write(operation)
