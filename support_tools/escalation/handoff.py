"""What the agent does once a ticket exists: transfer, hand over to a person, or offer a callback.

The coordinator knows nothing about AgentSession: the agent side gives it a `HandoffActions`
object, and a room with livekit.rtc.Room's surface, so every path runs in tests without a server.

Paths, decided once per session:
- SIP caller and a transfer line configured: say one sentence, transfer the call. If the
  transfer fails, offer a callback (the ticket stays open).
- Otherwise wait up to `timeout_s` for a participant with attribute `role=human_agent` (what
  the join token grants). When one is there: introduce them with the ticket summary, stop
  answering, leave the room. When nobody comes: offer a callback (the ticket stays open).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from .join_token import HUMAN_AGENT_ROLE, ROLE_ATTRIBUTE, human_identity
from .sip_transfer import SipTransferPlan, TransferFailed, transfer_sip_caller

logger = logging.getLogger("shopme.escalation.handoff")

# A spoken sentence has to stay short; a long model-written summary would drone on.
MAX_SPOKEN_SUMMARY_CHARS = 200


@runtime_checkable
class HandoffActions(Protocol):
    """Implemented by the agent side (it owns the AgentSession)."""

    def say(self, text: str) -> Awaitable[Any]:
        """Speak `text` to the caller; the awaitable resolves once it has been spoken."""
        ...

    def mute_agent(self) -> None:
        """Stop model responses: from now on the agent no longer answers the caller."""
        ...

    def leave_room(self) -> Awaitable[Any]:
        """Disconnect the agent from the room (the caller and the person stay)."""
        ...

    def offer_callback(self) -> Awaitable[Any]:
        """Tell the caller nobody is free right now and offer `schedule_callback`."""
        ...


class HandoffOutcome(StrEnum):
    TRANSFERRED = "transferred"
    HUMAN_JOINED = "human_joined"
    CALLBACK_OFFERED = "callback_offered"


@dataclass(frozen=True)
class HandoffTexts:
    """What the agent says; `{ticket}` and `{summary}` are filled in. Override per language."""

    transfer: str = "I'm transferring you to a colleague now, please stay on the line."
    introduction: str = (
        "A colleague from our support team has just joined and has your ticket {ticket}: {summary}"
    )
    introduction_without_summary: str = (
        "A colleague from our support team has just joined and has your ticket {ticket}."
    )


class HandoffCoordinator:
    """One per session; `start(ticket)` runs the hand-off in the background."""

    def __init__(
        self,
        *,
        room: Any,
        session_actions: HandoffActions,
        timeout_s: float,
        is_sip_caller: bool,
        sip: SipTransferPlan | None = None,
        texts: HandoffTexts | None = None,
        require_ticket_identity: bool = False,
        on_outcome: Callable[[HandoffOutcome], Awaitable[None]] | None = None,
    ) -> None:
        """`room`: `.name`, `.remote_participants`, `.on()`/`.off()` as on livekit.rtc.Room.

        `require_ticket_identity`: also demand the identity `human-<ticket>` the join token
        carries, so a desk colleague joining for another ticket is not mistaken for this one's.
        `on_outcome` is awaited once with the final outcome (e.g. to note it on the ticket).
        """
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self._room = room
        self._actions = session_actions
        self._timeout_s = timeout_s
        self._is_sip_caller = is_sip_caller
        self._sip = sip
        self._texts = texts or HandoffTexts()
        self._require_ticket_identity = require_ticket_identity
        self._on_outcome = on_outcome
        self._task: asyncio.Task[HandoffOutcome] | None = None
        self._outcome: HandoffOutcome | None = None

    @property
    def started(self) -> bool:
        return self._task is not None

    @property
    def outcome(self) -> HandoffOutcome | None:
        return self._outcome

    def start(self, ticket: Mapping[str, Any]) -> asyncio.Task[HandoffOutcome]:
        """Begin the hand-off for `ticket` (`number`/`ticket_number`, `summary` or `reason`).

        Returns at once; calling it again returns the first run's task and does nothing else.
        """
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(ticket), name="escalation-handoff"
            )
        return self._task

    async def aclose(self) -> None:
        """Stop waiting (session ending); listeners and timers go with the cancelled task."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self, ticket: Mapping[str, Any]) -> HandoffOutcome:
        number = str(ticket.get("number") or ticket.get("ticket_number") or "")
        if self._is_sip_caller and self._sip is not None:
            outcome = await self._transfer_or_callback()
        else:
            outcome = await self._human_or_callback(number, _summary(ticket))
        self._outcome = outcome
        logger.info("hand-off for %s ended: %s", number or "ticket", outcome.value)
        # Recorded before the agent leaves: leaving ends the session, which cancels this task.
        if self._on_outcome is not None:
            try:
                await self._on_outcome(outcome)
            except Exception:
                logger.exception("hand-off: recording the outcome failed")
        if outcome is not HandoffOutcome.CALLBACK_OFFERED:
            # Someone else has the caller now: stop answering, then make room for them.
            self._actions.mute_agent()
            await self._actions.leave_room()
        return outcome

    async def _transfer_or_callback(self) -> HandoffOutcome:
        plan = self._sip
        assert plan is not None
        await self._say(self._texts.transfer)
        try:
            await transfer_sip_caller(
                plan.lkapi,
                self._room.name,
                plan.participant_identity,
                plan.transfer_to,
                plan.play_dialtone,
            )
        except TransferFailed as exc:
            logger.warning("hand-off: %s; offering a callback instead", exc)
            await self._actions.offer_callback()
            return HandoffOutcome.CALLBACK_OFFERED
        return HandoffOutcome.TRANSFERRED

    async def _human_or_callback(self, number: str, summary: str) -> HandoffOutcome:
        human = await self._wait_for_human(number)
        if human is None:
            logger.info("hand-off: nobody joined within %.0fs; offering a callback", self._timeout_s)
            await self._actions.offer_callback()
            return HandoffOutcome.CALLBACK_OFFERED
        # Muting comes only after the introduction has been spoken (see _run).
        await self._say(self._introduction(number, summary))
        return HandoffOutcome.HUMAN_JOINED

    async def _wait_for_human(self, number: str) -> Any | None:
        arrived: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def consider(participant: Any) -> None:
            if not arrived.done() and self._is_human_for(participant, number):
                arrived.set_result(participant)

        def on_connected(participant: Any) -> None:
            consider(participant)

        def on_attributes_changed(_changed: Any, participant: Any) -> None:
            consider(participant)

        self._room.on("participant_connected", on_connected)
        self._room.on("participant_attributes_changed", on_attributes_changed)
        try:
            for participant in list(self._room.remote_participants.values()):
                consider(participant)
            return await asyncio.wait_for(arrived, self._timeout_s)
        except TimeoutError:
            return None
        finally:
            self._room.off("participant_connected", on_connected)
            self._room.off("participant_attributes_changed", on_attributes_changed)

    def _introduction(self, number: str, summary: str) -> str:
        if not summary:
            return self._texts.introduction_without_summary.format(ticket=number)
        spoken = summary[:MAX_SPOKEN_SUMMARY_CHARS]
        return self._texts.introduction.format(ticket=number, summary=spoken)

    def _is_human_for(self, participant: Any, number: str) -> bool:
        attributes = getattr(participant, "attributes", None) or {}
        if attributes.get(ROLE_ATTRIBUTE) != HUMAN_AGENT_ROLE:
            return False
        if self._require_ticket_identity:
            return getattr(participant, "identity", None) == human_identity(number)
        return True

    async def _say(self, text: str) -> None:
        try:
            await self._actions.say(text)
        except Exception:
            # A lost sentence must not strand the caller half-way through the hand-off.
            logger.exception("hand-off: speaking failed, continuing")


def _summary(ticket: Mapping[str, Any]) -> str:
    summary = str(ticket.get("summary") or ticket.get("reason") or "").strip()
    return summary.rstrip(".") + "." if summary else ""
