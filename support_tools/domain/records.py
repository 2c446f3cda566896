"""Conversation records: one per session, with its transcript, outcome and token usage.

Every string in the transcript is masked (emails, phone numbers) before it is stored, whatever
the caller of this module already did.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from ..masking import mask_pii
from ..store.codes import new_code
from ..store.database import Store
from ..store.models import OUTCOMES, ConversationRecord
from .errors import SupportError

MAX_TRANSCRIPT_ENTRIES = 2000
MAX_STRING_CHARS = 20_000


def masked_json(value: Any) -> Any:
    """A JSON-safe copy of `value` with every string masked (dict keys too are kept as text)."""
    if isinstance(value, str):
        return mask_pii(value[:MAX_STRING_CHARS])
    if isinstance(value, dict):
        return {str(k): masked_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked_json(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return mask_pii(str(value)[:MAX_STRING_CHARS])


def _moment(value: Any, default: datetime) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return default
    else:
        return default
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _short(value: Any, limit: int) -> str | None:
    return str(value)[:limit] if value else None


async def save_record(store: Store, now: datetime, record: dict[str, Any]) -> str:
    if not isinstance(record, dict) or not record.get("session_id"):
        raise SupportError("A conversation record needs a session id.")
    started = _moment(record.get("started_at"), now)
    ended = _moment(record.get("ended_at"), now)
    duration = record.get("duration_s")
    if not isinstance(duration, int | float) or isinstance(duration, bool):
        duration = (ended - started).total_seconds()
    outcome = record.get("outcome") if record.get("outcome") in OUTCOMES else "abandoned"
    transcript = record.get("transcript") or []
    if not isinstance(transcript, list):
        transcript = [transcript]
    usage = record.get("usage") or {}
    row = ConversationRecord(
        id=new_code("REC", 12),
        session_id=str(record["session_id"])[:128],
        room=_short(record.get("room"), 128),
        customer_public_id=_short(record.get("customer_id"), 16),
        started_at=started,
        ended_at=ended,
        duration_s=float(duration),
        outcome=outcome,
        ticket_number=_short(record.get("ticket_number"), 16),
        transcript=masked_json(transcript[-MAX_TRANSCRIPT_ENTRIES:]),
        usage=json.loads(json.dumps(usage, default=str)) if isinstance(usage, dict) else {},
    )

    async def operation(session: Any) -> str:
        session.add(row)
        await session.flush()
        return row.id

    return await store.write(operation)


def _summary(row: ConversationRecord) -> dict[str, Any]:
    return {
        "id": row.id,
        "session_id": row.session_id,
        "room": row.room,
        "customer_id": row.customer_public_id,
        "started_at": row.started_at.isoformat(),
        "duration_s": row.duration_s,
        "outcome": row.outcome,
        "ticket_number": row.ticket_number,
        "entries": len(row.transcript or []),
    }


async def list_records(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    limit = max(1, min(int(limit), 1000))
    async with store.session() as session:
        rows = (
            await session.scalars(
                select(ConversationRecord).order_by(ConversationRecord.started_at.desc(), ConversationRecord.id).limit(limit)
            )
        ).all()
    return [_summary(row) for row in rows]


async def get_record(store: Store, record_id: str) -> dict[str, Any] | None:
    if not isinstance(record_id, str) or len(record_id) > 32:
        return None
    async with store.session() as session:
        row = await session.get(ConversationRecord, record_id.strip())
    if row is None:
        return None
    return {
        **_summary(row),
        "ended_at": row.ended_at.isoformat(),
        "transcript": row.transcript,
        "usage": row.usage,
    }
