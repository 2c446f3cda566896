"""The escalation notice: tells the caller's app that a ticket was opened and what happens next.

Sent on the LiveKit text stream topic `shopme.escalation` to the caller only, so the app can show
the ticket number (from the store, not from the model's speech) and "a person is joining". A
second notice tells how the hand-off ended. The JSON schema is in the README.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .caller_screen import send_to_caller

if TYPE_CHECKING:
    from livekit import rtc

ESCALATION_TOPIC = "shopme.escalation"
NOTICE_VERSION = 1
# Steps the app knows: what happens next when the ticket is opened, then how the hand-off ended
# (HandoffOutcome values).
STEPS = (
    "person_joining", "transferring", "ticket_only", "human_joined", "transferred", "callback_offered"
)

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
    if not ticket_number or step not in STEPS:
        return False
    return await send_to_caller(room, caller_identity, ESCALATION_TOPIC, build_notice(ticket_number, step))
