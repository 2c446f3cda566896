"""Rooms and participants of the double: signalling (`/rtc`), media relay and data relay.

One `Participant` per signalling WebSocket, with two aiortc peer connections as the SDK expects in
dual-PC mode: the publisher PC (the client offers; it carries the client's `_reliable` and `_lossy`
data channels and its published tracks) and the subscriber PC (the double offers the other
participants' tracks). Audio is relayed by decoding and re-encoding through aiortc's MediaRelay.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp
from livekit.protocol import models, rtc

if TYPE_CHECKING:
    from .server import LiveKitServerDouble

logger = logging.getLogger("livekit_double.rooms")

PROTOCOL_VERSION = 16
SERVER_VERSION = "1.9.0-double"
PING_INTERVAL_S = 5
PING_TIMEOUT_S = 15
KINDS = {
    "": models.ParticipantInfo.Kind.STANDARD,
    "standard": models.ParticipantInfo.Kind.STANDARD,
    "agent": models.ParticipantInfo.Kind.AGENT,
    "sip": models.ParticipantInfo.Kind.SIP,
    "ingress": models.ParticipantInfo.Kind.INGRESS,
    "egress": models.ParticipantInfo.Kind.EGRESS,
}


def new_sid(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


@dataclass
class PublishedTrack:
    info: models.TrackInfo
    source: MediaStreamTrack
    relay: MediaRelay = field(default_factory=MediaRelay)
    drain: asyncio.Task[None] | None = None
    frames: int = 0  # frames received from the publisher


@dataclass
class ReceivedPacket:
    """A data packet as the double relayed it (for assertions on the server side)."""

    room: str
    sender: str
    label: str
    packet: models.DataPacket
    delivered_to: list[str]


class Participant:
    def __init__(
        self,
        room: Room,
        ws: web.WebSocketResponse,
        *,
        identity: str,
        name: str,
        kind: int,
        metadata: str,
        attributes: dict[str, str],
        permission: models.ParticipantPermission,
    ) -> None:
        self.room = room
        self.ws = ws
        self.info = models.ParticipantInfo(
            sid=new_sid("PA"),
            identity=identity,
            name=name,
            state=models.ParticipantInfo.State.JOINED,
            metadata=metadata,
            joined_at=int(time.time()),
            joined_at_ms=int(time.time() * 1000),
            version=1,
            permission=permission,
            kind=kind,  # type: ignore[arg-type]
        )
        self.info.attributes.update(attributes)
        config = RTCConfiguration(iceServers=[])  # no STUN: nothing leaves loopback
        self.publisher = RTCPeerConnection(config)
        self.subscriber = RTCPeerConnection(config)
        self.channels: dict[str, Any] = {}  # label -> the client's data channel (publisher PC)
        self._undelivered: list[tuple[str, bytes]] = []  # data waiting for a channel to open
        self.tracks: dict[str, PublishedTrack] = {}  # track sid -> track
        self._pending_tracks: dict[str, models.TrackInfo] = {}  # cid -> announced TrackInfo
        self._candidates: dict[int, list[dict[str, Any]]] = {0: [], 1: []}
        self._remote_set = {0: False, 1: False}
        self._send_lock = asyncio.Lock()
        self._subscribed: set[str] = set()  # track sids sent to this participant
        self._sub_lock = asyncio.Lock()
        self._sub_answer: asyncio.Future[None] | None = None
        self._sub_dirty = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.left = asyncio.Event()
        self._wire_publisher()

    @property
    def identity(self) -> str:
        return self.info.identity

    @property
    def sid(self) -> str:
        return self.info.sid

    # --- sending ------------------------------------------------------------------------------

    async def send(self, response: rtc.SignalResponse) -> None:
        if self.ws.closed:
            return
        async with self._send_lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_bytes(response.SerializeToString())

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    def bump(self) -> None:
        self.info.version += 1

    # --- publisher PC ---------------------------------------------------------------------------

    def _wire_publisher(self) -> None:
        @self.publisher.on("datachannel")
        def on_channel(channel: Any) -> None:
            self.channels[channel.label] = channel
            channel.on("open", self._flush_data)
            self._flush_data()

            @channel.on("message")
            def on_message(message: Any) -> None:
                if isinstance(message, bytes | bytearray):
                    self.room.relay_data(self, channel.label, bytes(message))

        @self.publisher.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.spawn(self._on_track(track))

        @self.publisher.on("connectionstatechange")
        async def on_state() -> None:
            if self.publisher.connectionState == "connected":
                self.room.activate(self)

    async def _on_track(self, track: MediaStreamTrack) -> None:
        info = self._pending_tracks.pop(track.id, None)
        if info is None:  # the msid did not carry the cid: take the oldest announced track
            kind_pending = [
                cid
                for cid, pending in self._pending_tracks.items()
                if (pending.type == models.TrackType.AUDIO) == (track.kind == "audio")
            ]
            if not kind_pending:
                logger.warning("track %s from %s was never announced", track.id, self.identity)
                return
            info = self._pending_tracks.pop(kind_pending[0])
        for transceiver in self.publisher.getTransceivers():
            if transceiver.receiver.track is track and transceiver.mid is not None:
                info.mid = transceiver.mid
        published = PublishedTrack(info=info, source=track)
        published.drain = asyncio.get_running_loop().create_task(self._drain(published))
        self.tracks[info.sid] = published
        self.info.tracks.append(info)
        self.bump()
        self.room.broadcast_update([self.info], exclude=self)
        await self.room.track_published(self, published)

    async def _drain(self, published: PublishedTrack) -> None:
        """Always read the publisher's track: unread aiortc tracks queue frames without bound."""
        reader = published.relay.subscribe(published.source, buffered=False)
        try:
            while True:
                await reader.recv()
                published.frames += 1
        except (MediaStreamError, asyncio.CancelledError):
            pass

    # --- subscriber PC -------------------------------------------------------------------------

    async def subscribe(self, publisher: Participant, published: PublishedTrack) -> None:
        """Send `published` to this participant: add it to the subscriber PC and renegotiate."""
        sid = published.info.sid
        if sid in self._subscribed or self.ws.closed:
            return
        self._subscribed.add(sid)
        sender = self.subscriber.addTrack(published.relay.subscribe(published.source))
        # The SDK finds the publication by the msid: "<participant sid>|<track sid>".
        sender._stream_id = f"{publisher.sid}|{sid}"
        sender._track_id = sid
        await self.renegotiate()
        await publisher.send(rtc.SignalResponse(track_subscribed=rtc.TrackSubscribed(track_sid=sid)))

    async def renegotiate(self) -> None:
        self._sub_dirty = True
        async with self._sub_lock:
            while self._sub_dirty and not self.ws.closed:
                self._sub_dirty = False
                offer = await self.subscriber.createOffer()
                await self.subscriber.setLocalDescription(offer)
                self._sub_answer = asyncio.get_running_loop().create_future()
                local = self.subscriber.localDescription
                await self.send(
                    rtc.SignalResponse(
                        offer=rtc.SessionDescription(type="offer", sdp=local.sdp)
                    )
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._sub_answer, 10)

    # --- signal requests -----------------------------------------------------------------------

    async def handle(self, request: rtc.SignalRequest) -> None:
        which = request.WhichOneof("message")
        if which == "offer":
            await self._on_offer(request.offer)
        elif which == "answer":
            await self.subscriber.setRemoteDescription(
                RTCSessionDescription(sdp=request.answer.sdp, type="answer")
            )
            await self._flush_candidates(1)
            if self._sub_answer is not None and not self._sub_answer.done():
                self._sub_answer.set_result(None)
        elif which == "trickle":
            await self._on_trickle(request.trickle)
        elif which == "add_track":
            self._on_add_track(request.add_track)
        elif which == "mute":
            self._on_mute(request.mute)
        elif which == "update_metadata":
            await self._on_update_metadata(request.update_metadata)
        elif which == "ping_req":
            await self.send(
                rtc.SignalResponse(
                    pong_resp=rtc.Pong(
                        last_ping_timestamp=request.ping_req.timestamp,
                        timestamp=int(time.time() * 1000),
                    )
                )
            )
        elif which == "ping":
            await self.send(rtc.SignalResponse(pong=int(time.time() * 1000)))
        elif which == "leave":
            reason = request.leave.reason or models.DisconnectReason.CLIENT_INITIATED
            await self.room.leave(self, reason)
        # subscription, track_setting, sync_state, ...: auto-subscribe covers what the tests need

    async def _on_offer(self, offer: rtc.SessionDescription) -> None:
        await self.publisher.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        await self._flush_candidates(0)
        answer = await self.publisher.createAnswer()
        await self.publisher.setLocalDescription(answer)
        await self.send(
            rtc.SignalResponse(
                answer=rtc.SessionDescription(
                    type="answer", sdp=self.publisher.localDescription.sdp, id=offer.id
                )
            )
        )
        self._note_unpublished(offer.sdp)

    def _note_unpublished(self, sdp: str) -> None:
        """Unpublishing has no message: the client stops the m-line (port 0 / inactive)."""
        stopped: set[str] = set()
        mid = None
        for line in sdp.splitlines():
            if line.startswith("m="):
                mid = None
                port = line.split()[1]
                stopped_section = port == "0"
            elif line.startswith("a=mid:"):
                mid = line[len("a=mid:") :].strip()
                if stopped_section:
                    stopped.add(mid)
            elif line.strip() == "a=inactive" and mid is not None:
                stopped.add(mid)
        gone = [sid for sid, t in self.tracks.items() if t.info.mid and t.info.mid in stopped]
        for sid in gone:
            self.unpublish(sid)

    def unpublish(self, sid: str) -> None:
        published = self.tracks.pop(sid, None)
        if published is None:
            return
        if published.drain is not None:
            published.drain.cancel()
        remaining = [t for t in self.info.tracks if t.sid != sid]
        del self.info.tracks[:]
        self.info.tracks.extend(remaining)
        self.bump()
        self.room.broadcast_update([self.info], exclude=self)
        self.spawn(
            self.send(
                rtc.SignalResponse(track_unpublished=rtc.TrackUnpublishedResponse(track_sid=sid))
            )
        )

    async def _on_trickle(self, trickle: rtc.TrickleRequest) -> None:
        target = int(trickle.target)
        try:
            init = json.loads(trickle.candidateInit)
        except ValueError:
            return
        if not init.get("candidate"):
            return
        self._candidates[target].append(init)
        if self._remote_set[target]:
            await self._flush_candidates(target, mark=False)

    async def _flush_candidates(self, target: int, mark: bool = True) -> None:
        """Candidates may arrive before their SDP: they are kept and added after it."""
        if mark:
            self._remote_set[target] = True
        pc = self.publisher if target == 0 else self.subscriber
        pending, self._candidates[target] = self._candidates[target], []
        for init in pending:
            text = init["candidate"]
            candidate = candidate_from_sdp(text.split(":", 1)[1] if text.startswith("candidate:") else text)
            candidate.sdpMid = init.get("sdpMid")
            candidate.sdpMLineIndex = init.get("sdpMLineIndex")
            with contextlib.suppress(Exception):
                await pc.addIceCandidate(candidate)

    def _on_add_track(self, request: rtc.AddTrackRequest) -> None:
        is_audio = request.type == models.TrackType.AUDIO
        info = models.TrackInfo(
            sid=new_sid("TR"),
            type=request.type,
            name=request.name,
            muted=request.muted,
            source=request.source,
            mime_type="audio/opus" if is_audio else "video/VP8",
            disable_dtx=request.disable_dtx,
            stereo=request.stereo,
            stream=request.stream,
        )
        self._pending_tracks[request.cid] = info
        self.spawn(
            self.send(
                rtc.SignalResponse(
                    track_published=rtc.TrackPublishedResponse(cid=request.cid, track=info)
                )
            )
        )

    def _on_mute(self, request: rtc.MuteTrackRequest) -> None:
        for info in self.info.tracks:
            if info.sid == request.sid:
                info.muted = request.muted
        self.bump()
        self.room.broadcast_update([self.info], exclude=self)

    async def _on_update_metadata(self, request: rtc.UpdateParticipantMetadata) -> None:
        if not self.info.permission.can_update_metadata:
            self.room.server.denied_updates.append((self.identity, dict(request.attributes)))
            await self.send(
                rtc.SignalResponse(
                    request_response=rtc.RequestResponse(
                        request_id=request.request_id,
                        reason=rtc.RequestResponse.Reason.NOT_ALLOWED,
                        message="does not have permission to update own metadata",
                    )
                )
            )
            return
        self.room.update_participant(
            self,
            metadata=request.metadata or None,
            name=request.name or None,
            attributes=dict(request.attributes),
        )
        await self.send(
            rtc.SignalResponse(
                request_response=rtc.RequestResponse(
                    request_id=request.request_id, reason=rtc.RequestResponse.Reason.OK
                )
            )
        )

    # --- data ----------------------------------------------------------------------------------

    def deliver(self, label: str, payload: bytes) -> None:
        """Send on this participant's own publisher-PC channel of that label (kept until open)."""
        self._undelivered.append((label, payload))
        self._flush_data()

    def _flush_data(self) -> None:
        waiting, self._undelivered = self._undelivered, []
        for label, payload in waiting:
            channel = self.channels.get(label) or self.channels.get("_reliable")
            if channel is None or channel.readyState != "open":
                self._undelivered.append((label, payload))
            else:
                channel.send(payload)

    async def close(self) -> None:
        for published in self.tracks.values():
            if published.drain is not None:
                published.drain.cancel()
        for task in list(self._tasks):
            task.cancel()
        await self.publisher.close()
        await self.subscriber.close()
        if not self.ws.closed:
            await self.ws.close()


class Room:
    def __init__(self, server: LiveKitServerDouble, name: str, metadata: str = "") -> None:
        self.server = server
        self.info = models.Room(
            sid=new_sid("RM"),
            name=name,
            creation_time=int(time.time()),
            creation_time_ms=int(time.time() * 1000),
            metadata=metadata,
            empty_timeout=300,
            departure_timeout=20,
        )
        self.participants: dict[str, Participant] = {}
        self.dispatched_agents: set[str] = set()
        self.left: list[models.ParticipantInfo] = []  # final info of every participant that left

    @property
    def name(self) -> str:
        return self.info.name

    def snapshot(self) -> models.Room:
        room = models.Room()
        room.CopyFrom(self.info)
        room.num_participants = len(self.participants)
        room.num_publishers = sum(1 for p in self.participants.values() if p.tracks)
        return room

    def broadcast_update(
        self, infos: list[models.ParticipantInfo], exclude: Participant | None = None
    ) -> None:
        update = rtc.SignalResponse(update=rtc.ParticipantUpdate(participants=infos))
        for participant in list(self.participants.values()):
            if participant is not exclude:
                participant.spawn(participant.send(update))

    async def join(self, participant: Participant) -> None:
        old = self.participants.get(participant.identity)
        if old is not None:  # same identity again: the old session is replaced
            await self.leave(old, models.DisconnectReason.DUPLICATE_IDENTITY)
        others = [p.info for p in self.participants.values()]
        self.participants[participant.identity] = participant
        await participant.send(
            rtc.SignalResponse(
                join=rtc.JoinResponse(
                    room=self.snapshot(),
                    participant=participant.info,
                    other_participants=others,
                    server_version=SERVER_VERSION,
                    subscriber_primary=False,
                    ping_interval=PING_INTERVAL_S,
                    ping_timeout=PING_TIMEOUT_S,
                    server_info=models.ServerInfo(
                        edition=models.ServerInfo.Edition.Standard,
                        version=SERVER_VERSION,
                        protocol=PROTOCOL_VERSION,
                        node_id="ND_double",
                        region="loopback",
                    ),
                )
            )
        )
        self.broadcast_update([participant.info], exclude=participant)
        self.server.on_participant_joined(self, participant)

    def activate(self, participant: Participant) -> None:
        """JOINED -> ACTIVE once the peer connection is up; then it gets the others' tracks."""
        if participant.info.state != models.ParticipantInfo.State.JOINED:
            return
        participant.info.state = models.ParticipantInfo.State.ACTIVE
        participant.bump()
        self.broadcast_update([participant.info])
        for other in list(self.participants.values()):
            if other is participant:
                continue
            for published in list(other.tracks.values()):
                participant.spawn(participant.subscribe(other, published))

    async def track_published(self, publisher: Participant, published: PublishedTrack) -> None:
        for other in list(self.participants.values()):
            if other is not publisher and other.info.state == models.ParticipantInfo.State.ACTIVE:
                other.spawn(other.subscribe(publisher, published))

    async def leave(self, participant: Participant, reason: int) -> None:
        if self.participants.get(participant.identity) is not participant:
            return
        del self.participants[participant.identity]
        participant.info.state = models.ParticipantInfo.State.DISCONNECTED
        participant.info.disconnect_reason = reason  # type: ignore[assignment]
        participant.bump()
        final = models.ParticipantInfo()
        final.CopyFrom(participant.info)
        self.left.append(final)
        self.broadcast_update([final])
        for other in self.participants.values():
            for sid in participant.tracks:
                other._subscribed.discard(sid)
        participant.left.set()
        await participant.close()
        self.server.on_participant_left(self, final)

    def update_participant(
        self,
        participant: Participant,
        *,
        metadata: str | None = None,
        name: str | None = None,
        attributes: dict[str, str] | None = None,
        permission: models.ParticipantPermission | None = None,
    ) -> None:
        if metadata is not None:
            participant.info.metadata = metadata
        if name is not None:
            participant.info.name = name
        for key, value in (attributes or {}).items():
            if value == "":
                participant.info.attributes.pop(key, None)  # an empty value deletes the key
            else:
                participant.info.attributes[key] = value
        if permission is not None:
            participant.info.permission.CopyFrom(permission)
        participant.bump()
        self.broadcast_update([participant.info])

    def relay_data(self, sender: Participant, label: str, payload: bytes) -> None:
        packet = models.DataPacket()
        try:
            packet.ParseFromString(payload)
        except Exception:
            return
        packet.participant_identity = sender.identity
        packet.participant_sid = sender.sid
        if packet.HasField("user"):
            packet.user.participant_identity = sender.identity
            packet.user.participant_sid = sender.sid
        self.send_packet(packet, label=label, sender=sender)

    def send_packet(
        self, packet: models.DataPacket, *, label: str, sender: Participant | None
    ) -> list[str]:
        destinations = set(packet.destination_identities)
        if packet.HasField("user"):
            destinations |= set(packet.user.destination_identities)
        payload = packet.SerializeToString()
        delivered = []
        for participant in list(self.participants.values()):
            if participant is sender:
                continue
            if destinations and participant.identity not in destinations:
                continue
            participant.deliver(label, payload)
            delivered.append(participant.identity)
        self.server.packets.append(
            ReceivedPacket(
                room=self.name,
                sender=sender.identity if sender else "",
                label=label,
                packet=packet,
                delivered_to=delivered,
            )
        )
        return delivered


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("double task failed", exc_info=task.exception())


async def serve_signal(
    participant: Participant, ws: web.WebSocketResponse, on_close: Callable[[], Any]
) -> None:
    """Read SignalRequests until the socket closes; an unannounced close is a disconnect."""
    try:
        async for message in ws:
            if message.type != WSMsgType.BINARY:
                continue
            request = rtc.SignalRequest()
            try:
                request.ParseFromString(message.data)
            except Exception:
                continue
            try:
                await participant.handle(request)
            except Exception:
                logger.exception("signal request failed for %s", participant.identity)
    finally:
        await on_close()
