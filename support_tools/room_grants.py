"""What a person in a support room may do: the one grant behind every participant token we mint.

Join that one room, speak, listen and send data; no room administration, no creating or listing
rooms, and no changing one's own metadata or attributes (so nobody can claim `role=human_agent`).
Used by the desk's join token (escalation/) and the customer's token (web/).
"""

from __future__ import annotations

from livekit.api import VideoGrants


def participant_grants(room: str) -> VideoGrants:
    return VideoGrants(
        room_join=True,
        room=room,
        can_publish=True,
        can_subscribe=True,
        can_publish_data=True,
        can_update_own_metadata=False,
        room_admin=False,
        room_create=False,
        room_list=False,
    )
