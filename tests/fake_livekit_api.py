"""A fake of the LiveKit server API (Twirp over HTTP) on 127.0.0.1, for escalation tests.

Protocol as livekit-api's TwirpClient speaks it: `POST /twirp/livekit.<Service>/<Method>` with
`Authorization: Bearer <JWT signed with the API secret>`, body `application/protobuf` (JSON is
accepted too, as Twirp allows); success is the serialised response message, errors are Twirp
JSON `{"code", "msg", "meta"}` with the Twirp HTTP status.

Authorisation mirrors the server for the one call we use, TransferSIPParticipant: the token
must carry the SIP `call` grant and `roomAdmin` for the very room in the request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from livekit.api import TokenVerifier
from livekit.api.access_token import Claims
from livekit.protocol import sip as sip_proto

from tests.loopback import serve_on_loopback

TWIRP_STATUS = {
    "canceled": 408,
    "invalid_argument": 400,
    "malformed": 400,
    "deadline_exceeded": 408,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "resource_exhausted": 429,
    "failed_precondition": 412,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unknown": 500,
    "unavailable": 503,
    "dataloss": 500,
}
PROTOBUF = "application/protobuf"
JSON = "application/json"


class TwirpFailure(Exception):
    def __init__(self, code: str, msg: str, meta: dict[str, str] | None = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.meta = meta or {}


@dataclass
class RecordedCall:
    service: str
    method: str
    request: Message
    claims: Claims
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _PlannedFailure:
    code: str
    msg: str
    meta: dict[str, str]


class FakeLiveKitAPI:
    """Use as `async with FakeLiveKitAPI(key, secret) as fake:` then point LiveKitAPI at fake.url."""

    def __init__(
        self, api_key: str = "test-key", api_secret: str = "test-secret-" + "x" * 20
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.calls: list[RecordedCall] = []
        self.rejected: list[tuple[str, str]] = []  # (method, twirp code) of refused requests
        # room -> identities of SIP participants; None accepts any participant.
        self.sip_participants: dict[str, set[str]] | None = None
        self.transfer_status = sip_proto.STS_TRANSFER_SUCCESSFUL
        self.transfer_reason = sip_proto.STR_COMPLETED
        self._failures: list[_PlannedFailure] = []
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # -- control ---------------------------------------------------------------------------

    def fail_next(
        self,
        code: str = "unavailable",
        msg: str = "try again",
        meta: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` authorised calls answer with this Twirp error."""
        if code not in TWIRP_STATUS:
            raise ValueError(f"not a Twirp error code: {code}")
        self._failures.extend(_PlannedFailure(code, msg, meta or {}) for _ in range(times))

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.method == method]

    @property
    def url(self) -> str:
        assert self.port is not None, "start() the fake first"
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> FakeLiveKitAPI:
        app = web.Application()
        app.router.add_post("/twirp/livekit.{service}/{method}", self._handle)
        self._runner, self.port = await serve_on_loopback(app)
        return self

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeLiveKitAPI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- protocol --------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        service = request.match_info["service"]
        method = request.match_info["method"]
        content_type = request.content_type
        try:
            route = self._routes().get((service, method))
            if route is None:
                raise TwirpFailure("bad_route", f"no handler for livekit.{service}/{method}")
            request_class, handler = route
            claims = self._authenticate(request.headers.get("Authorization"))
            message = _decode(await request.read(), content_type, request_class)
            self.calls.append(
                RecordedCall(service, method, message, claims, content_type, dict(request.headers))
            )
            if self._failures:
                planned = self._failures.pop(0)
                raise TwirpFailure(planned.code, planned.msg, planned.meta)
            response = handler(message, claims)
        except TwirpFailure as failure:
            self.rejected.append((method, failure.code))
            return _twirp_error(failure)
        return _encode(response, content_type)

    def _routes(self) -> dict[tuple[str, str], tuple[type[Message], Any]]:
        return {
            ("SIP", "TransferSIPParticipant"): (
                sip_proto.TransferSIPParticipantRequest,
                self._transfer_sip_participant,
            ),
        }

    def _authenticate(self, header: str | None) -> Claims:
        if not header or not header.startswith("Bearer "):
            raise TwirpFailure("unauthenticated", "missing bearer token")
        try:
            return TokenVerifier(self.api_key, self.api_secret).verify(header[len("Bearer ") :])
        except jwt.PyJWTError:
            raise TwirpFailure("unauthenticated", "invalid token") from None

    def _transfer_sip_participant(
        self, message: sip_proto.TransferSIPParticipantRequest, claims: Claims
    ) -> sip_proto.TransferSIPParticipantResponse:
        if not (claims.sip and claims.sip.call):
            raise TwirpFailure("permission_denied", "SIP call grant required")
        video = claims.video
        if not (video and video.room_admin and video.room == message.room_name):
            raise TwirpFailure("permission_denied", "room admin grant for this room required")
        if not message.room_name or not message.participant_identity or not message.transfer_to:
            raise TwirpFailure("invalid_argument", "room, participant and destination are required")
        if not message.transfer_to.startswith(("tel:", "sip:", "sips:")):
            raise TwirpFailure("invalid_argument", "transfer_to must be a tel: or sip: URI")
        known = self.sip_participants
        if known is not None and message.participant_identity not in known.get(
            message.room_name, set()
        ):
            raise TwirpFailure("not_found", "participant not found")
        return sip_proto.TransferSIPParticipantResponse(
            transfer_id="ST_fake",
            status=self.transfer_status,
            reason=self.transfer_reason,
        )


def _decode(body: bytes, content_type: str, message_class: type[Message]) -> Message:
    try:
        if content_type == PROTOBUF:
            return message_class.FromString(body)
        if content_type == JSON:
            return json_format.Parse(body.decode("utf-8"), message_class())
    except (DecodeError, json_format.ParseError, UnicodeDecodeError):
        raise TwirpFailure("malformed", "could not decode the request body") from None
    raise TwirpFailure("bad_route", f"unexpected content type {content_type}")


def _encode(message: Message, content_type: str) -> web.Response:
    if content_type == JSON:
        return web.Response(text=json_format.MessageToJson(message), content_type=JSON)
    return web.Response(body=message.SerializeToString(), content_type=PROTOBUF)


def _twirp_error(failure: TwirpFailure) -> web.Response:
    body: dict[str, Any] = {"code": failure.code, "msg": failure.msg}
    if failure.meta:
        body["meta"] = failure.meta
    return web.json_response(body, status=TWIRP_STATUS[failure.code])
