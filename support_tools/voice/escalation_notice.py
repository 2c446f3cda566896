"""The escalation notice: tells the caller's app that a ticket was opened and what happens next.

Sent on the LiveKit text stream topic `shopme.escalation` to the caller only, so the app can show
the ticket number (from the store, not from the model's speech) and "a person is joining". A
second notice tells how the hand-off ended. The JSON schema is in the README.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from livekit import rtc

ESCALATION_TOPIC = "shopme.escalation"
NOTICE_VERSION = 1
# Steps the app knows: what happens next when the ticket is opened, then how the hand-off ended
# (HandoffOutcome values).
STEPS = (
    "person_joining", "transferring", "ticket_only", "human_joined", "transferred", "callback_offered"
)

logger = logging.getLogger("shopme.escalation_notice")


def build_notice(ticket_number: str, step: str) -> dict[str, object]:
    if step not in STEPS:
        raise ValueError(f"unknown escalation step {step!r}")
    return {"type": "escalation", "version": NOTICE_VERSION, "ticket": ticket_number, "step": step}


async def send_escalation_notice(
    room: rtc.Room | None, caller_identity: str | None, ticket_number: str, step: str
) -> bool:
    """Show the ticket and its step on the caller's screen. Without a room nothing is sent.

    A failure to deliver is logged and never fails the escalation: the spoken answer matters more.
    """
    if room is None or caller_identity is None or not ticket_number:
        return False
    try:
        await room.local_participant.send_text(
            json.dumps(build_notice(ticket_number, step)),
            topic=ESCALATION_TOPIC,
            destination_identities=[caller_identity],
        )
    except Exception:
        logger.warning("could not send the escalation notice", exc_info=True)
        return False
    return True
