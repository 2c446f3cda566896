"""Cold transfer of a phone caller to the human support line (SIP REFER via LiveKit).

Only a caller who came in over SIP can be transferred; the LiveKit SIP service then dials
`transfer_to` and drops the caller out of the room once the transfer is accepted.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import aiohttp
from livekit import api, rtc
from livekit.protocol.sip import (
    STS_TRANSFER_FAILED,
    SIPTransferReason,
    TransferSIPParticipantRequest,
)

logger = logging.getLogger("shopme.escalation.sip")

_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SIP_URI = re.compile(r"^sips?:[^\s@]+@[^\s@]+$|^sips?:[^\s@]+$")


class TransferFailed(Exception):
    """The caller could not be transferred; the message is safe to log (no number, no secret)."""


@dataclass(frozen=True)
class SipTransferPlan:
    """Where and how to transfer a SIP caller; built once per session by the agent side."""

    lkapi: api.LiveKitAPI
    participant_identity: str
    transfer_to: str
    play_dialtone: bool = False


def is_sip_participant(participant: Any) -> bool:
    """True when `participant` (an rtc.Participant or look-alike) joined through LiveKit SIP."""
    return getattr(participant, "kind", None) == rtc.ParticipantKind.PARTICIPANT_KIND_SIP


def normalize_transfer_target(transfer_to: str) -> str:
    """`tel:+<E.164>` for phone numbers (spaces, dashes, dots and a leading 00 allowed),
    `sip:`/`sips:` URIs kept, bare `user@host` made a `sip:` URI.

    Raises TransferFailed for anything else (a number without its country code is ambiguous).
    """
    target = (transfer_to or "").strip()
    lowered = target.lower()
    if lowered.startswith(("sip:", "sips:")):
        if _SIP_URI.match(target):
            return target
        raise TransferFailed("the SIP transfer destination is not a valid sip: URI")
    if "@" in target and not lowered.startswith("tel:"):
        candidate = "sip:" + target
        if _SIP_URI.match(candidate):
            return candidate
        raise TransferFailed("the SIP transfer destination is not a valid SIP address")
    number = target[4:] if lowered.startswith("tel:") else target
    number = _PHONE_SEPARATORS.sub("", number)
    if number.startswith("00"):
        number = "+" + number[2:]
    if not _E164.match(number):
        raise TransferFailed(
            "the SIP transfer destination must be a phone number with country code (+...) or a sip: URI"
        )
    return "tel:" + number


async def transfer_sip_caller(
    lkapi: api.LiveKitAPI,
    room: str,
    participant_identity: str,
    transfer_to: str,
    play_dialtone: bool = False,
) -> None:
    """Ask LiveKit to transfer the SIP participant to `transfer_to`; returns once it is accepted.

    Raises TransferFailed on any failure: bad destination, unreachable or refusing server,
    the callee rejecting or not answering.
    """
    if not room or not participant_identity:
        raise TransferFailed("the SIP transfer needs a room and the caller's participant identity")
    destination = normalize_transfer_target(transfer_to)
    request = TransferSIPParticipantRequest(
        room_name=room,
        participant_identity=participant_identity,
        transfer_to=destination,
        play_dialtone=play_dialtone,
    )
    logger.info("transferring SIP caller in room %s to %s", room, mask_destination(destination))
    try:
        response = await lkapi.sip.transfer_sip_participant(request)
    except api.SipCallError as exc:
        raise TransferFailed(_describe_sip_error(exc)) from None
    except api.ServerError as exc:
        raise TransferFailed(
            f"the LiveKit server refused the SIP transfer ({exc.code}, HTTP {exc.status})"
        ) from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TransferFailed(
            f"could not reach the LiveKit server for the SIP transfer ({type(exc).__name__})"
        ) from None

    # Servers that predate transfer outcomes answer with an empty body (status ONGOING = 0):
    # no error was raised, so the transfer was accepted.
    if response.status == STS_TRANSFER_FAILED:
        raise TransferFailed(f"the SIP transfer did not complete ({_reason_name(response.reason)})")
    logger.info("SIP caller in room %s transferred", room)


def mask_destination(destination: str) -> str:
    """`tel:+91******3210` / `sip:***@host`: enough to tell lines apart in logs."""
    if destination.startswith("tel:"):
        number = destination[4:]
        return "tel:" + number[:3] + "*" * max(0, len(number) - 7) + number[-4:]
    scheme, _, rest = destination.partition(":")
    _, at, host = rest.rpartition("@")
    return f"{scheme}:***{at}{host}" if at else f"{scheme}:{rest}"


def _describe_sip_error(exc: api.SipCallError) -> str:
    parts = []
    if exc.sip_transfer_reason:
        parts.append(exc.sip_transfer_reason)
    if exc.sip_status_code is not None:
        parts.append(f"SIP {exc.sip_status_code}")
    detail = ", ".join(parts) or exc.code
    return f"the SIP transfer failed ({detail})"


def _reason_name(reason: int) -> str:
    try:
        return SIPTransferReason.Name(reason)
    except ValueError:
        return str(reason)
