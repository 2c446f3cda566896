"""Per-session state the tools reach through `RunContext[Userdata]`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .caller import CallerState
from .conversation_log import ConversationLog
from .settings import Settings

if TYPE_CHECKING:
    from livekit import rtc

    from .escalation_flow import EscalationFlow
    from .service import SupportService


@dataclass
class Userdata:
    """Everything one conversation owns. Built by the entrypoint (or a test), one per session."""

    settings: Settings
    service: SupportService
    caller: CallerState
    room: rtc.Room | None = None  # None in console mode and in room-less tests
    caller_identity: str | None = None  # the customer's participant identity in the room
    log: ConversationLog = field(default_factory=ConversationLog)
    escalation: EscalationFlow | None = None
