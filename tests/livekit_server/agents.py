"""The agent worker protocol at `/agent`, and dispatch of rooms to registered workers.

Sequence (livekit-agents 1.8.9): worker `register` -> server `register{worker_id}` (first frame);
a room needs an agent -> server `availability{job}` -> worker `availability{available, identity,
attributes}` -> server `assignment{job, token}` (url unset: the worker uses its LIVEKIT_URL) ->
worker `update_job{JS_RUNNING}` ... `update_job{JS_SUCCESS|JS_FAILED}`. `update_worker` reports
status and load; `ping` -> `pong`.

Dispatch: a worker registered without an agent name gets every new room; a named worker only
through the token's `roomConfig.agents` or `AgentDispatchService.CreateDispatch`. A dispatch with
no matching worker waits until one registers or frees up. Among matching workers the double picks
the least loaded (reported load, then jobs it has assigned), never a draining or full worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web
from livekit.api import AccessToken, VideoGrants
from livekit.protocol import agent, agent_dispatch, models

if TYPE_CHECKING:
    from .server import LiveKitServerDouble

logger = logging.getLogger("livekit_double.agents")

AVAILABILITY_TIMEOUT_S = 10.0


@dataclass
class Worker:
    id: str
    ws: web.WebSocketResponse
    agent_name: str
    version: str
    status: int = agent.WorkerStatus.WS_AVAILABLE
    load: float = 0.0
    draining: bool = False
    jobs: set[str] = field(default_factory=set)  # ids of jobs assigned and not ended
    pending: dict[str, asyncio.Future[agent.AvailabilityResponse]] = field(default_factory=dict)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def takes_jobs(self) -> bool:
        return (
            not self.ws.closed
            and not self.draining
            and self.status == agent.WorkerStatus.WS_AVAILABLE
        )

    async def send(self, message: agent.ServerMessage) -> None:
        async with self.send_lock:
            await self.ws.send_bytes(message.SerializeToString())


@dataclass
class JobRecord:
    """A job as the double saw it, for assertions."""

    job: agent.Job
    worker_id: str | None = None
    status: int = agent.JobStatus.JS_PENDING
    error: str = ""
    identity: str = ""
    assigned_at: float | None = None
    ended_at: float | None = None
    statuses: list[int] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def room(self) -> str:
        return self.job.room.name


class AgentDispatcher:
    def __init__(self, server: LiveKitServerDouble) -> None:
        self.server = server
        self.workers: dict[str, Worker] = {}
        self.jobs: dict[str, JobRecord] = {}
        self.dispatches: dict[str, agent_dispatch.AgentDispatch] = {}  # id -> dispatch
        self.registered = asyncio.Condition()
        self._waiting: list[str] = []  # dispatch ids with no worker yet
        self._tasks: set[asyncio.Task[None]] = set()

    # --- dispatches ------------------------------------------------------------------------------

    def create_dispatch(
        self, room: str, agent_name: str, metadata: str = ""
    ) -> agent_dispatch.AgentDispatch:
        dispatch = agent_dispatch.AgentDispatch(
            id=f"AD_{secrets.token_hex(6)}", agent_name=agent_name, room=room, metadata=metadata
        )
        self.dispatches[dispatch.id] = dispatch
        self._spawn(self._run_dispatch(dispatch.id))
        return dispatch

    def waiting_rooms(self) -> set[str]:
        """Rooms whose dispatch found no worker free to take it, and waits for one."""
        return {self.dispatches[d].room for d in self._waiting if d in self.dispatches}

    def dispatches_in(self, room: str) -> list[agent_dispatch.AgentDispatch]:
        return [d for d in self.dispatches.values() if d.room == room]

    def delete_dispatch(self, dispatch_id: str) -> agent_dispatch.AgentDispatch | None:
        dispatch = self.dispatches.pop(dispatch_id, None)
        if dispatch_id in self._waiting:
            self._waiting.remove(dispatch_id)
        return dispatch

    def room_created(self, room: str) -> None:
        """Workers registered without an agent name get every new room."""
        if any(not w.agent_name for w in self.workers.values()):
            self.create_dispatch(room, "")

    def _spawn(self, coro: object) -> None:
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _candidates(self, agent_name: str, tried: set[str]) -> list[Worker]:
        workers = [
            w
            for w in self.workers.values()
            if w.agent_name == agent_name and w.takes_jobs and w.id not in tried
        ]
        return sorted(workers, key=lambda w: (w.load, len(w.jobs)))

    async def _run_dispatch(self, dispatch_id: str) -> None:
        dispatch = self.dispatches.get(dispatch_id)
        if dispatch is None:
            return
        room = self.server.ensure_room(dispatch.room)
        job = agent.Job(
            id=f"AJ_{secrets.token_hex(6)}",
            dispatch_id=dispatch.id,
            type=agent.JobType.JT_ROOM,
            room=room.snapshot(),
            agent_name=dispatch.agent_name,
            metadata=dispatch.metadata,
            state=agent.JobState(status=agent.JobStatus.JS_PENDING),
        )
        tried: set[str] = set()
        while dispatch_id in self.dispatches:
            candidates = self._candidates(dispatch.agent_name, tried)
            if not candidates:
                if dispatch_id not in self._waiting:
                    self._waiting.append(dispatch_id)
                return  # retried when a worker registers or reports free capacity
            worker = candidates[0]
            tried.add(worker.id)
            if await self._offer(worker, job, dispatch):
                return

    async def _offer(
        self, worker: Worker, job: agent.Job, dispatch: agent_dispatch.AgentDispatch
    ) -> bool:
        future: asyncio.Future[agent.AvailabilityResponse] = (
            asyncio.get_running_loop().create_future()
        )
        worker.pending[job.id] = future
        worker.jobs.add(job.id)  # counted at once, so simultaneous rooms spread over workers
        try:
            await worker.send(agent.ServerMessage(availability=agent.AvailabilityRequest(job=job)))
            answer = await asyncio.wait_for(future, AVAILABILITY_TIMEOUT_S)
        except (TimeoutError, ConnectionError, RuntimeError):
            worker.jobs.discard(job.id)
            return False
        finally:
            worker.pending.pop(job.id, None)
        if not answer.available:
            worker.jobs.discard(job.id)
            return False
        identity = answer.participant_identity or f"agent-{job.id}"
        token = (
            AccessToken(self.server.api_key, self.server.api_secret)
            .with_identity(identity)
            .with_kind("agent")
            .with_name(answer.participant_name or identity)
            .with_metadata(answer.participant_metadata)
            .with_attributes(dict(answer.participant_attributes))
            .with_ttl(timedelta(hours=1))
            .with_grants(
                VideoGrants(
                    room_join=True,
                    room=dispatch.room,
                    agent=True,
                    can_update_own_metadata=True,
                    can_publish=True,
                    can_subscribe=True,
                    can_publish_data=True,
                )
            )
            .to_jwt()
        )
        record = JobRecord(job=job, worker_id=worker.id, identity=identity)
        record.assigned_at = time.monotonic()
        self.jobs[job.id] = record
        try:
            await worker.send(
                agent.ServerMessage(assignment=agent.JobAssignment(job=job, token=token))
            )
        except (ConnectionError, RuntimeError):
            worker.jobs.discard(job.id)
            return False
        return True

    def _retry_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        for dispatch_id in waiting:
            self._spawn(self._run_dispatch(dispatch_id))

    # --- the worker socket -----------------------------------------------------------------------

    async def serve(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        worker: Worker | None = None
        try:
            async for message in ws:
                if message.type != WSMsgType.BINARY:
                    continue
                msg = agent.WorkerMessage()
                msg.ParseFromString(message.data)
                which = msg.WhichOneof("message")
                if which == "register" and worker is None:
                    worker = Worker(
                        id=f"AW_{secrets.token_hex(6)}",
                        ws=ws,
                        agent_name=msg.register.agent_name,
                        version=msg.register.version,
                    )
                    await worker.send(
                        agent.ServerMessage(
                            register=agent.RegisterWorkerResponse(
                                worker_id=worker.id,
                                server_info=models.ServerInfo(
                                    edition=models.ServerInfo.Edition.Standard,
                                    version="1.9.0-double",
                                    protocol=16,
                                    region="loopback",
                                    node_id="ND_double",
                                    agent_protocol=1,
                                ),
                            )
                        )
                    )
                    self.workers[worker.id] = worker
                    async with self.registered:
                        self.registered.notify_all()
                    self._retry_waiting()
                elif worker is None:
                    continue
                elif which == "availability":
                    future = worker.pending.get(msg.availability.job_id)
                    if future is not None and not future.done():
                        future.set_result(msg.availability)
                elif which == "update_worker":
                    self._on_update_worker(worker, msg.update_worker)
                elif which == "update_job":
                    self._on_update_job(worker, msg.update_job)
                elif which == "ping":
                    await worker.send(
                        agent.ServerMessage(
                            pong=agent.WorkerPong(
                                last_timestamp=msg.ping.timestamp,
                                timestamp=int(time.time() * 1000),
                            )
                        )
                    )
        finally:
            if worker is not None:
                self.workers.pop(worker.id, None)
                for future in worker.pending.values():
                    if not future.done():
                        future.cancel()

    def _on_update_worker(self, worker: Worker, update: agent.UpdateWorkerStatus) -> None:
        if update.HasField("status"):
            worker.status = update.status
        worker.load = update.load
        if update.draining:
            worker.draining = True
        if worker.takes_jobs:
            self._retry_waiting()

    def _on_update_job(self, worker: Worker, update: agent.UpdateJobStatus) -> None:
        record = self.jobs.get(update.job_id)
        if record is None:
            return
        record.status = update.status
        record.statuses.append(update.status)
        record.error = update.error
        if update.status in (agent.JobStatus.JS_SUCCESS, agent.JobStatus.JS_FAILED):
            record.ended_at = time.monotonic()
            record.done.set()
            worker.jobs.discard(update.job_id)
            self._retry_waiting()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for worker in list(self.workers.values()):
            with contextlib.suppress(Exception):
                await worker.ws.close()
