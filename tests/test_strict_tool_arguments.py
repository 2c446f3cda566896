"""Issue 8.1: tool arguments that are not one complete, valid JSON object are refused before any
domain work, with the project's own sentence; values are coerced only where unambiguous.

Each call goes through the real agent, the real tools and the demo store, with the fake Azure
service sending the arguments text exactly as a model could.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from support_tools.domain.caller import CallerState
from support_tools.domain.rules import ShopRules
from support_tools.domain.service import SupportService
from support_tools.store.models import Customer, Order, Return
from tests.fake_azure import fixtures
from tests.fake_azure.fixtures import agent_session

fake_azure = fixtures.fake_azure
http_session = fixtures.http_session

PIN = "560001"
LIBRARY_WORDS = ("validation error", "pydantic", "errors.pydantic.dev", "Error parsing arguments", "Input should")


async def _one_call(fake, http, store, name: str, arguments: str | dict) -> tuple[object, CallerState]:
    """Verify as Priya, then let the model make one call with these arguments; the output item."""
    service = SupportService(store, ShopRules())
    me = CallerState(session_id="strict-args")
    await service.verify_customer(me, "482913", PIN)
    fake.script.say("Hello Priya.")
    async with agent_session(fake, http, service=service, caller=me) as run:
        await fake.wait_for_sent("response.done")
        fake.script.call_tool(name, arguments)
        fake.script.say("Done.")
        result = await run.session.run(user_input="Please go ahead.")
    result.expect.next_event().is_function_call(name=name)
    return result.expect.next_event().is_function_call_output().event().item, me


async def _order_status(store, number: str) -> str:
    async with store.session() as db:
        return await db.scalar(select(Order.status).where(Order.number == number))


async def _returns(store) -> int:
    async with store.session() as db:
        return int(await db.scalar(select(func.count()).select_from(Return)))


def assert_projects_refusal(output, *, not_echoing: tuple[str, ...] = ()) -> None:
    assert output.is_error, output.output
    text = output.output
    assert text.endswith(".") and len(text) < 400, text
    assert not any(word.lower() in text.lower() for word in LIBRARY_WORDS), text
    for fragment in not_echoing:
        assert fragment not in text, text


async def test_truncated_cancel_arguments_cancel_nothing(fake_azure, http_session, demo_store):
    """Why: `{"order_number": "710245", "reason": "ordered tw` cancelled the order (repaired JSON)."""
    output, _ = await _one_call(
        fake_azure, http_session, demo_store, "cancel_order", '{"order_number": "710245", "reason": "ordered tw'
    )
    assert_projects_refusal(output, not_echoing=("ordered tw", "710245"))
    assert "cancel_order again" in output.output
    assert await _order_status(demo_store, "710245") == "processing"


async def test_return_with_trailing_garbage_creates_no_return(fake_azure, http_session, demo_store):
    """Why: `{..., "quantity": 2 garbage` created an RMA for 2."""
    before = await _returns(demo_store)
    output, _ = await _one_call(
        fake_azure, http_session, demo_store, "start_return",
        '{"order_number": "517204", "sku": "SM-TSHIRT-BLK-M", "reason": "too small", "quantity": 2 garbage',
    )
    assert_projects_refusal(output, not_echoing=("garbage", "too small"))
    assert await _returns(demo_store) == before


@pytest.mark.parametrize(
    "arguments",
    [
        '{"order_number": "710245", "reason": "changed my mind"} {"order_number": "710245"}',  # two objects
        '["710245", "changed my mind"]',  # not an object
        '{"order_number": "710245", "reason": "changed my mind", "order_number": "482913"}',  # which one?
        '{"order_number": "710245", "reason": NaN}',  # not JSON
        '"{\\"order_number\\": \\"710245\\", \\"reason\\": \\"x\\"}"',  # an object inside a string
        "",
    ],
)
async def test_anything_but_one_json_object_is_refused(fake_azure, http_session, demo_store, arguments):
    output, _ = await _one_call(fake_azure, http_session, demo_store, "cancel_order", arguments)
    assert_projects_refusal(output, not_echoing=("changed my mind",))
    assert await _order_status(demo_store, "710245") == "processing"


async def test_a_missing_argument_is_named_in_the_projects_words(fake_azure, http_session, demo_store):
    """Why: refusals from the argument schema were raw pydantic text."""
    output, _ = await _one_call(fake_azure, http_session, demo_store, "cancel_order", {"order_number": "710245"})
    assert_projects_refusal(output)
    assert "reason" in output.output and "Ask the caller" in output.output
    assert await _order_status(demo_store, "710245") == "processing"


async def test_an_argument_the_tool_does_not_take_is_refused(fake_azure, http_session, demo_store):
    output, _ = await _one_call(
        fake_azure, http_session, demo_store, "cancel_order",
        {"order_number": "710245", "reason": "changed my mind", "refund_to": "my other card"},
    )
    assert_projects_refusal(output, not_echoing=("my other card", "refund_to"))
    assert await _order_status(demo_store, "710245") == "processing"


async def test_an_order_number_sent_as_a_json_number_is_used(fake_azure, http_session, demo_store):
    """Why: pydantic refused an order number sent as a JSON number, which the domain accepts."""
    output, _ = await _one_call(fake_azure, http_session, demo_store, "get_order_status", '{"order_number": 482913}')
    assert not output.is_error, output.output
    assert json.loads(output.output)["order_number"] == "482913"


async def test_a_field_name_in_capitals_is_used(fake_azure, http_session, demo_store):
    """Why: pydantic refused `"EMAIL"` for the field, which the domain accepts."""
    output, _ = await _one_call(
        fake_azure, http_session, demo_store, "update_contact_details",
        {"field": "EMAIL", "value": "priya.new@example.com"},
    )
    assert not output.is_error, output.output
    async with demo_store.session() as db:
        emails = (await db.scalars(select(Customer.email))).all()
    assert "priya.new@example.com" in emails


@pytest.mark.parametrize("quantity", ["true", "1.0", '"1"x', "[1]"])
async def test_a_quantity_that_is_not_a_whole_number_is_refused(fake_azure, http_session, demo_store, quantity):
    """Why: pydantic accepted `quantity: true` or `1.0` as 1."""
    before = await _returns(demo_store)
    output, _ = await _one_call(
        fake_azure, http_session, demo_store, "start_return",
        '{"order_number": "517204", "sku": "SM-TSHIRT-BLK-M", "reason": "too small", "quantity": ' + quantity + "}",
    )
    assert_projects_refusal(output)
    assert await _returns(demo_store) == before


async def test_the_model_is_offered_the_same_parameters_as_before(fake_azure, http_session):
    """The tools are registered raw (no pydantic in between); the schema the model sees is the
    one their typed signatures describe."""
    fake = fake_azure
    fake.script.say("Hello.")
    async with agent_session(fake, http_session):
        await fake.wait_for_sent("response.done")
    tools = {t["name"]: t for u in fake.events("session.update") for t in u["session"].get("tools", [])}
    start_return = tools["start_return"]["parameters"]
    assert set(start_return["required"]) == {"order_number", "sku", "reason"}
    assert start_return["properties"]["quantity"]["type"] == "integer"
    assert start_return["properties"]["quantity"]["default"] == 1
    assert tools["update_contact_details"]["parameters"]["properties"]["field"]["enum"] == ["email", "phone"]
    assert "Args:" not in tools["cancel_order"]["description"]
