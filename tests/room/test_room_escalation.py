"""Escalation in a real room: the desk is told through the webhook, the person joins with the
payload's join token (the double refuses a token for another room, an expired or a forged one),
the agent introduces them and leaves; nobody joining gives the callback offer; a SIP caller is
transferred through the double's TransferSIPParticipant, and a failing transfer falls back.
"""

from __future__ import annotations

import asyncio

import pytest
from livekit import rtc
from livekit.protocol import agent, models

from tests.fake_azure.fixtures import wait_until

from .harness import (
    CALLBACK_OFFER,
    ESCALATION_TIMEOUT_S,
    GREETING,
    PRIYA_ORDER,
    TRANSFER_TO,
    badly_signed_copy,
    caller_token,
    expired_copy,
    in_room,
    room_url,
    token_for_another_room,
)

pytestmark = [pytest.mark.asyncio(loop_scope="package"), pytest.mark.room]

INTRODUCTION = "A colleague from our support team has just joined"
TRANSFER_SENTENCE = "I'm transferring you to a colleague now"


def escalate(reason: str) -> str:
    return f'call escalate_to_human {{"reason": "{reason}", "urgency": "high"}}'


async def ticket_status(stack, number: str, wanted: str) -> str:
    status = ""
    for _ in range(200):
        status = (await stack.store.ticket(number)).status
        if status == wanted:
            break
        await asyncio.sleep(0.05)
    return status


async def escalated(stack, caller, room: str, reason: str) -> dict:
    await wait_until(lambda: GREETING in caller.said_by(), timeout=30, what="the greeting")
    await caller.type(escalate(reason))
    payload = await stack.desk.ticket_for(room)
    await wait_until(
        lambda: f"Your ticket is {payload['ticket']}." in caller.said_by(),
        timeout=20,
        what="the ticket number to be spoken",
    )
    return payload


async def test_person_joins_with_the_join_token_and_the_agent_steps_back(stack):
    lk, brain = stack.lk, stack.brain
    customer = await stack.store.customer_id_of(PRIYA_ORDER)
    token = caller_token(lk, "caller-desk", "room-desk", customer_id=customer)
    async with in_room(lk.url, token, "caller-desk") as caller:
        job = await asyncio.wait_for(_job(stack, "room-desk"), 30)
        payload = await escalated(stack, caller, "room-desk", "Parcel never arrived")
        number, join = payload["ticket"], payload["join"]
        assert join["url"] == join["livekit_url"] == lk.url

        # refused by the double: another room's token, an expired copy, a forged signature
        for bad in (
            token_for_another_room(lk, number, "room-elsewhere"),
            expired_copy(lk, join["token"]),
            badly_signed_copy(join["token"]),
        ):
            intruder = rtc.Room()
            with pytest.raises(rtc.ConnectError):
                await intruder.connect(room_url(lk, "room-desk"), bad)
        reasons = [r.reason for r in lk.refused if r.room in ("room-desk", "")][-3:]
        assert reasons[0] == "token is for another room"
        assert reasons[1] == "token expired"
        assert reasons[2].startswith("invalid token")
        assert set(lk.rooms["room-desk"].participants) == {"caller-desk", job.identity}

        person_identity = f"human-{number}"
        async with in_room(room_url(lk, "room-desk"), join["token"], person_identity) as person:
            await wait_until(
                lambda: any(INTRODUCTION in t for t in caller.said_by()),
                timeout=20,
                what="the introduction",
            )
            joined = caller.room.remote_participants[person_identity]
            assert joined.attributes.get("role") == "human_agent"
            # the agent leaves the room to the caller and the person
            await lk.wait_for(
                lambda: job.identity not in lk.rooms["room-desk"].participants, 20, "the agent to leave"
            )
            assert set(lk.rooms["room-desk"].participants) == {"caller-desk", person_identity}
            left = {p.identity: p.disconnect_reason for p in lk.left("room-desk")}
            assert left[job.identity] == models.DisconnectReason.CLIENT_INITIATED
            assert any(INTRODUCTION in t for t in person.said_by())
            await asyncio.wait_for(job.done.wait(), 10)
            # it stopped answering: nothing was asked of the model after the introduction
            connection = brain.connection_with_text(escalate("Parcel never arrived"))
            requests = [e for e in connection.events if e["type"] == "response.create"]
            last = str((requests[-1].get("response") or {}).get("instructions") or "")
            assert INTRODUCTION in last
            assert await ticket_status(stack, number, "handed_over") == "handed_over"
    assert job.status == agent.JobStatus.JS_SUCCESS


async def test_nobody_joins_and_the_callback_is_offered(stack):
    lk = stack.lk
    async with in_room(lk.url, caller_token(lk, "caller-wait", "room-wait"), "caller-wait") as caller:
        payload = await escalated(stack, caller, "room-wait", "Wrong size delivered")
        await wait_until(
            lambda: CALLBACK_OFFER in caller.said_by(),
            timeout=ESCALATION_TIMEOUT_S + 20,
            what="the callback offer",
        )
        assert await ticket_status(stack, payload["ticket"], "open") == "open"
        assert caller.agents(), "the agent stays with the caller"


async def test_sip_caller_is_transferred_to_the_configured_line(stack):
    lk = stack.lk
    identity = "sip_+919876543210"
    token = caller_token(lk, identity, "room-sip", kind="sip")
    async with in_room(lk.url, token, identity) as caller:
        payload = await escalated(stack, caller, "room-sip", "Wants a person")
        await lk.wait_for(lambda: lk.twirp.sip.calls, 20, "the SIP transfer")
        (transfer,) = lk.twirp.sip.calls
        assert (transfer.room_name, transfer.participant_identity, transfer.transfer_to) == (
            "room-sip", identity, TRANSFER_TO
        )
        assert any(TRANSFER_SENTENCE in t for t in caller.said_by())
        left = {p.identity: p.disconnect_reason for p in lk.left("room-sip")}
        assert left[identity] == models.DisconnectReason.PARTICIPANT_REMOVED
        assert await ticket_status(stack, payload["ticket"], "transferred") == "transferred"


async def test_failing_sip_transfer_falls_back_to_the_callback_offer(stack):
    lk = stack.lk
    identity = "sip_+919812345678"
    lk.twirp.sip.fail_next(code="unavailable", msg="callee busy", sip_status=486)
    before = len(lk.twirp.sip.calls)
    token = caller_token(lk, identity, "room-sip-busy", kind="sip")
    async with in_room(lk.url, token, identity) as caller:
        payload = await escalated(stack, caller, "room-sip-busy", "Wants a person")
        await wait_until(
            lambda: CALLBACK_OFFER in caller.said_by(), timeout=20, what="the callback offer"
        )
        assert [c.room_name for c in lk.twirp.sip.calls[before:]] == ["room-sip-busy"]
        assert identity in lk.rooms["room-sip-busy"].participants  # still in the call
        assert await ticket_status(stack, payload["ticket"], "open") == "open"


async def _job(stack, room: str):
    await stack.lk.wait_for(lambda: stack.lk.jobs_in(room), 30, f"a job for {room}")
    return stack.lk.jobs_in(room)[0]
