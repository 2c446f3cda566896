"""The double's room features with two plain SDK clients (no agent): data packets and RPC with
destinations, attribute and metadata updates and their permission, removal with its reason.
"""

from __future__ import annotations

import pytest
from livekit import api, rtc
from livekit.protocol import models

from tests.fake_azure.fixtures import wait_until
from tests.livekit_server import LiveKitServerDouble

pytestmark = [pytest.mark.asyncio(loop_scope="package"), pytest.mark.room]


def token(lk: LiveKitServerDouble, identity: str, room: str, **grants) -> str:
    return (
        api.AccessToken(lk.api_key, lk.api_secret)
        .with_identity(identity)
        .with_grants(api.VideoGrants(room_join=True, room=room, **grants))
        .to_jwt()
    )


async def connected(lk: LiveKitServerDouble, identity: str, room: str, **grants) -> rtc.Room:
    client = rtc.Room()
    await client.connect(lk.url, token(lk, identity, room, **grants))
    return client


async def test_data_rpc_and_attributes_between_clients(stack):
    lk = stack.lk
    alice = await connected(lk, "alice", "room-plain", can_update_own_metadata=True)
    bob = await connected(lk, "bob", "room-plain")
    carol = await connected(lk, "carol", "room-plain")
    try:
        got: dict[str, list[bytes]] = {"bob": [], "carol": []}
        bob.on("data_received", lambda packet: got["bob"].append(packet.data))
        carol.on("data_received", lambda packet: got["carol"].append(packet.data))
        await wait_until(lambda: {"bob", "carol"} <= set(alice.remote_participants), timeout=10)

        await alice.local_participant.publish_data(b"to bob", destination_identities=["bob"])
        await alice.local_participant.publish_data(b"to all")
        await wait_until(lambda: len(got["bob"]) == 2 and len(got["carol"]) == 1, timeout=10)
        assert got == {"bob": [b"to bob", b"to all"], "carol": [b"to all"]}

        async def shout(data: rtc.RpcInvocationData) -> str:
            return f"{data.caller_identity} said {data.payload}".upper()

        bob.local_participant.register_rpc_method("shout", shout)
        answer = await alice.local_participant.perform_rpc(
            destination_identity="bob", method="shout", payload="hi"
        )
        assert answer == "ALICE SAID HI"

        # attributes: with canUpdateOwnMetadata they reach the others; without, refused
        await alice.local_participant.set_attributes({"role": "tester"})
        await wait_until(
            lambda: bob.remote_participants["alice"].attributes.get("role") == "tester", timeout=10
        )
        await bob.local_participant.set_attributes({"role": "human_agent"})
        await wait_until(lambda: lk.denied_updates, timeout=10, what="the refusal")
        assert lk.denied_updates == [("bob", {"role": "human_agent"})]
        assert lk.participant("room-plain", "bob").info.attributes.get("role") is None
        assert alice.remote_participants["bob"].attributes.get("role") is None
        # every client went JOINED -> ACTIVE once its peer connection was up
        assert {
            p.info.state for p in lk.rooms["room-plain"].participants.values()
        } == {models.ParticipantInfo.State.ACTIVE}

        # the server API updates a participant; everyone sees it
        lkapi = api.LiveKitAPI(lk.http_url, lk.api_key, lk.api_secret)
        try:
            await lkapi.room.update_participant(
                api.UpdateParticipantRequest(
                    room="room-plain", identity="carol", metadata="vip", attributes={"tier": "gold"}
                )
            )
            await wait_until(
                lambda: alice.remote_participants["carol"].attributes.get("tier") == "gold"
                and alice.remote_participants["carol"].metadata == "vip",
                timeout=10,
            )
            listed = await lkapi.room.list_participants(api.ListParticipantsRequest(room="room-plain"))
            assert sorted(p.identity for p in listed.participants) == ["alice", "bob", "carol"]
            await lkapi.room.remove_participant(
                api.RoomParticipantIdentity(room="room-plain", identity="carol")
            )
        finally:
            await lkapi.aclose()
        await wait_until(lambda: "carol" not in alice.remote_participants, timeout=10)
        left = {p.identity: p.disconnect_reason for p in lk.left("room-plain")}
        assert left == {"carol": models.DisconnectReason.PARTICIPANT_REMOVED}
    finally:
        for client in (alice, bob, carol):
            await client.disconnect()
