"""Shared test setup. Every server a test talks to listens on 127.0.0.1 only."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from support_tools.store.database import Store
from support_tools.store.seed import seed_if_empty

pytest_plugins = ["tests.store_fixtures", "tests.browser.fixtures"]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The realtime plugin switches to the legacy wire when this is set; tests speak the GA wire.
os.environ.pop("OPENAI_API_VERSION", None)
# Never read a developer's .env into tests.
os.environ["SHOPME_ENV_FILE"] = str(ROOT / "tests" / "no-such.env")
os.environ.setdefault("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")


@pytest.fixture
def base_env() -> dict[str, str]:
    """A valid agent configuration pointing at nothing real; tests override what they need."""
    return {
        "AZURE_OPENAI_API_KEY": "test-key-not-secret",
        "AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:9",
        "AZURE_OPENAI_DEPLOYMENT": "gpt-realtime",
    }


@pytest.fixture
async def demo_store(tmp_path):
    """A SQLite store with the seeded demo data (the README's ready-to-try cases), dated today."""
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}")
    await seed_if_empty(store, datetime.now(UTC))
    yield store
    await store.close()
