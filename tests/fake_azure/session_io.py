"""A caller's microphone and loudspeaker for a room-less `AgentSession`, both in real time.

`ScriptedMicrophone` is an `io.AudioInput`: it yields 20 ms frames paced by the wall clock,
digital silence unless an utterance was queued with `say(pcm)`, like a live microphone.
`SimulatedSpeaker` is an `io.AudioOutput`: it takes frames as fast as they come but "plays" them
in real time, and reports `on_playback_started` / `on_playback_finished` with the position
reached, so interruptions and `audio_end_ms` behave as with a real device.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from livekit import rtc
from livekit.agents.voice import io

from . import audio

MIC_RATE = 48_000
FRAME_MS = 20


class ScriptedMicrophone(io.AudioInput):
    def __init__(self, *, sample_rate: int = MIC_RATE, frame_ms: int = FRAME_MS) -> None:
        super().__init__(label="ScriptedMicrophone")
        self.sample_rate = sample_rate
        self._frame_bytes = audio.samples_for(frame_ms, sample_rate) * audio.BYTES_PER_SAMPLE
        self._frame_s = frame_ms / 1000
        self._pending = bytearray()
        self._drained: list[asyncio.Future[None]] = []
        self._started_at: float | None = None
        self._frames_out = 0
        self._closed = False

    def say(self, pcm: bytes, rate: int) -> asyncio.Future[None]:
        """Queue an utterance (PCM16 mono at `rate`); the future resolves once it is all sent."""
        self._pending += audio.resample(pcm, rate, self.sample_rate)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drained.append(done)
        return done

    @property
    def speaking(self) -> bool:
        return bool(self._pending)

    def delivered_ms(self) -> float:
        """Audio handed to the session so far (silence included), in milliseconds."""
        return self._frames_out * self._frame_s * 1000

    def close(self) -> None:
        self._closed = True

    async def __anext__(self) -> rtc.AudioFrame:
        if self._closed:
            raise StopAsyncIteration
        now = time.monotonic()
        if self._started_at is None:
            self._started_at = now
        due = self._started_at + self._frames_out * self._frame_s
        if due > now:
            await asyncio.sleep(due - now)
        self._frames_out += 1
        return self._next_frame()

    def _next_frame(self) -> rtc.AudioFrame:
        data = bytes(self._pending[: self._frame_bytes])
        del self._pending[: self._frame_bytes]
        if not self._pending:
            for done in self._drained:
                if not done.done():
                    done.set_result(None)
            self._drained.clear()
        data = data.ljust(self._frame_bytes, b"\0")
        return rtc.AudioFrame(
            data=data,
            sample_rate=self.sample_rate,
            num_channels=1,
            samples_per_channel=len(data) // audio.BYTES_PER_SAMPLE,
        )


@dataclass
class _Segment:
    started_at: float
    pushed_s: float = 0.0
    flushed: bool = False
    timer: asyncio.TimerHandle | None = None


@dataclass
class Playback:
    """What the speaker reported for one segment."""

    duration_s: float  # audio received for the segment
    position_s: float  # audio played before it ended
    interrupted: bool


class SimulatedSpeaker(io.AudioOutput):
    def __init__(self) -> None:
        super().__init__(
            label="SimulatedSpeaker", capabilities=io.AudioOutputCapabilities(pause=False)
        )
        self.frames: list[rtc.AudioFrame] = []  # everything the agent sent to the speaker
        self.playbacks: list[Playback] = []  # one per finished segment
        self._segments: list[_Segment] = []  # unfinished, oldest first
        self._busy_until = 0.0  # wall clock time when everything queued so far has played

    @property
    def busy(self) -> bool:
        """A segment has started and not finished playing."""
        return bool(self._segments)

    def received_ms(self) -> float:
        return sum(f.duration for f in self.frames) * 1000

    def received_pcm(self) -> bytes:
        return b"".join(bytes(f.data) for f in self.frames)

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        segment = self._capturing_segment()
        if segment is None:
            segment = _Segment(started_at=max(time.time(), self._busy_until))
            self._segments.append(segment)
            self.on_playback_started(created_at=segment.started_at)
        self.frames.append(frame)
        segment.pushed_s += frame.duration
        self._busy_until = segment.started_at + segment.pushed_s

    def flush(self) -> None:
        super().flush()
        segment = self._capturing_segment()
        if segment is None:
            return
        segment.flushed = True
        delay = max(0.0, segment.started_at + segment.pushed_s - time.time())
        segment.timer = asyncio.get_running_loop().call_later(delay, self._finish, segment, False)

    def clear_buffer(self) -> None:
        for segment in list(self._segments):
            self._finish(segment, True)
        self._busy_until = 0.0

    def _capturing_segment(self) -> _Segment | None:
        if self._segments and not self._segments[-1].flushed:
            return self._segments[-1]
        return None

    def _finish(self, segment: _Segment, interrupted: bool) -> None:
        if segment not in self._segments:
            return
        self._segments.remove(segment)
        if segment.timer is not None:
            segment.timer.cancel()
        played = min(segment.pushed_s, max(0.0, time.time() - segment.started_at))
        if not interrupted:
            played = segment.pushed_s
        self.playbacks.append(Playback(segment.pushed_s, played, interrupted))
        self.on_playback_finished(playback_position=played, interrupted=interrupted)
