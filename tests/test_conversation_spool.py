"""Issue 8.5: the conversation record is never lost. It goes to a local append-only spool file
as the call goes, and into the store at the end of the call; if the store is down then, the
worker moves it as soon as the store is back, or at its next start. A job process killed with
SIGKILL leaves its record in the spool; SIGHUP, SIGTERM and SIGINT all store it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from support_tools.domain.caller import CallerState
from support_tools.domain.rules import ShopRules
from support_tools.domain.service import SupportService
from support_tools.domain.store_faults import STORE_UNAVAILABLE
from support_tools.settings import load_settings
from support_tools.store.database import Store
from support_tools.voice.recorder import save_record, start_spool
from support_tools.voice.spool import SessionSpool, move_spooled_records, spool_path
from support_tools.voice.startup import move_spool_once, start_spool_mover
from tests.console_pty import ConsoleProcess, poll_until
from tests.fake_azure import fixtures
from tests.fake_azure.fixtures import agent_session, azure_env, wait_until
from tests.store_fixtures import backend_url, build_world, empty_tables
from tests.tcp_proxy import TcpProxy
from tests.test_console_text import agent_said, console_env, ready_console, stored_records

fake_azure = fixtures.fake_azure
http_session = fixtures.http_session
ORDER, PIN = "482913", "560001"
NEW_PHONE = "+91 98765 22222"


def spool_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def verify_turn(run, fake) -> None:
    fake.script.call_tool("verify_customer", {"order_number": ORDER, "postal_code": PIN})
    fake.script.say("You're verified, Priya.")
    await run.session.run(user_input=f"Order {ORDER}, PIN {PIN}. Call me on {NEW_PHONE}.")


async def test_the_spool_holds_the_call_as_it_goes_and_goes_once_stored(fake_azure, http_session, demo_store, tmp_path):
    fake, spool_dir = fake_azure, tmp_path / "spool"
    service = SupportService(demo_store, ShopRules())
    me = CallerState(session_id="spool-live", room="room-7")
    fake.script.say("Hello.")
    env = azure_env(fake, SHOPME_SPOOL_DIR=str(spool_dir))
    async with agent_session(fake, http_session, env=env, service=service, caller=me) as run:
        start_spool(run.state)
        await fake.wait_for_sent("response.done")
        await verify_turn(run, fake)
        path = spool_path(spool_dir, "spool-live")
        lines = spool_lines(path)  # written during the call, not at its end
        # a live session's file is never taken by the mover
        assert await move_spooled_records(spool_dir, service) == []
        state = run.state
    kinds = [line["kind"] for line in lines]
    assert kinds[0] == "session" and "entry" in kinds
    assert {"kind": "caller", "customer_id": me.customer_id, "ticket_number": None, "room": "room-7"} in lines
    assert "98765" not in json.dumps(lines) and "******2222" in json.dumps(lines)
    record_id = await save_record(state)
    assert record_id is not None and not path.exists()
    assert (await service.get_conversation_record(record_id))["customer_id"] == me.customer_id


async def test_a_store_stopped_mid_call_gets_the_record_when_it_is_back(fake_azure, http_session, tmp_path, pg_schema):
    """PostgreSQL behind a proxy that is stopped mid-call and started again."""
    url, schema = backend_url("postgresql", tmp_path, pg_schema)
    target = make_url(url)
    spool_dir = tmp_path / "spool"
    async with TcpProxy(target.host, target.port) as proxy:
        proxied = target.set(port=proxy.port).render_as_string(hide_password=False)
        store = await Store.open(proxied, search_path=schema)
        await empty_tables(store)
        await build_world(store)
        service = SupportService(store, ShopRules())
        fake = fake_azure
        fake.script.say("Hello.")
        env = azure_env(fake, SHOPME_SPOOL_DIR=str(spool_dir))
        try:
            async with agent_session(fake, http_session, env=env, service=service,
                                     caller=CallerState(session_id="spool-outage")) as run:
                start_spool(run.state)
                await fake.wait_for_sent("response.done")
                await verify_turn(run, fake)
                await proxy.stop()  # the store goes down mid-call
                fake.script.call_tool("get_order_status", {"order_number": ORDER})
                fake.script.say("Sorry, our system is not answering.")
                result = await run.session.run(user_input="Where is my order now?")
                state = run.state
            result.expect.next_event().is_function_call(name="get_order_status")
            assert result.expect.next_event().is_function_call_output().event().item.output == STORE_UNAVAILABLE

            assert await save_record(state) is None  # the call ends while the store is down
            path = spool_path(spool_dir, "spool-outage")
            assert path.exists() and spool_lines(path)[-1]["kind"] == "record"
            with pytest.raises(Exception):  # noqa: B017 (any store error: it is down)
                await move_spooled_records(spool_dir, service)
            assert path.exists()

            await proxy.start()  # the store is back
            assert await move_spooled_records(spool_dir, service) == ["spool-outage"]
            assert not path.exists()
            [summary] = await service.list_conversation_records()
            record = await service.get_conversation_record(summary["id"])
        finally:
            await store.close()
    said = [e.get("text") for e in record["transcript"] if e["role"] == "user"]
    assert "Where is my order now?" in said  # the turn during the outage is there too
    assert record["customer_id"] == state.caller.customer_id and record["outcome"] == "abandoned"
    assert "98765" not in json.dumps(record)


async def test_the_worker_moves_a_waiting_record_as_soon_as_the_store_is_back(fake_azure, http_session, tmp_path):
    """SQLite held locked by another process while the call ends; the worker's spool mover
    (a thread of the worker's main process) stores the record once the lock is gone."""
    database = tmp_path / "shop.db"
    url, spool_dir = f"sqlite+aiosqlite:///{database}", tmp_path / "spool"
    store = await Store.open(url)
    await build_world(store)
    service = SupportService(store, ShopRules())
    fake = fake_azure
    fake.script.say("Hello.")
    env = azure_env(fake, SHOPME_SPOOL_DIR=str(spool_dir), DATABASE_URL=url)
    async with agent_session(fake, http_session, env=env, service=service,
                             caller=CallerState(session_id="spool-mover")) as run:
        start_spool(run.state)
        await fake.wait_for_sent("response.done")
        await verify_turn(run, fake)
        state = run.state
    holder = sqlite3.connect(str(database), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    stop = threading.Event()
    try:
        assert await save_record(state) is None
        start_spool_mover(load_settings(env), interval_s=0.1, stop=stop)
        await asyncio.sleep(0.5)
        assert spool_path(spool_dir, "spool-mover").exists()  # still waiting: the store is locked
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    try:
        await wait_until(lambda: not spool_path(spool_dir, "spool-mover").exists(), timeout=30, what="the mover")
    finally:
        stop.set()
    [summary] = await service.list_conversation_records()
    assert summary["session_id"] == "spool-mover" and summary["customer_id"] == state.caller.customer_id
    await store.close()



async def test_a_transcript_that_cannot_be_read_back_waits_in_the_spool_whole(
    fake_azure, http_session, tmp_path, monkeypatch
):
    """The call ends while its spool file cannot be read (the process is out of descriptors, say):
    no record is stored without its transcript, and the spool mover stores it whole later."""
    database = tmp_path / "shop.db"
    url, spool_dir = f"sqlite+aiosqlite:///{database}", tmp_path / "spool"
    store = await Store.open(url)
    await build_world(store)
    service = SupportService(store, ShopRules())
    fake = fake_azure
    fake.script.say("Hello.")
    env = azure_env(fake, SHOPME_SPOOL_DIR=str(spool_dir), DATABASE_URL=url)
    async with agent_session(fake, http_session, env=env, service=service,
                             caller=CallerState(session_id="spool-unreadable")) as run:
        start_spool(run.state)
        await fake.wait_for_sent("response.done")
        await verify_turn(run, fake)
        state = run.state
    path = spool_path(spool_dir, "spool-unreadable")
    entries_on_disk = [line["entry"] for line in spool_lines(path) if line["kind"] == "entry"]

    def out_of_descriptors(_spool):
        raise OSError(24, "Too many open files")

    with monkeypatch.context() as patched:
        patched.setattr(SessionSpool, "read_entries", out_of_descriptors)
        assert await save_record(state) is None
    assert await service.list_conversation_records() == []  # nothing stored without its transcript
    assert [line["kind"] for line in spool_lines(path)][-1] == "entry"  # no short record line

    assert await move_spool_once(load_settings(env)) == ["spool-unreadable"]
    [summary] = await service.list_conversation_records()
    record = await service.get_conversation_record(summary["id"])
    assert record["transcript"] == entries_on_disk and len(entries_on_disk) >= 2
    assert record["customer_id"] == state.caller.customer_id and not path.exists()
    await store.close()


async def test_the_spool_mover_opens_no_store_while_only_live_calls_are_spooled(
    fake_azure, http_session, demo_store, tmp_path, monkeypatch
):
    fake, spool_dir = fake_azure, tmp_path / "spool"
    service = SupportService(demo_store, ShopRules())
    fake.script.say("Hello.")
    env = azure_env(fake, SHOPME_SPOOL_DIR=str(spool_dir), DATABASE_URL="sqlite+aiosqlite:///unused.db")
    opened = []
    real_open = Store.open

    async def noting_open(*args, **kwargs):
        opened.append(args)
        return await real_open(*args, **kwargs)

    monkeypatch.setattr(Store, "open", noting_open)
    async with agent_session(fake, http_session, env=env, service=service,
                             caller=CallerState(session_id="spool-live-only")) as run:
        start_spool(run.state)
        await fake.wait_for_sent("response.done")
        assert spool_path(spool_dir, "spool-live-only").exists()
        assert await move_spool_once(load_settings(env)) == []
        state = run.state
    assert opened == []  # a live call's file is not moved, so no store was opened for it
    assert await save_record(state) is not None


# --- real processes: `python agent.py console --text` ------------------------------------------


def _env(fake, database_url: str, spool_dir: Path) -> dict[str, str]:
    return {**console_env(fake, database_url), "SHOPME_SPOOL_DIR": str(spool_dir)}


async def _one_verified_turn(console: ConsoleProcess, fake) -> None:
    await ready_console(console, fake)
    fake.script.call_tool("verify_customer", {"order_number": ORDER, "postal_code": PIN})
    fake.script.say("Thank you Priya, you are verified.")
    mark = console.mark()
    console.type_line(f"My order is {ORDER}, PIN {PIN}")
    await console.wait_for_match(agent_said("you are verified"), after=mark)


async def test_a_job_process_killed_mid_call_leaves_its_record(fake_azure, tmp_path):
    fake, spool_dir = fake_azure, tmp_path / "spool"
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    fake.script.say("Welcome to ShopMe support.")
    async with ConsoleProcess.spawn(_env(fake, database_url, spool_dir)) as console:
        await _one_verified_turn(console, fake)
        os.killpg(console.process.pid, signal.SIGKILL)
        console.process.wait(timeout=10)
    assert await stored_records(database_url) == []
    [left] = list(spool_dir.glob("*.jsonl"))

    # the next start moves it into the store
    fake.script.say("Welcome back.")
    async with ConsoleProcess.spawn(_env(fake, database_url, spool_dir)) as console:
        await console.wait_for_text("Type to talk to your agent", timeout=30)
        await poll_until(lambda: not left.exists(), timeout=30, what="the spooled record to be moved")
        assert await console.quit() == 0
    records = await stored_records(database_url)
    recovered = [r for r in records if any(ORDER in (e.get("text") or "") for e in r["transcript"])]
    assert len(recovered) == 1
    assert recovered[0]["customer_id"] is not None
    assert [e["tool"] for e in recovered[0]["transcript"] if e["role"] == "tool"] == ["verify_customer"]


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT], ids=["SIGHUP", "SIGTERM", "SIGINT"])
async def test_hangup_terminate_and_interrupt_all_store_the_record(fake_azure, tmp_path, sig):
    """Why: SIGHUP lost the record."""
    fake, spool_dir = fake_azure, tmp_path / "spool"
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    fake.script.say("Welcome to ShopMe support.")
    async with ConsoleProcess.spawn(_env(fake, database_url, spool_dir)) as console:
        await _one_verified_turn(console, fake)
        os.kill(console.process.pid, sig)
        await poll_until(lambda: console.process.poll() is not None, timeout=30, what="the console to exit")
    # stored by the process itself on its way out: nothing was left for a later start to move
    assert list(spool_dir.glob("*.jsonl")) == []
    [record] = await stored_records(database_url)
    assert record["customer_id"] is not None and record["outcome"] == "abandoned"
    assert [e["tool"] for e in record["transcript"] if e["role"] == "tool"] == ["verify_customer"]
