"""Escalation to a person through the real agent session, graded by what the desk, room and store see.

The fake Azure model calls `escalate_to_human` as a real model would. The tool opens the ticket in a
real SQLite store (seeded demo data) and the session's EscalationFlow, built exactly as the worker
builds it (`EscalationFlow.for_session`), notifies a webhook receiver on 127.0.0.1 and runs the
hand-off in a `FakeRoom`: the slice of `livekit.rtc.Room` the coordinator uses. The job context is a
recorder of `shutdown()` (the agent leaving the room) with, for SIP callers, a real `LiveKitAPI`
client pointed at the fake LiveKit server API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from livekit import api, rtc
from sqlalchemy import func, select

from support_tools.domain.caller import CallerState
from support_tools.domain.rules import ShopRules
from support_tools.domain.service import SupportService
from support_tools.escalation import SIGNATURE_HEADER, HandoffOutcome, verify_signature
from support_tools.store.models import Ticket
from support_tools.voice.escalation_flow import (
    TICKET_ONLY,
    TRANSFERRING,
    WAIT_FOR_PERSON,
    EscalationFlow,
)
from tests.fake_azure import audio as pcm
from tests.fake_azure import fixtures
from tests.fake_azure.fixtures import AgentRun, agent_session, azure_env, wait_until
from tests.fake_azure.script import ToolCall
from tests.fake_azure.session_io import ScriptedMicrophone
from tests.fake_livekit_api import FakeLiveKitAPI
from tests.fake_room import FakeRoom
from tests.loopback import serve_on_loopback

fake_azure = fixtures.fake_azure
http_session = fixtures.http_session

AUDIO = Path(__file__).resolve().parent / "audio_fixtures"
ROOM = "room-7"
CALLER_IDENTITY = "customer-7"
SIP_CALLER_IDENTITY = "sip_+919876543210"
SIP_CALLER_NUMBER = "+919876543210"
TRANSFER_LINE = "+91 80 4000 1234"
WEBHOOK_SECRET = "whsec-flow-" + "w" * 24
URL_CREDENTIAL = "hookcred-" + "u" * 16  # a webhook URL often embeds a credential of its own
LIVEKIT_URL = "ws://127.0.0.1:7880"
LK_API_KEY = "APIflowTest"
LK_API_SECRET = "lk-flow-secret-" + "k" * 32
DESK_URL = "http://127.0.0.1:9/desk/join?token={token}"
ORDER, PIN = "517204", "560001"  # the demo data's ready-to-try customer, Priya
REASON = "Parcel marked delivered but never arrived"
TICKET_NUMBER = re.compile(r"^TCK-[A-Z0-9]{6,}$")
ESCALATE = {"reason": REASON, "urgency": "high"}


# --- the room, the job context and the desk ------------------------------------------------------


def participant(
    identity: str,
    kind: rtc.ParticipantKind.ValueType = rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD,
    **attributes: str,
) -> SimpleNamespace:
    return SimpleNamespace(identity=identity, name=identity, kind=kind, attributes=dict(attributes))


class FakeJobContext:
    """The JobContext surface the flow uses: `shutdown(reason)` (leave the room) and `api`."""

    def __init__(self, lkapi: api.LiveKitAPI | None = None) -> None:
        self.api = lkapi
        self.shutdowns: list[str] = []

    def shutdown(self, reason: str = "") -> None:
        self.shutdowns.append(reason)


@dataclass
class DeskRequest:
    body: bytes
    headers: dict[str, str]
    query: dict[str, str]


@dataclass
class DeskReceiver:
    """The support desk's webhook endpoint on 127.0.0.1, answering with scripted statuses (then 200)."""

    statuses: list[int] = field(default_factory=list)
    requests: list[DeskRequest] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/escalations", self._receive)
        self._runner, port = await serve_on_loopback(app)
        self.url = f"http://127.0.0.1:{port}/hooks/escalations?key={URL_CREDENTIAL}"

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        self.requests.append(
            DeskRequest(await request.read(), dict(request.headers), dict(request.query))
        )
        status = self.statuses.pop(0) if self.statuses else 200
        return web.json_response({"ok": status < 300}, status=status)


@pytest.fixture
async def desk() -> AsyncIterator[DeskReceiver]:
    receiver = DeskReceiver()
    await receiver.start()
    yield receiver
    await receiver.aclose()


@pytest.fixture
def demo_service(demo_store) -> SupportService:
    return SupportService(demo_store, ShopRules())


class RoomLikeMicrophone(ScriptedMicrophone):
    """A ScriptedMicrophone that drops frames while detached, as the room's audio input does when
    the session disables audio (`session.input.set_audio_enabled(False)`)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.attached = True

    def on_attached(self) -> None:
        self.attached = True

    def on_detached(self) -> None:
        self.attached = False

    async def __anext__(self) -> rtc.AudioFrame:
        while True:
            frame = await super().__anext__()
            if self.attached:
                return frame


# --- helpers -------------------------------------------------------------------------------------


def desk_env(fake, desk: DeskReceiver | None = None, **extra: str) -> dict[str, str]:
    env = azure_env(
        fake,
        LIVEKIT_URL=LIVEKIT_URL,
        LIVEKIT_API_KEY=LK_API_KEY,
        LIVEKIT_API_SECRET=LK_API_SECRET,
        **extra,
    )
    if desk is not None:
        env.update(ESCALATION_WEBHOOK_URL=desk.url, ESCALATION_WEBHOOK_SECRET=WEBHOOK_SECRET)
    return env


@contextlib.asynccontextmanager
async def escalation_session(
    fake,
    http,
    service: SupportService,
    *,
    env: dict[str, str],
    room: FakeRoom | None = None,
    ctx: FakeJobContext | None = None,
    caller_identity: str = CALLER_IDENTITY,
    caller: CallerState | None = None,
    spoken: bool = False,
) -> AsyncIterator[tuple[AgentRun, EscalationFlow]]:
    """The real agent on the fake model, with the escalation flow the worker would build for it."""
    caller = caller or CallerState(session_id="esc-session", room=ROOM)
    async with agent_session(
        fake, http, env=env, service=service, caller=caller, spoken=spoken
    ) as run:
        if room is not None:
            run.state.room, run.state.caller_identity = room, caller_identity  # type: ignore[assignment]
        flow = EscalationFlow.for_session(run.settings, run.session, run.state, ctx)  # type: ignore[arg-type]
        run.state.escalation = flow
        try:
            yield run, flow
        finally:
            await flow.aclose()


def is_escalation_output(event: dict[str, Any]) -> bool:
    item = event.get("item") or {}
    return item.get("type") == "function_call_output"


async def escalation_output(fake, count: int = 1) -> dict[str, Any]:
    """The `count`-th tool output the agent sent to the model, parsed."""
    event = await fake.wait_for("conversation.item.create", count=count, where=is_escalation_output)
    return json.loads(event["item"]["output"])


def instructions_of(event: dict[str, Any]) -> str:
    return (event.get("response") or {}).get("instructions") or ""


def hand_off_requests(fake, number: str) -> list[str]:
    """Instructions of every response.create that speaks about this ticket (the agent's own turns)."""
    return [
        instructions_of(e) for e in fake.events("response.create") if number in instructions_of(e)
    ]


def attempts_of(ticket: dict[str, Any]) -> list[tuple[int, int | None, str | None, bool]]:
    return [
        (a["attempt"], a["status"], a["error"], a["delivered"]) for a in ticket["delivery_attempts"]
    ]


async def tickets_of_session(service: SupportService, session_id: str) -> int:
    async with service.store.session() as db:
        return await db.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.session_id == session_id)
        )


def escalation_notices(room: FakeRoom) -> list[tuple[str, str]]:
    """(ticket, step) of each escalation notice the caller's app was sent, in order."""
    notices = [m for m in room.local_participant.sent if m["topic"] == "shopme.escalation"]
    assert all(m["to"] == [CALLER_IDENTITY] for m in notices)
    return [(json.loads(m["text"])["ticket"], json.loads(m["text"])["step"]) for m in notices]


def recording(name: str) -> tuple[bytes, int]:
    return pcm.read_wav(AUDIO / name)


# --- 1. the desk is told, signed, with its way into the room ------------------------------------


async def test_escalation_notifies_the_desk_with_a_signed_payload_and_a_join_token(
    fake_azure, http_session, demo_service, desk, caplog
):
    caplog.set_level(logging.DEBUG)
    fake, service = fake_azure, demo_service
    caller = CallerState(session_id="esc-notify", room=ROOM)
    await service.verify_customer(caller, ORDER, PIN)
    fake.script.say("Hello, ShopMe support.")
    fake.script.call_tool("escalate_to_human", ESCALATE)
    fake.script.say("I've opened a ticket and a colleague is on the way.")
    env = desk_env(fake, desk, SUPPORT_DESK_URL=DESK_URL)

    async with escalation_session(
        fake, http_session, service, env=env, room=FakeRoom(ROOM), ctx=FakeJobContext(), caller=caller
    ) as (run, flow):
        await fake.wait_for_sent("response.done")
        await run.session.run(user_input="I need a person, my parcel never came")
        output = await escalation_output(fake)
        await asyncio.gather(*flow.notifications)
        number = output["ticket"]
        ticket = await service.get_ticket(number)

    # what the agent tells the caller: the ticket number and that a person is on the way
    assert TICKET_NUMBER.match(number)
    assert output == {"ticket": number, "already_open": False, "next_steps": WAIT_FOR_PERSON}

    # the desk got one POST, signed over the exact bytes it received
    [request] = desk.requests
    assert verify_signature(request.body, request.headers[SIGNATURE_HEADER], WEBHOOK_SECRET)
    assert not verify_signature(
        request.body + b" ", request.headers[SIGNATURE_HEADER], WEBHOOK_SECRET
    )
    payload = json.loads(request.body)
    assert payload["ticket"] == number
    assert payload["reason"] == REASON
    assert payload["urgency"] == "high"
    assert payload["room"] == ROOM
    assert payload["customer"] == {"id": caller.customer_id, "first_name": "Priya"}
    assert "my parcel never came" in payload["summary"]

    # the join token lets human-<ticket> into room-7 only, as a human agent
    token = payload["join"]["token"]
    assert payload["join"]["url"] == DESK_URL.replace("{token}", quote(token, safe=""))
    claims = api.TokenVerifier(LK_API_KEY, LK_API_SECRET).verify(token)
    assert claims.identity == f"human-{number}"
    assert claims.video.room == ROOM and claims.video.room_join is True
    assert not claims.video.room_admin
    assert claims.attributes == {"role": "human_agent"}

    # the ticket keeps the delivery history
    assert ticket["status"] == "open" and ticket["room"] == ROOM and ticket["urgency"] == "high"
    assert attempts_of(ticket) == [(1, 200, None, True)]

    # no secret, no token, no URL credential in the ticket, the tool output or the logs
    for text in (json.dumps(ticket, default=str), json.dumps(output), caplog.text):
        for secret in (WEBHOOK_SECRET, LK_API_SECRET, URL_CREDENTIAL, token):
            assert secret not in text


async def test_a_desk_that_fails_twice_then_accepts_leaves_three_attempts_on_the_ticket(
    fake_azure, http_session, demo_service, desk
):
    fake, service = fake_azure, demo_service
    desk.statuses = [503, 500]
    fake.script.say("Hello.")
    fake.script.call_tool("escalate_to_human", ESCALATE)
    fake.script.say("Your ticket is open.")

    async with escalation_session(
        fake, http_session, service, env=desk_env(fake, desk), room=FakeRoom(ROOM), ctx=FakeJobContext()
    ) as (run, flow):
        await fake.wait_for_sent("response.done")
        await run.session.run(user_input="Please get me a person")
        number = (await escalation_output(fake))["ticket"]
        [last] = await asyncio.gather(*flow.notifications)
        ticket = await service.get_ticket(number)

    assert last["delivered"] and last["attempt"] == 3
    assert attempts_of(ticket) == [
        (1, 503, "HTTP 503", False),
        (2, 500, "HTTP 500", False),
        (3, 200, None, True),
    ]
    # the same signed document every time, with one delivery id the desk can de-duplicate on
    assert len({r.body for r in desk.requests}) == 1 and len(desk.requests) == 3
    assert len({r.headers["X-ShopMe-Delivery"] for r in desk.requests}) == 1
    assert all(
        verify_signature(r.body, r.headers[SIGNATURE_HEADER], WEBHOOK_SECRET) for r in desk.requests
    )


async def test_escalating_twice_in_a_session_gives_one_ticket_and_one_notification(
    fake_azure, http_session, demo_service, desk
):
    fake, service = fake_azure, demo_service
    caller = CallerState(session_id="esc-twice", room=ROOM)
    fake.script.say("Hello.")
    fake.script.call_tool("escalate_to_human", ESCALATE)
    fake.script.say("Your ticket is open.")
    fake.script.call_tool("escalate_to_human", {"reason": "Still waiting", "urgency": "low"})
    fake.script.say("It's the same ticket.")

    async with escalation_session(
        fake,
        http_session,
        service,
        env=desk_env(fake, desk),
        room=FakeRoom(ROOM),
        ctx=FakeJobContext(),
        caller=caller,
    ) as (run, flow):
        await fake.wait_for_sent("response.done")
        await run.session.run(user_input="I want a person")
        first = await escalation_output(fake)
        await run.session.run(user_input="Hello? I asked for a person!")
        second = await escalation_output(fake, count=2)
        await asyncio.gather(*flow.notifications)
        ticket = await service.get_ticket(first["ticket"])
        count = await tickets_of_session(service, caller.session_id)

    assert second == {
        "ticket": first["ticket"],
        "already_open": True,
        "next_steps": WAIT_FOR_PERSON,
    }
    assert count == 1
    assert (ticket["reason"], ticket["urgency"]) == (REASON, "high")  # the first request stands
    assert len(flow.notifications) == 1 and len(desk.requests) == 1
    assert attempts_of(ticket) == [(1, 200, None, True)]


async def test_two_escalations_in_one_response_give_one_ticket_and_one_notification(
    fake_azure, http_session, demo_service, desk
):
    fake, service = fake_azure, demo_service
    caller = CallerState(session_id="esc-parallel", room=ROOM)
    fake.script.say("Hello.")
    fake.script.respond(
        ToolCall("escalate_to_human", ESCALATE), ToolCall("escalate_to_human", ESCALATE)
    )
    fake.script.say("Your ticket is open.")

    async with escalation_session(
        fake,
        http_session,
        service,
        env=desk_env(fake, desk),
        room=FakeRoom(ROOM),
        ctx=FakeJobContext(),
        caller=caller,
    ) as (run, flow):
        await fake.wait_for_sent("response.done")
        await run.session.run(user_input="A person, now, please")
        outputs = [await escalation_output(fake, count=n) for n in (1, 2)]
        await asyncio.gather(*flow.notifications)
        count = await tickets_of_session(service, caller.session_id)

    assert outputs[0]["ticket"] == outputs[1]["ticket"]
    assert sorted(o["already_open"] for o in outputs) == [False, True]
    assert count == 1
    assert len(flow.notifications) == 1 and len(desk.requests) == 1


# --- 2. a person joins: one introduction, then the agent steps back -----------------------------


async def test_a_human_agent_joining_is_introduced_then_the_agent_stops_answering_and_leaves(
    fake_azure, http_session, demo_service, desk, monkeypatch
):
    monkeypatch.setattr(fixtures, "ScriptedMicrophone", RoomLikeMicrophone)
    fake, service = fake_azure, demo_service
    fake.script.say("Hello, ShopMe support.", audio_ms=300)
    fake.script.transcribe("I want to talk to a person", "hello, are you still there")
    fake.script.call_tool("escalate_to_human", ESCALATE)
    fake.script.say("Your ticket is open and a colleague is on the way.", audio_ms=400)
    fake.script.say("A colleague has just joined and has your ticket.", audio_ms=400)
    speech, rate = recording("where_is_my_order.wav")
    room, ctx = FakeRoom(ROOM), FakeJobContext()

    async with escalation_session(
        fake, http_session, service, env=desk_env(fake, desk), room=room, ctx=ctx, spoken=True
    ) as (run, flow):
        speaker, microphone = run.speaker, run.microphone
        await wait_until(lambda: len(speaker.playbacks) == 1, what="the greeting to play out")
        await microphone.say(speech, rate)
        number = (await escalation_output(fake))["ticket"]
        # the desk is quick: the colleague joins while the ticket number is being read out
        room.join(participant(f"human-{number}", role="human_agent"))
        await wait_until(lambda: ctx.shutdowns, what="the agent to leave the room")
        introduction = fake.responses[-1]
        ticket_playback, intro_playback = speaker.playbacks[1:3]
        responses_after = len(fake.responses)
        creates_after = len(fake.events("response.create"))

        # the caller talks again: the agent no longer hears them, so it never answers
        speech_started = len(fake.sent("input_audio_buffer.speech_started"))
        heard_ms = fake.received_audio_ms()
        await microphone.say(speech, rate)
        done_ms = microphone.delivered_ms()
        # well past the fake VAD's end-of-turn silence (200 ms), as measured on the caller's side
        await wait_until(lambda: microphone.delivered_ms() >= done_ms + 1000, what="silence after")
        outcome = flow.handoff_outcome

    # one introduction, spoken in full, naming the ticket
    assert introduction.trigger == "response.create"
    assert number in (introduction.instructions or "")
    assert len(hand_off_requests(fake, number)) == 1
    assert outcome == HandoffOutcome.HUMAN_JOINED
    # the caller heard the ticket number in full first, then the whole introduction
    assert [m.text_content for m in run.messages("assistant")] == [
        "Hello, ShopMe support.",
        "Your ticket is open and a colleague is on the way.",
        "A colleague has just joined and has your ticket.",
    ]
    assert not ticket_playback.interrupted and not intro_playback.interrupted
    assert ctx.shutdowns and len(ctx.shutdowns) == 1

    # then silence from the agent: no audio reached the model, no turn, no response
    assert not run.session.input.audio_enabled
    assert len(fake.sent("input_audio_buffer.speech_started")) == speech_started
    assert fake.received_audio_ms() - heard_ms < 200
    assert len(fake.responses) == responses_after
    assert len(fake.events("response.create")) == creates_after
    assert len(speaker.playbacks) == 3
    assert run.transcripts == ["I want to talk to a person"]  # the second turn never happened
    # the ticket says a person took over
    assert (await service.get_ticket(number))["status"] == "handed_over"
    # the caller's app was shown the ticket, then that the person joined
    assert escalation_notices(room) == [(number, "person_joining"), (number, "human_joined")]


async def test_only_the_human_agent_for_this_ticket_triggers_the_hand_off(
    fake_azure, http_session, demo_service, desk
):
    fake, service = fake_azure, demo_service
    fake.script.say("Hello.")
    fake.script.call_tool("escalate_to_human", ESCALATE)
    fake.script.say("Your ticket is open.")
    room, ctx = FakeRoom(ROOM), FakeJobContext()

    async with escalation_session(
        fake, http_session, service, env=desk_env(fake, desk), room=room, ctx=ctx
    ) as (run, flow):
        await fake.wait_for_sent("response.done")
        await run.session.run(user_input="I want a person")
        number = (await escalation_output(fake))["ticket"]

        without_role = participant(f"human-{number}")
        room.join(without_role)
        room.join(participant("human-TCK-ZZZZ99", role="human_agent"))  # another ticket's colleague
        room.join(participant("caller-relative", role="customer"))
        # the agent still answers: the conversation went on past all three arrivals
        fake.script.say("I'm still here with you.")
        reply = await run.session.run(user_input="Is anyone there?")
        reply.expect.contains_message(role="assistant")
        handed_off_early = bool(hand_off_requests(fake, number)) or bool(ctx.shutdowns)

        # the desk person's client sets the role once connected: now it is them
        fake.script.say("A colleague has just joined.")
        room.set_attributes(without_role, {"role": "human_agent"})
        await wait_until(lambda: ctx.shutdowns, what="the agent to leave the room")
        outcome = flow.handoff_outcome

    assert not handed_off_early
    assert len(hand_off_requests(fake, number)) == 1
    assert outcome == HandoffOutcome.HUMAN_JOINED


# --- 3. nobody comes: a callback is offered, the ticket stays open -------------------------------


async def test_nobody_joining_in_time_offers_a_callback_and_the_agent_keeps_helping(
    fake_azure, http_session, demo_service, desk
):
    fake, service = fake_azure, demo_service
    fake.script.say("Hello.")
    fake.script.call_tool("escalate_to_human", ESCALATE)
    fake.script.say("Your ticket is open, a colleague is on the way.")
    fake.script.say("Nobody is free right now; shall I book a callback?")
    ctx = FakeJobContext()
    env = desk_env(fake, desk, ESCALATION_TIMEOUT_S="1")

    async with escalation_session(
        fake, http_session, service, env=env, room=FakeRoom(ROOM), ctx=ctx
    ) as (run, flow):
        await fake.wait_for_sent("response.done")
        await run.session.run(user_input="Get me a person")
        number = (await escalation_output(fake))["ticket"]
        offer = await fake.wait_for(
            "response.create", where=lambda e: "schedule_callback" in instructions_of(e)
        )
        await wait_until(lambda: flow.handoff_outcome is not None, what="the hand-off to end")
        ticket = await service.get_ticket(number)

        fake.script.say("Sure, tomorrow at ten works.")
        after = await run.session.run(user_input="Tomorrow at ten, please")
        after.expect.contains_message(role="assistant")
        answered = fake.responses[-1]

    assert "schedule_callback" not in run.agent.instructions  # so only the offer matched
    assert number in instructions_of(offer)
    assert flow.handoff_outcome == HandoffOutcome.CALLBACK_OFFERED
    assert ticket["status"] == "open"
    assert ctx.shutdowns == []
    assert (answered.trigger, answered.status) == ("response.create", "completed")
    assert "schedule_callback" not in (answered.instructions or "")


# --- 4. a phone caller is transferred to the support line ----------------------------------------


@pytest.fixture
async def livekit_server() -> AsyncIterator[FakeLiveKitAPI]:
    async with FakeLiveKitAPI(LK_API_KEY, LK_API_SECRET) as server:
        yield server


def sip_room() -> FakeRoom:
    room = FakeRoom(ROOM)
    caller = participant(SIP_CALLER_IDENTITY, kind=rtc.ParticipantKind.PARTICIPANT_KIND_SIP)
    room.remote_participants[caller.identity] = caller
    return room


def sip_job_context(livekit_server, http_session) -> FakeJobContext:
    """A job whose server API is the fake LiveKit server (the SIP transfer goes there)."""
    return FakeJobContext(
        api.LiveKitAPI(livekit_server.url, LK_API_KEY, LK_API_SECRET, session=http_session)
    )


def sip_escalation_session(fake, http_session, service: SupportService, ctx: FakeJobContext):
    """A phone caller's session on a deployment that transfers SIP calls to the support line."""
    return escalation_session(
        fake,
        http_session,
        service,
        env=desk_env(fake, ESCALATION_SIP_TRANSFER_TO=TRANSFER_LINE),
        room=sip_room(),
        ctx=ctx,
        caller_identity=SIP_CALLER_IDENTITY,
    )


async def test_a_sip_caller_is_transferred_to_the_support_line(
    fake_azure, http_session, demo_service, livekit_server, caplog
):
    caplog.set_level(logging.INFO)
    fake, service = fake_azure, demo_service
    fake.script.say("Hello.")
    fake.script.call_tool("escalate_to_human", ESCALATE)
    fake.script.say("Your ticket is open; I'm transferring you now.")
    fake.script.say("Transferring you now, please stay on the line.")
    ctx = sip_job_context(livekit_server, http_session)
    async with sip_escalation_session(fake, http_session, service, ctx) as (run, flow):
        await fake.wait_for_sent("response.done")
        await run.session.run(user_input="Put me through to a person")
        output = await escalation_output(fake)
        await wait_until(lambda: ctx.shutdowns, what="the agent to leave the call")
        outcome = flow.handoff_outcome

    assert output["next_steps"] == TRANSFERRING and TICKET_NUMBER.match(output["ticket"])
    [transfer] = livekit_server.calls_to("TransferSIPParticipant")
    assert transfer.request.room_name == ROOM
    assert transfer.request.participant_identity == SIP_CALLER_IDENTITY
    assert transfer.request.transfer_to == "tel:+918040001234"
    assert outcome == HandoffOutcome.TRANSFERRED
    # the ticket number was spoken in full before the call moved to the support line
    replies = run.messages("assistant")
    assert [m.text_content for m in replies] == [
        "Hello.",
        "Your ticket is open; I'm transferring you now.",
        "Transferring you now, please stay on the line.",
    ]
    assert not any(m.interrupted for m in replies)
    # the caller heard that they are being transferred before the line changed
    assert "transferring" not in run.agent.instructions.lower()
    assert any("transferring you" in instructions_of(e) for e in fake.events("response.create"))
    assert SIP_CALLER_NUMBER not in caplog.text and LK_API_SECRET not in caplog.text
    assert (await service.get_ticket(output["ticket"]))["status"] == "transferred"


async def test_a_failed_transfer_offers_a_callback_instead(
    fake_azure, http_session, demo_service, livekit_server
):
    fake, service = fake_azure, demo_service
    livekit_server.fail_next("unavailable", "SIP trunk down")
    fake.script.say("Hello.")
    fake.script.call_tool("escalate_to_human", ESCALATE)
    fake.script.say("Your ticket is open; I'm transferring you now.")
    fake.script.say("Transferring you now.")
    fake.script.say("The transfer didn't work; shall I book a callback?")
    ctx = sip_job_context(livekit_server, http_session)
    async with sip_escalation_session(fake, http_session, service, ctx) as (run, flow):
        await fake.wait_for_sent("response.done")
        await run.session.run(user_input="Put me through to a person")
        number = (await escalation_output(fake))["ticket"]
        offer = await fake.wait_for(
            "response.create", where=lambda e: "schedule_callback" in instructions_of(e)
        )
        await wait_until(lambda: flow.handoff_outcome is not None, what="the hand-off to end")
        ticket = await service.get_ticket(number)

    assert len(livekit_server.calls_to("TransferSIPParticipant")) == 1
    assert "schedule_callback" not in run.agent.instructions  # so only the offer matched
    assert number in instructions_of(offer)
    assert flow.handoff_outcome == HandoffOutcome.CALLBACK_OFFERED
    assert ticket["status"] == "open"
    assert ctx.shutdowns == []
    assert run.session.input.audio_enabled  # still listening to the caller


# --- 5. nothing configured: a ticket and an honest promise ---------------------------------------


@pytest.mark.parametrize("with_room", [False, True], ids=["console", "room-without-desk"])
async def test_without_a_desk_the_caller_gets_a_ticket_and_when_the_shop_gets_back(
    fake_azure, http_session, demo_service, with_room
):
    fake, service = fake_azure, demo_service
    fake.script.say("Hello.")
    fake.script.call_tool("escalate_to_human", ESCALATE)
    fake.script.say("Your ticket is open; we'll get back to you within a business day.")
    room = FakeRoom(ROOM) if with_room else None
    ctx = FakeJobContext() if with_room else None
    env = azure_env(fake)  # no webhook, no LiveKit credentials

    async with escalation_session(fake, http_session, service, env=env, room=room, ctx=ctx) as (
        run,
        flow,
    ):
        await fake.wait_for_sent("response.done")
        await run.session.run(user_input="I want a person")
        output = await escalation_output(fake)
        ticket = await service.get_ticket(output["ticket"])
        listening = room.listener_count() if room is not None else 0

    assert TICKET_NUMBER.match(output["ticket"]) and not output["already_open"]
    assert output["next_steps"] == TICKET_ONLY
    assert "one business day" in TICKET_ONLY and "phone or email" in TICKET_ONLY
    assert ticket["status"] == "open" and ticket["delivery_attempts"] == []
    # nobody was told, so nobody is waited for
    assert flow.notifications == [] and flow.handoff_outcome is None
    assert listening == 0
    assert ctx is None or ctx.shutdowns == []
    if room is not None:
        assert escalation_notices(room) == [(output["ticket"], "ticket_only")]
