"""The escalation notice reaches the caller's app on its own topic: the ticket and the next step."""

from __future__ import annotations

import json

from support_tools.voice.escalation_notice import ESCALATION_TOPIC, send_escalation_notice
from tests.fake_room import FakeRoom


async def test_notice_goes_to_the_caller_only_with_the_ticket_and_step() -> None:
    room = FakeRoom()
    assert await send_escalation_notice(room, "customer-1", "TCK-7QX2M9", "person_joining")
    [message] = room.local_participant.sent
    assert message["topic"] == ESCALATION_TOPIC == "shopme.escalation"
    assert message["to"] == ["customer-1"]
    assert json.loads(message["text"]) == {
        "type": "escalation", "version": 1, "ticket": "TCK-7QX2M9", "step": "person_joining",
    }


async def test_nothing_is_sent_without_a_room_a_caller_or_a_ticket() -> None:
    assert not await send_escalation_notice(None, "customer-1", "TCK-7QX2M9", "ticket_only")
    assert not await send_escalation_notice(FakeRoom(), None, "TCK-7QX2M9", "ticket_only")
    room = FakeRoom()
    assert not await send_escalation_notice(room, "customer-1", "", "ticket_only")
    assert room.local_participant.sent == []


async def test_an_unknown_step_is_not_sent() -> None:
    room = FakeRoom()
    assert not await send_escalation_notice(room, "customer-1", "TCK-7QX2M9", "made_up")
    assert room.local_participant.sent == []


async def test_a_failed_send_does_not_fail_the_escalation() -> None:
    assert not await send_escalation_notice(FakeRoom(fail_sends=True), "c-1", "TCK-7QX2M9", "ticket_only")
