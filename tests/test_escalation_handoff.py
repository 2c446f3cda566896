"""The hand-off after a ticket exists, with a fake room and recorded agent actions."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from livekit import rtc

from support_tools.escalation import HandoffActions, HandoffCoordinator, HandoffOutcome
from tests.fake_room import FakeRoom

TICKET = {"number": "TCK-7QX2M9", "summary": "Parcel for order 482913 never arrived"}


def participant(identity: str, **attributes: str) -> SimpleNamespace:
    return SimpleNamespace(
        identity=identity,
        name=identity,
        attributes=dict(attributes),
        kind=rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD,
    )


def human(ticket: str = "TCK-7QX2M9") -> SimpleNamespace:
    return participant(f"human-{ticket}", role="human_agent")


class RecordingActions:
    """HandoffActions that record what the agent was asked to do, in order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self.callback_offered = asyncio.Event()

    async def say(self, text: str) -> None:
        self.log.append(("say", text))
        await asyncio.sleep(0)  # speaking takes a moment; the coordinator must wait for it
        self.log.append(("said", text))

    def mute_agent(self) -> None:
        self.log.append(("mute_agent", ""))

    async def leave_room(self) -> None:
        self.log.append(("leave_room", ""))

    async def offer_callback(self) -> None:
        self.log.append(("offer_callback", ""))
        self.callback_offered.set()

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.log]

    def spoken(self) -> list[str]:
        return [text for kind, text in self.log if kind == "say"]


def coordinator(room, actions, **options):
    settings = {"timeout_s": 5.0, "is_sip_caller": False, "sip": None}
    settings.update(options)
    return HandoffCoordinator(room=room, session_actions=actions, **settings)


def test_recording_actions_satisfy_the_protocol():
    assert isinstance(RecordingActions(), HandoffActions)


async def test_a_human_joining_is_introduced_then_the_agent_steps_out():
    room, actions = FakeRoom(), RecordingActions()
    handoff = coordinator(room, actions)
    task = handoff.start(TICKET)
    await asyncio.sleep(0)
    assert actions.log == []  # waiting for somebody

    room.join(participant("customer-web"))
    room.join(human())
    outcome = await task

    assert outcome is HandoffOutcome.HUMAN_JOINED and handoff.outcome is HandoffOutcome.HUMAN_JOINED
    assert actions.kinds() == ["say", "said", "mute_agent", "leave_room"]
    [intro] = actions.spoken()
    assert "TCK-7QX2M9" in intro and "Parcel for order 482913 never arrived" in intro
    assert room.listener_count() == 0


async def test_a_human_already_in_the_room_is_introduced_at_once():
    room, actions = FakeRoom(), RecordingActions()
    room.join(human())
    outcome = await coordinator(room, actions).start(TICKET)
    assert outcome is HandoffOutcome.HUMAN_JOINED
    assert actions.kinds() == ["say", "said", "mute_agent", "leave_room"]


async def test_a_participant_who_becomes_a_human_agent_counts():
    room, actions = FakeRoom(), RecordingActions()
    desk = participant("human-TCK-7QX2M9")
    task = coordinator(room, actions).start(TICKET)
    room.join(desk)
    await asyncio.sleep(0)
    assert not task.done()
    room.set_attributes(desk, {"role": "human_agent"})
    assert await task is HandoffOutcome.HUMAN_JOINED


async def test_nobody_joining_ends_in_a_callback_offer():
    room, actions = FakeRoom(), RecordingActions()
    task = coordinator(room, actions, timeout_s=0.2).start(TICKET)
    room.join(participant("customer-web"))
    room.join(participant("someone", role="customer"))
    outcome = await task
    assert outcome is HandoffOutcome.CALLBACK_OFFERED
    assert actions.kinds() == ["offer_callback"]
    assert room.listener_count() == 0


async def test_starting_twice_runs_one_hand_off():
    room, actions = FakeRoom(), RecordingActions()
    handoff = coordinator(room, actions)
    first = handoff.start(TICKET)
    second = handoff.start({"number": "TCK-OTHER1", "summary": "another"})
    assert first is second and handoff.started
    room.join(human())
    await first
    assert actions.kinds() == ["say", "said", "mute_agent", "leave_room"]
    assert "TCK-7QX2M9" in actions.spoken()[0]


async def test_closing_stops_waiting_without_offering_anything():
    room, actions = FakeRoom(), RecordingActions()
    handoff = coordinator(room, actions)
    task = handoff.start(TICKET)
    await asyncio.sleep(0)
    await handoff.aclose()
    assert task.cancelled() and actions.log == [] and room.listener_count() == 0
    room.join(human())  # too late: nobody is listening any more
    await asyncio.sleep(0)
    assert actions.log == []


async def test_ticket_identity_can_be_required():
    room, actions = FakeRoom(), RecordingActions()
    task = coordinator(room, actions, timeout_s=0.2, require_ticket_identity=True).start(TICKET)
    room.join(human("TCK-ANOTHER"))  # a colleague on another ticket
    assert await task is HandoffOutcome.CALLBACK_OFFERED


async def test_a_lost_introduction_still_hands_over():
    class MuteSpeaker(RecordingActions):
        async def say(self, text: str) -> None:
            raise RuntimeError("speech failed")

    room, actions = FakeRoom(), MuteSpeaker()
    room.join(human())
    assert await coordinator(room, actions).start(TICKET) is HandoffOutcome.HUMAN_JOINED
    assert actions.kinds() == ["mute_agent", "leave_room"]


async def test_the_outcome_is_reported_once():
    reported: list[HandoffOutcome] = []

    async def on_outcome(outcome):
        reported.append(outcome)

    room, actions = FakeRoom(), RecordingActions()
    await coordinator(room, actions, timeout_s=0.2, on_outcome=on_outcome).start(TICKET)
    assert reported == [HandoffOutcome.CALLBACK_OFFERED]


async def test_a_web_caller_is_never_transferred_even_with_a_line_configured():
    room, actions = FakeRoom(), RecordingActions()
    plan = SimpleNamespace(lkapi=None, participant_identity="web-user", transfer_to="+14155550100")
    room.join(human())
    outcome = await coordinator(room, actions, is_sip_caller=False, sip=plan).start(TICKET)
    assert outcome is HandoffOutcome.HUMAN_JOINED


def test_timeout_must_be_positive():
    with pytest.raises(ValueError):
        coordinator(FakeRoom(), RecordingActions(), timeout_s=0)
