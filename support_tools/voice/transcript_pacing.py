"""The agent's transcript paced by voiced time instead of livekit-agents' spectral speaking rate.

In a room, RoomIO's `TranscriptSynchronizer` releases the agent's transcript word by word as its
audio plays: the caller's page (`lk.transcription`) shows what is being said, and an interrupted
reply keeps only the words that played (chat context, call record). Once a reply's text and audio
have both arrived, it paces the words by a speaking-rate estimate of the audio, so words wait
through pauses. livekit-agents 1.8.9 estimates that rate by spectral flux: an FFT of every 25 ms
of a one-second window, recomputed every 100 ms of audio. Measured: about 22 ms of CPU per second
of agent audio per call, five times the whole agent-audio budget of issue 9 (4 ms).

`VoicedTimeRate` gives the synchronizer the same kind of estimate at a tiny fraction of the cost:
per 100 ms of audio, rate 1 when it is voiced (RMS above a silence floor), 0 when it is not. The
synchronizer then spreads the reply's syllables over its voiced time, so words still wait through
pauses and an interruption still keeps only what played.

This reaches into livekit-agents internals (`TranscriptSynchronizer` builds its detector from the
module-level name `SpeakingRateDetector` of `livekit.agents.voice.transcription.synchronizer`;
its segments call `.stream()` and use `push_frame`, `flush`, `end_input`, `aclose` and async
iteration of the framework's own `SpeakingRateEvent`s, from its `_speaking_rate` module).
tests/test_transcript_pacing.py fails if that changes (livekit-agents ~=1.8.9, pinned).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
from livekit import rtc
from livekit.agents.voice.transcription import synchronizer as _synchronizer
from livekit.agents.voice.transcription._speaking_rate import SpeakingRateEvent

STEP_S = 0.1  # one rate per 100 ms of audio, as livekit-agents' own estimate steps
# The framework's silence floor (RMS 0.005 of full scale), in 16-bit sample units.
SILENCE_RMS = 0.005 * 32768
BYTES_PER_SAMPLE = 2  # PCM16


class VoicedTimeRateStream:
    """One segment's audio in; one event per 100 ms of it out (the last one may be shorter)."""

    def __init__(self) -> None:
        self._events: asyncio.Queue[SpeakingRateEvent | None] = asyncio.Queue()
        self._pending = bytearray()  # PCM16 of the step being filled (all channels)
        self._step_bytes = 0  # set by the first frame's rate and channels
        self._bytes_per_s = 1
        self._rated_bytes = 0  # audio rated so far: event timestamps are counted from it
        self._ended = False

    def push_frame(self, frame: rtc.AudioFrame) -> None:
        if self._ended:
            return
        if not self._step_bytes:
            self._bytes_per_s = frame.sample_rate * max(1, frame.num_channels) * BYTES_PER_SAMPLE
            self._step_bytes = max(BYTES_PER_SAMPLE, int(self._bytes_per_s * STEP_S))
        self._pending += frame.data.cast("B")
        while len(self._pending) >= self._step_bytes:
            self._emit(self._pending[: self._step_bytes])
            del self._pending[: self._step_bytes]

    def flush(self) -> None:
        """The end of what was pushed so far: rate its partial step too."""
        if self._pending and not self._ended:
            self._emit(self._pending)
            self._pending = bytearray()

    def end_input(self) -> None:
        self.flush()
        self._end()

    async def aclose(self) -> None:
        self._end()

    def __aiter__(self) -> AsyncIterator[SpeakingRateEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[SpeakingRateEvent]:
        while (event := await self._events.get()) is not None:
            yield event

    def _emit(self, pcm: bytearray) -> None:
        self._rated_bytes += len(pcm)
        voiced = _rms(pcm) >= SILENCE_RMS
        self._events.put_nowait(
            SpeakingRateEvent(self._rated_bytes / self._bytes_per_s, voiced, 1.0 if voiced else 0.0)
        )

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._events.put_nowait(None)


class VoicedTimeRate:
    """Stands in for livekit-agents' `SpeakingRateDetector` (see the module docstring)."""

    def stream(self) -> VoicedTimeRateStream:
        return VoicedTimeRateStream()


def _rms(pcm: bytearray) -> float:
    samples = np.frombuffer(pcm, dtype=np.int16, count=len(pcm) // BYTES_PER_SAMPLE).astype(np.float32)
    return float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0


def pace_transcripts_by_voiced_time() -> None:
    """Every transcript synchronizer built from now on in this process uses `VoicedTimeRate`.

    Call before the session starts (RoomIO builds its synchronizer then); calling again is harmless.
    """
    _synchronizer.SpeakingRateDetector = VoicedTimeRate  # type: ignore[misc,assignment]
