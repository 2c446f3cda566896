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

from livekit.agents import AgentServer, JobContext, cli  # noqa: E402

from support_tools.observability.logs import prepare_log_handlers  # noqa: E402
from support_tools.settings import DEFAULT_AGENT_NAME, ConfigError, Settings, load_settings  # noqa: E402
from support_tools.voice.model_outage import console_exit_code  # noqa: E402
from support_tools.voice.startup import (  # noqa: E402
    prepare_store,
    prepare_store_in_own_process,
    start_spool_mover,
    treat_hangup_as_terminate,
)
from support_tools.voice.worker_options import agent_server_options_from_env  # noqa: E402
from support_tools.voice.worker_setup import (  # noqa: E402
    calls_run_here,
    import_call_modules,
    server_options,
    worker_layout,
)

COMMAND = sys.argv[1] if len(sys.argv) > 1 else ""
if calls_run_here(COMMAND):
    # Console and the loop and threads layouts: the calls run in this process. Under the processes
    # layout the forkserver imports their modules for the call processes; this one never needs them.
    import_call_modules()

logger = logging.getLogger("shopme.worker")
# The CLI logs at DEBUG in console and dev mode: the database drivers would print every statement
# with its parameters (whole transcripts when a record is stored).
for _driver in ("aiosqlite", "asyncpg", "sqlalchemy.engine"):
    logging.getLogger(_driver).setLevel(logging.WARNING)

AGENT_NAME = os.environ.get("AGENT_NAME") or DEFAULT_AGENT_NAME
# Capacity, load, drain, health and metrics ports: support_tools/voice/worker_options.py. The
# layout (SHOPME_WORKER_LAYOUT) and what a runner prepares before its call arrives:
# support_tools/voice/worker_setup.py. `entry_module`: the forkserver imports this module (and
# with it the entrypoint) once for every call process, not each call process after its fork.
server = AgentServer(
    **{**agent_server_options_from_env(AGENT_NAME), **server_options(entry_module=__name__)}
)
# The job processes' log records are written by this process's handlers: call fields and masks there.
server.on("worker_started", prepare_log_handlers)
# ... and the calls of the `loop` layout record their metrics in this process: in files created
# after the worker emptied the metrics directory at start.
server.on("worker_started", reopen_metric_files)


@server.rtc_session(agent_name=AGENT_NAME)
async def entrypoint(ctx: JobContext) -> None:
    # The call's wiring: support_tools/voice/call.py, imported already wherever a call runs.
    from support_tools.voice.call import run_call

    await run_call(ctx)


def _validate_or_exit(argv: list[str]) -> Settings | None:
    """Check the settings before the worker starts: one clear line and exit code 2 if wrong."""
    command = argv[1] if len(argv) > 1 else ""
    if command not in ("console", "dev", "start", "connect"):
        return None  # --help, download-files, ...: nothing to validate
    try:
        settings = load_settings(need_livekit=command in ("dev", "start", "connect"))
        worker_layout()
        prepare_store_before_start(command, settings.database_url)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    return settings


def prepare_store_before_start(command: str, database_url: str) -> None:
    """Create or upgrade the schema once, before the worker starts (raises ConfigError)."""
    if calls_run_here(command):
        asyncio.run(prepare_store(database_url))
    else:
        # The worker process of the processes layout never runs a call: keep SQLAlchemy and the
        # drivers (about 20 MB) out of it; the schema step runs in a short-lived process.
        prepare_store_in_own_process(database_url)


if __name__ == "__main__":
    if (worker_settings := _validate_or_exit(sys.argv)) is not None:
        start_spool_mover(worker_settings)  # records left by the last run, then every few seconds
        treat_hangup_as_terminate()
    try:
        cli.run_app(server)
    finally:
        if code := console_exit_code():
            raise SystemExit(code)
