"""The LiveKit server double itself, where no WebRTC is involved (so these run anywhere):
the agent worker protocol and dispatch over several workers, the Twirp API, the /rtc refusals.

Workers here are raw `/agent` WebSocket clients speaking the protobufs, so every register,
availability and status message is under the test's control; the real worker runs against the
double in tests/room/.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import jwt
import pytest
from livekit import api
from livekit.protocol import agent, agent_dispatch

from tests.fake_azure.fixtures import wait_until
from tests.livekit_server import LiveKitServerDouble, fixtures

livekit_server = fixtures.livekit_server  # a started double per test (pytest fixture)


class RawWorker:
    """An agent worker at the protocol level: registers, accepts every job, reports load."""

    def __init__(self, lk: LiveKitServerDouble, agent_name: str) -> None:
        self.lk, self.agent_name = lk, agent_name
        self.id = ""
        self.assignments: list[agent.JobAssignment] = []
        self.offers: list[str] = []  # job ids offered through availability requests
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> RawWorker:
        token = api.AccessToken(self.lk.api_key, self.lk.api_secret).with_grants(
            api.VideoGrants(agent=True)
        )
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(
            f"{self.lk.url}/agent", headers={"Authorization": f"Bearer {token.to_jwt()}"}
        )
        await self.send(
            agent.WorkerMessage(
                register=agent.RegisterWorkerRequest(
                    type=agent.JobType.JT_ROOM, agent_name=self.agent_name, version="test"
                )
            )
        )
        first = agent.ServerMessage.FromString((await self._ws.receive()).data)
        assert first.WhichOneof("message") == "register"
        self.id = first.register.worker_id
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return self

    async def send(self, message: agent.WorkerMessage) -> None:
        assert self._ws is not None
        await self._ws.send_bytes(message.SerializeToString())

    async def report(self, *, load: float, status: int = agent.WorkerStatus.WS_AVAILABLE,
                     draining: bool = False) -> None:
        await self.send(
            agent.WorkerMessage(
                update_worker=agent.UpdateWorkerStatus(status=status, load=load, draining=draining)
            )
        )

    async def finish(self, job_id: str) -> None:
        await self.send(
            agent.WorkerMessage(
                update_job=agent.UpdateJobStatus(job_id=job_id, status=agent.JobStatus.JS_SUCCESS)
            )
        )

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            server = agent.ServerMessage.FromString(message.data)
            which = server.WhichOneof("message")
            if which == "availability":
                job = server.availability.job
                self.offers.append(job.id)
                await self.send(
                    agent.WorkerMessage(
                        availability=agent.AvailabilityResponse(
                            job_id=job.id,
                            available=True,
                            participant_identity=f"bot-{self.id}",
                            participant_attributes={"worker": self.id},
                        )
                    )
                )
            elif which == "assignment":
                self.assignments.append(server.assignment)
                await self.send(
                    agent.WorkerMessage(
                        update_job=agent.UpdateJobStatus(
                            job_id=server.assignment.job.id, status=agent.JobStatus.JS_RUNNING
                        )
                    )
                )

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()


@contextlib.asynccontextmanager
async def workers(lk: LiveKitServerDouble, *names: str) -> AsyncIterator[list[RawWorker]]:
    started = [await RawWorker(lk, name).start() for name in names]
    try:
        yield started
    finally:
        for worker in started:
            await worker.aclose()


def admin_api(lk: LiveKitServerDouble) -> api.LiveKitAPI:
    return api.LiveKitAPI(lk.http_url, lk.api_key, lk.api_secret)


async def dispatch(lkapi: api.LiveKitAPI, room: str, agent_name: str) -> agent_dispatch.AgentDispatch:
    return await lkapi.agent_dispatch.create_dispatch(
        api.CreateAgentDispatchRequest(room=room, agent_name=agent_name)
    )


async def test_jobs_go_to_the_least_loaded_worker_and_never_to_a_draining_one(livekit_server):
    lk = livekit_server
    async with workers(lk, "support", "support", "support") as (busy, idle, draining):
        await busy.report(load=0.6)
        await idle.report(load=0.1)
        await draining.report(load=0.0, draining=True)
        await wait_until(lambda: lk.workers[draining.id].draining, what="draining to be seen")
        lkapi = admin_api(lk)
        try:
            await dispatch(lkapi, "room-1", "support")
            await wait_until(lambda: idle.assignments, what="the first job")
            await idle.report(load=0.9)  # the idle worker fills up
            await wait_until(lambda: lk.workers[idle.id].load == pytest.approx(0.9))
            await dispatch(lkapi, "room-2", "support")
            await wait_until(lambda: busy.assignments, what="the second job")
            await busy.report(load=1.0, status=agent.WorkerStatus.WS_FULL)
            await idle.report(load=0.2)
            await wait_until(lambda: lk.workers[busy.id].status == agent.WorkerStatus.WS_FULL)
            await dispatch(lkapi, "room-3", "support")
            await wait_until(lambda: len(idle.assignments) == 2, what="the third job")
        finally:
            await lkapi.aclose()
        rooms = {w.id: [a.job.room.name for a in w.assignments] for w in (busy, idle, draining)}
        assert rooms == {idle.id: ["room-1", "room-3"], busy.id: ["room-2"], draining.id: []}
        assert draining.offers == []
        # the job token the double minted: the worker's identity and attributes, kind agent
        assignment = idle.assignments[0]
        claims = api.TokenVerifier(lk.api_key, lk.api_secret).verify(assignment.token)
        assert claims.identity == f"bot-{idle.id}" and claims.kind == "agent"
        assert claims.video.room == "room-1" and claims.video.room_join and claims.video.agent
        assert claims.attributes == {"worker": idle.id}
        assert assignment.url == ""  # the worker uses its LIVEKIT_URL
        job = lk.jobs[assignment.job.id]
        await wait_until(lambda: job.status == agent.JobStatus.JS_RUNNING)
        await idle.finish(job.id)
        await asyncio.wait_for(job.done.wait(), 5)
        assert job.statuses == [agent.JobStatus.JS_RUNNING, agent.JobStatus.JS_SUCCESS]


async def test_a_dispatch_waits_for_its_worker_and_names_are_kept_apart(livekit_server):
    lk = livekit_server
    lkapi = admin_api(lk)
    try:
        made = await dispatch(lkapi, "room-late", "late-agent")
        listed = await lkapi.agent_dispatch.list_dispatch("room-late")
        assert [d.id for d in listed] == [made.id]
        async with workers(lk, "other-agent", "late-agent") as (other, late):
            await wait_until(lambda: late.assignments, what="the waiting dispatch to run")
            assert late.assignments[0].job.agent_name == "late-agent"
            assert late.assignments[0].job.dispatch_id == made.id
            assert other.offers == []
        deleted = await lkapi.agent_dispatch.delete_dispatch(made.id, "room-late")
        assert deleted.id == made.id
        assert await lkapi.agent_dispatch.list_dispatch("room-late") == []
    finally:
        await lkapi.aclose()


async def test_an_unnamed_worker_gets_every_new_room(livekit_server):
    lk = livekit_server
    async with workers(lk, "") as (anyone,):
        lkapi = admin_api(lk)
        try:
            room = await lkapi.room.create_room(api.CreateRoomRequest(name="room-open"))
            assert room.name == "room-open"
            listed = await lkapi.room.list_rooms(api.ListRoomsRequest())
            assert [r.name for r in listed.rooms] == ["room-open"]
            await wait_until(lambda: anyone.assignments, what="the job")
            assert anyone.assignments[0].job.room.name == "room-open"
            await lkapi.room.delete_room(api.DeleteRoomRequest(room="room-open"))
            assert "room-open" not in lk.rooms
        finally:
            await lkapi.aclose()


async def test_api_calls_need_their_grants(livekit_server):
    lk = livekit_server
    weak = api.AccessToken(lk.api_key, lk.api_secret).with_identity("x").with_grants(
        api.VideoGrants(room_join=True, room="room-x")
    )
    async with aiohttp.ClientSession() as http:
        async def call(method: str, body: bytes, token: str) -> tuple[int, dict]:
            async with http.post(
                f"{lk.http_url}/twirp/livekit.{method}",
                data=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/protobuf"},
            ) as response:
                return response.status, await response.json(content_type=None)

        status, error = await call(
            "RoomService/ListRooms", api.ListRoomsRequest().SerializeToString(), weak.to_jwt()
        )
        assert (status, error["code"]) == (403, "permission_denied")
        transfer = api.TransferSIPParticipantRequest(
            room_name="room-x", participant_identity="sip_1", transfer_to="tel:+911234567890"
        )
        status, error = await call(
            "SIP/TransferSIPParticipant", transfer.SerializeToString(), weak.to_jwt()
        )
        assert (status, error["code"]) == (403, "permission_denied")
        status, error = await call("RoomService/ListRooms", b"", "not-a-jwt")
        assert (status, error["code"]) == (401, "unauthenticated")
    assert lk.twirp.sip.calls == []


async def test_signalling_refuses_before_any_media(livekit_server):
    lk = livekit_server

    def token(**grants) -> str:
        return (
            api.AccessToken(lk.api_key, lk.api_secret)
            .with_identity("someone")
            .with_grants(api.VideoGrants(**grants))
            .to_jwt()
        )

    async with aiohttp.ClientSession() as http:
        async def status(path: str, jwt_token: str | None) -> int:
            headers = {"Authorization": f"Bearer {jwt_token}"} if jwt_token else {}
            async with http.get(f"{lk.http_url}{path}", headers=headers) as response:
                return response.status

        assert await status("/rtc/v1?join_request=x", token(room_join=True, room="r")) == 404
        assert await status("/rtc", None) == 401
        assert await status("/rtc", token(room="r")) == 401  # no roomJoin
        unscoped = jwt.encode(  # livekit-api will not even mint this one
            {"iss": lk.api_key, "sub": "someone", "exp": int(time.time()) + 600,
             "video": {"roomJoin": True}},
            lk.api_secret,
            algorithm="HS256",
        )
        assert await status("/rtc", unscoped) == 401  # not scoped to a room
        assert await status("/rtc?room=r2", token(room_join=True, room="r")) == 401
        assert await status("/rtc/validate", token(room_join=True, room="r")) == 200
        assert await status("/agent", token(room_join=True, room="r")) == 401  # no agent grant
    assert [r.reason for r in lk.refused] == [
        "no access token",
        "token has no roomJoin grant",
        "token is not scoped to a room",
        "token is for another room",
    ]
    assert lk.rooms == {}


def test_the_product_never_imports_the_test_instruments():
    root = Path(__file__).resolve().parent.parent / "support_tools"
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "tests"]
    assert offenders == []
