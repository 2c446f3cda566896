"""Support tickets for a hand-off to a person: one per session, with its delivery history.

The ticket keeps the reason, urgency, the customer when verified, the room and the conversation
so far (masked). Asking again in the same session returns the same ticket: the session id is
UNIQUE, so even two requests at the same moment end with one ticket.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..masking import mask_pii
from ..store.codes import new_code
from ..store.database import Store
from ..store.models import URGENCIES, Customer, Ticket, TicketDelivery
from .caller import CallerState
from .errors import SupportError
from .normalize import require_reason
from .records import masked_json

MAX_SUMMARY_CHARS = 4000
MAX_CONVERSATION_ENTRIES = 50


def _urgency(value: object) -> str:
    if value is None or value == "":
        return "normal"
    urgency = value.strip().lower() if isinstance(value, str) and len(value) <= 20 else None
    if urgency not in URGENCIES:
        raise SupportError('The urgency must be "low", "normal" or "high".')
    return urgency


async def _view(session: AsyncSession, ticket: Ticket, *, with_history: bool = False) -> dict[str, Any]:
    customer = await session.get(Customer, ticket.customer_id) if ticket.customer_id else None
    view: dict[str, Any] = {
        "ticket": ticket.number,
        "ticket_number": ticket.number,
        "session_id": ticket.session_id,
        "reason": ticket.reason,
        "urgency": ticket.urgency,
        "room": ticket.room,
        "customer": {"id": customer.public_id, "first_name": customer.first_name} if customer else None,
        "summary": ticket.summary,
        "conversation": ticket.conversation,
        "status": ticket.status,
        "created_at": ticket.created_at.isoformat(),
    }
    if with_history:
        attempts = (
            await session.scalars(
                select(TicketDelivery).where(TicketDelivery.ticket_id == ticket.id).order_by(TicketDelivery.id)
            )
        ).all()
        view["delivery_attempts"] = [
            {"attempt": a.attempt, "at": a.at.isoformat(), "status": a.status, "error": a.error, "delivered": a.delivered}
            for a in attempts
        ]
    return view


async def open_ticket(
    store: Store,
    now: datetime,
    caller: CallerState,
    reason: object,
    urgency: object,
    summary: object,
    conversation: object,
) -> tuple[dict[str, Any], bool]:
    async def existing(session: AsyncSession) -> Ticket | None:
        return await session.scalar(select(Ticket).where(Ticket.session_id == caller.session_id))

    async with store.session() as session:
        found = await existing(session)
        if found is not None:  # asked again: the same ticket, whatever the arguments
            caller.ticket_number = found.number
            return await _view(session, found), False

    why = require_reason(reason)
    level = _urgency(urgency)
    text = mask_pii(summary[:MAX_SUMMARY_CHARS]) if isinstance(summary, str) else ""
    entries = conversation[-MAX_CONVERSATION_ENTRIES:] if isinstance(conversation, list) else []

    async def operation(session: AsyncSession) -> tuple[dict[str, Any], bool]:
        found = await existing(session)
        if found is not None:
            return await _view(session, found), False
        customer_id = None
        if caller.customer_id:
            customer_id = await session.scalar(select(Customer.id).where(Customer.public_id == caller.customer_id))
        ticket = Ticket(
            number=new_code("TCK"),
            session_id=caller.session_id,
            reason=mask_pii(why),
            urgency=level,
            customer_id=customer_id,
            room=caller.room,
            summary=text,
            conversation=masked_json(entries),
            status="open",
            created_at=now,
        )
        session.add(ticket)
        await session.flush()
        return await _view(session, ticket), True

    view, created = await store.write(operation)
    caller.ticket_number = view["ticket"]
    return view, created


def _attempt_fields(attempt: object, now: datetime) -> dict[str, Any]:
    if not isinstance(attempt, dict):
        raise SupportError("A delivery attempt must be a dict.")
    at = attempt.get("at")
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            at = None
    if not isinstance(at, datetime) or at.tzinfo is None:
        at = now
    status = attempt.get("status")
    error = attempt.get("error")
    number = attempt.get("attempt")
    return {
        "attempt": number if isinstance(number, int) and not isinstance(number, bool) else None,
        "at": at,
        "status": status if isinstance(status, int) and not isinstance(status, bool) else None,
        "error": mask_pii(str(error))[:500] if error else None,
        "delivered": bool(attempt.get("delivered")),
    }


async def record_delivery(store: Store, now: datetime, ticket_number: str, attempt: dict) -> None:
    fields = _attempt_fields(attempt, now)

    async def operation(session: AsyncSession) -> None:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == ticket_number))
        if ticket is None:
            raise SupportError("There is no ticket with that number.")
        if fields["attempt"] is None:
            count = await session.scalar(
                select(func.count()).select_from(TicketDelivery).where(TicketDelivery.ticket_id == ticket.id)
            )
            fields["attempt"] = int(count or 0) + 1
        session.add(TicketDelivery(ticket_id=ticket.id, **fields))

    await store.write(operation)


# How a hand-off ended, as the ticket's status. Nobody took over: the ticket stays open.
HANDOFF_STATUSES = {"human_joined": "handed_over", "transferred": "transferred", "callback_offered": "open"}


async def record_handoff(store: Store, ticket_number: str, outcome: str) -> None:
    status = HANDOFF_STATUSES.get(outcome)
    if status is None:
        raise SupportError("Unknown hand-off outcome.")

    async def operation(session: AsyncSession) -> None:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == ticket_number))
        if ticket is None:
            raise SupportError("There is no ticket with that number.")
        ticket.status = status

    await store.write(operation)


async def get_ticket(store: Store, ticket_number: str) -> dict[str, Any] | None:
    if not isinstance(ticket_number, str) or len(ticket_number) > 16:
        return None
    async with store.session() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == ticket_number.strip()))
        return await _view(session, ticket, with_history=True) if ticket else None
