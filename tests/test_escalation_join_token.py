"""The desk's join token: one room, one identity, talk and listen only, 15 minutes at most."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
from livekit.api import TokenVerifier

from support_tools.escalation import build_join, join_url, mint_join_token

API_KEY = "APIjoinTest"
API_SECRET = "join-secret-" + "k" * 32
ROOM = "call-8841"
TICKET = "TCK-7QX2M9"


def raw_claims(token: str) -> dict:
    return jwt.decode(token, API_SECRET, algorithms=["HS256"], issuer=API_KEY)


def test_token_grants_exactly_this_room_to_this_ticket_human():
    token = mint_join_token(API_KEY, API_SECRET, ROOM, TICKET)
    claims = TokenVerifier(API_KEY, API_SECRET).verify(token)
    assert claims.identity == "human-TCK-7QX2M9"
    assert claims.name
    assert claims.attributes == {"role": "human_agent"}
    video = claims.video
    assert video.room == ROOM and video.room_join is True
    assert video.can_publish and video.can_subscribe and video.can_publish_data
    assert not video.room_admin and not video.room_create and not video.room_list
    assert not video.room_record and not video.recorder and not video.can_update_own_metadata


def test_token_carries_no_grant_beyond_joining():
    claims = raw_claims(mint_join_token(API_KEY, API_SECRET, ROOM, TICKET))
    assert claims["video"] == {
        "roomJoin": True,
        "room": ROOM,
        "canPublish": True,
        "canSubscribe": True,
        "canPublishData": True,
        # stated, not left to defaults: the same grant as the customer's token (room_grants.py)
        "canUpdateOwnMetadata": False,
        "roomAdmin": False,
        "roomCreate": False,
        "roomList": False,
    }
    assert not {"sip", "agent", "inference", "observability", "roomConfig"} & set(claims)


@pytest.mark.parametrize("ttl", [timedelta(minutes=15), timedelta(hours=6)])
def test_token_lives_fifteen_minutes_at_most(ttl):
    claims = raw_claims(mint_join_token(API_KEY, API_SECRET, ROOM, TICKET, ttl=ttl))
    assert 0 < claims["exp"] - claims["nbf"] <= 15 * 60


def test_a_shorter_ttl_is_kept():
    claims = raw_claims(
        mint_join_token(API_KEY, API_SECRET, ROOM, TICKET, ttl=timedelta(minutes=2))
    )
    # Whole-second timestamps: 120 s, or 121 when a second ticks over while minting.
    assert claims["exp"] - claims["nbf"] in (120, 121)


def test_token_does_not_verify_with_another_secret():
    token = mint_join_token(API_KEY, API_SECRET, ROOM, TICKET)
    with pytest.raises(jwt.InvalidSignatureError):
        TokenVerifier(API_KEY, API_SECRET + "-other").verify(token)


@pytest.mark.parametrize(
    "room,ticket,ttl",
    [
        ("", TICKET, timedelta(minutes=5)),
        (ROOM, "", timedelta(minutes=5)),
        (ROOM, TICKET, timedelta(0)),
    ],
)
def test_token_needs_a_room_a_ticket_and_a_positive_ttl(room, ticket, ttl):
    with pytest.raises(ValueError):
        mint_join_token(API_KEY, API_SECRET, room, ticket, ttl=ttl)


def test_desk_url_gets_the_token_and_server_url_encoded():
    url = join_url(
        "https://desk.example/join?lk={livekit_url}&t={token}", "wss://lk.example:7880", "a.b+c/d"
    )
    query = parse_qs(urlparse(url).query)
    assert query == {"lk": ["wss://lk.example:7880"], "t": ["a.b+c/d"]}
    assert "a.b%2Bc%2Fd" in url


def test_desk_url_leaves_other_braces_alone():
    assert (
        join_url("https://desk.example/{room}#{token}", "ws://x", "tok")
        == "https://desk.example/{room}#tok"
    )


def test_no_desk_template_means_no_desk_url():
    assert join_url(None, "wss://lk.example", "tok") is None
    assert join_url("", "wss://lk.example", "tok") is None


def test_join_block_falls_back_to_the_livekit_url_without_a_desk():
    join = build_join(
        api_key=API_KEY,
        api_secret=API_SECRET,
        livekit_url="wss://lk.example",
        room=ROOM,
        ticket_number=TICKET,
    )
    assert join["url"] == "wss://lk.example" and join["livekit_url"] == "wss://lk.example"
    assert TokenVerifier(API_KEY, API_SECRET).verify(join["token"]).video.room == ROOM
    assert join["expires_at"].timestamp() == raw_claims(join["token"])["exp"]


def test_join_block_uses_the_desk_url_when_set():
    join = build_join(
        api_key=API_KEY,
        api_secret=API_SECRET,
        livekit_url="wss://lk.example",
        room=ROOM,
        ticket_number=TICKET,
        desk_url_template="https://desk.example/j?t={token}",
    )
    assert join["url"] == "https://desk.example/j?t=" + join["token"]
