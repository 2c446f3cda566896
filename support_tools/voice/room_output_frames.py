"""The agent's audio reaches the room's audio source in frames of up to 100 ms instead of 50 ms.

RoomIO's participant audio output (livekit-agents 1.8.9) cuts the agent's audio into 50 ms frames
and hands each to `rtc.AudioSource.capture_frame`: a request through the native client (FFI) and
an answer back on the Python thread for every frame. Measured on a room-less source: about 16 ms
of CPU per audio-second in 50 ms frames, 9 ms in 100 ms frames. Halving the number of frames halves
that per-frame work.

Latency stays as it was: the output still sends a shorter frame whenever the source is about to
run dry (its flush timer, 20 ms ahead) and the first audio of a reply as soon as 20 ms of it are
there, so a frame waits for more audio only while the source has enough queued to play meanwhile.
The source's queue (200 ms) holds two such frames.

This reaches into livekit-agents internals: RoomIO builds `_ParticipantAudioOutput` by its
module-level name in `livekit.agents.voice.room_io.room_io`, and that class keeps its frame
cutter in `_audio_bstream`. tests/test_room_output_frames.py fails if that changes
(livekit-agents ~=1.8.9, pinned).
"""

from __future__ import annotations

from typing import Any

from livekit.agents.utils.audio import AudioByteStream
from livekit.agents.voice.room_io import _output as _framework_output
from livekit.agents.voice.room_io import room_io as _framework_room_io

FRAME_MS = 100


class ParticipantAudioOutputIn100msFrames(_framework_output._ParticipantAudioOutput):
    """RoomIO's audio output to the room, cutting the agent's audio into 100 ms frames."""

    def __init__(self, room: Any, *, sample_rate: int, num_channels: int, **options: Any) -> None:
        super().__init__(room, sample_rate=sample_rate, num_channels=num_channels, **options)
        self._audio_bstream = AudioByteStream(
            sample_rate, num_channels, samples_per_channel=sample_rate * FRAME_MS // 1000
        )


def send_agent_audio_in_100ms_frames() -> None:
    """Every RoomIO built from now on in this process uses `ParticipantAudioOutputIn100msFrames`.

    Call before the session starts; calling again is harmless.
    """
    _framework_room_io._ParticipantAudioOutput = ParticipantAudioOutputIn100msFrames  # type: ignore[misc]
