"""One call, wired: what `agent.py`'s room entrypoint runs in the process (or thread) of a call.

It lives here, not in `agent.py`, so that the worker process of the `processes` layout, which
never runs a call, never imports what a call needs (the realtime plugin, SQLAlchemy, the tools):
about 40 MB of its memory. The forkserver imports this module for every call process
(`worker_setup.preload_modules`); where calls run in the worker process itself (`console`, the
`loop` and `threads` layouts) `agent.py` imports it at start-up, on the main thread.
"""

from __future__ import annotations

import logging

from livekit.agents import AgentSession, JobContext, room_io

from ..domain.caller import CallerState
from ..domain.errors import SupportError
from ..domain.service import SupportService
from ..observability.logs import call_log_fields
from .agent import SupportAgent
from .escalation_flow import EscalationFlow
from .history_window import keep_history_bounded
from .model_outage import attach_outage_handler, end_console_after_outage
from .recorder import attach_recorder, save_record, start_spool
from .room_audio import caller_audio_input
from .room_output_frames import send_agent_audio_in_100ms_frames
from .session import Userdata, caller_identity
from .session_metrics import SessionMetrics
from .transcript_pacing import pace_transcripts_by_voiced_time
from .worker_setup import take_prepared_call

logger = logging.getLogger("shopme.worker")


async def run_call(ctx: JobContext) -> None:
    session_metrics = SessionMetrics()
    ctx.log_context_fields = call_log_fields(
        job_id=ctx.job.id, room=ctx.job.room.name, session_id=ctx.job.id
    )
    # Settings, store engine and model object were built by the idle runner (worker_setup); the
    # schema was created or upgraded once at start-up (prepare_store), not per call.
    prepared = take_prepared_call(ctx.proc)
    settings, store = prepared.settings, prepared.store
    service = SupportService(store, prepared.rules)
    in_room = not ctx.is_fake_job()  # console mode runs in a mock room
    caller = CallerState(session_id=ctx.job.id)
    state = Userdata(settings=settings, service=service, caller=caller)

    async def finish(reason: str) -> None:
        outcome = session_metrics.ended(state)
        if state.escalation is not None:
            await state.escalation.aclose()
        record_id = await save_record(state)
        logger.info(
            "session %s ended (%s, %s), record %s", caller.session_id, reason, outcome, record_id
        )
        await store.close()
        if not in_room:
            end_console_after_outage(state)

    # Registered first: whatever fails after this point, the store is closed and a record kept.
    ctx.add_shutdown_callback(finish)

    await ctx.connect()
    room_options = room_io.RoomOptions(close_on_disconnect=True)
    if in_room:
        participant = await ctx.wait_for_participant()
        caller.room, caller.identity = ctx.room.name, caller_identity(participant)
        state.room, state.caller_identity = ctx.room, participant.identity
        room_options = room_io.RoomOptions(
            participant_identity=participant.identity,
            close_on_disconnect=True,
            audio_input=caller_audio_input(),
        )
        await _trust_app_identity(service, caller, participant.attributes.get("customer_id"))

    model = prepared.model
    start_spool(state)  # the record goes to local disk as the call goes, then to the store
    session = AgentSession[Userdata](llm=model, userdata=state)
    attach_recorder(session, state)
    keep_history_bounded(session, settings.history_items)  # long calls: per-turn work stays flat
    attach_outage_handler(model, session, state)  # no model region left: apologise, end, record
    session_metrics.watch(session)
    state.escalation = EscalationFlow.for_session(settings, session, state, ctx if in_room else None)
    # The caller left (or the session failed for good): end the job, which stores the record.
    session.on("close", lambda _event: ctx.shutdown(reason="session closed"))
    # Before RoomIO builds its outputs: the agent's audio to the room in 100 ms frames, its
    # transcript paced without a spectral speaking-rate estimate (CPU per audio-second, issue 9).
    send_agent_audio_in_100ms_frames()
    pace_transcripts_by_voiced_time()
    await session.start(
        agent=SupportAgent(settings), room=ctx.room, room_options=room_options, record=False
    )
    session_metrics.watch_model(session)


async def _trust_app_identity(service: SupportService, caller: CallerState, customer_id) -> None:
    """The shop's token issuer puts `customer_id` on app users it has signed in: trust it."""
    if not customer_id:
        return
    try:
        await service.trust_customer(caller, customer_id)
    except SupportError:
        logger.warning("participant carries an unknown customer_id; caller must verify")
    except Exception:
        # The store is unreachable: the caller can still talk, and verify once it is back.
        logger.exception("could not check the participant's customer_id; caller must verify")
