"""A whole support conversation through the real agent, tools and store, graded by the state it leaves.

The fake model plays the caller's side of the model: it calls the tools a real model would call.
Everything the agent could speak comes back from the store through the tool outputs.
"""

from __future__ import annotations

import json

from sqlalchemy import func, select

from support_tools.domain.caller import CallerState
from support_tools.domain.rules import ShopRules
from support_tools.domain.service import SupportService
from support_tools.store.models import ConversationRecord, Customer, Order, OrderItem, Return
from support_tools.voice.recorder import save_record
from tests.fake_azure import fixtures
from tests.fake_azure.fixtures import agent_session
from tests.fake_room import FakeRoom

fake_azure = fixtures.fake_azure
http_session = fixtures.http_session

# Ready-to-try demo case (README): Priya's order delivered 5 days ago, PIN 560001.
ORDER, PIN = "517204", "560001"


def tool_output(result) -> dict:
    result.expect.next_event().is_function_call()
    output = result.expect.next_event().is_function_call_output().event().item
    assert not output.is_error, output.output
    return json.loads(output.output)


async def test_verify_check_and_return_leave_exactly_one_return_and_a_record(
    fake_azure, http_session, demo_store
):
    fake = fake_azure
    service = SupportService(demo_store, ShopRules())
    caller = CallerState(session_id="conv-1", room="room-1")
    fake.script.say("Hello, this is ShopMe support. How can I help?")

    async with agent_session(fake, http_session, service=service, caller=caller) as run:
        await fake.wait_for_sent("response.done")

        fake.script.call_tool("verify_customer", {"order_number": f"SM-{ORDER}", "postal_code": "560 001"})
        fake.script.say("Thank you, you're verified.")
        verified = tool_output(await run.session.run(user_input=f"My order is {ORDER}, PIN {PIN}"))
        assert verified["first_name"] == "Priya"
        assert caller.customer_id is not None

        fake.script.call_tool("get_order_status", {"order_number": ORDER})
        fake.script.say("It was delivered.")
        status = tool_output(await run.session.run(user_input=f"What's happening with {ORDER}?"))
        assert status["status"] == "delivered" and status["return_window_open"]
        item = next(i for i in status["items"] if not i["final_sale"])

        fake.script.call_tool(
            "start_return",
            {"order_number": ORDER, "sku": item["sku"], "reason": "does not fit", "quantity": 1},
        )
        fake.script.say("Your return is started.")
        started = tool_output(await run.session.run(user_input=f"I want to return the {item['name']}"))

        # The same request again gives the same RMA, not a second return.
        fake.script.call_tool(
            "start_return",
            {"order_number": ORDER, "sku": item["sku"], "reason": "does not fit", "quantity": 1},
        )
        fake.script.say("That return is already started.")
        again = tool_output(await run.session.run(user_input="Did the return go through?"))
        state = run.state

    assert again["rma"] == started["rma"]
    assert started["rma"].startswith("RMA-")

    async with demo_store.session() as db:
        returns = (
            await db.execute(
                select(Return, OrderItem)
                .join(OrderItem, Return.order_item_id == OrderItem.id)
                .join(Order, OrderItem.order_id == Order.id)
                .where(Order.number == ORDER, Return.session_id == "conv-1")
            )
        ).all()
    [(ret, order_item)] = returns
    assert ret.rma == started["rma"] and ret.quantity == 1
    # The refund the agent was given is the store's own computation: unit price x quantity.
    assert ret.refund_minor == order_item.unit_price_minor == started["refund"]["minor_units"]

    record_id = await save_record(state)  # what the worker does when the session ends
    record = await service.get_conversation_record(record_id)
    assert record["session_id"] == "conv-1" and record["outcome"] == "resolved"
    assert record["customer_id"] == caller.customer_id
    tools_used = [(e["tool"], e["outcome"]) for e in record["transcript"] if e["role"] == "tool"]
    assert tools_used == [
        ("verify_customer", "ok"),
        ("get_order_status", "ok"),
        ("start_return", "ok"),
        ("start_return", "ok"),
    ]
    said = [e["text"] for e in record["transcript"] if e["role"] == "user"]
    assert f"What's happening with {ORDER}?" in said
    async with demo_store.session() as db:
        assert await db.scalar(select(func.count()).select_from(ConversationRecord)) == 1


async def test_nothing_is_disclosed_before_verification_whatever_the_model_asks(
    fake_azure, http_session, demo_store
):
    fake = fake_azure
    service = SupportService(demo_store, ShopRules())
    fake.script.say("Hello, this is ShopMe support.")

    async with agent_session(fake, http_session, service=service) as run:
        await fake.wait_for_sent("response.done")
        fake.script.call_tool("get_order_status", {"order_number": ORDER})
        fake.script.say("I need to verify you first.")
        result = await run.session.run(user_input=f"Where is {ORDER}?")
        # A later turn still works: the refusal did not end the session.
        fake.script.say("Sure, what is your order number?")
        await run.session.run(user_input="OK, let me find it")

    result.expect.next_event().is_function_call(name="get_order_status")
    output = result.expect.next_event().is_function_call_output().event().item
    assert output.is_error
    assert "verif" in output.output.lower()
    assert "Priya" not in output.output and '"status"' not in output.output


async def test_an_app_user_starts_verified_and_sees_the_order_card(
    fake_azure, http_session, demo_store
):
    """The shop's token issuer puts customer_id on signed-in app users (participant attribute);
    their app shows the order card the status tool sends on the room's text stream."""
    fake = fake_azure
    service = SupportService(demo_store, ShopRules())
    caller = CallerState(session_id="conv-app")
    async with demo_store.session() as db:
        customer_id = await db.scalar(
            select(Order.customer_id).where(Order.number == ORDER)
        )
    async with demo_store.session() as db:
        public_id = (await db.get(Customer, customer_id)).public_id
    await service.trust_customer(caller, public_id)

    fake.script.say("Hello Priya.")
    async with agent_session(fake, http_session, service=service, caller=caller) as run:
        await fake.wait_for_sent("response.done")
        room = FakeRoom()
        run.state.room, run.state.caller_identity = room, "app-user-1"
        fake.script.call_tool("get_order_status", {"order_number": ORDER})
        fake.script.say("Delivered.")
        status = tool_output(await run.session.run(user_input="Where is my order?"))
    assert status["order_number"] == ORDER
    [card] = room.local_participant.sent
    assert card["topic"] == "shopme.order-card" and card["to"] == ["app-user-1"]
    shown = json.loads(card["text"])
    assert shown["order_number"] == ORDER and shown["items"] == status["items"]
    assert shown["delivered_on"] == status["delivered_on"]
