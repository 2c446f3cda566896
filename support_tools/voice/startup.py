"""Start-up steps shared by the worker and the tools: store preparation and shop rules, the
spool mover, and what a hang-up signal means.

The worker process of the `processes` layout imports this module but runs no call: the store
(SQLAlchemy and its driver, about 20 MB) is imported only by the steps that use it, and the
schema step can run in a short-lived process of its own (`prepare_store_in_own_process`).

    python -m support_tools.voice.startup   # that process: prepares the store in DATABASE_URL
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..domain.rules import ShopRules, ThrottleRules
from ..settings import ConfigError, Settings
from .spool import has_spooled_records, move_spooled_records

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The exit code of the store-preparing process when the store refused (a ConfigError as JSON
# on its stdout); any other failure exits 1 with its traceback on stderr.
_CONFIG_ERROR_EXIT = 2

logger = logging.getLogger("shopme.worker")
SPOOL_MOVER_INTERVAL_S = 5.0


def rules_from_settings(settings: Settings) -> ShopRules:
    return ShopRules(
        return_window_days=settings.return_window_days,
        timezone=settings.support_timezone,
        hours_start=settings.support_hours_start,
        hours_end=settings.support_hours_end,
        throttle=ThrottleRules(
            max_failures=settings.verify_max_failures,
            window=timedelta(minutes=settings.verify_failure_window_min),
            lock_for=timedelta(minutes=settings.verify_lock_min),
        ),
    )


async def prepare_store(database_url: str) -> None:
    """Create or upgrade the schema and seed the demo data into an empty store, once, at start-up.

    A store that cannot be reached is a configuration problem: one line naming DATABASE_URL and
    the cause's type, never the URL (it may hold a password).
    """
    from ..store.database import Store
    from ..store.seed import seed_if_empty

    try:
        store = await Store.open(database_url)
    except Exception as error:
        raise ConfigError(
            "DATABASE_URL",
            f"cannot be opened ({type(error).__name__})",
            "check that the database server is running and the URL, user and password are right",
        ) from None
    try:
        await seed_if_empty(store, datetime.now(UTC))
    finally:
        await store.close()


class _StoreOnFirstRecord:
    """The store as the spool mover's sink, opened when the first record is given to it: the
    spool holds the files of live calls too, and those are not moved (nor is SQLAlchemy then
    imported into a worker process that runs no call)."""

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._store = None
        self._service = None

    async def save_conversation_record(self, record: dict) -> str:
        if self._service is None:
            from ..domain.service import SupportService
            from ..store.database import Store

            self._store = await Store.open(self._database_url, migrate=False)
            self._service = SupportService(self._store)
        return await self._service.save_conversation_record(record)

    async def aclose(self) -> None:
        if self._store is not None:
            await self._store.close()


async def move_spool_once(settings: Settings) -> list[str]:
    """Move the records of ended sessions from the spool into the store (raises if it is down)."""
    sink = _StoreOnFirstRecord(settings.database_url)
    try:
        return await move_spooled_records(settings.spool_dir, sink)
    finally:
        await sink.aclose()


def prepare_store_in_own_process(database_url: str) -> None:
    """`prepare_store` in a short-lived Python process, so that this one never imports the
    store. Raises the same ConfigError as `prepare_store` would. The URL goes through the
    environment, never the command line (which any local user can read, and it may hold a
    password); the working directory stays, so a relative SQLite path means the same file."""
    env = {**os.environ, "DATABASE_URL": database_url}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "support_tools.voice.startup"], env=env, stdout=subprocess.PIPE, text=True
    )
    if result.returncode == 0:
        return
    if result.returncode == _CONFIG_ERROR_EXIT:
        with contextlib.suppress(IndexError, ValueError, KeyError, TypeError):  # not our answer
            fields = json.loads(result.stdout.strip().splitlines()[-1])
            raise ConfigError(fields["variable"], fields["problem"], fields["fix"])
    raise ConfigError(
        "DATABASE_URL",
        f"could not be prepared (the schema step exited with code {result.returncode})",
        "see the lines above, check the database and start again",
    )


def _prepare_store_main() -> int:
    try:
        asyncio.run(prepare_store(os.environ["DATABASE_URL"]))
    except ConfigError as error:
        print(json.dumps({"variable": error.variable, "problem": error.problem, "fix": error.fix}))
        return _CONFIG_ERROR_EXIT
    return 0


def start_spool_mover(
    settings: Settings, interval_s: float = SPOOL_MOVER_INTERVAL_S, stop: threading.Event | None = None
) -> threading.Thread:
    """In the worker's main process: at once (records left by the last run), then every few
    seconds (records that waited out a store outage, or whose job process was killed)."""

    stop = stop or threading.Event()  # the worker's never stops: a daemon thread

    def run() -> None:
        store_was_down = False
        while not stop.is_set():
            if has_spooled_records(settings.spool_dir):
                try:
                    asyncio.run(move_spool_once(settings))
                    store_was_down = False
                except Exception as error:
                    if not store_was_down:  # once per outage, not every few seconds
                        logger.warning("spooled records wait for the store (%s)", type(error).__name__)
                    store_was_down = True
            stop.wait(interval_s)

    mover = threading.Thread(target=run, name="shopme-spool-mover", daemon=True)
    mover.start()
    return mover


def treat_hangup_as_terminate() -> None:
    """SIGHUP (the terminal went away) ends the worker like SIGTERM does: gracefully, each
    session storing its record. livekit-agents' CLI handles SIGINT and SIGTERM only."""
    signal.signal(signal.SIGHUP, lambda *_: signal.raise_signal(signal.SIGTERM))


if __name__ == "__main__":
    raise SystemExit(_prepare_store_main())
