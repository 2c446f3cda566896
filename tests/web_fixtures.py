"""The token endpoint in-process for aiohttp's test client, with a known key pair."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from support_tools.settings import WebSettings
from support_tools.web.app import create_app

API_KEY = "APIwebTest"
API_SECRET = "web-secret-" + "w" * 32
AGENT_NAME = "shopme-support-test"
LIVEKIT_URL = "ws://127.0.0.1:7880"


def web_settings(**overrides) -> WebSettings:
    values = dict(
        livekit_url=LIVEKIT_URL,
        livekit_api_key=API_KEY,
        livekit_api_secret=API_SECRET,
        agent_name=AGENT_NAME,
        tokens_per_minute=30,
        agent_join_timeout_s=12.0,
    )
    values.update(overrides)
    return WebSettings(**values)


def built_page(root: Path) -> Path:
    """A stand-in for web/dist: an index page and one asset."""
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>ShopMe support</title>")
    (root / "assets" / "app.js").write_text("console.log('page');")
    (root / "secret.txt").write_text("not an asset")
    return root


async def start_client(settings: WebSettings, static_dir: Path) -> TestClient:
    client = TestClient(TestServer(create_app(settings, static_dir=static_dir), host="127.0.0.1"))
    await client.start_server()
    return client
