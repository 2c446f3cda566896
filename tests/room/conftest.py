"""Room-level tests: the real worker (`python agent.py dev`) in real rooms of the LiveKit double.

They run only inside the private network namespace of `scripts/netns-run.sh` (`make test` runs
them there, see scripts/run-tests.sh); anywhere else they are skipped with the reason, so no WebRTC
packet can ever leave 127.0.0.0/8. One double, one fake Azure service, one desk and ONE worker
process serve the whole package: a worker start costs seconds. Every test module marks its tests
`room` (`pytest -m room` / `-m "not room"` select them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from tests.livekit_server import LiveKitServerDouble
from tests.livekit_server.fixtures import WorkerProcess
from tests.livekit_server.netns import namespace_problem

from .harness import AGENT_NAME, Desk, RoomBrain, StoreView, worker_env


@dataclass
class Stack:
    lk: LiveKitServerDouble
    brain: RoomBrain
    desk: Desk
    worker: WorkerProcess
    store: StoreView


@pytest.fixture(scope="package", autouse=True)
def private_network() -> None:
    problem = namespace_problem()
    if problem:
        pytest.skip(problem)


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def stack(private_network, tmp_path_factory) -> AsyncIterator[Stack]:
    base = tmp_path_factory.mktemp("room")
    database_url = f"sqlite+aiosqlite:///{base / 'shop.db'}"
    async with LiveKitServerDouble() as lk, RoomBrain() as brain:
        desk = await Desk().start()
        worker = WorkerProcess(
            lk,
            ["agent.py", "dev"],
            worker_env(brain, database_url, desk),
            base / "worker.log",
            AGENT_NAME,
        )
        store = None
        try:
            await worker.start()
            store = await StoreView.open(database_url)  # the worker created and seeded it
            yield Stack(lk, brain, desk, worker, store)
        finally:
            await worker.stop()
            if store is not None:
                await store.aclose()
            await desk.aclose()
