"""`python -m support_tools.web`: serve the customer page and its token endpoint.

    LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET, AGENT_NAME   as for the worker (.env)
    SHOPME_WEB_HOST, SHOPME_WEB_PORT                               where to listen (127.0.0.1:8080)
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from aiohttp import web
from dotenv import load_dotenv

from ..settings import ConfigError, load_web_settings
from .app import DEFAULT_STATIC_DIR, NOT_BUILT, create_app


def main() -> int:
    root = Path(__file__).resolve().parents[2]
    load_dotenv(os.environ.get("SHOPME_ENV_FILE") or root / ".env")
    try:
        settings = load_web_settings()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not (DEFAULT_STATIC_DIR / "index.html").is_file():
        print(f"warning: {NOT_BUILT}", file=sys.stderr)
    print(
        f"ShopMe customer page: http://{settings.host}:{settings.port}/ "
        f"(LiveKit {settings.browser_livekit_url}, agent {settings.agent_name})",
        flush=True,
    )
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
