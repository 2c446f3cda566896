"""Start-up steps shared by the worker and the tools: store preparation and shop rules, the
spool mover, and what a hang-up signal means."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from datetime import UTC, datetime, timedelta

from ..domain.rules import ShopRules, ThrottleRules
from ..settings import ConfigError, Settings
from ..store.database import Store
from ..store.seed import seed_if_empty
from .spool import has_spooled_records, move_spooled_records

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


async def move_spool_once(settings: Settings) -> list[str]:
    """Move the records of ended sessions from the spool into the store (raises if it is down)."""
    from ..domain.service import SupportService

    store = await Store.open(settings.database_url, migrate=False)
    try:
        return await move_spooled_records(settings.spool_dir, SupportService(store))
    finally:
        await store.close()


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
