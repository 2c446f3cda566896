"""`python agent.py console --text` end to end: a person types into a real terminal (a pty), the
worker talks to the fake Azure realtime service, runs the real tools on a SQLite store, prints the
answer, and stores the conversation record when the person quits with Ctrl-C.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from support_tools.domain.caller import CallerState
from support_tools.domain.service import SupportService
from support_tools.store.database import Store
from tests.console_pty import COLUMNS, LINES, ConsoleProcess
from tests.fake_azure import FakeAzureRealtime, fixtures
from tests.fake_azure.fixtures import DEPLOYMENT

fake_azure = fixtures.fake_azure

PROMPT = "Type to talk to your agent"  # the empty input line's placeholder (the console's prompt)
DEMO_ORDER, DEMO_PIN = "482913", "560001"  # the README's ready-to-try case


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"


def console_env(fake: FakeAzureRealtime, database_url: str) -> dict[str, str]:
    """A clean environment: no LIVEKIT_* variables, no OPENAI_API_VERSION, no .env file."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "TERM": "xterm",
        "COLUMNS": str(COLUMNS),
        "LINES": str(LINES),
        "AZURE_OPENAI_ENDPOINT": fake.endpoint,
        "AZURE_OPENAI_API_KEY": fake.api_key,
        "AZURE_OPENAI_DEPLOYMENT": DEPLOYMENT,
        "DATABASE_URL": database_url,
        # next to the test's database: a record left by one test never lands in another's store
        "SHOPME_SPOOL_DIR": str(Path(database_url.split(":///", 1)[1]).parent / "spool"),
        "SHOPME_ENV_FILE": "/nonexistent",
        "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE": "0",
    }


async def ready_console(console: ConsoleProcess, fake: FakeAzureRealtime) -> None:
    """Wait for the input prompt and for the greeting to finish, so the typed turn comes next."""
    await console.wait_for_text(PROMPT, timeout=30)
    await fake.wait_for_sent("response.done", timeout=30)


def typed_user_texts(fake: FakeAzureRealtime) -> list[str]:
    """The input_text parts of the user messages the model was sent."""
    return [
        part["text"]
        for event in fake.events("conversation.item.create")
        if event["item"].get("type") == "message" and event["item"].get("role") == "user"
        for part in event["item"].get("content", [])
        if part.get("type") == "input_text"
    ]


def tool_outputs(fake: FakeAzureRealtime) -> dict[str, Any]:
    """call_id -> parsed output of each function_call_output item the model was sent."""
    items = [e["item"] for e in fake.events("conversation.item.create")]
    return {
        item["call_id"]: json.loads(item["output"])
        for item in items
        if item.get("type") == "function_call_output"
    }


async def stored_records(database_url: str) -> list[dict[str, Any]]:
    store = await Store.open(database_url)
    try:
        service = SupportService(store)
        summaries = await service.list_conversation_records(limit=100)
        return [await service.get_conversation_record(s["id"]) for s in summaries]
    finally:
        await store.close()


async def demo_case_facts(database_url: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """What the store itself says about the demo case: verification, order status, customer id."""
    store = await Store.open(database_url)
    try:
        service = SupportService(store)
        caller = CallerState(session_id="expected-facts")
        verified = await service.verify_customer(caller, DEMO_ORDER, DEMO_PIN)
        order = await service.get_order_status(caller, DEMO_ORDER)
        return verified, order, caller.customer_id
    finally:
        await store.close()


def agent_said(sentence: str) -> str:
    """The console prints an answer as an 'Agent' heading with the text below it. Under load the
    "Thinking..." spinner may still redraw in between, so anything may separate the two."""
    return rf"● Agent[\s\S]*?{re.escape(sentence)}"


async def test_typed_question_reaches_the_model_and_its_answer_is_shown(fake_azure, database_url):
    fake = fake_azure
    question = "Can you hear the violet tortoise?"
    answer = "The violet tortoise answers from the fake model."
    fake.script.say("Welcome to ShopMe support.")  # the greeting
    fake.script.say(answer)

    async with ConsoleProcess.spawn(console_env(fake, database_url)) as console:
        await ready_console(console, fake)
        mark = console.mark()
        console.type_line(question)

        await console.wait_for_match(agent_said(answer), after=mark)
        assert typed_user_texts(fake) == [question]
        assert console.output.find(question, mark) >= 0  # echoed under "You"

        assert await console.quit() == 0

    records = await stored_records(database_url)
    assert len(records) == 1
    transcript = records[0]["transcript"]
    assert {"role": "user", "text": question} in [
        {"role": e["role"], "text": e.get("text")} for e in transcript
    ]
    assert answer in [e.get("text") for e in transcript if e["role"] == "assistant"]
    assert records[0]["outcome"] == "abandoned"  # no tool helped the caller


async def test_ready_to_try_case_runs_the_real_tools_and_is_recorded(fake_azure, database_url):
    fake = fake_azure
    question = f"Where is my order {DEMO_ORDER}? My PIN code is {DEMO_PIN}."
    answer = "Your order is on its way with the courier, see you soon."
    fake.script.say("Welcome to ShopMe support.")  # the greeting
    fake.script.call_tool(
        "verify_customer",
        {"order_number": DEMO_ORDER, "postal_code": DEMO_PIN},
        call_id="call_verify",
    )
    fake.script.call_tool("get_order_status", {"order_number": DEMO_ORDER}, call_id="call_status")
    fake.script.say(answer)

    async with ConsoleProcess.spawn(console_env(fake, database_url)) as console:
        await ready_console(console, fake)
        mark = console.mark()
        console.type_line(question)

        await console.wait_for_match(agent_said(answer), after=mark)
        shown = console.output[mark:]
        assert "➜ verify_customer" in shown and "➜ get_order_status" in shown
        assert typed_user_texts(fake) == [question]
        outputs = tool_outputs(fake)

        assert await console.quit() == 0

    verified, order, customer_id = await demo_case_facts(database_url)
    # each tool's real result went back to the model, and the model was asked to go on each time
    assert set(outputs) == {"call_verify", "call_status"}
    assert outputs["call_verify"]["verified"] is True
    assert outputs["call_verify"]["first_name"] == verified["first_name"]
    assert outputs["call_status"]["order_number"] == DEMO_ORDER
    assert outputs["call_status"]["status"] == order["status"]
    assert outputs["call_status"]["carrier"] == order["carrier"]
    # and the console showed both tool results to the person at the keyboard
    assert f"first_name={verified['first_name']}" in shown
    assert f"status={order['status']}" in shown
    # greeting, the typed turn, after verify_customer, after get_order_status
    assert [r.status for r in fake.responses] == ["completed"] * 4

    records = await stored_records(database_url)
    assert len(records) == 1
    record = records[0]
    assert record["customer_id"] == customer_id
    assert record["outcome"] == "resolved"
    transcript = record["transcript"]
    assert question in [e.get("text") for e in transcript if e["role"] == "user"]
    tools = [e for e in transcript if e["role"] == "tool"]
    assert [(t["tool"], t["outcome"]) for t in tools] == [
        ("verify_customer", "ok"),
        ("get_order_status", "ok"),
    ]
    assert json.loads(tools[0]["output"])["first_name"] == verified["first_name"]
    assert json.loads(tools[1]["output"])["status"] == order["status"]
    assert answer in [e.get("text") for e in transcript if e["role"] == "assistant"]
