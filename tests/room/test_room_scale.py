"""Scale-out in real rooms: two `python agent.py start` workers, one PostgreSQL store, the LiveKit
double dispatching by load.

Each worker takes CAPACITY calls (SHOPME_MAX_SESSIONS) and reports itself full at that; it
serves its own health and metrics ports. The database is a fresh one on the test PostgreSQL
server, reached through its Unix socket (the network namespace of the room tests has its own
loopback, where the server does not listen). The tests run in file order: the last one stops a
worker with SIGTERM.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import secrets
import signal
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlparse

import asyncpg
import pytest
import pytest_asyncio
from livekit import api
from livekit.protocol import agent
from prometheus_client.parser import text_string_to_metric_families

from tests.fake_azure.fixtures import wait_until
from tests.livekit_server import LiveKitServerDouble
from tests.livekit_server.fixtures import WorkerProcess
from tests.test_worker_capacity import scrape

from .harness import (
    AGENT_NAME,
    CALLBACK_OFFER,
    GREETING,
    PRIYA_ORDER,
    PRIYA_PIN,
    Caller,
    Desk,
    RoomBrain,
    StoreView,
    caller_token,
    in_room,
    worker_env,
)

pytestmark = [pytest.mark.asyncio(loop_scope="package"), pytest.mark.room]

CAPACITY = 3
RETURN_ORDER = "517204"  # delivered 5 days ago: returnable (the README's ready-to-try cases)
PG_MISSING = "TEST_POSTGRES_URL is not set: run `make test`"


# --- one PostgreSQL database, two workers -------------------------------------------------------------


@dataclass
class Database:
    admin: dict[str, object]
    name: str

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://shopme:shopme@:{self.admin['port']}/{self.name}?host={self.admin['host']}"

    @classmethod
    async def create(cls) -> Database:
        url = os.environ.get("TEST_POSTGRES_URL")
        if not url:
            raise AssertionError(PG_MISSING)
        # The server (scripts/test-postgres.sh) also listens on its Unix socket in /tmp.
        admin = {"host": "/tmp", "port": urlparse(url).port, "user": "postgres", "database": "postgres"}
        database = cls(admin, f"shopme_scale_{secrets.token_hex(4)}")
        connection = await asyncpg.connect(**admin)
        try:
            await connection.execute(f'CREATE DATABASE "{database.name}" OWNER shopme')
        finally:
            await connection.close()
        return database

    async def drop(self) -> None:
        connection = await asyncpg.connect(**self.admin)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Cluster:
    lk: LiveKitServerDouble
    brain: RoomBrain
    desk: Desk
    store: StoreView
    store_url: str
    workers: list[WorkerProcess]
    metrics_ports: dict[str, int]  # worker id -> its SHOPME_METRICS_PORT

    def worker(self, worker_id: str | None) -> WorkerProcess:
        return next(w for w in self.workers if w.worker_id == worker_id)

    def scrape(self, worker_id: str | None) -> dict[tuple[str, tuple], float]:
        port = self.metrics_ports[worker_id or ""]
        text = scrape(port)
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


@pytest_asyncio.fixture(scope="module", loop_scope="package")
async def cluster(private_network, tmp_path_factory) -> AsyncIterator[Cluster]:
    base = tmp_path_factory.mktemp("scale")
    database = await Database.create()
    workers: list[WorkerProcess] = []
    store = None
    try:
        async with LiveKitServerDouble() as lk, RoomBrain() as brain:
            desk = await Desk().start()
            ports: dict[str, int] = {}
            try:
                # One after the other: the first creates and seeds the schema.
                for index in range(2):
                    metrics_port = free_port()
                    env = {
                        **worker_env(brain, database.url, desk),
                        "SHOPME_MAX_SESSIONS": str(CAPACITY),
                        "SHOPME_HEALTH_PORT": str(free_port()),
                        "SHOPME_METRICS_PORT": str(metrics_port),
                        "SHOPME_IDLE_PROCESSES": "1",
                        "SHOPME_DRAIN_TIMEOUT_S": "120",
                        "ESCALATION_TIMEOUT_S": "3",
                    }
                    worker = WorkerProcess(
                        lk, ["agent.py", "start"], env, base / f"worker-{index}.log", AGENT_NAME
                    )
                    workers.append(worker)
                    await worker.start()
                    ports[worker.worker_id or ""] = metrics_port
                store = await StoreView.open(database.url)
                yield Cluster(lk, brain, desk, store, database.url, workers, ports)
            finally:
                for worker in workers:
                    await worker.stop()
                await desk.aclose()
    finally:
        if store is not None:
            await store.aclose()
        await database.drop()


async def job_for(lk: LiveKitServerDouble, room: str, timeout: float = 60):  # noqa: ASYNC109
    await lk.wait_for(lambda: lk.jobs_in(room), timeout, f"a job for {room}")
    return lk.jobs_in(room)[0]


async def greeted(caller: Caller, timeout: float = 90) -> None:  # noqa: ASYNC109
    await wait_until(lambda: GREETING in caller.said_by(), timeout=timeout, what=f"{caller.identity} greeted")


async def answered(caller: Caller, text: str, timeout: float = 30) -> None:  # noqa: ASYNC109
    await wait_until(lambda: text in caller.said_by(), timeout=timeout, what=f"{text!r} to {caller.identity}")


async def both_idle(cluster: Cluster) -> None:
    """Wait until every worker reports no load (an ended call's process may take a moment)."""
    await cluster.lk.wait_for(
        lambda: all(
            w.load == 0 and w.status == agent.WorkerStatus.WS_AVAILABLE and not w.jobs
            for w in cluster.lk.workers.values()
        ),
        30,
        "both workers idle",
    )


def tool(name: str, **arguments: object) -> str:
    return f"call {name} {json.dumps(arguments)}"


def delta(after: dict, before: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


# --- the metrics endpoint after a scripted call ----------------------------------------------------


async def test_metrics_endpoint_counts_a_scripted_call(cluster: Cluster) -> None:
    lk = cluster.lk
    before = {w.worker_id: cluster.scrape(w.worker_id) for w in cluster.workers}
    room = "room-metrics"
    async with in_room(lk.url, caller_token(lk, "caller-metrics", room), "caller-metrics") as caller:
        job = await job_for(lk, room)
        await greeted(caller)
        await caller.type(tool("verify_customer", order_number=PRIYA_ORDER, postal_code="110001"))
        await answered(caller, "Sorry, verify_customer did not work.")
        await caller.type(tool("verify_customer", order_number=PRIYA_ORDER, postal_code=PRIYA_PIN))
        await answered(caller, "verify_customer is done.")
        await caller.type(tool("get_order_status", order_number=PRIYA_ORDER))
        await answered(caller, f"Order {PRIYA_ORDER} is shipped.")
        await caller.type(tool("escalate_to_human", reason="wants a person", urgency="normal"))
        await wait_until(lambda: any(t.startswith("Your ticket is TCK-") for t in caller.said_by()), timeout=30)
        await answered(caller, CALLBACK_OFFER)  # the desk was told; nobody joined in time
    await asyncio.wait_for(job.done.wait(), 60)

    served, other = job.worker_id, next(w.worker_id for w in cluster.workers if w.worker_id != job.worker_id)
    after = cluster.scrape(served)
    counted = {
        ("shopme_sessions_ended_total", ("outcome", "completed")): 1,
        ("shopme_tool_calls_total", ("outcome", "refused"), ("tool", "verify_customer")): 1,
        ("shopme_tool_calls_total", ("outcome", "ok"), ("tool", "verify_customer")): 1,
        ("shopme_tool_calls_total", ("outcome", "ok"), ("tool", "get_order_status")): 1,
        ("shopme_tool_calls_total", ("outcome", "ok"), ("tool", "escalate_to_human")): 1,
        ("shopme_tool_duration_seconds_count", ("tool", "get_order_status")): 1,
        ("shopme_verification_failures_total",): 1,
        ("shopme_verification_lockouts_total",): 0,
        ("shopme_escalations_total", ("path", "callback")): 1,
        ("shopme_webhook_deliveries_total",): 1,
        ("shopme_webhook_failures_total",): 0,
        ("shopme_session_duration_seconds_count",): 1,
    }
    for (name, *labels), expected in counted.items():
        assert delta(after, before[served], name, **dict(labels)) == expected, (name, labels)
    assert delta(after, before[served], "shopme_model_tokens_total", direction="output") > 0
    active = ("shopme_sessions_active", (("agent", AGENT_NAME),))
    assert before[served][active] == 0
    # the worker refreshes the gauges with its load, every half second
    await wait_until(lambda: cluster.scrape(served)[active] == 0, timeout=10, what="no active session")
    assert after[("shopme_sessions_capacity", (("agent", AGENT_NAME),))] == CAPACITY
    # the other worker served nothing
    untouched = cluster.scrape(other)
    assert delta(untouched, before[other], "shopme_sessions_ended_total", outcome="completed") == 0

    # its log: one JSON object per line; every line about the call names it (the call runs in the
    # worker process under the default layout, so lines are told apart by what they say)
    lines = [json.loads(line) for line in cluster.worker(served).log().splitlines() if line.startswith("{")]
    about = [line for line in lines if any(room in str(value) or job.id in str(value) for value in line.values())]
    assert len(about) >= 3
    for line in about:
        assert (line.get("job_id"), line.get("room")) == (job.id, room), line
    # the call's own lines (ours and livekit-agents') carry the session too
    ended = next(line for line in about if line["message"].startswith(f"session {job.id} ended"))
    linked = next(line for line in about if line["message"] == "RoomIO linked to participant")
    assert ended["session_id"] == linked["session_id"] == job.id


# --- one return, two rooms, two workers ----------------------------------------------------------


async def test_the_same_return_from_two_rooms_on_two_workers_gives_exactly_one_rma(cluster: Cluster) -> None:
    lk, store = cluster.lk, cluster.store
    customer = await store.customer_id_of(RETURN_ORDER)
    item = next(i for i in await store.items_of(RETURN_ORDER) if not i.final_sale)
    request = tool("start_return", order_number=RETURN_ORDER, sku=item.sku, reason="does not fit", quantity=item.quantity)
    await both_idle(cluster)  # so the double, picking the least loaded, puts one room on each
    async with contextlib.AsyncExitStack() as calls:
        callers = [
            await calls.enter_async_context(
                in_room(lk.url, caller_token(lk, f"twin-{n}", f"room-twin-{n}", customer_id=customer), f"twin-{n}")
            )
            for n in range(2)
        ]
        jobs = [await job_for(lk, f"room-twin-{n}") for n in range(2)]
        assert jobs[0].worker_id != jobs[1].worker_id  # one room on each worker
        await asyncio.gather(*(greeted(c) for c in callers))
        await asyncio.gather(*(c.type(request) for c in callers))  # the same moment

        def replied(caller: Caller) -> bool:
            return any("start_return" in said for said in caller.said_by())

        await wait_until(lambda: all(replied(c) for c in callers), timeout=30, what="both answers")

    returns = await store.returns_of(RETURN_ORDER)
    assert len(returns) == 1 and returns[0].rma.startswith("RMA-")
    sessions = [
        connection for connection in cluster.brain.connections
        if any(
            part.get("text") == request
            for item in connection.items for part in item.get("content") or []
        )
    ]
    assert len(sessions) == 2
    outputs = [
        json.loads(out) if out.startswith("{") else out
        for connection in sessions
        for out in cluster.brain.tool_outputs(connection, "start_return")
    ]
    assert len(outputs) == 2
    rmas = {o["rma"] for o in outputs if isinstance(o, dict) and "rma" in o}
    assert rmas == {returns[0].rma}  # whoever got an RMA got that one; the other was told no


# --- capacity and load-based dispatch --------------------------------------------------------------


def most_at_once(jobs) -> int:
    """The most of `jobs` running at the same time."""
    events = sorted(
        [(j.assigned_at, 1) for j in jobs] + [(j.ended_at, -1) for j in jobs if j.ended_at is not None]
    )
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


async def test_six_calls_spread_over_both_workers_and_a_full_worker_gets_no_job(cluster: Cluster) -> None:
    lk = cluster.lk
    ids = [w.worker_id for w in cluster.workers]
    await both_idle(cluster)
    async with contextlib.AsyncExitStack() as calls:
        callers = []
        for n in range(2 * CAPACITY):
            room = f"room-six-{n}"
            callers.append(
                await calls.enter_async_context(in_room(lk.url, caller_token(lk, f"six-{n}", room), f"six-{n}"))
            )
        jobs = [await job_for(lk, f"room-six-{n}", timeout=120) for n in range(2 * CAPACITY)]
        await asyncio.gather(*(greeted(c, timeout=180) for c in callers))

        per_worker = collections.Counter(job.worker_id for job in jobs)
        assert per_worker == {worker_id: CAPACITY for worker_id in ids}
        for worker_id in ids:
            assert most_at_once([j for j in lk.jobs.values() if j.worker_id == worker_id]) <= CAPACITY
        # both tell LiveKit they are full
        await lk.wait_for(
            lambda: all(lk.workers[i].status == agent.WorkerStatus.WS_FULL for i in ids), 15, "both full"
        )

        # a seventh call finds no worker to take it ...
        extra = await calls.enter_async_context(in_room(lk.url, caller_token(lk, "six-extra", "room-six-extra"), "six-extra"))
        await lk.wait_for(lambda: "room-six-extra" in lk.dispatcher.waiting_rooms(), 30, "the dispatch to wait")
        assert lk.jobs_in("room-six-extra") == []
        # ... until one call ends: it goes to the worker that has room again
        first = callers[0]
        freed = jobs[0].worker_id
        await first.hang_up()
        await asyncio.wait_for(jobs[0].done.wait(), 60)
        job = await job_for(lk, "room-six-extra", timeout=60)
        assert job.worker_id == freed
        await greeted(extra)
        for worker_id in ids:
            assert most_at_once([j for j in lk.jobs.values() if j.worker_id == worker_id]) <= CAPACITY


# --- a call longer than the drain timeout ---------------------------------------------------------


async def test_a_call_outlasting_the_drain_timeout_is_ended_with_its_record_and_the_worker_exits_0(
    cluster: Cluster, tmp_path
) -> None:
    """Its own worker, under another agent name, so that only it gets this call."""
    lk, store = cluster.lk, cluster.store
    name = "shopme-drain-test"
    env = {
        **worker_env(cluster.brain, cluster.store_url, cluster.desk),
        "AGENT_NAME": name,
        "SHOPME_HEALTH_PORT": str(free_port()),
        "SHOPME_DRAIN_TIMEOUT_S": "3",
        "SHOPME_IDLE_PROCESSES": "1",
    }
    worker = WorkerProcess(lk, ["agent.py", "start"], env, tmp_path / "drain.log", name)
    await worker.start()
    try:
        token = (
            api.AccessToken(lk.api_key, lk.api_secret)
            .with_identity("caller-long")
            .with_grants(api.VideoGrants(room_join=True, room="room-long"))
            .with_room_config(api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name=name)]))
            .to_jwt()
        )
        async with in_room(lk.url, token, "caller-long") as caller:
            job = await job_for(lk, "room-long")
            assert job.worker_id == worker.worker_id
            await greeted(caller)
            assert worker.process is not None
            worker.process.send_signal(signal.SIGTERM)
            # the caller stays on: after 3 s the worker ends the call and exits 0
            for _ in range(600):
                if worker.process.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            assert worker.process.returncode == 0, worker.log()[-3000:]
            await wait_until(lambda: not caller.agents(), timeout=30, what="the agent to leave")
        [record] = await store.records(job.id)
        assert record.room == "room-long"
    finally:
        await worker.stop()


# --- SIGTERM during a call (last: it ends a worker) ------------------------------------------------


async def test_sigterm_during_a_call_drains_the_worker_which_then_exits_0(cluster: Cluster) -> None:
    lk, store = cluster.lk, cluster.store
    customer = await store.customer_id_of(PRIYA_ORDER)
    token = caller_token(lk, "caller-drain", "room-drain", customer_id=customer)
    async with in_room(lk.url, token, "caller-drain") as caller:
        job = await job_for(lk, "room-drain")
        await greeted(caller)
        draining = cluster.worker(job.worker_id)
        other = next(w for w in cluster.workers if w is not draining)
        assert draining.process is not None
        draining.process.send_signal(signal.SIGTERM)  # what Kubernetes sends to the container

        # it takes no new call: the next one goes to the other worker
        await lk.wait_for(
            lambda: lk.workers[job.worker_id].status == agent.WorkerStatus.WS_FULL, 15, "the drain to be reported"
        )
        async with in_room(lk.url, caller_token(lk, "caller-next", "room-next"), "caller-next") as newcomer:
            assert (await job_for(lk, "room-next")).worker_id == other.worker_id
            await greeted(newcomer)

        # the call in progress goes on
        await caller.type(tool("get_order_status", order_number=PRIYA_ORDER))
        await answered(caller, f"Order {PRIYA_ORDER} is shipped.")
        assert draining.process.poll() is None
    # the caller hung up: the call ends, its record is stored, then the worker exits 0
    await asyncio.wait_for(job.done.wait(), 60)
    assert job.status == agent.JobStatus.JS_SUCCESS
    for _ in range(600):
        if draining.process.poll() is not None:
            break
        await asyncio.sleep(0.1)
    assert draining.process.returncode == 0, draining.log()[-3000:]
    [record] = await store.records(job.id)
    assert record.room == "room-drain"
