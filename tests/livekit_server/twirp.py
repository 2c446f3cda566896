"""The server API (Twirp) of the double: RoomService basics, AgentDispatchService, SIP transfer.

`POST /twirp/livekit.<Service>/<Method>`, `Authorization: Bearer <JWT>`, protobuf (or JSON) body;
errors are Twirp JSON `{"code", "msg", "meta"}` (the encoding helpers are shared with
tests/fake_livekit_api.py). Grants are checked as the server does: `roomCreate`, `roomList`,
`roomAdmin` for the request's room, SIP `call` for transfers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import jwt
from aiohttp import web
from google.protobuf.message import Message
from livekit.api import TokenVerifier
from livekit.api.access_token import Claims
from livekit.protocol import agent_dispatch, models, room, sip

from tests.fake_livekit_api import TwirpFailure, _decode, _encode, _twirp_error

if TYPE_CHECKING:
    from .server import LiveKitServerDouble


@dataclass
class TwirpCall:
    service: str
    method: str
    request: Message
    claims: Claims


@dataclass
class SipTransfers:
    """What TransferSIPParticipant does: record, succeed, or fail as planned by the test."""

    calls: list[sip.TransferSIPParticipantRequest] = field(default_factory=list)
    failures: list[TwirpFailure] = field(default_factory=list)

    def fail_next(
        self, *, code: str = "unavailable", msg: str = "transfer failed", sip_status: int = 486
    ) -> None:
        """The next transfer answers with this error (`meta.sip_status_code` -> SipCallError)."""
        self.failures.append(
            TwirpFailure(
                code, msg, {"sip_status_code": str(sip_status), "sip_status": "Busy Here"}
            )
        )


class TwirpApi:
    def __init__(self, server: LiveKitServerDouble) -> None:
        self.server = server
        self.calls: list[TwirpCall] = []
        self.sip = SipTransfers()
        self._routes: dict[tuple[str, str], tuple[type[Message], Callable[..., Message]]] = {
            ("RoomService", "CreateRoom"): (room.CreateRoomRequest, self._create_room),
            ("RoomService", "ListRooms"): (room.ListRoomsRequest, self._list_rooms),
            ("RoomService", "DeleteRoom"): (room.DeleteRoomRequest, self._delete_room),
            ("RoomService", "ListParticipants"): (
                room.ListParticipantsRequest,
                self._list_participants,
            ),
            ("RoomService", "GetParticipant"): (room.RoomParticipantIdentity, self._get_participant),
            ("RoomService", "RemoveParticipant"): (
                room.RoomParticipantIdentity,
                self._remove_participant,
            ),
            ("RoomService", "UpdateParticipant"): (
                room.UpdateParticipantRequest,
                self._update_participant,
            ),
            ("RoomService", "SendData"): (room.SendDataRequest, self._send_data),
            ("AgentDispatchService", "CreateDispatch"): (
                agent_dispatch.CreateAgentDispatchRequest,
                self._create_dispatch,
            ),
            ("AgentDispatchService", "ListDispatch"): (
                agent_dispatch.ListAgentDispatchRequest,
                self._list_dispatch,
            ),
            ("AgentDispatchService", "DeleteDispatch"): (
                agent_dispatch.DeleteAgentDispatchRequest,
                self._delete_dispatch,
            ),
            ("SIP", "TransferSIPParticipant"): (
                sip.TransferSIPParticipantRequest,
                self._transfer_sip_participant,
            ),
        }

    def calls_to(self, method: str) -> list[TwirpCall]:
        return [c for c in self.calls if c.method == method]

    async def handle(self, request: web.Request) -> web.Response:
        service, method = request.match_info["service"], request.match_info["method"]
        try:
            route = self._routes.get((service, method))
            if route is None:
                raise TwirpFailure("bad_route", f"no handler for livekit.{service}/{method}")
            message_class, handler = route
            claims = self._authenticate(request.headers.get("Authorization"))
            message = _decode(await request.read(), request.content_type, message_class)
            self.calls.append(TwirpCall(service, method, message, claims))
            response = await handler(message, claims)
        except TwirpFailure as failure:
            return _twirp_error(failure)
        return _encode(response, request.content_type)

    def _authenticate(self, header: str | None) -> Claims:
        if not header or not header.startswith("Bearer "):
            raise TwirpFailure("unauthenticated", "missing bearer token")
        try:
            return TokenVerifier(self.server.api_key, self.server.api_secret).verify(
                header[len("Bearer ") :]
            )
        except jwt.PyJWTError:
            raise TwirpFailure("unauthenticated", "invalid token") from None

    # --- grants --------------------------------------------------------------------------------

    @staticmethod
    def _need(claims: Claims, grant: str, room_name: str | None = None) -> None:
        video = claims.video
        if video is None or not getattr(video, grant, False):
            raise TwirpFailure("permission_denied", f"{grant} grant required")
        if room_name is not None and video.room != room_name:
            raise TwirpFailure("permission_denied", f"{grant} grant for room {room_name} required")

    def _room(self, name: str):  # noqa: ANN202 (a rooms.Room)
        found = self.server.rooms.get(name)
        if found is None:
            raise TwirpFailure("not_found", "requested room does not exist")
        return found

    def _participant(self, room_name: str, identity: str):  # noqa: ANN202 (a rooms.Participant)
        participant = self._room(room_name).participants.get(identity)
        if participant is None:
            raise TwirpFailure("not_found", "participant not found")
        return participant

    # --- RoomService -----------------------------------------------------------------------------

    async def _create_room(self, req: room.CreateRoomRequest, claims: Claims) -> models.Room:
        self._need(claims, "room_create")
        created = self.server.ensure_room(req.name, metadata=req.metadata)
        for dispatch in req.agents:
            if dispatch.agent_name not in created.dispatched_agents:
                created.dispatched_agents.add(dispatch.agent_name)
                self.server.dispatcher.create_dispatch(req.name, dispatch.agent_name, dispatch.metadata)
        return created.snapshot()

    async def _list_rooms(self, req: room.ListRoomsRequest, claims: Claims) -> room.ListRoomsResponse:
        self._need(claims, "room_list")
        names = set(req.names)
        rooms = [r.snapshot() for r in self.server.rooms.values() if not names or r.name in names]
        return room.ListRoomsResponse(rooms=rooms)

    async def _delete_room(self, req: room.DeleteRoomRequest, claims: Claims) -> room.DeleteRoomResponse:
        self._need(claims, "room_create")
        await self.server.delete_room(self._room(req.room).name)
        return room.DeleteRoomResponse()

    async def _list_participants(
        self, req: room.ListParticipantsRequest, claims: Claims
    ) -> room.ListParticipantsResponse:
        self._need(claims, "room_admin", req.room)
        found = self._room(req.room)
        return room.ListParticipantsResponse(participants=[p.info for p in found.participants.values()])

    async def _get_participant(
        self, req: room.RoomParticipantIdentity, claims: Claims
    ) -> models.ParticipantInfo:
        self._need(claims, "room_admin", req.room)
        return self._participant(req.room, req.identity).info

    async def _remove_participant(
        self, req: room.RoomParticipantIdentity, claims: Claims
    ) -> room.RemoveParticipantResponse:
        self._need(claims, "room_admin", req.room)
        participant = self._participant(req.room, req.identity)
        await self.server.remove(participant, models.DisconnectReason.PARTICIPANT_REMOVED)
        return room.RemoveParticipantResponse()

    async def _update_participant(
        self, req: room.UpdateParticipantRequest, claims: Claims
    ) -> models.ParticipantInfo:
        self._need(claims, "room_admin", req.room)
        participant = self._participant(req.room, req.identity)
        participant.room.update_participant(
            participant,
            metadata=req.metadata or None,
            name=req.name or None,
            attributes=dict(req.attributes),
            permission=req.permission if req.HasField("permission") else None,
        )
        return participant.info

    async def _send_data(self, req: room.SendDataRequest, claims: Claims) -> room.SendDataResponse:
        self._need(claims, "room_admin", req.room)
        target = self._room(req.room)
        packet = models.DataPacket(
            kind=req.kind,
            destination_identities=list(req.destination_identities),
            user=models.UserPacket(
                payload=req.data,
                topic=req.topic,
                destination_identities=list(req.destination_identities),
            ),
        )
        label = "_reliable" if req.kind == models.DataPacket.Kind.RELIABLE else "_lossy"
        target.send_packet(packet, label=label, sender=None)
        return room.SendDataResponse()

    # --- AgentDispatchService -------------------------------------------------------------------

    async def _create_dispatch(
        self, req: agent_dispatch.CreateAgentDispatchRequest, claims: Claims
    ) -> agent_dispatch.AgentDispatch:
        self._need(claims, "room_admin", req.room)
        dispatcher = self.server.dispatcher
        return dispatcher.create_dispatch(req.room, req.agent_name, req.metadata)

    async def _list_dispatch(
        self, req: agent_dispatch.ListAgentDispatchRequest, claims: Claims
    ) -> agent_dispatch.ListAgentDispatchResponse:
        self._need(claims, "room_admin", req.room)
        found = self.server.dispatcher.dispatches_in(req.room)
        if req.dispatch_id:
            found = [d for d in found if d.id == req.dispatch_id]
        return agent_dispatch.ListAgentDispatchResponse(agent_dispatches=found)

    async def _delete_dispatch(
        self, req: agent_dispatch.DeleteAgentDispatchRequest, claims: Claims
    ) -> agent_dispatch.AgentDispatch:
        self._need(claims, "room_admin", req.room)
        deleted = self.server.dispatcher.delete_dispatch(req.dispatch_id)
        if deleted is None:
            raise TwirpFailure("not_found", "dispatch not found")
        return deleted

    # --- SIP -------------------------------------------------------------------------------------

    async def _transfer_sip_participant(
        self, req: sip.TransferSIPParticipantRequest, claims: Claims
    ) -> sip.TransferSIPParticipantResponse:
        if not (claims.sip and claims.sip.call):
            raise TwirpFailure("permission_denied", "SIP call grant required")
        self._need(claims, "room_admin", req.room_name)
        participant = self._participant(req.room_name, req.participant_identity)
        if participant.info.kind != models.ParticipantInfo.Kind.SIP:
            raise TwirpFailure("failed_precondition", "participant is not a SIP participant")
        if not req.transfer_to.startswith(("tel:", "sip:", "sips:")):
            raise TwirpFailure("invalid_argument", "transfer_to must be a tel: or sip: URI")
        self.sip.calls.append(req)
        if self.sip.failures:
            raise self.sip.failures.pop(0)
        # The SIP service drops the caller out of the room once the transfer is accepted.
        await self.server.remove(participant, models.DisconnectReason.PARTICIPANT_REMOVED)
        return sip.TransferSIPParticipantResponse(
            transfer_id=f"ST_{participant.sid}",
            status=sip.STS_TRANSFER_SUCCESSFUL,
            reason=sip.STR_COMPLETED,
        )
