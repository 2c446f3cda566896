"""A short-lived LiveKit token that lets one person from the desk into one room.

The grant is deliberately narrow: join that room, talk, listen, send data. No room admin (they
cannot kick or mute anyone, or read other rooms), no room creation or listing, no recording, and
no right to change their own attributes. The token expires within 15 minutes: whoever picks the
ticket later gets a fresh one from the desk, not from an old notification.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import jwt
from livekit.api import AccessToken

from ..room_grants import participant_grants

HUMAN_AGENT_ROLE = "human_agent"
ROLE_ATTRIBUTE = "role"
MAX_JOIN_TTL = timedelta(minutes=15)
# AccessToken stamps nbf and exp from two clock reads truncated to whole seconds; one second of
# headroom keeps exp - nbf within 15 minutes even when a second ticks over between them.
_TTL_CEILING = MAX_JOIN_TTL - timedelta(seconds=1)
DEFAULT_DISPLAY_NAME = "ShopMe support"


def human_identity(ticket_number: str) -> str:
    """The participant identity the desk person gets for `ticket_number`."""
    return f"human-{ticket_number}"


def mint_join_token(
    api_key: str,
    api_secret: str,
    room: str,
    ticket_number: str,
    ttl: timedelta = MAX_JOIN_TTL,
    *,
    name: str = DEFAULT_DISPLAY_NAME,
) -> str:
    """A JWT for `human-<ticket_number>` to join `room` only; `ttl` is clamped to 15 minutes."""
    if not room or not ticket_number:
        raise ValueError("room and ticket number are required for a join token")
    if ttl <= timedelta(0):
        raise ValueError("join token ttl must be positive")
    token = (
        AccessToken(api_key, api_secret)
        .with_identity(human_identity(ticket_number))
        .with_name(name)
        .with_attributes({ROLE_ATTRIBUTE: HUMAN_AGENT_ROLE})
        .with_grants(participant_grants(room))
        .with_ttl(min(ttl, _TTL_CEILING))
    )
    return token.to_jwt()


def join_url(template: str | None, livekit_url: str | None, token: str) -> str | None:
    """The desk link: `template` (SUPPORT_DESK_URL) with `{token}` and `{livekit_url}` filled in,
    URL-encoded. None when no template is configured.

    Without a template the payload's `join.url` is the LiveKit server URL itself and the desk
    connects with `join.token` (for example with the LiveKit Meet app or any LiveKit client SDK).
    Other `{...}` text in the template is left untouched.
    """
    if not template:
        return None
    filled = template.replace("{token}", quote(token, safe=""))
    return filled.replace("{livekit_url}", quote(livekit_url or "", safe=""))


def build_join(
    *,
    api_key: str,
    api_secret: str,
    livekit_url: str,
    room: str,
    ticket_number: str,
    desk_url_template: str | None = None,
    ttl: timedelta = MAX_JOIN_TTL,
) -> dict[str, Any]:
    """The `join` part of the escalation payload: `url`, `token`, `livekit_url`, `expires_at`.

    `url` is the filled SUPPORT_DESK_URL when one is set, otherwise the LiveKit URL.
    """
    token = mint_join_token(api_key, api_secret, room, ticket_number, ttl)
    # Read back what the token says, so the desk sees its real expiry.
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    expires_at = datetime.fromtimestamp(exp, UTC)
    return {
        "url": join_url(desk_url_template, livekit_url, token) or livekit_url,
        "token": token,
        "livekit_url": livekit_url,
        "expires_at": expires_at,
    }
