"""Issue 8.4: a lost model connection never hangs the call.

- a dropped socket that comes back within the plugin's retries: the conversation goes on;
- the primary region killed mid-call: the session goes on in the fallback region, with the
  conversation so far and the caller still verified; new sessions skip the failed region;
- no region left: an apology (audio clip + the same words in the transcript), a callback ticket
  for a verified caller with a phone on file, the session ends, the record says model_unavailable.

Two fake Azure services play the two regions; "killed" is the fake's server shut down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from livekit.agents import AgentSession, APIConnectOptions
from sqlalchemy import select

from support_tools.domain.caller import CallerState
from support_tools.domain.rules import ShopRules
from support_tools.domain.service import SupportService
from support_tools.settings import load_settings
from support_tools.store.models import Ticket
from support_tools.voice import model_failover
from support_tools.voice.agent import SupportAgent
from support_tools.voice.model import build_realtime_model
from support_tools.voice.model_failover import Region, in_order, mark_failed
from support_tools.voice.model_outage import (
    APOLOGY,
    APOLOGY_CLIP,
    CONSOLE_LINE,
    attach_outage_handler,
)
from support_tools.voice.recorder import attach_recorder, save_record
from support_tools.voice.session import Userdata
from tests.fake_azure import FakeAzureRealtime, fixtures
from tests.fake_azure.fixtures import AZURE_KEY, azure_env, wait_until
from tests.fake_azure.session_io import ScriptedMicrophone, SimulatedSpeaker

http_session = fixtures.http_session
ORDER, PIN = "482913", "560001"
# Fast reconnect attempts, so "every region stays down" is decided in about a second.
QUICK_RETRIES = APIConnectOptions(max_retry=2, retry_interval=0.3, timeout=2.0)


@pytest.fixture(autouse=True)
def healthy_regions():
    model_failover.forget_failures()
    yield
    model_failover.forget_failures()


@pytest.fixture
async def regions() -> AsyncIterator[tuple[FakeAzureRealtime, FakeAzureRealtime]]:
    primary, fallback = FakeAzureRealtime(api_key=AZURE_KEY), FakeAzureRealtime(api_key=AZURE_KEY)
    await primary.start()
    await fallback.start()
    try:
        yield primary, fallback
    finally:
        await primary.aclose()
        await fallback.aclose()


class Call:
    def __init__(self, session: AgentSession, state: Userdata, speaker: SimulatedSpeaker | None) -> None:
        self.session, self.state, self.speaker = session, state, speaker
        self.closed = asyncio.Event()
        self.close_error: Any = None


@contextlib.asynccontextmanager
async def call(env: dict[str, str], http, service, caller: CallerState, *, spoken: bool = False) -> AsyncIterator[Call]:
    """The worker's pieces, as agent.py wires them (model, recorder, outage handler, agent)."""
    settings = load_settings(env)
    state = Userdata(settings=settings, service=service, caller=caller)
    model = build_realtime_model(settings, http_session=http, conn_options=QUICK_RETRIES)
    session = AgentSession[Userdata](llm=model, userdata=state, aec_warmup_duration=None)
    attach_recorder(session, state)
    attach_outage_handler(model, session, state)
    speaker = None
    if spoken:
        session.input.audio, speaker = ScriptedMicrophone(), SimulatedSpeaker()
        session.output.audio = speaker
    running = Call(session, state, speaker)

    def on_close(event) -> None:
        running.close_error = event.error
        running.closed.set()

    session.on("close", on_close)
    await session.start(agent=SupportAgent(settings), record=False)
    try:
        yield running
    finally:
        await session.aclose()
        await model.aclose()


def user_texts(fake: FakeAzureRealtime) -> list[str]:
    texts = []
    for event in fake.events("conversation.item.create"):
        item = event["item"]
        if item.get("role") == "user":
            texts += [part.get("text", "") for part in item.get("content", [])]
    return texts


async def verify(run: Call, fake: FakeAzureRealtime) -> None:
    fake.script.call_tool("verify_customer", {"order_number": ORDER, "postal_code": PIN})
    fake.script.say("Thank you, Priya, you're verified.")
    await run.session.run(user_input=f"My order is {ORDER} and my PIN is {PIN}")
    assert run.state.caller.verified


async def test_a_dropped_connection_that_comes_back_keeps_the_conversation(regions, http_session, demo_store):
    primary, _ = regions
    service = SupportService(demo_store, ShopRules())
    primary.script.say("Hello, ShopMe support.")
    async with call(azure_env(primary), http_session, service, CallerState(session_id="drop")) as run:
        await primary.wait_for_sent("response.done")
        await verify(run, primary)
        await primary.drop_connection()
        await wait_until(lambda: len(primary.connections) == 2, what="the plugin to reconnect")
        await wait_until(lambda: any(ORDER in t for t in user_texts(primary)[1:]), what="the replayed conversation")
        primary.script.say("Your order has shipped.")
        result = await run.session.run(user_input="And where is it now?")
    reply = result.expect.next_event().is_message(role="assistant").event().item
    assert reply.text_content == "Your order has shipped."
    # the new socket was given the conversation so far, including the caller's earlier words
    replayed = [e for e in primary.connections[1].events if e.get("type") == "conversation.item.create"]
    assert any(ORDER in str(e["item"].get("content")) for e in replayed)


async def test_the_primary_killed_mid_call_the_fallback_region_goes_on(regions, http_session, demo_store, caplog):
    """Why: killing the realtime service mid-call left the caller's next line unanswered."""
    primary, fallback = regions
    service = SupportService(demo_store, ShopRules())
    me = CallerState(session_id="failover")
    env = azure_env(primary, AZURE_OPENAI_FALLBACK_ENDPOINT=fallback.endpoint)
    primary.script.say("Hello, ShopMe support.")
    async with call(env, http_session, service, me) as run:
        await primary.wait_for_sent("response.done")
        await verify(run, primary)

        await primary.aclose()  # the primary region dies
        await fallback.wait_connected(timeout=10)
        await wait_until(lambda: any(ORDER in t for t in user_texts(fallback)), what="the conversation in the fallback")
        fallback.script.call_tool("get_order_status", {"order_number": ORDER})
        fallback.script.say("It has shipped with Delhivery.")
        result = await run.session.run(user_input="Where is it now?")

    result.expect.next_event().is_function_call(name="get_order_status")
    output = result.expect.next_event().is_function_call_output().event().item
    assert not output.is_error, output.output  # still verified: that state is the worker's
    assert '"status":"shipped"' in output.output
    reply = result.expect.next_event().is_message(role="assistant").event().item
    assert reply.text_content == "It has shipped with Delhivery."
    assert fallback.connection.query == {"model": "gpt-realtime"}
    # the fallback was given the whole conversation so far, instructions and tools included
    assert any(PIN in t for t in user_texts(fallback))
    assert {t["name"] for u in fallback.events("session.update") for t in u["session"].get("tools", [])} >= {
        "verify_customer", "get_order_status"
    }
    assert "Traceback" not in caplog.text


async def test_a_primary_that_refuses_the_connection_sends_the_session_to_the_fallback(regions, http_session):
    primary, fallback = regions
    primary.reject_next_connection(503, "Service unavailable")
    env = azure_env(primary, AZURE_OPENAI_FALLBACK_ENDPOINT=fallback.endpoint)
    fallback.script.say("Hello from the fallback.")
    async with call(env, http_session, None, CallerState(session_id="refused")):
        await fallback.wait_for_sent("response.done", timeout=10)
    assert [r.status for r in primary.rejections] == [503]
    assert primary.connections == [] and len(fallback.connections) == 1


async def test_new_sessions_skip_a_region_that_failed_in_the_last_minute(regions, http_session):
    primary, fallback = regions
    env = azure_env(primary, AZURE_OPENAI_FALLBACK_ENDPOINT=fallback.endpoint)
    settings = load_settings(env)
    failed = Region("primary", settings.azure_endpoint, settings.azure_deployment, settings.azure_api_key)
    mark_failed(failed)
    fallback.script.say("Hello from the fallback.")
    async with call(env, http_session, None, CallerState(session_id="skip")):
        await fallback.wait_for_sent("response.done", timeout=10)
    assert primary.connections == [] and len(fallback.connections) == 1


def test_region_order_puts_recent_failures_last_for_a_minute() -> None:
    a, b = Region("primary", "http://a", "d", "k"), Region("fallback", "http://b", "d", "k")
    assert in_order([a, b], now=100.0) == [a, b]
    mark_failed(a, now=100.0)
    assert in_order([a, b], now=159.0) == [b, a]
    assert in_order([a, b], now=161.0) == [a, b]


def test_fallback_settings_default_to_the_primarys_key_and_deployment(base_env) -> None:
    from support_tools.settings import ConfigError
    from support_tools.voice.model import regions_from_settings

    settings = load_settings({**base_env, "AZURE_OPENAI_FALLBACK_ENDPOINT": "https://other.openai.azure.com"})
    primary, fallback = regions_from_settings(settings)
    assert (fallback.endpoint, fallback.deployment, fallback.api_key) == (
        "https://other.openai.azure.com", primary.deployment, primary.api_key
    )
    assert "test-key" not in repr(settings) and "test-key" not in repr(fallback)
    with pytest.raises(ConfigError) as error:
        load_settings({**base_env, "AZURE_OPENAI_FALLBACK_ENDPOINT": "not a url"})
    assert error.value.variable == "AZURE_OPENAI_FALLBACK_ENDPOINT"
    with pytest.raises(ConfigError) as error:
        load_settings({**base_env, "AZURE_OPENAI_FALLBACK_API_KEY": "k"})
    assert error.value.variable == "AZURE_OPENAI_FALLBACK_API_KEY"


async def test_no_region_left_apologises_opens_a_callback_and_ends_with_a_record(
    regions, http_session, demo_store, caplog
):
    """Why: no answer, no message, no record until the process was killed."""
    caplog.set_level(logging.WARNING)
    primary, _ = regions
    service = SupportService(demo_store, ShopRules())
    me = CallerState(session_id="outage")
    primary.script.say("Hello, ShopMe support.")
    async with call(azure_env(primary), http_session, service, me, spoken=True) as run:
        await primary.wait_for_sent("response.done")
        await verify(run, primary)
        heard_before = run.speaker.received_ms()
        await primary.aclose()  # the only region dies
        await asyncio.wait_for(run.closed.wait(), 60)  # noqa: ASYNC109 (liveness bound, not a timing check)
        state, heard = run.state, run.speaker.received_ms() - heard_before

    # the caller heard the apology clip (the model cannot speak any more)...
    import wave

    with wave.open(str(APOLOGY_CLIP)) as clip:
        clip_ms = 1000 * clip.getnframes() / clip.getframerate()
    assert heard >= clip_ms * 0.9
    # ...and the transcript holds the same words
    record_id = await save_record(state)  # what the worker's shutdown does
    record = await service.get_conversation_record(record_id)
    assert record["outcome"] == "model_unavailable"
    assert [e["text"] for e in record["transcript"] if e["role"] == "assistant"][-1] == APOLOGY
    # a callback ticket for the verified caller, who has a phone on file
    async with demo_store.session() as db:
        [ticket] = (await db.scalars(select(Ticket).where(Ticket.session_id == "outage"))).all()
    assert ticket.urgency == "high" and "call the customer back" in ticket.reason
    assert "Traceback" not in caplog.text


async def test_no_region_left_for_an_unverified_caller_opens_no_ticket(regions, http_session, demo_store):
    primary, _ = regions
    service = SupportService(demo_store, ShopRules())
    primary.script.say("Hello, ShopMe support.")
    async with call(azure_env(primary), http_session, service, CallerState(session_id="anon")) as run:
        await primary.wait_for_sent("response.done")
        await primary.aclose()
        await asyncio.wait_for(run.closed.wait(), 60)  # noqa: ASYNC109 (liveness bound, not a timing check)
        record = await service.get_conversation_record(await save_record(run.state))
    assert record["outcome"] == "model_unavailable"
    async with demo_store.session() as db:
        assert (await db.scalars(select(Ticket))).all() == []


async def test_console_says_one_line_and_exits_1_when_no_region_is_left(tmp_path):
    """Why: in console mode the process sat at its prompt with chained tracebacks, and the
    record was only stored when it was killed (and lost on SIGHUP)."""
    from tests.console_pty import ConsoleProcess, poll_until
    from tests.test_console_text import console_env, ready_console, stored_records

    database_url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    fake = FakeAzureRealtime(api_key=AZURE_KEY)
    await fake.start()
    fake.script.say("Welcome to ShopMe support.")
    try:
        async with ConsoleProcess.spawn(console_env(fake, database_url)) as console:
            await ready_console(console, fake)
            await fake.aclose()  # the only region dies
            try:
                await poll_until(lambda: console.process.poll() is not None, timeout=120, what="the console to exit")
            except AssertionError as error:
                raise AssertionError(f"{error}; the console showed:\n{console.output[-4000:]}") from None
            await console._drain()
            output, code = console.output, console.process.returncode
    finally:
        await fake.aclose()
    assert code == 1, output[-2000:]
    assert output.count(CONSOLE_LINE) == 1
    assert "Traceback" not in output, output[-4000:]
    [record] = await stored_records(database_url)
    assert record["outcome"] == "model_unavailable"
    assert APOLOGY in [e["text"] for e in record["transcript"] if e["role"] == "assistant"]
