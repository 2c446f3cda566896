"""Spoken turns through the worker's real agent and model: caller audio in, agent audio out.

The caller is a `ScriptedMicrophone` at 48 kHz playing espeak-ng recordings (checked in under
tests/audio_fixtures/, made with `espeak-ng -w` and `sox -r 16000`); the agent's voice goes to a
`SimulatedSpeaker` that plays in real time. The fake's energy VAD stands in for Azure's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.fake_azure import audio as pcm
from tests.fake_azure import fixtures
from tests.fake_azure.fixtures import (
    agent_session,
    wait_until,
)

FIXTURES = Path(__file__).resolve().parent / "audio_fixtures"

# the fake service and an HTTP session for the model (pytest fixtures)
fake_azure = fixtures.fake_azure
http_session = fixtures.http_session


def recording(name: str) -> tuple[bytes, int]:
    return pcm.read_wav(FIXTURES / name)


async def test_spoken_turn_is_heard_at_24khz_and_answered_with_audio(fake_azure, http_session):
    fake = fake_azure
    fake.script.say("Hello, ShopMe support.", audio_ms=300)  # the greeting
    fake.script.transcribe("where is my order")
    fake.script.say("Let me look that up.", audio_ms=800)
    speech, rate = recording("where_is_my_order.wav")

    async with agent_session(fake, http_session, spoken=True) as run:
        speaker, microphone = run.speaker, run.microphone
        await wait_until(lambda: len(speaker.playbacks) == 1, what="the greeting to play out")
        await microphone.say(speech, rate)
        await wait_until(
            lambda: len(run.messages("assistant")) == 2, what="the answer to be spoken"
        )
        delivered_ms = microphone.delivered_ms()
        received_ms = fake.received_audio_ms()

    # the plugin resampled the 48 kHz microphone to 24 kHz: same duration, same speech
    assert received_ms == pytest.approx(delivered_ms, abs=250)
    heard = fake.committed_audio[0]
    assert pcm.voiced_ms(heard) == pytest.approx(pcm.voiced_ms(speech, rate=rate), abs=60)
    assert pcm.dbfs(pcm.rms(heard)) > -40  # speech, not silence

    # server VAD took the turn and answered it; the transcript reached the session
    assert len(fake.sent("input_audio_buffer.speech_started")) == 1
    assert [(r.trigger, r.status) for r in fake.responses] == [
        ("response.create", "completed"),
        ("server_vad", "completed"),
    ]
    assert run.transcripts == ["where is my order"]
    assert [(m.role, m.text_content) for m in run.messages()] == [
        ("assistant", "Hello, ShopMe support."),
        ("user", "where is my order"),
        ("assistant", "Let me look that up."),
    ]

    # the answer's audio reached the speaker whole and played to the end
    answer = speaker.playbacks[1]
    assert answer.duration_s == pytest.approx(0.8, abs=0.01)
    assert (answer.position_s, answer.interrupted) == (answer.duration_s, False)
    assert {frame.sample_rate for frame in speaker.frames} == {pcm.WIRE_RATE}


async def test_caller_barging_in_truncates_the_reply_at_what_was_heard(fake_azure, http_session):
    fake = fake_azure
    fake.script.say("Hello.", audio_ms=200)
    fake.script.transcribe("where is my order", "hold on a second")
    long_text = "Your order left our warehouse on Monday and " * 4
    # generated twice as fast as it plays, like the real service: the caller's speaker is behind
    fake.script.say(long_text, audio_ms=6000, pace=2.0)
    fake.script.say("Sure, take your time.", audio_ms=400)
    where, where_rate = recording("where_is_my_order.wav")
    hold_on, hold_on_rate = recording("hold_on_a_second.wav")

    async with agent_session(fake, http_session, spoken=True) as run:
        speaker, microphone = run.speaker, run.microphone
        await wait_until(lambda: len(speaker.playbacks) == 1, what="the greeting to play out")
        await microphone.say(where, where_rate)
        await wait_until(
            lambda: len(speaker.playbacks) == 1 and speaker.busy, what="the reply to start"
        )
        await asyncio.sleep(0.8)  # the caller listens a little, then talks over the reply
        await microphone.say(hold_on, hold_on_rate)
        truncate = await fake.wait_for("conversation.item.truncate")
        await wait_until(lambda: len(run.messages("assistant")) == 3, what="the next answer")

    long_reply = fake.responses[1]
    assert (long_reply.status, long_reply.status_reason) == ("cancelled", "turn_detected")
    interrupted = speaker.playbacks[1]
    assert interrupted.interrupted and interrupted.position_s < interrupted.duration_s

    # the client cut the model's memory of the reply where the caller stopped hearing it
    assert truncate["item_id"] == long_reply.output[0]["id"]
    assert truncate["content_index"] == 0
    assert 0 < truncate["audio_end_ms"] <= fake.truncations[0].item_audio_ms
    assert truncate["audio_end_ms"] == pytest.approx(interrupted.position_s * 1000, abs=1)
    assert truncate["audio_end_ms"] < 6000

    # and the interruption was a turn of its own, answered in full
    assert (fake.responses[2].trigger, fake.responses[2].status) == ("server_vad", "completed")
    assert run.transcripts == ["where is my order", "hold on a second"]
    replies = run.messages("assistant")
    assert [r.interrupted for r in replies] == [False, True, False]
    assert replies[1].text_content.startswith("Your order left")  # what was heard, not all of it
    assert len(replies[1].text_content) < len(long_text)
    assert replies[2].text_content == "Sure, take your time."
    assert not speaker.playbacks[2].interrupted
