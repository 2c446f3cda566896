"""Issue 8.5 with a real job process: the worker (`agent.py dev`) runs each call in its own job
process; one killed with SIGKILL mid-call still leaves its conversation record, which the
worker's main process moves from the spool into the store.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.fake_azure.fixtures import wait_until

from .harness import GREETING, PRIYA_ORDER, PRIYA_PIN, caller_token, in_room

pytestmark = [pytest.mark.asyncio(loop_scope="package"), pytest.mark.room]

VERIFY_TOOL = f'call verify_customer {{"order_number": "{PRIYA_ORDER}", "postal_code": "{PRIYA_PIN}"}}'


async def test_a_job_process_killed_with_sigkill_mid_call_leaves_its_record(stack):
    lk = stack.lk
    spool = Path(stack.worker.env["SHOPME_SPOOL_DIR"])
    async with in_room(lk.url, caller_token(lk, "caller-killed", "room-killed"), "caller-killed") as caller:
        await lk.wait_for(lambda: lk.jobs_in("room-killed"), 30, "a job for room-killed")
        job = lk.jobs_in("room-killed")[0]
        await wait_until(lambda: GREETING in caller.said_by(), timeout=30, what="the greeting")
        await caller.type(VERIFY_TOOL)
        await wait_until(lambda: "verify_customer is done." in caller.said_by(), timeout=20, what="verified")
        path = spool / f"{job.job.id}.jsonl"
        header = json.loads(path.read_text().splitlines()[0])
        assert header["session_id"] == job.job.id and header["pid"] != stack.worker.process.pid
        os.kill(header["pid"], signal.SIGKILL)  # the job process, mid-call
        # the worker's main process moves the record once nobody holds the file any more
        await wait_until(lambda: not path.exists(), timeout=30, what="the spooled record to be moved")
    [record] = await stack.store.records(job.job.id)
    assert record.room == "room-killed"
    assert record.customer_public_id == await stack.store.customer_id_of(PRIYA_ORDER)
    assert [e["tool"] for e in record.transcript if e["role"] == "tool"] == ["verify_customer"]
    assert stack.worker.process.poll() is None  # the worker itself goes on
