"""Throttled guessing: failed verifications counted in the store, across sessions and workers.

A caller who knows an order number could otherwise guess its postal code three times per call,
and call again. Every failure is stored with the order number given and a pseudonym of the
caller's identity (participant identity, or the SIP caller's number). When one order number
(or one caller) has `max_failures` failures within `window`, verification with it is refused
for `lock_for`, whatever session or worker the next attempt comes from. The per-session lockout
(caller.py) stays as it was.

Attempts on one order number take turns: a PostgreSQL advisory lock per subject (SQLite already
serialises writers), so concurrent guesses cannot slip past the count.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ..store.models import VerificationFailure, VerificationLock
from .rules import ThrottleRules


def caller_key(identity: str | None) -> str | None:
    """A stable pseudonym of the caller's identity: equal across workers, not the identity."""
    if not identity:
        return None
    return hashlib.sha256(f"shopme-caller\0{identity}".encode()).hexdigest()[:40]


def order_subject(order_number: str) -> str:
    return f"order:{order_number}"


def caller_subject(key: str) -> str:
    return f"caller:{key}"


@dataclass(frozen=True)
class Attempt:
    """Who is guessing what: the canonical order number and the caller's pseudonym (or None)."""

    order_number: str
    caller_key: str | None

    @property
    def subjects(self) -> list[str]:
        subjects = [order_subject(self.order_number)]
        if self.caller_key:
            subjects.append(caller_subject(self.caller_key))
        return sorted(subjects)  # one order for everyone: advisory locks never deadlock


async def take_turns(session: AsyncSession, attempt: Attempt) -> None:
    """Hold this attempt's subjects until the transaction ends (PostgreSQL; SQLite's BEGIN
    IMMEDIATE already lets one writer in at a time)."""
    if session.bind.dialect.name != "postgresql":
        return
    for subject in attempt.subjects:
        key = zlib.crc32(f"shopme-verify:{subject}".encode())
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


# How many of `subjects` are locked at `now`: the read-only check of a verification's fast path.
LOCKED_SUBJECTS = (
    select(func.count())
    .select_from(VerificationLock)
    .where(
        VerificationLock.subject.in_(bindparam("subjects", expanding=True)),
        VerificationLock.locked_until > bindparam("now"),
    )
)


async def is_locked(session: AsyncSession, attempt: Attempt, now: datetime) -> bool:
    locked = await session.scalar(
        select(func.count())
        .select_from(VerificationLock)
        .where(VerificationLock.subject.in_(attempt.subjects), VerificationLock.locked_until > now)
    )
    return bool(locked)


async def record_failure(
    session: AsyncSession, attempt: Attempt, session_id: str | None, now: datetime, rules: ThrottleRules
) -> bool:
    """Store one failure; lock each subject that reached the limit. True if anything got locked."""
    session.add(
        VerificationFailure(
            order_number=attempt.order_number,
            caller_key=attempt.caller_key,
            session_id=session_id,
            failed_at=now,
        )
    )
    await session.flush()
    since = now - rules.window
    counts = {
        order_subject(attempt.order_number): VerificationFailure.order_number == attempt.order_number,
    }
    if attempt.caller_key:
        counts[caller_subject(attempt.caller_key)] = VerificationFailure.caller_key == attempt.caller_key
    locked_any = False
    for subject, matches in counts.items():
        failures = int(
            await session.scalar(
                select(func.count()).select_from(VerificationFailure).where(matches, VerificationFailure.failed_at > since)
            )
            or 0
        )
        if failures >= rules.max_failures:
            await _lock(session, subject, failures, now, rules)
            locked_any = True
    return locked_any


async def _lock(session: AsyncSession, subject: str, failures: int, now: datetime, rules: ThrottleRules) -> None:
    lock = await session.scalar(select(VerificationLock).where(VerificationLock.subject == subject))
    if lock is None:
        session.add(VerificationLock(subject=subject, failures=failures, locked_at=now, locked_until=now + rules.lock_for))
        return
    if lock.locked_until <= now:  # an old lock: this is a new one
        lock.locked_at = now
    lock.failures = failures
    lock.locked_until = now + rules.lock_for


async def active_locks(session: AsyncSession, now: datetime) -> list[VerificationLock]:
    """Locks in force now, soonest to lift first (for staff: `python -m support_tools.store locks`)."""
    rows = await session.scalars(
        select(VerificationLock).where(VerificationLock.locked_until > now).order_by(VerificationLock.locked_until)
    )
    return list(rows)
