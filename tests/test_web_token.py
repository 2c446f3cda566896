"""The customer page's token endpoint: one new room per call with the agent dispatched, a narrow
short-lived grant, the demo login, a per-address rate limit, and a clear 400 for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import jwt
import pytest
from livekit.api import TokenVerifier
from sqlalchemy import select

from support_tools.settings import ConfigError, load_web_settings
from support_tools.store.models import Customer
from support_tools.web.demo_login import DEMO_CUSTOMER_ID, DEMO_PASSWORD, DEMO_USERNAME
from support_tools.web.rate_limit import SlidingWindowLimiter

from .conftest import ROOT
from .web_fixtures import AGENT_NAME, API_KEY, API_SECRET, built_page, start_client, web_settings

DEMO_LOGIN = {"username": DEMO_USERNAME, "password": DEMO_PASSWORD}


@pytest.fixture
async def client(tmp_path):
    client = await start_client(web_settings(), built_page(tmp_path / "dist"))
    yield client
    await client.close()


async def post_token(client, body=None, *, raw: bytes | None = None, content_type="application/json"):
    data = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
    response = await client.post("/api/token", data=data, headers={"Content-Type": content_type})
    return response.status, await response.json()


def raw_claims(token: str) -> dict:
    # Verified with the key pair: a token signed with anything else fails here.
    return jwt.decode(token, API_SECRET, algorithms=["HS256"], issuer=API_KEY)


# --- the token ----------------------------------------------------------------------------------


async def test_token_joins_one_new_room_with_the_agent_dispatched_and_nothing_more(client):
    status, answer = await post_token(client, {"name": "Asha"})
    assert status == 200
    claims = TokenVerifier(API_KEY, API_SECRET).verify(answer["token"])
    assert claims.identity == answer["identity"] and claims.identity.startswith("customer-")
    assert claims.name == "Asha"
    assert claims.video.room == answer["room"] and claims.video.room_join is True
    assert claims.room_config.agents[0].agent_name == AGENT_NAME
    assert len(claims.room_config.agents) == 1
    assert not claims.attributes  # not signed in: no customer_id

    raw = raw_claims(answer["token"])
    assert raw["video"] == {
        "roomJoin": True,
        "room": answer["room"],
        "canPublish": True,
        "canSubscribe": True,
        "canPublishData": True,
        "canUpdateOwnMetadata": False,
        "roomAdmin": False,
        "roomCreate": False,
        "roomList": False,
    }
    assert not {"sip", "agent", "inference", "observability", "kind"} & set(raw)
    # the page is told where to connect and how long to wait for the agent
    assert answer["server_url"] == "ws://127.0.0.1:7880"
    assert answer["agent_join_timeout_s"] == 12.0
    assert answer["signed_in"] is False


async def test_token_is_short_lived(client):
    _, answer = await post_token(client)
    raw = raw_claims(answer["token"])
    assert 0 < raw["exp"] - raw["nbf"] <= 10 * 60
    assert answer["expires_at"].startswith("20")


async def test_every_call_gets_its_own_room_and_identity(client):
    answers = [(await post_token(client))[1] for _ in range(3)]
    assert len({a["room"] for a in answers}) == 3
    assert len({a["identity"] for a in answers}) == 3


async def test_the_token_answer_is_not_cached(client):
    response = await client.post("/api/token", json={})
    assert response.headers["Cache-Control"] == "no-store"


async def test_logs_hold_no_token_password_or_customer_id(client, caplog):
    caplog.set_level("DEBUG")
    _, answer = await post_token(client, {"login": DEMO_LOGIN})
    await post_token(client, {"login": {"username": DEMO_USERNAME, "password": "guess-123"}})
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert answer["room"] in logged  # the issue is logged, by room
    for secret in (answer["token"], DEMO_PASSWORD, "guess-123", DEMO_CUSTOMER_ID):
        assert secret not in logged


# --- the demo login -----------------------------------------------------------------------------


async def test_demo_login_puts_the_customer_id_on_the_token(client):
    status, answer = await post_token(client, {"login": DEMO_LOGIN})
    assert status == 200 and answer["signed_in"] is True
    claims = TokenVerifier(API_KEY, API_SECRET).verify(answer["token"])
    assert claims.attributes == {"customer_id": DEMO_CUSTOMER_ID}
    assert raw_claims(answer["token"])["video"]["canUpdateOwnMetadata"] is False


async def test_demo_login_is_priya_of_the_demo_store(demo_store):
    async with demo_store.session() as db:
        customer = await db.scalar(select(Customer).where(Customer.public_id == DEMO_CUSTOMER_ID))
    assert (customer.first_name, customer.last_name) == ("Priya", "Sharma")


@pytest.mark.parametrize(
    "login",
    [
        {"username": DEMO_USERNAME, "password": "wrong"},
        {"username": "someone", "password": DEMO_PASSWORD},
        {"username": DEMO_USERNAME, "password": DEMO_PASSWORD + " "},
    ],
    ids=["wrong-password", "unknown-user", "password-with-space"],
)
async def test_a_wrong_login_gets_no_token(client, login):
    status, answer = await post_token(client, {"login": login})
    assert status == 401
    assert answer == {"error": "That username and password do not match the demo account."}


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "content_type", "message"),
    [
        (b"{not json", "application/json", "The request body is not valid JSON."),
        (b"\xff\xfe", "application/json", "The request body is not valid JSON."),
        (b"[]", "application/json", "The request body must be a JSON object, for example {}."),
        (b'"hi"', "application/json", "The request body must be a JSON object, for example {}."),
        (b"name=x", "application/x-www-form-urlencoded", "Send the request as JSON (Content-Type: application/json)."),
        (b'{"room": "someone-elses-room"}', "application/json", "Unknown field \"room\": only \"name\" and \"login\" are accepted."),
        (b'{"name": 42}', "application/json", "\"name\" must be text."),
        (json.dumps({"name": "x" * 41}).encode(), "application/json", "\"name\" must be at most 40 characters."),
        (json.dumps({"name": "Asha\u202e"}).encode(), "application/json", "\"name\" contains characters that cannot be shown."),
        (b'{"login": "priya"}', "application/json", "\"login\" must be an object with \"username\" and \"password\"."),
        (b'{"login": {"username": "priya"}}', "application/json", "\"login.password\" must be non-empty text."),
        (b'{"login": {"username": " ", "password": "x"}}', "application/json", "\"login.username\" must be non-empty text."),
        (b'{"login": {"username": "priya", "password": "x", "customer_id": "CUS-00002"}}', "application/json",
         "Unknown login field \"customer_id\": only \"username\" and \"password\" are accepted."),
        (json.dumps({"name": "x" * 5000}).encode(), "application/json", "The request body is larger than 4096 bytes."),
    ],
    ids=[
        "broken-json", "not-utf8", "array", "string", "form-post", "chooses-room", "name-number",
        "name-too-long", "name-bidi-control", "login-string", "login-no-password",
        "login-blank-user", "login-extra-field", "body-too-large",
    ],
)
async def test_bad_input_gets_a_400_with_a_clear_message_and_no_token(client, raw, content_type, message):
    status, answer = await post_token(client, raw=raw, content_type=content_type)
    assert status == 400
    assert answer == {"error": message}


async def test_an_empty_body_is_a_guest_call(client):
    status, answer = await post_token(client, raw=b"")
    assert status == 200 and answer["signed_in"] is False


# --- rate limit ---------------------------------------------------------------------------------


async def test_one_address_is_limited_and_told_when_to_come_back(tmp_path):
    client = await start_client(web_settings(tokens_per_minute=3), built_page(tmp_path / "dist"))
    try:
        statuses = [(await post_token(client))[0] for _ in range(3)]
        # refused requests count too: a flood of junk cannot probe for free
        junk_status, _ = await post_token(client, raw=b"junk")
        response = await client.post("/api/token", json={})
        refused = await response.json()
    finally:
        await client.close()
    assert statuses == [200, 200, 200]
    assert junk_status == 429
    assert response.status == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert refused["error"].startswith("Too many call attempts from this address.")
    assert "token" not in refused


def test_limit_is_per_address_and_frees_up_after_the_window():
    now = [1000.0]
    limiter = SlidingWindowLimiter(2, 60.0, clock=lambda: now[0])
    assert limiter.retry_after("10.0.0.1") is None
    assert limiter.retry_after("10.0.0.1") is None
    assert limiter.retry_after("10.0.0.1") == 60
    assert limiter.retry_after("10.0.0.2") is None  # another address is not affected
    now[0] += 30
    assert limiter.retry_after("10.0.0.1") == 30
    now[0] += 30.5
    assert limiter.retry_after("10.0.0.1") is None


def test_limiter_remembers_a_bounded_number_of_addresses():
    now = [0.0]
    limiter = SlidingWindowLimiter(1, 60.0, clock=lambda: now[0], max_clients=2)
    for address in ("a", "b", "c"):
        assert limiter.retry_after(address) is None
    assert len(limiter._hits) == 2
    assert limiter.retry_after("c") is not None  # the most recent addresses are still limited


# --- the page -----------------------------------------------------------------------------------


async def test_the_page_is_served_with_a_content_security_policy(client):
    response = await client.get("/")
    assert response.status == 200
    assert "ShopMe support" in await response.text()
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "object-src 'none'" in policy
    # the page may reach the LiveKit server it was configured with, and nothing else
    assert "connect-src 'self' ws://127.0.0.1:7880 http://127.0.0.1:7880;" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_assets_are_served_and_nothing_outside_them(client):
    assert (await client.get("/assets/app.js")).status == 200
    for path in ("/assets/../secret.txt", "/assets/%2e%2e%2fsecret.txt", "/assets/.hidden", "/secret.txt"):
        assert (await client.get(path)).status == 404, path


async def test_an_unbuilt_page_says_how_to_build_it(tmp_path):
    client = await start_client(web_settings(), tmp_path / "missing")
    try:
        response = await client.get("/")
        text = await response.text()
    finally:
        await client.close()
    assert response.status == 503
    assert "make web" in text


# --- configuration ------------------------------------------------------------------------------


def test_the_endpoint_needs_livekit_settings_but_no_azure_ones():
    settings = load_web_settings(
        {"LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "s"}
    )
    assert settings.agent_name == "shopme-support" and settings.port == 8080
    assert settings.browser_livekit_url == "ws://127.0.0.1:7880"
    with pytest.raises(ConfigError, match="^LIVEKIT_API_SECRET is not set"):
        load_web_settings({"LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "k"})


def test_the_command_names_a_missing_setting_and_exits_2(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "SHOPME_ENV_FILE": str(tmp_path / "none.env")}
    result = subprocess.run(
        [sys.executable, "-m", "support_tools.web"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: LIVEKIT_URL is not set")
