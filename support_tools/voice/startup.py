"""Start-up steps shared by the worker and the tools: store preparation and shop rules."""

from __future__ import annotations

from datetime import UTC, datetime

from ..domain.rules import ShopRules
from ..settings import ConfigError, Settings
from ..store.database import Store
from ..store.seed import seed_if_empty


def rules_from_settings(settings: Settings) -> ShopRules:
    return ShopRules(
        return_window_days=settings.return_window_days,
        timezone=settings.support_timezone,
        hours_start=settings.support_hours_start,
        hours_end=settings.support_hours_end,
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
