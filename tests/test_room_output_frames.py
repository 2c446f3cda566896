"""The agent's audio to the room in 100 ms frames (support_tools/voice/room_output_frames.py): the
caller still hears all of it, in order, whatever the model's delta size. Also fails when
livekit-agents changes the internals the module relies on."""

from __future__ import annotations

import asyncio
import inspect
import struct
import time

import pytest
from livekit import rtc
from livekit.agents.voice.room_io import _output as framework_output
from livekit.agents.voice.room_io import room_io as framework_room_io

from support_tools.voice.room_output_frames import (
    FRAME_MS,
    ParticipantAudioOutputIn100msFrames,
    send_agent_audio_in_100ms_frames,
)

RATE = 24_000


class PlayingSource:
    """Stands in for `rtc.AudioSource`: keeps what it is given and plays it out in real time."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self._ends_at = 0.0

    @property
    def queued_duration(self) -> float:
        return max(0.0, self._ends_at - time.monotonic())

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        self.frames.append(bytes(frame.data))
        self._ends_at = max(self._ends_at, time.monotonic()) + frame.duration

    async def wait_for_playout(self) -> None:
        await asyncio.sleep(self.queued_duration)

    def clear_queue(self) -> None:
        self._ends_at = 0.0

    async def aclose(self) -> None:
        pass


def speech(seconds: float) -> bytes:
    """Every sample different from its neighbours, so order and loss both show."""
    return b"".join(struct.pack("<h", (n % 20000) - 10000) for n in range(int(RATE * seconds)))


def deltas(pcm: bytes, ms: int) -> list[rtc.AudioFrame]:
    size = RATE * ms // 1000 * 2
    return [rtc.AudioFrame(pcm[at:at + size], RATE, 1, len(pcm[at:at + size]) // 2)
            for at in range(0, len(pcm), size)]


@pytest.fixture
async def room_output():
    output = ParticipantAudioOutputIn100msFrames(
        rtc.Room(), sample_rate=RATE, num_channels=1, track_publish_options=rtc.TrackPublishOptions()
    )
    output._audio_source = PlayingSource()  # what the caller's side receives, in order
    output._subscribed_fut.set_result(None)  # as once the caller subscribed to the track
    output._forwarding_task = asyncio.create_task(output._forward_audio())
    yield output
    await output.aclose()


@pytest.mark.parametrize("delta_ms", [20, 60, 100, 140])
async def test_the_caller_hears_all_of_the_agents_audio_in_order(room_output, delta_ms) -> None:
    reply = speech(1.5)
    for frame in deltas(reply, delta_ms):  # as the model sends it: faster than it plays
        await room_output.capture_frame(frame)
    room_output.flush()
    finished = await asyncio.wait_for(room_output.wait_for_playout(), timeout=10)

    heard = room_output._audio_source.frames
    assert b"".join(heard) == reply
    assert not finished.interrupted
    assert finished.playback_position == pytest.approx(1.5)
    assert max(len(f) for f in heard) == RATE * FRAME_MS // 1000 * 2  # none longer than 100 ms


async def test_audio_coming_in_real_time_is_heard_in_order_too(room_output) -> None:
    reply = speech(0.6)
    for frame in deltas(reply, 20):
        await room_output.capture_frame(frame)
        await asyncio.sleep(0.02)
    room_output.flush()
    await asyncio.wait_for(room_output.wait_for_playout(), timeout=10)

    assert b"".join(room_output._audio_source.frames) == reply


def test_roomio_builds_its_audio_output_from_the_name_this_module_replaces(monkeypatch) -> None:
    """livekit-agents ~=1.8.9: fails when an upgrade moves what room_output_frames.py replaces."""
    monkeypatch.setattr(
        framework_room_io, "_ParticipantAudioOutput", framework_room_io._ParticipantAudioOutput
    )
    send_agent_audio_in_100ms_frames()
    assert framework_room_io._ParticipantAudioOutput is ParticipantAudioOutputIn100msFrames
    assert "_ParticipantAudioOutput(" in inspect.getsource(framework_room_io.RoomIO.start)

    init = inspect.getsource(framework_output._ParticipantAudioOutput.__init__)
    assert "self._audio_bstream = utils.audio.AudioByteStream(" in init
    cutting = inspect.getsource(framework_output._ParticipantAudioOutput)
    for use in ("self._audio_bstream.push(frame.data)", "self._audio_bstream.flush()",
                "self._audio_bstream.clear()", "await self._audio_source.capture_frame(frame)"):
        assert use in cutting, use
