"""The JSON document the support desk receives when a caller asks for a person.

Built from an allow-list: only the fields below ever leave the process, whatever else the ticket
dict carries (the conversation, contact details, internal ids). Secrets are never part of it;
the join token is there on purpose, it is the desk's way into the room.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

PAYLOAD_VERSION = 1
EVENT_NAME = "escalation.created"
TICKET_NUMBER = re.compile(r"^TCK-[A-Z0-9]{6,}$")
URGENCIES = ("low", "normal", "high")
# The desk shows these as one line; a runaway summary must not bloat every retry.
MAX_TEXT_CHARS = 2000
CUSTOMER_FIELDS = ("id", "first_name")


def build_payload(ticket: Mapping[str, Any], join: Mapping[str, Any]) -> dict[str, Any]:
    """The escalation notification for `ticket`, with the desk's way into the room.

    `ticket` keys: `number` (or `ticket_number`) `TCK-...`, `reason`, `urgency`, `room`,
    `summary`, `created_at` (datetime or ISO string), and `customer` (a dict with `id` and
    optionally `first_name`) or `customer_id` (a string) when the caller was verified.
    `join` keys: `url`, `token`, optionally `livekit_url` and `expires_at`.
    Raises ValueError when the ticket number or urgency is not valid.
    """
    number = ticket.get("number") or ticket.get("ticket_number")
    if not isinstance(number, str) or not TICKET_NUMBER.match(number):
        raise ValueError("ticket number must look like TCK- followed by 6+ letters or digits")
    urgency = ticket.get("urgency") or "normal"
    if urgency not in URGENCIES:
        raise ValueError(f"urgency must be one of {', '.join(URGENCIES)}")

    return {
        "event": EVENT_NAME,
        "version": PAYLOAD_VERSION,
        "ticket": number,
        "reason": _text(ticket.get("reason")),
        "urgency": urgency,
        "room": ticket.get("room"),
        "customer": _customer(ticket),
        "summary": _text(ticket.get("summary")),
        "created_at": _iso_utc(ticket.get("created_at")),
        "join": _join(join),
    }


def _text(value: Any) -> str:
    text = "" if value is None else str(value).strip()
    return text[:MAX_TEXT_CHARS]


def _customer(ticket: Mapping[str, Any]) -> dict[str, str] | None:
    customer = ticket.get("customer")
    if isinstance(customer, Mapping):
        picked = {key: str(customer[key]) for key in CUSTOMER_FIELDS if customer.get(key)}
        return picked if picked.get("id") else None
    customer_id = ticket.get("customer_id") or (customer if isinstance(customer, str) else None)
    return {"id": str(customer_id)} if customer_id else None


def _join(join: Mapping[str, Any]) -> dict[str, Any]:
    picked: dict[str, Any] = {"url": join.get("url"), "token": join.get("token")}
    for optional in ("livekit_url", "expires_at"):
        if join.get(optional) is not None:
            picked[optional] = (
                _iso_utc(join[optional]) if optional == "expires_at" else join[optional]
            )
    return picked


def _iso_utc(value: Any) -> str:
    if value is None:
        return datetime.now(UTC).isoformat(timespec="seconds")
    if isinstance(value, datetime):
        # Naive datetimes from the store are UTC by convention.
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat(timespec="seconds")
    return str(value)
