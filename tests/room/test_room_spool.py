"""Issue 8.5 with real workers: a call killed with SIGKILL mid-call still leaves its conversation
record.

- `processes` layout: the call's own job process is killed; the worker goes on and moves the
  record from the spool into the store.
- `loop` layout (the default): the calls live in the worker process, so the worker itself is
  killed; the next worker started on that spool moves the record when it starts.

Each test runs its own worker under its own agent name, so that only it gets the call.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from livekit import api

from tests.fake_azure.fixtures import wait_until
from tests.livekit_server.fixtures import WorkerProcess

from .harness import GREETING, PRIYA_ORDER, PRIYA_PIN, in_room, worker_env

pytestmark = [pytest.mark.asyncio(loop_scope="package"), pytest.mark.room]

VERIFY_TOOL = f'call verify_customer {{"order_number": "{PRIYA_ORDER}", "postal_code": "{PRIYA_PIN}"}}'


def spool_worker(stack, layout: str, spool: Path, log: Path) -> WorkerProcess:
    name = f"shopme-spool-{layout}"
    env = {
        **worker_env(stack.brain, stack.worker.env["DATABASE_URL"], stack.desk),
        "AGENT_NAME": name,
        "SHOPME_WORKER_LAYOUT": layout,
        "SHOPME_SPOOL_DIR": str(spool),
    }
    return WorkerProcess(stack.lk, ["agent.py", "dev"], env, log, name)


def token_for(stack, worker: WorkerProcess, identity: str, room: str) -> str:
    return (
        api.AccessToken(stack.lk.api_key, stack.lk.api_secret)
        .with_identity(identity)
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .with_room_config(api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name=worker.agent_name)]))
        .to_jwt()
    )


async def verified_call_spooled(stack, worker: WorkerProcess, caller, room: str, spool: Path):
    """The caller is greeted and verified; returns the job and its spool file's header."""
    lk = stack.lk
    await lk.wait_for(lambda: lk.jobs_in(room), 30, f"a job for {room}")
    job = lk.jobs_in(room)[0]
    await wait_until(lambda: GREETING in caller.said_by(), timeout=30, what="the greeting")
    await caller.type(VERIFY_TOOL)
    await wait_until(lambda: "verify_customer is done." in caller.said_by(), timeout=20, what="verified")
    path = spool / f"{job.job.id}.jsonl"
    return job, path, json.loads(path.read_text().splitlines()[0])


async def assert_record_kept(stack, job, room: str) -> None:
    [record] = await stack.store.records(job.job.id)
    assert record.room == room
    assert record.customer_public_id == await stack.store.customer_id_of(PRIYA_ORDER)
    assert [e["tool"] for e in record.transcript if e["role"] == "tool"] == ["verify_customer"]


async def test_a_job_process_killed_with_sigkill_mid_call_leaves_its_record(stack, tmp_path):
    spool, room = tmp_path / "spool", "room-killed"
    worker = await spool_worker(stack, "processes", spool, tmp_path / "worker.log").start()
    try:
        async with in_room(stack.lk.url, token_for(stack, worker, "caller-killed", room), "caller-killed") as caller:
            job, path, header = await verified_call_spooled(stack, worker, caller, room, spool)
            assert header["pid"] != worker.process.pid  # the call has a process of its own
            os.kill(header["pid"], signal.SIGKILL)  # the job process, mid-call
            # the worker's main process moves the record once nobody holds the file any more
            await wait_until(lambda: not path.exists(), timeout=30, what="the spooled record to be moved")
        await assert_record_kept(stack, job, room)
        assert worker.process.poll() is None  # the worker itself goes on
    finally:
        await worker.stop()


async def test_a_worker_killed_with_sigkill_mid_call_leaves_its_record_for_the_next_one(stack, tmp_path):
    spool, room = tmp_path / "spool", "room-worker-killed"
    log = tmp_path / "worker.log"
    worker = await spool_worker(stack, "loop", spool, log).start()
    try:
        async with in_room(stack.lk.url, token_for(stack, worker, "caller-cut", room), "caller-cut") as caller:
            job, path, header = await verified_call_spooled(stack, worker, caller, room, spool)
            assert header["pid"] == worker.process.pid  # the call is a task of the worker process
            os.killpg(worker.process.pid, signal.SIGKILL)  # the worker and every call in it
            worker.process.wait()
        assert path.exists() and not await stack.store.records(job.job.id)
        restarted = await spool_worker(stack, "loop", spool, tmp_path / "restarted.log").start()
        try:
            await wait_until(lambda: not path.exists(), timeout=30, what="the next worker to move the record")
            await assert_record_kept(stack, job, room)
        finally:
            await restarted.stop()
    finally:
        await worker.stop()
