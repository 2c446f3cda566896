"""The customer's LiveKit token: one new room, the ShopMe agent dispatched into it by name.

The grant is narrow: join that one room, publish the microphone, subscribe, send data (typed chat).
No room admin, no room creation or listing, and no right to change their own attributes or
metadata: the `customer_id` attribute and the desk's `role=human_agent` cannot be claimed by a
caller. The token is short-lived; it only has to last until the page has joined.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from livekit.api import AccessToken, RoomAgentDispatch, RoomConfiguration

from ..room_grants import participant_grants

CUSTOMER_TOKEN_TTL = timedelta(minutes=10)
CUSTOMER_ID_ATTRIBUTE = "customer_id"
DEFAULT_DISPLAY_NAME = "Customer"


@dataclass(frozen=True)
class CustomerToken:
    token: str
    room: str
    identity: str
    expires_at: datetime


def new_room_name() -> str:
    return f"shopme-{secrets.token_hex(8)}"


def mint_customer_token(
    *,
    api_key: str,
    api_secret: str,
    agent_name: str,
    display_name: str | None = None,
    customer_id: str | None = None,
) -> CustomerToken:
    """A token for a new room named by this function, with `agent_name` dispatched into it."""
    room = new_room_name()
    identity = f"customer-{secrets.token_hex(6)}"
    token = (
        AccessToken(api_key, api_secret)
        .with_identity(identity)
        .with_name(display_name or DEFAULT_DISPLAY_NAME)
        .with_grants(participant_grants(room))
        .with_ttl(CUSTOMER_TOKEN_TTL)
        .with_room_config(
            RoomConfiguration(agents=[RoomAgentDispatch(agent_name=agent_name)])
        )
    )
    if customer_id:
        token = token.with_attributes({CUSTOMER_ID_ATTRIBUTE: customer_id})
    jwt_text = token.to_jwt()
    # The page is told the expiry the token itself carries.
    exp = jwt.decode(jwt_text, options={"verify_signature": False})["exp"]
    return CustomerToken(
        token=jwt_text,
        room=room,
        identity=identity,
        expires_at=datetime.fromtimestamp(exp, UTC),
    )
