"""Issue 8.3: failed verifications are counted in the store, so reconnecting (a new session, on
any worker) does not give a caller more guesses. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from support_tools.domain.errors import SupportError
from support_tools.domain.rules import ShopRules, ThrottleRules
from support_tools.domain.service import SupportService
from support_tools.domain.verification import VERIFY_FAILED, VERIFY_THROTTLED
from support_tools.settings import ConfigError, load_settings
from support_tools.store.database import SCHEMA_VERSION, Store
from support_tools.store.migrations import upgrade
from support_tools.store.models import ConversationRecord, VerificationFailure, VerificationLock
from tests.store_fixtures import NOW, backend_url, build_world, caller, empty_tables

ROOT = Path(__file__).resolve().parent.parent
ORDER, PIN = "482913", "560001"
WRONG = ["110001", "110002", "110003"]


async def refused(service: SupportService, me, order: str, pin: str) -> str:
    with pytest.raises(SupportError) as refusal:
        await service.verify_customer(me, order, pin)
    return refusal.value.message


async def test_three_calls_of_three_guesses_do_not_unlock_a_fourth(service, clock) -> None:
    """Why: three sessions of three wrong postal codes each, then a fourth verified at once."""
    for session in range(3):
        me = caller(f"guess-{session}")
        for pin in WRONG:
            await refused(service, me, ORDER, pin)
        assert me.verification_locked  # the per-session lockout stays
    fourth = caller("guess-4")
    message = await refused(service, fourth, ORDER, PIN)
    assert message == VERIFY_THROTTLED and not fourth.verified
    assert message.startswith(VERIFY_FAILED) and "escalate_to_human" in message


async def test_the_fifth_failure_locks_the_order_for_thirty_minutes(service, store, clock) -> None:
    for attempt in range(4):
        assert await refused(service, caller(f"s{attempt}"), ORDER, WRONG[0]) == VERIFY_FAILED
    assert await refused(service, caller("s5"), ORDER, WRONG[0]) == VERIFY_THROTTLED
    assert await refused(service, caller("s6"), ORDER, PIN) == VERIFY_THROTTLED

    clock[0] = NOW + timedelta(minutes=29)
    assert await refused(service, caller("s7"), ORDER, PIN) == VERIFY_THROTTLED
    clock[0] = NOW + timedelta(minutes=30, seconds=1)
    me = caller("s8")
    assert (await service.verify_customer(me, ORDER, PIN))["first_name"] == "Priya"
    async with store.session() as db:
        [lock] = (await db.scalars(select(VerificationLock))).all()
    assert lock.subject == f"order:{ORDER}" and lock.failures == 5


async def test_failures_older_than_the_window_do_not_count(service, clock) -> None:
    for attempt in range(4):
        await refused(service, caller(f"old{attempt}"), ORDER, WRONG[0])
    clock[0] = NOW + timedelta(minutes=31)
    assert await refused(service, caller("new"), ORDER, WRONG[0]) == VERIFY_FAILED
    assert (await service.verify_customer(caller("owner"), ORDER, PIN))["verified"]


async def test_an_unknown_number_is_throttled_in_the_same_words(service) -> None:
    """Locking never tells a guesser whether the number exists."""
    for attempt in range(5):
        await refused(service, caller(f"u{attempt}"), "999999", WRONG[0])
        await refused(service, caller(f"k{attempt}"), ORDER, WRONG[0])
    assert await refused(service, caller("u"), "999999", PIN) == await refused(service, caller("k"), ORDER, PIN)


async def test_one_caller_guessing_across_order_numbers_is_locked(service) -> None:
    """Counted per caller identity too: the same phone number trying five different orders."""
    for attempt, number in enumerate(["100001", "100002", "100003", "100004", "100005"]):
        me = caller(f"c{attempt}")
        me.identity = "tel:+919999900000"
        await refused(service, me, number, WRONG[0])
    same = caller("c6")
    same.identity = "tel:+919999900000"
    assert await refused(service, same, ORDER, PIN) == VERIFY_THROTTLED
    other = caller("c7")
    other.identity = "tel:+918888800000"
    assert (await service.verify_customer(other, ORDER, PIN))["verified"]


async def test_the_caller_identity_is_stored_as_a_pseudonym(service, store) -> None:
    me = caller("p1")
    me.identity = "tel:+919999900000"
    await refused(service, me, ORDER, WRONG[0])
    async with store.session() as db:
        [failure] = (await db.scalars(select(VerificationFailure))).all()
    assert failure.caller_key and "9999900000" not in failure.caller_key
    assert failure.order_number == ORDER and failure.session_id == "p1"


async def test_concurrent_guesses_from_many_sessions_lock_at_the_limit(service) -> None:
    sessions = [caller(f"race{n}") for n in range(8)]
    await asyncio.gather(*(refused(service, me, ORDER, WRONG[0]) for me in sessions))
    assert await refused(service, caller("after"), ORDER, PIN) == VERIFY_THROTTLED


def test_a_locked_order_is_listed_by_the_store_command(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"

    async def lock_it() -> None:
        store = await Store.open(url)
        await build_world(store)
        service = SupportService(store, ShopRules(throttle=ThrottleRules(max_failures=2)))
        for attempt in range(2):
            await refused(service, caller(f"cli{attempt}"), ORDER, WRONG[0])
        await store.close()

    asyncio.run(lock_it())
    listed = subprocess.run(
        [sys.executable, "-m", "support_tools.store", "locks", "--url", url],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    assert f"order {ORDER}" in listed and "| 2 |" in listed


def test_throttle_settings_are_validated_and_default_to_five_in_thirty_minutes(base_env) -> None:
    settings = load_settings(base_env)
    assert (settings.verify_max_failures, settings.verify_failure_window_min, settings.verify_lock_min) == (5, 30, 30)
    for name, bad in [("VERIFY_MAX_FAILURES", "0"), ("VERIFY_FAILURE_WINDOW_MIN", "half an hour"),
                      ("VERIFY_LOCK_MIN", "-5"), ("VERIFY_MAX_FAILURES", "2.5")]:
        with pytest.raises(ConfigError) as error:
            load_settings({**base_env, name: bad})
        assert error.value.variable == name


# --- two worker processes on PostgreSQL --------------------------------------------------------

WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from support_tools.domain.caller import CallerState
    from support_tools.domain.errors import SupportError
    from support_tools.domain.service import SupportService
    from support_tools.store.database import Store

    async def main(url, schema, worker):
        store = await Store.open(url, search_path=schema, migrate=False)
        service = SupportService(store)
        for session in range(2):
            me = CallerState(session_id=f"{worker}-{session}")
            for pin in ("110001", "110002"):
                try:
                    await service.verify_customer(me, "482913", pin)
                except SupportError:
                    pass
        await store.close()

    asyncio.run(main(*sys.argv[1:]))
    """
)


def test_two_worker_processes_on_postgresql_share_the_count(tmp_path, pg_schema) -> None:
    """Two processes, each with two sessions of two wrong guesses (8 in all): the order locks at
    exactly the 5th failure, whichever process made it, and stays locked for a session in a
    third process (this test). Guesses after the lock are refused without being counted."""
    url, schema = backend_url("postgresql", tmp_path, pg_schema)

    async def prepare() -> None:
        store = await Store.open(url, search_path=schema)
        await empty_tables(store)
        await build_world(store)
        await store.close()

    asyncio.run(prepare())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, url, schema, name], cwd=ROOT, env=env)
        for name in ("worker-a", "worker-b")
    ]
    assert [w.wait(timeout=120) for w in workers] == [0, 0]

    async def check() -> None:
        store = await Store.open(url, search_path=schema, migrate=False)
        try:
            async with store.session() as db:
                failures = await db.scalar(select(func.count()).select_from(VerificationFailure))
                sessions = set((await db.scalars(select(VerificationFailure.session_id))).all())
            assert failures == 5
            # each worker makes 4 guesses, so both contributed to the count
            assert {s.split("-")[1] for s in sessions} == {"a", "b"}
            assert await refused(SupportService(store), caller("third"), ORDER, PIN) == VERIFY_THROTTLED
        finally:
            await store.close()

    asyncio.run(check())


# --- the schema change ------------------------------------------------------------------------


async def test_a_version_1_store_is_upgraded_in_place(store_url) -> None:
    """An existing v1 database (made by the v1 step exactly) keeps its records and gains the
    throttling tables and the `model_unavailable` outcome."""
    url, schema = store_url
    probe = await Store.open(url, search_path=schema)  # to empty the tables of a previous test
    await empty_tables(probe)
    await probe.close()
    kwargs = {"connect_args": {"server_settings": {"search_path": schema}}} if schema else {}
    engine = create_async_engine(url, **kwargs)
    async with engine.begin() as conn:
        for table in ("verification_locks", "verification_failures", "conversation_records", "schema_version"):
            await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        await conn.run_sync(lambda sync: upgrade(sync, target=1))
        await conn.execute(
            text(
                "INSERT INTO conversation_records (id, session_id, started_at, ended_at, duration_s, outcome, "
                "transcript, usage) VALUES ('REC-OLD', 's-old', :t, :t, 1.0, 'resolved', '[]', '{}')"
            ),
            {"t": NOW if schema else NOW.replace(tzinfo=None)},
        )
    with pytest.raises(Exception, match="(?i)check"):
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO conversation_records (id, session_id, started_at, ended_at, duration_s, "
                    "outcome, transcript, usage) VALUES ('REC-NEW', 's', :t, :t, 1.0, 'model_unavailable', '[]', '{}')"
                ),
                {"t": NOW if schema else NOW.replace(tzinfo=None)},
            )
    await engine.dispose()

    store = await Store.open(url, search_path=schema)
    try:
        assert await store.schema_version() == SCHEMA_VERSION == 2
        service = SupportService(store)
        record_id = await service.save_conversation_record(
            {"session_id": "s-new", "outcome": "model_unavailable", "transcript": []}
        )
        async with store.session() as db:
            outcomes = dict((await db.execute(select(ConversationRecord.session_id, ConversationRecord.outcome))).all())
        assert outcomes == {"s-old": "resolved", "s-new": "model_unavailable"}
        assert (await service.get_conversation_record(record_id))["outcome"] == "model_unavailable"
        await build_world(store)
        for attempt in range(5):
            await refused(service, caller(f"up{attempt}"), ORDER, WRONG[0])
        assert await refused(service, caller("up"), ORDER, PIN) == VERIFY_THROTTLED
    finally:
        await store.close()
