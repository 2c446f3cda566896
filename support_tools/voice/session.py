"""Per-session state the tools reach through `RunContext[Userdata]`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..domain.caller import CallerState
from ..settings import Settings
from .conversation_log import ConversationLog

if TYPE_CHECKING:
    from livekit import rtc

    from ..domain.service import SupportService


class Escalation(Protocol):
    """What the tools and the entrypoint need of the escalation flow (`escalation_flow.py`).

    A protocol, so that the flow may know `Userdata` without this module knowing the flow.
    """

    @property
    def next_steps(self) -> str: ...

    def begin(self, ticket: dict[str, Any], *, after: Any = None) -> str: ...

    async def aclose(self) -> None: ...


@dataclass
class Userdata:
    """Everything one conversation owns. Built by the entrypoint (or a test), one per session."""

    settings: Settings
    service: SupportService
    caller: CallerState
    room: rtc.Room | None = None  # None in console mode and in room-less tests
    caller_identity: str | None = None  # the customer's participant identity in the room
    log: ConversationLog = field(default_factory=ConversationLog)
    escalation: Escalation | None = None
