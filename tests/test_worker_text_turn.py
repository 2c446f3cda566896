"""A typed turn through the worker's real agent and model factory, against the fake Azure service.

Checks both what the framework reports (RunResult) and what went over the wire.
"""

from __future__ import annotations

import json

from support_tools.voice.prompts import system_instructions
from tests.fake_azure import fixtures
from tests.fake_azure.fixtures import (
    AZURE_KEY,
    DEPLOYMENT,
    agent_session,
)

# The tool names of the support-tools contract: fixed, other teams call them by these names.
CONTRACT_TOOLS = {
    "verify_customer",
    "get_order_status",
    "start_return",
    "cancel_order",
    "update_contact_details",
    "schedule_callback",
    "get_product_info",
    "lookup_policy",
    "escalate_to_human",
}

# the fake service and an HTTP session for the model (pytest fixtures)
fake_azure = fixtures.fake_azure
http_session = fixtures.http_session


async def test_text_turn_runs_the_tool_and_answers_with_its_result(fake_azure, http_session):
    fake = fake_azure
    fake.script.say("Welcome to ShopMe support. How can I help?")  # the greeting
    fake.script.call_tool("get_order_status", {"order_number": "482913"})
    fake.script.say("Your order 482913 has shipped with BlueDart.")

    async with agent_session(fake, http_session) as run:
        await fake.wait_for_sent("response.done")  # the greeting is over before the caller types
        result = await run.session.run(user_input="Where is my order 482913?")

    result.expect.next_event().is_function_call(
        name="get_order_status", arguments={"order_number": "482913"}
    )
    output = result.expect.next_event().is_function_call_output().event().item
    assert json.loads(output.output)["status"] == "shipped"
    reply = result.expect.next_event().is_message(role="assistant").event().item
    assert reply.text_content == "Your order 482913 has shipped with BlueDart."
    result.expect.no_more_events()
    assert run.service.calls == [("get_order_status", ("482913",))]


async def test_text_turn_speaks_the_ga_wire_to_the_deployment(fake_azure, http_session):
    fake = fake_azure
    fake.script.say("Welcome to ShopMe support.")
    fake.script.call_tool("get_order_status", {"order_number": "482913"}, call_id="call_abc")
    fake.script.say("It has shipped.")

    async with agent_session(fake, http_session) as run:
        await fake.wait_for_sent("response.done")
        await run.session.run(user_input="Where is my order 482913?")
        settings = run.settings

    connection = fake.connection
    assert len(fake.connections) == 1
    assert connection.path == "/openai/v1/realtime"
    assert connection.query == {"model": DEPLOYMENT}  # GA: no api-version, deployment as model
    assert connection.api_key == AZURE_KEY

    updates = [e["session"] for e in fake.events("session.update")]
    assert all(update["type"] == "realtime" for update in updates)  # the GA (nested) session shape
    assert system_instructions(settings) in [u.get("instructions") for u in updates]
    tool_names = {tool["name"] for u in updates for tool in u.get("tools", [])}
    assert tool_names == CONTRACT_TOOLS
    assert fake.session["audio"]["output"]["voice"] == settings.voice

    # the tool's output goes back as a function_call_output item, then the model is asked again
    creates = fake.events("conversation.item.create")
    outputs = [e["item"] for e in creates if e["item"]["type"] == "function_call_output"]
    assert len(outputs) == 1 and outputs[0]["call_id"] == "call_abc"
    assert json.loads(outputs[0]["output"])["order_number"] == "482913"
    wire = [e["type"] for e in fake.client_events]
    output_at = next(
        i
        for i, e in enumerate(fake.client_events)
        if e["type"] == "conversation.item.create" and e["item"]["type"] == "function_call_output"
    )
    assert "response.create" in wire[output_at + 1 :]
    assert wire.count("response.create") == 3  # greeting, the caller's turn, after the tool
    assert [r.status for r in fake.responses] == ["completed"] * 3
