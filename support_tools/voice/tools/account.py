from __future__ import annotations

from typing import Literal

from livekit.agents import RunContext, function_tool

from ..session import Userdata
from ._common import as_output, run_domain


@function_tool
async def update_contact_details(
    context: RunContext[Userdata], field: Literal["email", "phone"], value: str
) -> str:
    """Change the verified caller's email address or phone number. Nothing else can be changed.

    Read the new value back to the caller and get their confirmation before calling.

    Args:
        field: "email" or "phone".
        value: The new email address or phone number (with country code if given).
    """
    state = context.userdata
    result = await run_domain(
        "update_contact_details", state.service.update_contact_details(state.caller, field, value)
    )
    return as_output(result)


@function_tool
async def schedule_callback(
    context: RunContext[Userdata], when: str, reason: str, phone: str | None = None
) -> str:
    """Book a call back from a person at a time the verified caller chooses, within support hours.

    Ask for the day and time and the caller's time zone, and why they want the call. The number
    on file is used unless the caller gives another one.

    Args:
        when: The time as ISO 8601 with a UTC offset, e.g. "2026-11-24T15:30:00+05:30".
        reason: What the call is about, in a few words.
        phone: Another number to call, only if the caller asks for one.
    """
    state = context.userdata
    result = await run_domain(
        "schedule_callback", state.service.schedule_callback(state.caller, when, reason, phone)
    )
    return as_output(result)
