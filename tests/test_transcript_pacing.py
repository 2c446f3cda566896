"""The agent's transcript, paced by voiced time (support_tools/voice/transcript_pacing.py): the
caller still gets every word, in order, and an interrupted reply keeps only what played. Also
fails when livekit-agents changes the internals the module relies on."""

from __future__ import annotations

import asyncio
import inspect
import struct
import time

import pytest
from livekit import rtc
from livekit.agents.voice import io
from livekit.agents.voice.transcription import TranscriptSynchronizer
from livekit.agents.voice.transcription import synchronizer as framework_synchronizer

from support_tools.voice.transcript_pacing import (
    VoicedTimeRate,
    VoicedTimeRateStream,
    pace_transcripts_by_voiced_time,
)

RATE = 24_000
REPLY = "Your order 482913 left our warehouse this morning and should arrive on Friday."


def voiced(ms: int) -> rtc.AudioFrame:
    samples = RATE * ms // 1000
    pcm = b"".join(struct.pack("<h", 3000 if (i // 24) % 2 else -3000) for i in range(samples))
    return rtc.AudioFrame(pcm, RATE, 1, samples)


def silent(ms: int) -> rtc.AudioFrame:
    samples = RATE * ms // 1000
    return rtc.AudioFrame(bytes(samples * 2), RATE, 1, samples)


@pytest.fixture
def voiced_time_pacing(monkeypatch):
    """Installed as agent.py installs it; the framework's own detector comes back afterwards."""
    monkeypatch.setattr(
        framework_synchronizer, "SpeakingRateDetector", framework_synchronizer.SpeakingRateDetector
    )
    pace_transcripts_by_voiced_time()


class RealTimeSpeaker(io.AudioOutput):
    """A device: plays what it gets in real time; `clear_buffer` stops it where it is."""

    def __init__(self) -> None:
        super().__init__(label="RealTimeSpeaker", capabilities=io.AudioOutputCapabilities(pause=False))
        self.started_at: float | None = None
        self.pushed_s = 0.0
        self._finish: asyncio.TimerHandle | None = None

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if self.started_at is None:
            self.started_at = time.time()
            self.on_playback_started(created_at=self.started_at)
        self.pushed_s += frame.duration

    def flush(self) -> None:
        super().flush()
        if self.started_at is not None:
            remaining = self.started_at + self.pushed_s - time.time()
            self._finish = asyncio.get_running_loop().call_later(
                max(0.0, remaining), self._finished, self.pushed_s, False
            )

    def clear_buffer(self) -> None:
        if self.started_at is not None and self._finish is not None:
            self._finish.cancel()
            self._finished(min(self.pushed_s, time.time() - self.started_at), True)

    def _finished(self, position: float, interrupted: bool) -> None:
        self.started_at, self._finish = None, None
        self.on_playback_finished(playback_position=position, interrupted=interrupted)


class Page(io.TextOutput):
    """What the caller's page receives (RoomIO's `lk.transcription` output in a room)."""

    def __init__(self) -> None:
        super().__init__(label="Page", next_in_chain=None)
        self.text = ""
        self.flushed = asyncio.Event()

    async def capture_text(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        self.flushed.set()


async def say(sync: TranscriptSynchronizer, text: str, frames: list[rtc.AudioFrame]) -> None:
    """As the model does: the reply's text and audio arrive faster than they play."""
    for word in text.split(" "):
        await sync.text_output.capture_text(word + " ")
    sync.text_output.flush()
    for frame in frames:
        await sync.audio_output.capture_frame(frame)
    sync.audio_output.flush()


# --- the stream on its own -------------------------------------------------------------------


async def test_voiced_audio_counts_as_speaking_time_and_silence_does_not() -> None:
    stream = VoicedTimeRate().stream()
    for frame in [voiced(20)] * 10 + [silent(60)] * 5 + [voiced(30)] * 3:  # 0.2 s, 0.3 s, 0.09 s
        stream.push_frame(frame)
    stream.end_input()
    events = [event async for event in stream]

    assert [round(e.timestamp, 3) for e in events] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.59]
    assert [e.speaking_rate for e in events] == [1.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert [e.speaking for e in events] == [True, True, False, False, False, True]


async def test_a_closed_stream_ends_its_events_and_takes_no_more_audio() -> None:
    stream = VoicedTimeRate().stream()
    stream.push_frame(voiced(100))
    await stream.aclose()
    stream.push_frame(voiced(100))
    assert [e.timestamp for e in [event async for event in stream]] == [0.1]


# --- through livekit-agents' transcript synchronizer --------------------------------------------


async def test_the_caller_gets_every_word_of_the_reply_in_order(voiced_time_pacing) -> None:
    page, speaker = Page(), RealTimeSpeaker()
    sync = TranscriptSynchronizer(next_in_chain_audio=speaker, next_in_chain_text=page)
    await say(sync, REPLY, [voiced(20)] * 30 + [silent(100)] * 2 + [voiced(20)] * 20)

    finished = await asyncio.wait_for(sync.audio_output.wait_for_playout(), timeout=10)
    await asyncio.wait_for(page.flushed.wait(), timeout=10)

    assert not finished.interrupted
    assert page.text.split() == REPLY.split()
    await sync.aclose()


async def test_an_interrupted_reply_keeps_only_the_words_that_played(voiced_time_pacing) -> None:
    page, speaker = Page(), RealTimeSpeaker()
    sync = TranscriptSynchronizer(next_in_chain_audio=speaker, next_in_chain_text=page)
    await say(sync, REPLY, [voiced(100)] * 30)  # 3 s of speech
    await asyncio.sleep(1.0)
    sync.audio_output.clear_buffer()  # the caller barged in

    finished = await asyncio.wait_for(sync.audio_output.wait_for_playout(), timeout=10)

    assert finished.interrupted
    kept = (finished.synchronized_transcript or "").split()
    assert kept, "some words had played"
    assert len(kept) < len(REPLY.split())
    assert kept == REPLY.split()[: len(kept)]
    await sync.aclose()


async def test_the_synchronizer_paces_by_voiced_time_and_waits_through_pauses(voiced_time_pacing) -> None:
    """Also the check that livekit-agents still builds its rate estimate where this module puts it."""
    sync = TranscriptSynchronizer(next_in_chain_audio=RealTimeSpeaker(), next_in_chain_text=Page())
    assert isinstance(sync._opts.speaking_rate_detector, VoicedTimeRate)
    segment = sync._impl
    assert isinstance(segment._audio_data.sr_stream, VoicedTimeRateStream)

    await say(sync, REPLY, [voiced(100)] * 5 + [silent(100)] * 10 + [voiced(100)] * 5)
    for _ in range(100):  # the synchronizer reads the events in a task of its own
        if segment._audio_data.estimated_rate.pushed_duration >= 2.0:
            break
        await asyncio.sleep(0.01)

    spoken_by = segment._audio_data.estimated_rate.accumulate_to
    assert spoken_by(0.5) == pytest.approx(0.5)
    assert spoken_by(1.5) == pytest.approx(0.5)  # the pause: no word is due
    assert spoken_by(2.0) == pytest.approx(1.0)
    sync.audio_output.clear_buffer()
    await sync.aclose()


def test_the_framework_still_builds_and_reads_its_rate_estimate_as_this_module_expects() -> None:
    """livekit-agents ~=1.8.9: fails when an upgrade moves what transcript_pacing.py replaces."""
    assert "SpeakingRateDetector()" in inspect.getsource(TranscriptSynchronizer.__init__)
    segment_source = inspect.getsource(framework_synchronizer._SegmentSynchronizerImpl)
    for use in ("speaking_rate_detector.stream()", "sr_stream.push_frame(", "sr_stream.end_input()",
                "sr_stream.aclose()", "async for ev in self._audio_data.sr_stream",
                "timestamp=ev.timestamp, speaking_rate=ev.speaking_rate"):
        assert use in segment_source, use
