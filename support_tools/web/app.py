"""The aiohttp application: the built customer page and `POST /api/token`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import urlparse

from aiohttp import web

from ..settings import WebSettings
from .customer_token import mint_customer_token
from .demo_login import demo_customer_id
from .rate_limit import SlidingWindowLimiter
from .token_request import BadTokenRequest, parse_token_request

logger = logging.getLogger("shopme.web")

DEFAULT_STATIC_DIR = Path(__file__).resolve().parents[2] / "web" / "dist"
MAX_BODY_BYTES = 4096
NOT_BUILT = (
    "The customer page is not built yet. Run `make web` (or `npm ci && npm run build` in web/)."
)
WRONG_LOGIN = "That username and password do not match the demo account."
TOO_MANY = "Too many call attempts from this address. Please wait {seconds} seconds and try again."

LIMITER_KEY = web.AppKey("limiter", SlidingWindowLimiter)
SETTINGS_KEY = web.AppKey("settings", WebSettings)
STATIC_DIR_KEY = web.AppKey("static_dir", Path)


def create_app(
    settings: WebSettings,
    *,
    static_dir: Path = DEFAULT_STATIC_DIR,
    limiter: SlidingWindowLimiter | None = None,
) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY_BYTES, middlewares=[_security_headers(settings)]
    )
    app[SETTINGS_KEY] = settings
    app[STATIC_DIR_KEY] = static_dir
    app[LIMITER_KEY] = limiter or SlidingWindowLimiter(settings.tokens_per_minute, 60.0)
    app.router.add_get("/", _index)
    app.router.add_post("/api/token", _token)
    app.router.add_get("/assets/{name}", _asset)
    return app


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


async def _index(request: web.Request) -> web.StreamResponse:
    page = request.app[STATIC_DIR_KEY] / "index.html"
    if not page.is_file():
        return web.Response(status=503, text=NOT_BUILT)
    return web.FileResponse(page, headers={"Cache-Control": "no-cache"})


async def _asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    assets = request.app[STATIC_DIR_KEY] / "assets"
    # Only plain file names directly inside assets/: no path tricks reach other files.
    if not name or name.startswith(".") or "/" in name or "\\" in name:
        raise web.HTTPNotFound()
    path = assets / name
    if not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


async def _token(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS_KEY]
    # The direct peer: a forwarded-for header is any client's to write, so it is not trusted.
    client = request.remote or "unknown"
    wait = request.app[LIMITER_KEY].retry_after(client)
    if wait is not None:
        return _error(429, TOO_MANY.format(seconds=wait), **{"Retry-After": str(wait)})
    try:
        token_request = parse_token_request(await _json_body(request))
    except BadTokenRequest as problem:
        return _error(400, str(problem))

    customer_id = None
    if token_request.login is not None:
        login = token_request.login
        customer_id = demo_customer_id(login.username, login.password)
        if customer_id is None:
            return _error(401, WRONG_LOGIN)

    issued = mint_customer_token(
        api_key=settings.livekit_api_key,
        api_secret=settings.livekit_api_secret,
        agent_name=settings.agent_name,
        display_name=token_request.display_name,
        customer_id=customer_id,
    )
    logger.info("token issued for room %s (signed in: %s)", issued.room, customer_id is not None)
    return web.json_response(
        {
            "server_url": settings.browser_livekit_url,
            "token": issued.token,
            "room": issued.room,
            "identity": issued.identity,
            "expires_at": issued.expires_at.isoformat(),
            "signed_in": customer_id is not None,
            "agent_join_timeout_s": settings.agent_join_timeout_s,
        },
        headers={"Cache-Control": "no-store"},
    )


async def _json_body(request: web.Request) -> object:
    # Requiring JSON also keeps plain cross-site form posts out (they cannot send this type).
    if request.content_type != "application/json":
        raise BadTokenRequest("Send the request as JSON (Content-Type: application/json).")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BadTokenRequest(f"The request body is larger than {MAX_BODY_BYTES} bytes.") from None
    if not raw.strip():
        return {}
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadTokenRequest("The request body is not valid JSON.") from None


def _livekit_origins(livekit_url: str) -> str:
    """The LiveKit server as the page reaches it: WebSocket signalling and its HTTP check."""
    parsed = urlparse(livekit_url)
    secure = parsed.scheme in ("wss", "https")
    host = parsed.netloc
    return f"{'wss' if secure else 'ws'}://{host} {'https' if secure else 'http'}://{host}"


def _security_headers(settings: WebSettings):
    policy = (
        "default-src 'self'; "
        f"connect-src 'self' {_livekit_origins(settings.browser_livekit_url)}; "
        "media-src 'self' blob: mediastream:; img-src 'self' data:; "
        "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )

    @web.middleware
    async def add_headers(request: web.Request, handler) -> web.StreamResponse:
        response = await handler(request)
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Permissions-Policy", "microphone=(self), camera=()")
        return response

    return add_headers
