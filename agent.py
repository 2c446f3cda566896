"""ShopMe Voice Support: the LiveKit Agents worker. Wiring only; the support logic is in support_tools/.

    python agent.py console --text   # type to the agent, no LiveKit server needed
    python agent.py console          # speak through this machine's microphone and speakers
    python agent.py dev              # join rooms of the LiveKit server in LIVEKIT_URL
    python agent.py start            # the same, production settings
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from dotenv import load_dotenv

# Variables already in the environment win over the file.
load_dotenv(os.environ.get("SHOPME_ENV_FILE") or Path(__file__).with_name(".env"))
# A realtime speech-to-speech agent needs no local VAD or turn-detector models: don't preload them
# into every process (about 240 MB each).
os.environ.setdefault("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")

from support_tools.observability.multiprocess import (  # noqa: E402
    prepare_metrics_directory,
    reopen_metric_files,
)

# Before prometheus_client is imported (by livekit-agents): job processes' metrics reach /metrics.
prepare_metrics_directory(sys.argv[1] if len(sys.argv) > 1 else "")

from livekit.agents import AgentServer, AgentSession, JobContext, cli, room_io  # noqa: E402

from support_tools.domain.caller import CallerState  # noqa: E402
from support_tools.domain.errors import SupportError  # noqa: E402
from support_tools.domain.service import SupportService  # noqa: E402
from support_tools.observability.logs import (  # noqa: E402
    call_log_fields,
    prepare_log_handlers,
)
from support_tools.settings import DEFAULT_AGENT_NAME, ConfigError, Settings, load_settings  # noqa: E402
from support_tools.voice.agent import SupportAgent  # noqa: E402
from support_tools.voice.escalation_flow import EscalationFlow  # noqa: E402
from support_tools.voice.history_window import keep_history_bounded  # noqa: E402
from support_tools.voice.model_outage import (  # noqa: E402
    attach_outage_handler,
    console_exit_code,
    end_console_after_outage,
)
from support_tools.voice.recorder import attach_recorder, save_record, start_spool  # noqa: E402
from support_tools.voice.room_audio import caller_audio_input  # noqa: E402
from support_tools.voice.room_output_frames import send_agent_audio_in_100ms_frames  # noqa: E402
from support_tools.voice.session import Userdata, caller_identity  # noqa: E402
from support_tools.voice.session_metrics import SessionMetrics  # noqa: E402
from support_tools.voice.startup import (  # noqa: E402
    prepare_store,
    start_spool_mover,
    treat_hangup_as_terminate,
)
from support_tools.voice.transcript_pacing import pace_transcripts_by_voiced_time  # noqa: E402
from support_tools.voice.worker_options import agent_server_options_from_env  # noqa: E402
from support_tools.voice.worker_setup import server_options, take_prepared_call, worker_layout  # noqa: E402

logger = logging.getLogger("shopme.worker")
# The CLI logs at DEBUG in console and dev mode: the database drivers would print every statement
# with its parameters (whole transcripts when a record is stored).
for _driver in ("aiosqlite", "asyncpg", "sqlalchemy.engine"):
    logging.getLogger(_driver).setLevel(logging.WARNING)

AGENT_NAME = os.environ.get("AGENT_NAME") or DEFAULT_AGENT_NAME
# Capacity, load, drain, health and metrics ports: support_tools/voice/worker_options.py. The
# layout (SHOPME_WORKER_LAYOUT) and what a runner prepares before its call arrives:
# support_tools/voice/worker_setup.py.
server = AgentServer(**{**agent_server_options_from_env(AGENT_NAME), **server_options()})
# The job processes' log records are written by this process's handlers: call fields and masks there.
server.on("worker_started", prepare_log_handlers)
# ... and the calls of the `loop` layout record their metrics in this process: in files created
# after the worker emptied the metrics directory at start.
server.on("worker_started", reopen_metric_files)


@server.rtc_session(agent_name=AGENT_NAME)
async def entrypoint(ctx: JobContext) -> None:
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


def _validate_or_exit(argv: list[str]) -> Settings | None:
    """Check the settings before the worker starts: one clear line and exit code 2 if wrong."""
    command = argv[1] if len(argv) > 1 else ""
    if command not in ("console", "dev", "start", "connect"):
        return None  # --help, download-files, ...: nothing to validate
    try:
        settings = load_settings(need_livekit=command in ("dev", "start", "connect"))
        worker_layout()
        asyncio.run(prepare_store(settings.database_url))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    return settings


if __name__ == "__main__":
    if (worker_settings := _validate_or_exit(sys.argv)) is not None:
        start_spool_mover(worker_settings)  # records left by the last run, then every few seconds
        treat_hangup_as_terminate()
    try:
        cli.run_app(server)
    finally:
        if code := console_exit_code():
            raise SystemExit(code)
