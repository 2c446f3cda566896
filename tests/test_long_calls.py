"""Issue 9, long calls: the worker keeps a bounded window of the conversation and a bounded
transcript in memory, the realtime service keeps the whole conversation, the store gets the whole
record. (Per-turn time and memory are measured by bench/bench_turn.py, not here.)

The window reaches into livekit-agents internals (support_tools/voice/history_window.py): the
tests below fail if the framework changes under it.
"""

from __future__ import annotations

from typing import Any

import pytest
from livekit.agents import AgentSession, llm
from livekit.plugins import openai

from support_tools.domain.caller import CallerState
from support_tools.domain.rules import ShopRules
from support_tools.domain.service import SupportService
from support_tools.settings import DEFAULT_HISTORY_ITEMS, ConfigError, load_settings
from support_tools.voice.conversation_log import RECENT_ENTRIES, ConversationLog
from support_tools.voice.recorder import save_record, start_spool
from tests.fake_azure import fixtures
from tests.fake_azure.fixtures import agent_session, azure_env, wait_until

fake_azure = fixtures.fake_azure
http_session = fixtures.http_session
ORDER, PIN = "482913", "560001"
WINDOW = 20  # the smallest window the setting allows: a long call in a few dozen turns
TURNS = 30  # four items each (question, tool call, its output, answer): 120 items


def realtime_session(run) -> Any:
    (session,) = run.session.llm._sessions
    return session


async def order_turns(run, fake, turns: int) -> None:
    for _ in range(turns):
        fake.script.call_tool("get_order_status", {"order_number": ORDER})
        fake.script.say("It has shipped.")
        await run.session.run(user_input=f"Where is my order {ORDER}?")


async def verified_call(fake, http_session, demo_store, tmp_path, session_id: str):
    service = SupportService(demo_store, ShopRules())
    caller = CallerState(session_id=session_id)
    await service.verify_customer(caller, ORDER, PIN)
    env = azure_env(fake, SHOPME_HISTORY_ITEMS=str(WINDOW), SHOPME_SPOOL_DIR=str(tmp_path / "spool"))
    fake.script.say("Hello.")
    return service, agent_session(fake, http_session, env=env, service=service, caller=caller)


async def test_a_long_call_keeps_a_window_client_side_and_the_whole_conversation_server_side(
    fake_azure, http_session, demo_store, tmp_path
):
    fake = fake_azure
    service, call = await verified_call(fake, http_session, demo_store, tmp_path, "long-window")
    async with call as run:
        start_spool(run.state)
        await fake.wait_for_sent("response.done")
        await order_turns(run, fake, TURNS)
        await wait_until(lambda: run.session.agent_state == "listening", what="the agent listening")
        mirror = realtime_session(run).chat_ctx.items
        history = run.session.history.items
        agent_items = [i for i in run.agent.chat_ctx.items if i.type != "message" or i.role not in ("system", "developer")]
        server_items = list(fake.connection.items)
        answered = [e for e in fake.sent("response.done") if e["response"]["status"] == "completed"]
        recorded_events = len(run.session._recorded_events)
        state = run.state
    # the worker holds a window of the conversation, whatever the length of the call
    assert run.window is not None and run.window.cuts > 0
    assert 0 < len(mirror) <= WINDOW and 0 < len(history) <= WINDOW and 0 < len(agent_items) <= WINDOW
    assert [i.id for i in agent_items] == [i.id for i in mirror]  # all cut at the same item
    assert mirror[0].type == "message"  # never between a tool call and its output
    # ... and keeps no list of session events nobody reads
    assert recorded_events == 0
    # the service still has every item: nothing was deleted or sent twice, no error came back
    assert fake.events("conversation.item.delete") == []
    assert fake.sent("error") == []
    user_messages = [i for i in server_items if i["type"] == "message" and i["role"] == "user"]
    assert len(user_messages) == TURNS
    assert len([i for i in server_items if i["type"] == "function_call_output"]) == TURNS
    assert len({i["id"] for i in server_items}) == len(server_items)
    assert len(answered) == 2 * TURNS + 1  # every tool call and every answer, and the greeting
    # the record: whole, from the spool file, while memory held only what a ticket needs
    assert state.log.held_in_memory == 0
    assert len(state.log.recent(1000)) == RECENT_ENTRIES
    record_id = await save_record(state)
    stored = await service.get_conversation_record(record_id)
    transcript = stored["transcript"]
    assert sum(1 for e in transcript if e["role"] == "user") == TURNS
    assert sum(1 for e in transcript if e["role"] == "tool" and e["tool"] == "get_order_status") == TURNS
    assert sum(1 for e in transcript if e["role"] == "assistant") == TURNS + 1
    assert stored["outcome"] == "resolved"


async def test_after_a_dropped_socket_a_long_call_goes_on_with_its_window(
    fake_azure, http_session, demo_store, tmp_path
):
    fake = fake_azure
    _service, call = await verified_call(fake, http_session, demo_store, tmp_path, "long-reconnect")
    async with call as run:
        await fake.wait_for_sent("response.done")
        await order_turns(run, fake, TURNS)
        await fake.drop_connection()
        await wait_until(lambda: len(fake.connections) == 2, what="the plugin reconnecting")
        replayed = await fake.wait_for(
            "conversation.item.create", count=1, where=lambda e: e in fake.connections[1].events
        )
        await order_turns(run, fake, 2)
        second = fake.connections[1]
    assert replayed["previous_item_id"] == "root"
    replayed_items = [e for e in second.events if e["type"] == "conversation.item.create"]
    # the window was replayed (not the whole call), then the next two turns went on normally
    assert WINDOW - 4 <= len(replayed_items) - 2 * 2 <= WINDOW
    assert fake.sent("error") == []
    assert [e for e in second.events if e["type"] == "conversation.item.delete"] == []


async def test_a_chat_context_copied_before_a_cut_adds_only_what_is_new(
    fake_azure, http_session, demo_store, tmp_path
):
    """The framework copies the conversation, then waits for a lock before it is sent: a cut in
    between must not make the plugin create the forgotten items again, or delete any."""
    fake = fake_azure
    _service, call = await verified_call(fake, http_session, demo_store, tmp_path, "long-race")
    async with call as run:
        await fake.wait_for_sent("response.done")
        await order_turns(run, fake, 8)
        session = realtime_session(run)
        copied = session.chat_ctx.copy()
        run.window.keep = 6
        run.window.apply()  # the cut happens while the copy waits
        assert len(session.chat_ctx.items) <= 6 < len(copied.items)
        creates_before = len(fake.events("conversation.item.create"))
        copied.add_message(role="user", content="And my other order?")
        await session.update_chat_ctx(copied)
        created = fake.events("conversation.item.create")[creates_before:]
    assert [e["item"]["content"][0]["text"] for e in created] == ["And my other order?"]
    assert fake.events("conversation.item.delete") == []


async def test_the_framework_internals_the_window_relies_on_are_there():
    """history_window.py uses these; a livekit-agents upgrade that moves them fails here."""
    session = AgentSession()
    assert isinstance(session._recorded_events, list)
    assert isinstance(session.history, llm.ChatContext)
    remote = llm.remote_chat_context.RemoteChatContext()
    remote.insert(None, llm.ChatMessage(role="user", content=["hi"], id="a"))
    assert remote._head.item.id == "a" and remote.get("a") is not None
    assert callable(openai.realtime.RealtimeSession._create_update_chat_ctx_events)
    from livekit.agents import Agent

    assert isinstance(Agent(instructions="x")._chat_ctx, llm.ChatContext)


class FailingArchive:
    """An archive (a spool file) that refuses the entries from `fail_from` on, once."""

    def __init__(self, fail_at: int) -> None:
        self.fail_at = fail_at
        self.written: list[dict[str, Any]] = []
        self.calls = 0

    def append_entry(self, entry: dict[str, Any]) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            raise OSError("No space left on device")
        self.written.append(entry)

    def read_entries(self) -> list[dict[str, Any]]:
        return list(self.written)


def test_an_archive_that_fails_mid_call_loses_nothing_and_keeps_the_order():
    log = ConversationLog(archive=FailingArchive(fail_at=3))
    for n in range(6):
        log.add_message("user", f"question {n}")
    assert [e["text"] for e in log.entries] == [f"question {n}" for n in range(6)]
    assert log.held_in_memory == 4  # from the entry the archive refused on, held in memory
    record = log.to_record(session_id="s", room=None, customer_id=None, ticket_number=None)
    assert [e["text"] for e in record["transcript"]] == [f"question {n}" for n in range(6)]


def test_a_ticket_still_gets_the_callers_last_words_and_tools_from_a_spooled_log():
    log = ConversationLog(archive=FailingArchive(fail_at=0))
    for n in range(50):
        log.add_message("user", f"question {n}")
        log.add_tool_call("get_order_status", "{}", "{}", False)
    assert log.held_in_memory == 0
    assert log.summary().startswith("Caller said: question 47 / question 48 / question 49")
    assert log.recent()[-1]["role"] == "tool" and len(log.recent()) == RECENT_ENTRIES
    assert log.outcome(None) == "resolved"


def test_the_window_is_a_setting_with_a_sensible_floor():
    base = {"AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com", "AZURE_OPENAI_API_KEY": "k",
            "AZURE_OPENAI_DEPLOYMENT": "d"}
    assert load_settings(base).history_items == DEFAULT_HISTORY_ITEMS
    assert load_settings({**base, "SHOPME_HISTORY_ITEMS": "500"}).history_items == 500
    for wrong in ("10", "many", "-5", "1e3"):
        with pytest.raises(ConfigError, match="SHOPME_HISTORY_ITEMS"):
            load_settings({**base, "SHOPME_HISTORY_ITEMS": wrong})
