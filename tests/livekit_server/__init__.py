"""A loopback LiveKit server double for the room-level tests (a test instrument, never product code).

Built on aiohttp (WebSocket + HTTP) and aiortc (WebRTC), speaking the real protocols with the
protobufs of `livekit-protocol`, so the official SDKs (`livekit` rtc, `livekit-api`,
`livekit-agents`) and this project's own `python agent.py dev` worker run against it unchanged:

    async with LiveKitServerDouble() as lk:          # 127.0.0.1, random port; lk.url for LIVEKIT_URL
        room = rtc.Room(); await room.connect(lk.url, token)

What it does
    /rtc        signalling, dual peer connections (/rtc/v1 answers 404, so the SDK falls back);
                the token is checked with the key pair: signature, expiry, `roomJoin`, room scope
                (a `room` query parameter naming another room is refused). Refusals are kept in
                `lk.refused`. JoinResponse, JOINED -> ACTIVE once the peer connection is up,
                leave with a disconnect reason (`lk.left(room)`), attributes/metadata updates
                (only with `canUpdateOwnMetadata`; refusals in `lk.denied_updates`), audio relayed between participants through
                aiortc's MediaRelay, data packets (text streams, publish_data, RPC) relayed with
                `destination_identities` honoured (every relayed packet in `lk.packets`).
    /agent      the agent worker protocol: register, availability, assignment with a minted job
                token, job status (`lk.jobs`), worker load and draining (`lk.workers`). Dispatch
                by the token's `roomConfig.agents`, by AgentDispatchService, or every room for
                unnamed workers; the least loaded worker that takes jobs gets it.
    /twirp      RoomService (CreateRoom, ListRooms, DeleteRoom, ListParticipants, GetParticipant,
                RemoveParticipant, UpdateParticipant, SendData), AgentDispatchService (Create,
                List, Delete) and SIP TransferSIPParticipant (recorded in `lk.twirp.sip.calls`;
                `lk.twirp.sip.fail_next()` makes the next one fail as a SIP error).

Not covered: resuming a dropped signal connection, single-PC mode, video forwarding, simulcast,
speaker detection, room timeouts.

Every packet stays on 127.0.0.0/8: aioice offers 127.0.0.1 only, and the room tests run inside
the private network namespace of `scripts/netns-run.sh` (see `netns.py`).
"""

from .agents import JobRecord, Worker
from .rooms import Participant, ReceivedPacket, Room
from .server import DEFAULT_API_KEY, DEFAULT_API_SECRET, LiveKitServerDouble, RefusedJoin

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "JobRecord",
    "LiveKitServerDouble",
    "Participant",
    "ReceivedPacket",
    "RefusedJoin",
    "Room",
    "Worker",
]
