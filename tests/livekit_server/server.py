"""LiveKitServerDouble: the aiohttp application (`/rtc`, `/agent`, `/twirp/...`) and its state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import jwt
from aiohttp import web
from livekit.api import TokenVerifier
from livekit.api.access_token import Claims
from livekit.protocol import models

from tests.loopback import serve_on_loopback

from .agents import AgentDispatcher, JobRecord, Worker
from .netns import restrict_aioice_to_loopback
from .rooms import KINDS, Participant, ReceivedPacket, Room, serve_signal
from .twirp import TwirpApi

logger = logging.getLogger("livekit_double")

DEFAULT_API_KEY = "APIroomDouble"
DEFAULT_API_SECRET = "room-double-secret-" + "s" * 32


@dataclass
class RefusedJoin:
    """A connection to /rtc the double refused (HTTP status and why)."""

    status: int
    reason: str
    identity: str = ""
    room: str = ""


class LiveKitServerDouble:
    """`async with LiveKitServerDouble() as lk:` then connect SDKs to `lk.url`."""

    def __init__(self, api_key: str = DEFAULT_API_KEY, api_secret: str = DEFAULT_API_SECRET) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.rooms: dict[str, Room] = {}
        self.refused: list[RefusedJoin] = []
        self.packets: list[ReceivedPacket] = []
        # (identity, attributes) of metadata updates refused for want of canUpdateOwnMetadata
        self.denied_updates: list[tuple[str, dict[str, str]]] = []
        self.dispatcher = AgentDispatcher(self)
        self.twirp = TwirpApi(self)
        self.changed = asyncio.Event()  # set (and replaced) on every join and leave
        self._runner: web.AppRunner | None = None
        self._signal_sockets: set[web.WebSocketResponse] = set()
        self.port: int | None = None

    # --- addresses -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """What LIVEKIT_URL would hold."""
        assert self.port is not None, "start() the double first"
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        assert self.port is not None, "start() the double first"
        return f"http://127.0.0.1:{self.port}"

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> LiveKitServerDouble:
        restrict_aioice_to_loopback()
        app = web.Application()
        app.router.add_get("/rtc/v1", self._single_pc)
        app.router.add_get("/rtc/validate", self._validate)
        app.router.add_get("/rtc", self._rtc)
        app.router.add_get("/agent", self._agent)
        app.router.add_post("/twirp/livekit.{service}/{method}", self.twirp.handle)
        self._runner, self.port = await serve_on_loopback(app)
        return self

    async def aclose(self) -> None:
        for room in list(self.rooms.values()):
            for participant in list(room.participants.values()):
                with contextlib.suppress(Exception):
                    await room.leave(participant, models.DisconnectReason.SERVER_SHUTDOWN)
        await self.dispatcher.aclose()
        for ws in list(self._signal_sockets):
            with contextlib.suppress(Exception):
                await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LiveKitServerDouble:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- state the tests look at -----------------------------------------------------------------

    @property
    def workers(self) -> dict[str, Worker]:
        return self.dispatcher.workers

    @property
    def jobs(self) -> dict[str, JobRecord]:
        return self.dispatcher.jobs

    def jobs_in(self, room: str) -> list[JobRecord]:
        return [job for job in self.jobs.values() if job.room == room]

    def participant(self, room: str, identity: str) -> Participant | None:
        found = self.rooms.get(room)
        return found.participants.get(identity) if found else None

    def left(self, room: str) -> list[models.ParticipantInfo]:
        found = self.rooms.get(room)
        return list(found.left) if found else []

    async def wait_for(self, condition: Any, timeout: float = 10.0, what: str = "condition") -> None:  # noqa: ASYNC109
        """Wait until `condition()` is true, woken by joins and leaves (and polled every 50 ms)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.05))

    def _changed(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    # --- rooms -----------------------------------------------------------------------------------

    def ensure_room(self, name: str, metadata: str = "") -> Room:
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room(self, name, metadata)
            self.dispatcher.room_created(name)
        return room

    async def delete_room(self, name: str) -> None:
        room = self.rooms.pop(name, None)
        if room is None:
            return
        for participant in list(room.participants.values()):
            await self.remove(participant, models.DisconnectReason.ROOM_DELETED)

    async def remove(self, participant: Participant, reason: int) -> None:
        """The server ends a participant's session: a `leave` to it, then an update to all."""
        from livekit.protocol import rtc

        await participant.send(
            rtc.SignalResponse(
                leave=rtc.LeaveRequest(
                    can_reconnect=False, reason=reason, action=rtc.LeaveRequest.Action.DISCONNECT
                )
            )
        )
        await participant.room.leave(participant, reason)

    def on_participant_joined(self, room: Room, participant: Participant) -> None:
        self._changed()

    def on_participant_left(self, room: Room, info: models.ParticipantInfo) -> None:
        self._changed()

    # --- HTTP handlers ---------------------------------------------------------------------------

    async def _single_pc(self, request: web.Request) -> web.Response:
        # Single peer-connection mode is not offered: the SDK falls back to /rtc on a 404.
        return web.Response(status=404, text="single peer connection mode not supported")

    def _token(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header[len("Bearer ") :]
        return request.query.get("access_token", "")

    def _check_join(self, request: web.Request) -> Claims:
        token = self._token(request)
        if not token:
            raise _Refusal(401, "no access token")
        try:
            claims = TokenVerifier(self.api_key, self.api_secret).verify(token)
        except jwt.ExpiredSignatureError:
            raise _Refusal(401, "token expired") from None
        except jwt.PyJWTError as error:
            raise _Refusal(401, f"invalid token: {type(error).__name__}") from None
        video = claims.video
        if video is None or not video.room_join:
            raise _Refusal(401, "token has no roomJoin grant", claims.identity)
        if not video.room:
            raise _Refusal(401, "token is not scoped to a room", claims.identity)
        asked = request.query.get("room")
        if asked and asked != video.room:
            raise _Refusal(401, "token is for another room", claims.identity, asked)
        if not claims.identity:
            raise _Refusal(401, "token has no identity", "", video.room)
        return claims

    async def _validate(self, request: web.Request) -> web.Response:
        try:
            self._check_join(request)
        except _Refusal as refusal:
            return web.Response(status=refusal.status, text=refusal.reason)
        return web.Response(text="success")

    async def _rtc(self, request: web.Request) -> web.StreamResponse:
        try:
            claims = self._check_join(request)
        except _Refusal as refusal:
            self.refused.append(
                RefusedJoin(refusal.status, refusal.reason, refusal.identity, refusal.room)
            )
            return web.Response(status=refusal.status, text=refusal.reason)
        video = claims.video
        assert video is not None
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._signal_sockets.add(ws)
        room = self.ensure_room(video.room)
        permission = models.ParticipantPermission(
            can_subscribe=video.can_subscribe is not False,
            can_publish=video.can_publish is not False,
            can_publish_data=video.can_publish_data is not False,
            can_update_metadata=bool(video.can_update_own_metadata),
            hidden=bool(video.hidden),
            agent=bool(video.agent),
        )
        participant = Participant(
            room,
            ws,
            identity=claims.identity,
            name=claims.name or "",
            kind=KINDS.get(claims.kind or "", models.ParticipantInfo.Kind.STANDARD),
            metadata=claims.metadata or "",
            attributes=dict(claims.attributes or {}),
            permission=permission,
        )
        await room.join(participant)
        self._dispatch_from_token(room, claims)

        async def closed() -> None:
            self._signal_sockets.discard(ws)
            # The socket dropped without a leave: the server sees the client go away.
            await room.leave(participant, models.DisconnectReason.CLIENT_INITIATED)

        await serve_signal(participant, ws, closed)
        return ws

    def _dispatch_from_token(self, room: Room, claims: Claims) -> None:
        config = claims.room_config
        if config is None:
            return
        for dispatch in config.agents:
            if dispatch.agent_name not in room.dispatched_agents:
                room.dispatched_agents.add(dispatch.agent_name)
                self.dispatcher.create_dispatch(room.name, dispatch.agent_name, dispatch.metadata)

    async def _agent(self, request: web.Request) -> web.StreamResponse:
        token = self._token(request)
        try:
            claims = TokenVerifier(self.api_key, self.api_secret).verify(token)
        except jwt.PyJWTError:
            return web.Response(status=401, text="invalid token")
        if claims.video is None or not claims.video.agent:
            return web.Response(status=401, text="token has no agent grant")
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        await self.dispatcher.serve(request, ws)
        return ws


class _Refusal(Exception):
    def __init__(self, status: int, reason: str, identity: str = "", room: str = "") -> None:
        super().__init__(reason)
        self.status, self.reason, self.identity, self.room = status, reason, identity, room
