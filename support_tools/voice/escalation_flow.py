"""After `escalate_to_human` opened a ticket: tell the desk, then hand the caller to a person.

Binds the escalation mechanisms (`support_tools/escalation/`) to one AgentSession:
- a signed webhook to the desk with a join token for this room (when configured),
- the hand-off in the room: wait for a `role=human_agent` participant, introduce, step back,
- SIP callers: transfer the call (when configured), falling back to the callback offer.
Nothing here blocks the conversation: the tool returns at once, the rest runs in the background.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ..escalation.handoff import HandoffCoordinator, HandoffOutcome
from ..escalation.join_token import build_join
from ..escalation.payload import build_payload
from ..escalation.sip_transfer import SipTransferPlan, is_sip_participant
from ..escalation.webhook import WebhookNotifier
from ..observability import metrics
from ..observability.metrics import EscalationPath
from ..settings import Settings
from .escalation_notice import send_escalation_notice

if TYPE_CHECKING:
    from livekit.agents import AgentSession, JobContext, SpeechHandle

    from .session import Userdata

logger = logging.getLogger("shopme.escalation")

_PATH_OF_OUTCOME = {
    HandoffOutcome.HUMAN_JOINED: EscalationPath.HANDED_OVER,
    HandoffOutcome.TRANSFERRED: EscalationPath.TRANSFERRED,
    HandoffOutcome.CALLBACK_OFFERED: EscalationPath.CALLBACK,
}

WAIT_FOR_PERSON = (
    "A colleague has been notified and will join this call shortly. Tell the caller the ticket "
    "number, that a person is on the way, and keep helping them until the person joins."
)
TRANSFERRING = "Tell the caller the ticket number and that you are transferring the call to a colleague now."
TICKET_ONLY = (
    "A colleague will review the ticket and contact the customer within one business day, by "
    "phone or email on file (or at the time of a callback booked with schedule_callback). Tell "
    "the caller the ticket number and this."
)
NOBODY_FREE = (
    "Tell the caller that no colleague is free right now, that their ticket {ticket} stays open, "
    "and offer to book a callback at a time that suits them (schedule_callback)."
)


class SessionHandoffActions:
    """What the hand-off asks of the agent, done with a realtime-model session (no TTS)."""

    def __init__(self, session: AgentSession[Userdata], ctx: JobContext | None) -> None:
        self._session = session
        self._ctx = ctx
        self.ticket_number = ""

    async def say(self, text: str) -> None:
        # A realtime model speaks in its own voice: ask it to say the sentence, then wait for it.
        handle = self._session.generate_reply(
            instructions=f"Say this to the caller, in the caller's language: {text}",
            tool_choice="none",
        )
        await handle.wait_for_playout()

    def mute_agent(self) -> None:
        # The model no longer hears the caller, so it never answers again.
        self._session.interrupt()
        self._session.input.set_audio_enabled(False)

    async def leave_room(self) -> None:
        if self._ctx is not None:
            self._ctx.shutdown(reason="handed over to a person")

    async def offer_callback(self) -> None:
        handle = self._session.generate_reply(
            instructions=NOBODY_FREE.format(ticket=self.ticket_number)
        )
        await handle.wait_for_playout()


class EscalationFlow:
    def __init__(
        self,
        settings: Settings,
        state: Userdata,
        *,
        notifier: WebhookNotifier | None,
        handoff: HandoffCoordinator | None,
        actions: SessionHandoffActions | None,
        is_sip_caller: bool = False,
    ) -> None:
        self._settings = settings
        self._state = state
        self._notifier = notifier
        self._handoff = handoff
        self._actions = actions
        self._is_sip_caller = is_sip_caller
        self.notifications: list[Any] = []  # delivery tasks, for tests and shutdown
        self._handoff_starting: asyncio.Task[None] | None = None

    @classmethod
    def for_session(
        cls,
        settings: Settings,
        session: AgentSession[Userdata],
        state: Userdata,
        ctx: JobContext | None,
    ) -> EscalationFlow:
        """Build what this deployment has configured; a console session gets the ticket path."""
        notifier = None
        if settings.escalation_webhook_url and settings.escalation_webhook_secret:
            notifier = WebhookNotifier(
                settings.escalation_webhook_url, settings.escalation_webhook_secret
            )
        if ctx is None or state.room is None:
            return cls(settings, state, notifier=notifier, handoff=None, actions=None)

        caller = state.room.remote_participants.get(state.caller_identity or "")
        sip_caller = caller is not None and is_sip_participant(caller)
        plan = None
        if sip_caller and settings.escalation_sip_transfer_to:
            plan = SipTransferPlan(
                lkapi=ctx.api,
                participant_identity=caller.identity,
                transfer_to=settings.escalation_sip_transfer_to,
            )
        actions = SessionHandoffActions(session, ctx)

        async def record_outcome(outcome: HandoffOutcome) -> None:
            metrics.escalated(_PATH_OF_OUTCOME[outcome])
            await state.service.record_ticket_handoff(actions.ticket_number, outcome.value)
            await send_escalation_notice(
                state.room, state.caller_identity, actions.ticket_number, outcome.value
            )

        handoff = HandoffCoordinator(
            room=state.room,
            session_actions=actions,
            timeout_s=settings.escalation_timeout_s,
            is_sip_caller=sip_caller,
            sip=plan,
            # Only the holder of this ticket's join token (identity human-<ticket>) takes over.
            require_ticket_identity=True,
            on_outcome=record_outcome,
        )
        return cls(
            settings, state, notifier=notifier, handoff=handoff, actions=actions,
            is_sip_caller=plan is not None,
        )

    def begin(self, ticket: dict[str, Any], *, after: SpeechHandle | None = None) -> str:
        """Start notifying and handing off for a newly opened ticket; returns what to tell the caller.

        `after`: the speech of the tool call that opened the ticket. The hand-off starts once that
        turn, whose reply gives the caller the ticket number, has been spoken.
        """
        number = ticket["ticket"]
        if self._actions is not None:
            self._actions.ticket_number = number
        self._notify(ticket)
        if self._hands_off:
            self._start_handoff(ticket, after)
        else:
            metrics.escalated(EscalationPath.TICKET_ONLY)
        return self.next_steps

    @property
    def _hands_off(self) -> bool:
        # A person only takes over when someone was told (webhook) or the call can be transferred.
        return self._handoff is not None and (self._is_sip_caller or self._notifier is not None)

    @property
    def next_steps(self) -> str:
        """What to tell the caller; fixed by the configuration, so every call of the tool agrees."""
        if not self._hands_off:
            return TICKET_ONLY
        return TRANSFERRING if self._is_sip_caller else WAIT_FOR_PERSON

    def _start_handoff(self, ticket: dict[str, Any], after: SpeechHandle | None) -> None:
        handoff = self._handoff
        assert handoff is not None
        if after is None:
            handoff.start(ticket)
            return

        async def start_once_spoken() -> None:
            # Started at once, the hand-off's own sentence would be spoken before the tool's reply,
            # and its transfer or mute would cut that reply off: the caller never hears the ticket.
            try:
                await after.wait_for_playout()
            except Exception:
                logger.exception("escalation: waiting for the ticket reply failed; handing off")
            handoff.start(ticket)

        self._handoff_starting = asyncio.get_running_loop().create_task(
            start_once_spoken(), name="escalation-handoff-start"
        )

    @property
    def handoff_outcome(self) -> HandoffOutcome | None:
        return self._handoff.outcome if self._handoff is not None else None

    def _notify(self, ticket: dict[str, Any]) -> None:
        if self._notifier is None:
            return
        try:
            payload = build_payload(ticket, self._join(ticket))
        except Exception:
            logger.exception("escalation payload for %s could not be built", ticket.get("ticket"))
            return
        service = self._state.service

        async def record(attempt: dict[str, Any]) -> None:
            metrics.webhook_attempted(delivered=bool(attempt.get("delivered")))
            await service.record_ticket_delivery(ticket["ticket"], attempt)

        self.notifications.append(self._notifier.notify(payload, on_attempt=record))

    def _join(self, ticket: dict[str, Any]) -> dict[str, Any]:
        """The desk's way into the room; none for a room-less (console) session."""
        settings, room = self._settings, ticket.get("room")
        if not (room and settings.livekit_api_key and settings.livekit_api_secret and settings.livekit_url):
            return {"url": None, "token": None}
        return build_join(
            api_key=settings.livekit_api_key,
            api_secret=settings.livekit_api_secret,
            livekit_url=settings.livekit_url,
            room=room,
            ticket_number=ticket["ticket"],
            desk_url_template=settings.support_desk_url,
        )

    async def aclose(self) -> None:
        starting = self._handoff_starting
        if starting is not None and not starting.done():
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
        if self._handoff is not None:
            await self._handoff.aclose()
        if self._notifier is not None:
            await self._notifier.aclose()
