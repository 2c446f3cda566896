"""Documents for the caller's app (order card, escalation notice): JSON on a text-stream topic,
sent to the caller only. The spoken conversation matters more than the screen, so a failure to
deliver is logged and never fails the tool or the hand-off."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from livekit import rtc

logger = logging.getLogger("shopme.caller_screen")


async def send_to_caller(
    room: rtc.Room | None, caller_identity: str | None, topic: str, document: dict[str, Any]
) -> bool:
    """True when sent; without a room (console, tests) or a known caller nothing is sent."""
    if room is None or caller_identity is None:
        return False
    try:
        await room.local_participant.send_text(
            json.dumps(document, ensure_ascii=False),
            topic=topic,
            destination_identities=[caller_identity],
        )
    except Exception:
        logger.warning("could not send %s to the caller", topic, exc_info=True)
        return False
    return True
