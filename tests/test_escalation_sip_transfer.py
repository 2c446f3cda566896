"""SIP transfer through livekit-api against the fake LiveKit server API on 127.0.0.1."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from livekit import api, rtc
from livekit.protocol import sip as sip_proto

from support_tools.escalation import (
    HandoffCoordinator,
    HandoffOutcome,
    SipTransferPlan,
    TransferFailed,
    is_sip_participant,
    normalize_transfer_target,
    transfer_sip_caller,
)
from tests.fake_livekit_api import FakeLiveKitAPI
from tests.test_escalation_handoff import FakeRoom, RecordingActions

API_KEY = "APIsipTest"
API_SECRET = "sip-secret-" + "q" * 32
ROOM = "call-sip-1"
CALLER = "sip_+919876543210"


@pytest.fixture
async def fake():
    async with FakeLiveKitAPI(API_KEY, API_SECRET) as server:
        yield server


@pytest.fixture
async def lkapi(fake):
    client = api.LiveKitAPI(fake.url, API_KEY, API_SECRET)
    yield client
    await client.aclose()


async def test_transfer_reaches_the_server_with_room_caller_and_destination(fake, lkapi):
    await transfer_sip_caller(lkapi, ROOM, CALLER, "+91 98765-43210", play_dialtone=True)

    [call] = fake.calls_to("TransferSIPParticipant")
    assert call.content_type == "application/protobuf"
    assert call.request.room_name == ROOM
    assert call.request.participant_identity == CALLER
    assert call.request.transfer_to == "tel:+919876543210"
    assert call.request.play_dialtone is True
    # What livekit-api puts in the bearer token, and what the fake insisted on.
    assert call.claims.sip.call is True
    assert call.claims.video.room_admin is True and call.claims.video.room == ROOM


async def test_a_sip_uri_destination_is_sent_as_is(fake, lkapi):
    await transfer_sip_caller(lkapi, ROOM, CALLER, "sip:support@pbx.example.com")
    assert (
        fake.calls_to("TransferSIPParticipant")[0].request.transfer_to
        == "sip:support@pbx.example.com"
    )


async def test_a_server_error_becomes_transfer_failed(fake, lkapi):
    fake.fail_next(
        "failed_precondition",
        "callee rejected",
        meta={
            "sip_status_code": "486",
            "sip_status": "Busy Here",
            "sip_transfer_reason": "STR_REJECTED",
        },
    )
    with pytest.raises(TransferFailed) as failure:
        await transfer_sip_caller(lkapi, ROOM, CALLER, "+919876543210")
    assert "486" in str(failure.value) and "STR_REJECTED" in str(failure.value)
    assert "9876543210" not in str(failure.value)


async def test_an_unknown_participant_becomes_transfer_failed(fake, lkapi):
    fake.sip_participants = {ROOM: {"sip_someone_else"}}
    with pytest.raises(TransferFailed, match="not_found"):
        await transfer_sip_caller(lkapi, ROOM, CALLER, "+919876543210")


async def test_a_failed_transfer_outcome_becomes_transfer_failed(fake, lkapi):
    fake.transfer_status = sip_proto.STS_TRANSFER_FAILED
    fake.transfer_reason = sip_proto.STR_RINGING_TIMEOUT
    with pytest.raises(TransferFailed, match="STR_RINGING_TIMEOUT"):
        await transfer_sip_caller(lkapi, ROOM, CALLER, "+919876543210")


async def test_wrong_api_secret_is_refused_and_reported(fake):
    client = api.LiveKitAPI(fake.url, API_KEY, "not-the-secret-" + "z" * 20)
    try:
        with pytest.raises(TransferFailed, match="unauthenticated"):
            await transfer_sip_caller(client, ROOM, CALLER, "+919876543210")
    finally:
        await client.aclose()
    assert fake.calls == [] and fake.rejected == [("TransferSIPParticipant", "unauthenticated")]


async def test_an_unreachable_server_becomes_transfer_failed():
    server = await FakeLiveKitAPI(API_KEY, API_SECRET).start()
    url = server.url
    await server.aclose()
    client = api.LiveKitAPI(url, API_KEY, API_SECRET)
    try:
        with pytest.raises(TransferFailed, match="could not reach"):
            await transfer_sip_caller(client, ROOM, CALLER, "+919876543210")
    finally:
        await client.aclose()


async def test_a_bad_destination_never_reaches_the_server(fake, lkapi):
    with pytest.raises(TransferFailed):
        await transfer_sip_caller(lkapi, ROOM, CALLER, "9876543210")
    assert fake.calls == []


async def test_logs_mask_the_destination_number(fake, lkapi, caplog):
    caplog.set_level(logging.INFO)
    await transfer_sip_caller(lkapi, ROOM, CALLER, "+919876543210")
    assert "transferring" in caplog.text and "9876543210" not in caplog.text


@pytest.mark.parametrize(
    "given,expected",
    [
        ("+919876543210", "tel:+919876543210"),
        (" +1 (415) 555-0100 ", "tel:+14155550100"),
        ("0044 20 7946 0958", "tel:+442079460958"),
        ("tel:+14155550100", "tel:+14155550100"),
        ("sip:desk@pbx.example.com", "sip:desk@pbx.example.com"),
        ("sips:desk@pbx.example.com", "sips:desk@pbx.example.com"),
        ("desk@pbx.example.com", "sip:desk@pbx.example.com"),
    ],
)
def test_destinations_are_normalised(given, expected):
    assert normalize_transfer_target(given) == expected


@pytest.mark.parametrize(
    "given", ["", "9876543210", "+12", "tel:call-me", "sip:", "sip:a b@host", "+91 98765 4321x"]
)
def test_unusable_destinations_are_refused(given):
    with pytest.raises(TransferFailed):
        normalize_transfer_target(given)


def test_only_sip_participants_count_as_phone_callers():
    sip = SimpleNamespace(kind=rtc.ParticipantKind.PARTICIPANT_KIND_SIP)
    web = SimpleNamespace(kind=rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD)
    agent = SimpleNamespace(kind=rtc.ParticipantKind.PARTICIPANT_KIND_AGENT)
    assert is_sip_participant(sip)
    assert not is_sip_participant(web) and not is_sip_participant(agent)
    assert not is_sip_participant(object())


# -- the coordinator's SIP path, end to end through the fake ----------------------------------


def sip_coordinator(lkapi, actions, room):
    plan = SipTransferPlan(lkapi=lkapi, participant_identity=CALLER, transfer_to="+919876543210")
    return HandoffCoordinator(
        room=room, session_actions=actions, timeout_s=0.2, is_sip_caller=True, sip=plan
    )


async def test_sip_caller_is_told_then_transferred(fake, lkapi):
    actions = RecordingActions()
    coordinator = sip_coordinator(lkapi, actions, FakeRoom(ROOM))

    outcome = await coordinator.start({"number": "TCK-7QX2M9", "summary": "Lost parcel"})

    assert outcome is HandoffOutcome.TRANSFERRED
    assert actions.kinds() == ["say", "said", "mute_agent", "leave_room"]
    assert "transferring" in actions.spoken()[0]
    assert fake.calls_to("TransferSIPParticipant")[0].request.room_name == ROOM


async def test_failed_transfer_falls_back_to_a_callback_offer(fake, lkapi):
    fake.fail_next("unavailable", "no trunk")
    actions = RecordingActions()
    coordinator = sip_coordinator(lkapi, actions, FakeRoom(ROOM))

    outcome = await coordinator.start({"number": "TCK-7QX2M9", "summary": "Lost parcel"})

    assert outcome is HandoffOutcome.CALLBACK_OFFERED
    assert actions.kinds() == ["say", "said", "offer_callback"]
    assert len(fake.calls_to("TransferSIPParticipant")) == 1
