"""A whole call in a real room: the worker registers, dispatch reaches it, the caller hears the
greeting, speaks and types, sees the order card (and nobody else does), and hanging up ends the
job with one conversation record. Callers are `livekit.rtc.Room` clients of the LiveKit double.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from livekit.protocol import agent, models

from tests.fake_azure import audio as pcm
from tests.fake_azure.fixtures import wait_until

from .harness import (
    AGENT_NAME,
    GREETING,
    PRIYA_ORDER,
    PRIYA_PIN,
    SPOKEN_ANSWER,
    caller_token,
    in_room,
    recording,
)

pytestmark = [pytest.mark.asyncio(loop_scope="package"), pytest.mark.room]

ORDER_TOOL = f'call get_order_status {{"order_number": "{PRIYA_ORDER}"}}'
VERIFY_TOOL = (
    f'call verify_customer {{"order_number": "{PRIYA_ORDER}", "postal_code": "{PRIYA_PIN}"}}'
)


async def job_in(stack, room: str):
    await stack.lk.wait_for(lambda: stack.lk.jobs_in(room), 30, f"a job for {room}")
    return stack.lk.jobs_in(room)[0]


async def test_registered_worker_is_dispatched_greets_and_transcribes(stack):
    lk = stack.lk
    worker = lk.workers[stack.worker.worker_id]
    assert worker.agent_name == AGENT_NAME  # registered under AGENT_NAME

    async with in_room(lk.url, caller_token(lk, "caller-greet", "room-greet"), "caller-greet") as caller:
        job = await job_in(stack, "room-greet")
        assert job.job.agent_name == AGENT_NAME and job.worker_id == worker.id
        await wait_until(lambda: caller.agents(), timeout=30, what="the agent to join")
        agent_identity = caller.agents()[0].identity
        await wait_until(
            lambda: GREETING in caller.said_by(agent_identity), timeout=20, what="the greeting"
        )
        # the greeting was heard, not silence
        await wait_until(lambda: caller.voiced(), what="the greeting to be heard")
        assert {h.sender for h in caller.voiced()} == {agent_identity}
        await wait_until(
            lambda: any(t.text == GREETING and t.complete for t in caller.transcripts),
            what="the greeting's transcript stream to end",
        )
        segment = next(t for t in caller.transcripts if t.text == GREETING and t.complete)
        # the transcript is of the agent's published audio track
        agent_tracks = set(caller.agents()[0].track_publications)
        assert segment.attributes["lk.transcribed_track_id"] in agent_tracks
        assert agent.JobStatus.JS_RUNNING in job.statuses


async def test_spoken_turn_reaches_the_model_at_24khz_and_the_answer_is_heard(stack):
    lk, brain = stack.lk, stack.brain
    speech, rate = recording()
    async with in_room(lk.url, caller_token(lk, "caller-speak", "room-speak"), "caller-speak") as caller:
        await wait_until(lambda: GREETING in caller.said_by(), timeout=30, what="the greeting")
        flowing = brain.received_audio_ms()
        await caller.open_microphone()
        # the agent subscribed to the microphone and the model hears it (silence so far)
        await wait_until(
            lambda: brain.received_audio_ms() > flowing + 300, timeout=20, what="audio to flow"
        )
        before = len(brain.committed_audio)
        await caller.speak(speech, rate)
        await wait_until(lambda: SPOKEN_ANSWER in caller.said_by(), timeout=20, what="the answer")
        ended = caller.speech_ended_at
        assert ended is not None
        await wait_until(lambda: caller.voiced(since=ended), what="the answer to be heard")
        assert {h.sender for h in caller.voiced(since=ended)} == {caller.agents()[0].identity}

    connection = next(c for c in brain.connections if c.items and any(
        (i.get("content") or [{}])[0].get("type") == "input_audio" for i in c.items
    ))
    # the session asked for 24 kHz PCM, and the committed turn is the caller's speech
    assert connection.session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    heard = brain.committed_audio[before]
    assert pcm.voiced_ms(heard) == pytest.approx(pcm.voiced_ms(speech, rate=rate), abs=150)
    assert pcm.dbfs(pcm.rms(heard)) > -40
    # 48 kHz in the room, 24 kHz on the wire: the turn lasts as long as the speech
    assert pcm.duration_ms(heard) >= pcm.duration_ms(speech, rate) - 150


async def test_typed_turn_verifies_and_the_order_card_reaches_the_caller_only(stack):
    lk, brain = stack.lk, stack.brain
    async with in_room(lk.url, caller_token(lk, "caller-card", "room-card"), "caller-card") as caller:
        await wait_until(lambda: GREETING in caller.said_by(), timeout=30, what="the greeting")
        token = caller_token(lk, "observer-card", "room-card", dispatch=False)
        async with in_room(lk.url, token, "observer-card") as observer:
            await caller.type(VERIFY_TOOL)
            await wait_until(
                lambda: "verify_customer is done." in caller.said_by(), timeout=20, what="verified"
            )
            await caller.type(ORDER_TOOL)
            await wait_until(lambda: caller.cards, timeout=20, what="the order card")
            await wait_until(
                lambda: f"Order {PRIYA_ORDER} is shipped." in caller.said_by(),
                timeout=20,
                what="the spoken answer",
            )
            expected = await stack.store.order_card(PRIYA_ORDER)
            assert caller.cards == [expected]
            assert observer.cards == []
            # the double delivered the card to the caller alone
            cards = [
                p for p in lk.packets
                if p.room == "room-card" and p.packet.HasField("stream_header")
                and p.packet.stream_header.topic == "shopme.order-card"
            ]
            assert cards and all(p.delivered_to == ["caller-card"] for p in cards)
    connection = brain.connection_with_text(ORDER_TOOL)
    (output,) = brain.tool_outputs(connection, "get_order_status")
    assert json.loads(output)["order_number"] == PRIYA_ORDER


async def test_customer_id_attribute_starts_verified_and_unknown_one_does_not(stack):
    lk, brain = stack.lk, stack.brain
    known = await stack.store.customer_id_of(PRIYA_ORDER)
    token = caller_token(lk, "caller-app", "room-app", customer_id=known)
    async with in_room(lk.url, token, "caller-app") as caller:
        await wait_until(lambda: GREETING in caller.said_by(), timeout=30, what="the greeting")
        await caller.type(ORDER_TOOL)
        await wait_until(lambda: caller.cards, timeout=20, what="the order card")
        assert caller.cards[0]["order_number"] == PRIYA_ORDER

    unknown_token = caller_token(lk, "caller-forged", "room-forged", customer_id="CUS-99999")
    typed = ORDER_TOOL + " "  # a distinct text, to find this session's model connection
    async with in_room(lk.url, unknown_token, "caller-forged") as caller:
        await wait_until(lambda: GREETING in caller.said_by(), timeout=30, what="the greeting")
        await caller.type(typed)
        await wait_until(
            lambda: "Sorry, get_order_status did not work." in caller.said_by()
            or "get_order_status is done." in caller.said_by(),
            timeout=20,
            what="the answer",
        )
        assert caller.cards == []
    (output,) = brain.tool_outputs(brain.connection_with_text(typed), "get_order_status")
    assert PRIYA_ORDER not in output and "shipped" not in output


async def test_hang_up_ends_the_job_and_keeps_one_record(stack):
    lk = stack.lk
    caller_ctx = in_room(lk.url, caller_token(lk, "caller-bye", "room-bye"), "caller-bye")
    caller = await caller_ctx.__aenter__()
    try:
        job = await job_in(stack, "room-bye")
        await wait_until(lambda: GREETING in caller.said_by(), timeout=30, what="the greeting")
        await caller.type(VERIFY_TOOL)
        await wait_until(lambda: "verify_customer is done." in caller.said_by(), timeout=20)
        await caller.type(ORDER_TOOL + "  ")
        await wait_until(lambda: caller.cards, timeout=20, what="the order card")
    finally:
        await caller_ctx.__aexit__(None, None, None)
    # the double saw the caller leave on purpose; the job ended within 5 s (the bound)
    left = {p.identity: p.disconnect_reason for p in lk.left("room-bye")}
    assert left["caller-bye"] == models.DisconnectReason.CLIENT_INITIATED
    await asyncio.wait_for(job.done.wait(), 5)
    assert job.status == agent.JobStatus.JS_SUCCESS

    async def one_record() -> list:
        for _ in range(100):
            records = await stack.store.records(job.id)
            if records:
                return records
            await asyncio.sleep(0.05)
        return []

    records = await one_record()
    assert len(records) == 1
    (record,) = records
    assert record.room == "room-bye" and record.outcome == "resolved"
    assert record.customer_public_id == await stack.store.customer_id_of(PRIYA_ORDER)


async def test_two_rooms_at_once_on_one_worker_stay_apart(stack):
    lk = stack.lk
    other_order = "530030"  # Priya's too; the second caller asks for another order
    ids = {
        "room-a": (await stack.store.customer_id_of(PRIYA_ORDER), PRIYA_ORDER),
        "room-b": (await stack.store.customer_id_of(other_order), other_order),
    }
    async with (
        in_room(lk.url, caller_token(lk, "caller-a", "room-a", customer_id=ids["room-a"][0]), "caller-a") as a,
        in_room(lk.url, caller_token(lk, "caller-b", "room-b", customer_id=ids["room-b"][0]), "caller-b") as b,
    ):
        jobs = [await job_in(stack, "room-a"), await job_in(stack, "room-b")]
        assert {j.worker_id for j in jobs} == {stack.worker.worker_id}
        for caller in (a, b):
            await wait_until(lambda c=caller: GREETING in c.said_by() and c.voiced(), timeout=30)
        await asyncio.gather(
            a.type(f'call get_order_status {{"order_number": "{ids["room-a"][1]}"}}'),
            b.type(f'call get_order_status {{"order_number": "{ids["room-b"][1]}"}}'),
        )
        for caller in (a, b):
            await wait_until(lambda c=caller: c.cards, timeout=20, what="the order cards")
        await wait_until(lambda: len(a.said_by()) >= 2 and len(b.said_by()) >= 2, timeout=20)
        agent_a, agent_b = a.agents(), b.agents()
        assert len(agent_a) == 1 and len(agent_b) == 1
        assert agent_a[0].identity != agent_b[0].identity
        # each heard only its own agent, and each saw only its own card
        assert {h.sender for h in a.voiced()} == {agent_a[0].identity}
        assert {h.sender for h in b.voiced()} == {agent_b[0].identity}
        assert [c["order_number"] for c in a.cards] == [ids["room-a"][1]]
        assert [c["order_number"] for c in b.cards] == [ids["room-b"][1]]
        assert not any(ids["room-b"][1] in t for t in a.said_by())
        assert not any(ids["room-a"][1] in t for t in b.said_by())
    for job in jobs:
        await asyncio.wait_for(job.done.wait(), 10)
    records = [await stack.store.records(j.id) for j in jobs]
    assert [len(r) for r in records] == [1, 1]
    assert [r[0].room for r in records] == ["room-a", "room-b"]
