"""Escalation to a person: signed desk notification, room join token, SIP transfer, hand-off.

Nothing here touches the store: callers pass callbacks (`on_attempt`, `on_outcome`) to record
delivery attempts and outcomes on the ticket.
"""

from .handoff import HandoffActions, HandoffCoordinator, HandoffOutcome, HandoffTexts
from .join_token import (
    HUMAN_AGENT_ROLE,
    MAX_JOIN_TTL,
    build_join,
    human_identity,
    join_url,
    mint_join_token,
)
from .payload import build_payload
from .sip_transfer import (
    SipTransferPlan,
    TransferFailed,
    is_sip_participant,
    normalize_transfer_target,
    transfer_sip_caller,
)
from .webhook import SIGNATURE_HEADER, WebhookNotifier, sign, verify_signature

__all__ = [
    "HUMAN_AGENT_ROLE",
    "MAX_JOIN_TTL",
    "SIGNATURE_HEADER",
    "HandoffActions",
    "HandoffCoordinator",
    "HandoffOutcome",
    "HandoffTexts",
    "SipTransferPlan",
    "TransferFailed",
    "WebhookNotifier",
    "build_join",
    "build_payload",
    "human_identity",
    "is_sip_participant",
    "join_url",
    "mint_join_token",
    "normalize_transfer_target",
    "sign",
    "transfer_sip_caller",
    "verify_signature",
]
