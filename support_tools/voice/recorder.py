"""Feeds a session's events into its `ConversationLog` and stores the record when it closes."""

from __future__ import annotations

import asyncio
import logging

from livekit.agents import (
    AgentSession,
    ConversationItemAddedEvent,
    FunctionToolsExecutedEvent,
    SessionUsageUpdatedEvent,
)

from .session import Userdata
from .spool import attach_spool

logger = logging.getLogger("shopme.recorder")


def attach_recorder(session: AgentSession[Userdata], state: Userdata) -> None:
    """Subscribe to the session's events; call before `session.start`."""

    @session.on("conversation_item_added")
    def _on_item(event: ConversationItemAddedEvent) -> None:
        item = event.item
        if getattr(item, "type", None) == "message" and item.role in ("user", "assistant"):
            state.log.add_message(item.role, item.text_content or "")

    @session.on("function_tools_executed")
    def _on_tools(event: FunctionToolsExecutedEvent) -> None:
        for call, output in event.zipped():
            state.log.add_tool_call(
                call.name,
                call.arguments,
                output.output if output is not None else "",
                bool(output is not None and output.is_error),
            )

    @session.on("session_usage_updated")
    def _on_usage(event: SessionUsageUpdatedEvent) -> None:
        # Each event carries running totals per model: keep the latest.
        for usage in event.usage.model_usage:
            totals = usage.model_dump(exclude={"type", "provider", "model"})
            name = f"{getattr(usage, 'provider', '')}/{getattr(usage, 'model', '')}"
            state.log.set_usage(name, {k: v for k, v in totals.items() if v})


async def save_record(state: Userdata) -> str | None:
    """Store the conversation record; never raises (a session must end cleanly regardless)."""
    caller = state.caller
    spool = state.spool
    try:
        record = state.log.to_record(
            session_id=caller.session_id,
            room=caller.room,
            customer_id=caller.customer_id,
            ticket_number=caller.ticket_number,
        )
    except OSError as error:
        # The transcript is in the spool file but could not be read back now: its lines stay
        # there, and the worker's spool mover rebuilds the record from them.
        logger.warning(
            "could not read the transcript of session %s back (%s); it waits in the spool",
            caller.session_id, type(error).__name__,
        )
        if spool is not None:
            spool.close()
        return None
    if spool is not None:
        await spool.ended(record)  # on disk before the store is tried
    try:
        record_id = await asyncio.shield(state.service.save_conversation_record(record))
    except Exception as error:
        # Kept in the spool file: the worker moves it into the store once the store is back.
        logger.warning(
            "could not store the conversation record of session %s now (%s)%s",
            caller.session_id, type(error).__name__, "; it waits in the spool" if spool else "",
        )
        if spool is not None:
            spool.close()
        return None
    if spool is not None:
        spool.stored()
    return record_id


def start_spool(state: Userdata) -> None:
    """Write this session's record to its spool file as the call goes (spool.py). A spool that
    cannot be written (a read-only or full disk) leaves the call going: the store still gets it."""
    try:
        state.spool = attach_spool(state.log, state.caller, state.settings.spool_dir)
    except OSError as error:
        logger.warning("no spool file for session %s (%s)", state.caller.session_id, type(error).__name__)
