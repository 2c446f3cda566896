"""Issue 8.5: a locked or unreachable store answers a tool promptly, in a sentence the caller can
hear with the offer of a call back or a person, and writes nothing.

"Promptly" is shown by construction: the lock is held for the whole call and released only after
the answer came back, so the answer cannot have waited for it. The time it takes is measured by
bench/bench_store_faults.py (p50/p95/p99), not asserted here.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator

import pytest

from support_tools.domain.caller import CallerState
from support_tools.domain.errors import SupportError
from support_tools.domain.rules import ShopRules
from support_tools.domain.service import SupportService
from support_tools.domain.store_faults import STORE_UNAVAILABLE
from support_tools.store.database import Store
from tests.fake_azure import fixtures
from tests.fake_azure.fixtures import agent_session
from tests.store_fixtures import order_status, snapshot, verified

fake_azure = fixtures.fake_azure
http_session = fixtures.http_session
LIVENESS_S = 30  # only so that a regression fails instead of hanging the suite


@contextlib.asynccontextmanager
async def store_locked(store: Store, tmp_path) -> AsyncIterator[None]:
    """Another process's transaction holds the store's write lock (SQLite) or an exclusive lock
    on the orders table (PostgreSQL) until the block ends."""
    if store.backend == "sqlite":
        holder = sqlite3.connect(str(store.engine.url.database), isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    import asyncpg

    url = store.engine.url
    conn = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, database=url.database,
        server_settings={"search_path": (await _search_path(store))},
    )
    tx = conn.transaction()
    await tx.start()
    await conn.execute("LOCK TABLE orders, customers IN ACCESS EXCLUSIVE MODE")
    try:
        yield
    finally:
        await tx.rollback()
        await conn.close()


async def _search_path(store: Store) -> str:
    async with store.engine.connect() as conn:
        return (await conn.exec_driver_sql("SHOW search_path")).scalar()


async def test_a_locked_store_refuses_a_write_with_a_sentence_and_writes_nothing(service, store, tmp_path):
    """Why: a locked store blocked a tool for 10-11 s before a generic apology."""
    me = verified()
    before = await snapshot(store)
    async with store_locked(store, tmp_path):
        with pytest.raises(SupportError) as refusal:
            await asyncio.wait_for(service.cancel_order(me, "710245", "changed my mind"), LIVENESS_S)
        # still locked here: the answer did not wait for the lock to go
    assert refusal.value.message == STORE_UNAVAILABLE
    assert "schedule_callback" in STORE_UNAVAILABLE and "escalate_to_human" in STORE_UNAVAILABLE
    assert await snapshot(store) == before
    assert await order_status(store, "710245") == "processing"
    # and once the store is free again, the same request works
    assert (await service.cancel_order(me, "710245", "changed my mind"))["status"] == "cancelled"


async def test_every_kind_of_store_fault_is_the_same_sentence(service, store, tmp_path):
    me = verified()
    calls = [
        # a wrong answer must be counted (a write); a right one only reads, see below
        lambda: service.verify_customer(CallerState(session_id="v"), "482913", "560002"),
        lambda: service.start_return(me, "517204", "SM-TSHIRT-BLK-M", "too small", 1),
        lambda: service.update_contact_details(me, "email", "new@example.com"),
        lambda: service.schedule_callback(me, "2026-11-24T15:30:00+05:30", "about my order"),
        lambda: service.open_ticket(CallerState(session_id="t"), "help", "normal", "", []),
    ]
    before = await snapshot(store)
    async with store_locked(store, tmp_path):
        for call in calls:
            with pytest.raises(SupportError) as refusal:
                await asyncio.wait_for(call(), LIVENESS_S)
            assert refusal.value.message == STORE_UNAVAILABLE
        # A right postal code only reads. SQLite's write lock leaves WAL readers alone, so it
        # verifies; PostgreSQL's ACCESS EXCLUSIVE lock blocks reads too: the same sentence.
        right = CallerState(session_id="r")
        if store.backend == "sqlite":
            await asyncio.wait_for(service.verify_customer(right, "482913", "560001"), LIVENESS_S)
            assert right.verified
        else:
            with pytest.raises(SupportError) as refusal:
                await asyncio.wait_for(service.verify_customer(right, "482913", "560001"), LIVENESS_S)
            assert refusal.value.message == STORE_UNAVAILABLE and not right.verified
    assert await snapshot(store) == before


async def test_an_unreachable_database_server_answers_with_the_sentence(unused_tcp_port):
    """Nothing listens on the port: the connection is refused."""
    store = await Store.open(f"postgresql+asyncpg://shop:pw@127.0.0.1:{unused_tcp_port}/shop", migrate=False)
    try:
        with pytest.raises(SupportError) as refusal:
            await asyncio.wait_for(SupportService(store).get_order_status(verified(), "482913"), LIVENESS_S)
    finally:
        await store.close()
    assert refusal.value.message == STORE_UNAVAILABLE


async def test_a_database_server_that_never_answers_gives_up_with_the_sentence():
    """The port accepts connections and then says nothing (a hung server, a dead route)."""
    held: list[asyncio.StreamWriter] = []

    async def silent(_reader, writer) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = await Store.open(f"postgresql+asyncpg://shop:pw@127.0.0.1:{port}/shop", migrate=False)
    try:
        with pytest.raises(SupportError) as refusal:
            await asyncio.wait_for(SupportService(store).get_product_info("kurta"), LIVENESS_S)
    finally:
        await store.close()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
    assert refusal.value.message == STORE_UNAVAILABLE


async def test_the_model_hears_the_sentence_when_the_store_is_locked(fake_azure, http_session, demo_store, tmp_path):
    fake = fake_azure
    service = SupportService(demo_store, ShopRules())
    me = CallerState(session_id="locked-store")
    await service.verify_customer(me, "482913", "560001")
    before = await snapshot(demo_store)
    fake.script.say("Hello Priya.")
    async with agent_session(fake, http_session, service=service, caller=me) as run:
        await fake.wait_for_sent("response.done")
        fake.script.call_tool("cancel_order", {"order_number": "710245", "reason": "changed my mind"})
        fake.script.say("Sorry, our system is not answering.")
        async with store_locked(demo_store, tmp_path):
            result = await run.session.run(user_input="Cancel 710245 please")
    result.expect.next_event().is_function_call(name="cancel_order")
    output = result.expect.next_event().is_function_call_output().event().item
    assert output.is_error and output.output == STORE_UNAVAILABLE
    assert await snapshot(demo_store) == before
