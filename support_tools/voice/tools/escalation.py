from __future__ import annotations

from typing import Literal

from livekit.agents import RunContext

from support_tools.observability import metrics
from support_tools.observability.metrics import EscalationPath

from ..escalation_flow import TICKET_ONLY, TRANSFERRING, WAIT_FOR_PERSON
from ..escalation_notice import send_escalation_notice
from ..session import Userdata
from ._common import as_output, run_domain
from ._strict import strict_tool


@strict_tool
async def escalate_to_human(
    context: RunContext[Userdata],
    reason: str,
    urgency: Literal["low", "normal", "high"] = "normal",
) -> str:
    """Hand the conversation to a person. Always allowed, verified or not.

    Call it when the caller asks for a person, is upset or distressed, reports fraud, a safety or
    legal issue, or when the request is beyond your tools. Tell the caller the ticket number and
    what happens next, exactly as returned, and stay with them.

    Args:
        reason: Why a person is needed, in one sentence.
        urgency: "high" for safety, fraud or a distressed caller; "low" for no rush.
    """
    state = context.userdata

    async def open_and_hand_off() -> dict:
        ticket, created = await state.service.open_ticket(
            state.caller, reason, urgency, state.log.summary(), state.log.recent()
        )
        if state.escalation is None:
            next_steps = TICKET_ONLY
            if created:
                metrics.escalated(EscalationPath.TICKET_ONLY)
        else:
            flow = state.escalation
            # The hand-off waits for this turn's reply, so the caller hears the ticket number first.
            if created:
                next_steps = flow.begin(ticket, after=context.speech_handle)
            else:
                next_steps = flow.next_steps
        # The app shows the ticket number while the agent says it.
        await send_escalation_notice(
            state.room, state.caller_identity, ticket["ticket"], _step_shown(next_steps)
        )
        return {"ticket": ticket["ticket"], "already_open": not created, "next_steps": next_steps}

    return as_output(await run_domain("escalate_to_human", open_and_hand_off()))


def _step_shown(next_steps: str) -> str:
    """The escalation step the caller's app shows for what the agent tells the caller next."""
    if next_steps == WAIT_FOR_PERSON:
        return "person_joining"
    if next_steps == TRANSFERRING:
        return "transferring"
    return "ticket_only"
