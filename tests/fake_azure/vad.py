"""An energy voice-activity detector standing in for Azure's server VAD.

Azure's `server_vad.threshold` (0..1) is a neural-VAD probability; here it scales an RMS level:
a 10 ms frame is *voiced* when its RMS is at least `level_for_threshold(threshold)` (threshold
0.5 -> about -36 dBFS, far above digital silence, far below normal speech). Speech starts after
`MIN_SPEECH_MS` of voiced frames (so a click does not count) and stops after
`silence_duration_ms` of unvoiced frames, as the real service does. Timestamps are milliseconds
of audio received on the connection, like Azure's `audio_start_ms` / `audio_end_ms`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .audio import BYTES_PER_SAMPLE, WIRE_RATE, rms, samples_for

FRAME_MS = 10
MIN_SPEECH_MS = 30
# RMS (int16 units) at threshold 0.5: about -36 dBFS.
BASE_LEVEL = 520.0


def level_for_threshold(threshold: float) -> float:
    """RMS level a frame needs to count as voiced: doubles per 0.25 of threshold above 0.5."""
    return BASE_LEVEL * 2 ** ((threshold - 0.5) * 4)


@dataclass(frozen=True)
class VadSettings:
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 200
    create_response: bool = True
    interrupt_response: bool = True

    @classmethod
    def from_turn_detection(cls, config: dict[str, Any] | None) -> VadSettings | None:
        """Settings for a session's `turn_detection`, or None when the server VAD is off.

        `semantic_vad` is treated like `server_vad` with its defaults: there is no model here.
        """
        if not config or config.get("type") not in ("server_vad", "semantic_vad"):
            return None

        def pick(name: str, default: Any) -> Any:
            value = config.get(name)
            return default if value is None else value

        return cls(
            threshold=float(pick("threshold", 0.5)),
            prefix_padding_ms=int(pick("prefix_padding_ms", 300)),
            silence_duration_ms=int(pick("silence_duration_ms", 200)),
            create_response=bool(pick("create_response", True)),
            interrupt_response=bool(pick("interrupt_response", True)),
        )


@dataclass(frozen=True)
class VadEvent:
    kind: Literal["speech_started", "speech_stopped"]
    audio_ms: int  # audio_start_ms for a start (prefix padding included), audio_end_ms for a stop


class EnergyVad:
    """Feed PCM16 at 24 kHz; get speech start/stop events with connection-relative timestamps."""

    def __init__(self, settings: VadSettings, *, rate: int = WIRE_RATE) -> None:
        self.settings = settings
        self._frame_bytes = samples_for(FRAME_MS, rate) * BYTES_PER_SAMPLE
        self._pending = b""
        self._position_ms = 0  # audio consumed so far, in whole frames
        self._speaking = False
        self._voiced_run_ms = 0
        self._silent_run_ms = 0

    @property
    def speaking(self) -> bool:
        return self._speaking

    @property
    def position_ms(self) -> int:
        return self._position_ms

    def feed(self, pcm: bytes) -> list[VadEvent]:
        self._pending += pcm
        events: list[VadEvent] = []
        level = level_for_threshold(self.settings.threshold)
        while len(self._pending) >= self._frame_bytes:
            frame, self._pending = (
                self._pending[: self._frame_bytes],
                self._pending[self._frame_bytes :],
            )
            self._position_ms += FRAME_MS
            event = self._step(rms(frame) >= level)
            if event is not None:
                events.append(event)
        return events

    def reset(self) -> None:
        """Forget an unfinished utterance (input_audio_buffer.clear); the clock keeps running."""
        self._pending = b""
        self._speaking = False
        self._voiced_run_ms = self._silent_run_ms = 0

    def _step(self, voiced: bool) -> VadEvent | None:
        if voiced:
            self._voiced_run_ms += FRAME_MS
            self._silent_run_ms = 0
        else:
            self._silent_run_ms += FRAME_MS
            if not self._speaking:
                self._voiced_run_ms = 0

        if not self._speaking and self._voiced_run_ms >= MIN_SPEECH_MS:
            self._speaking = True
            onset_ms = self._position_ms - self._voiced_run_ms
            return VadEvent("speech_started", max(0, onset_ms - self.settings.prefix_padding_ms))
        if self._speaking and self._silent_run_ms >= self.settings.silence_duration_ms:
            self._speaking = False
            self._voiced_run_ms = 0
            return VadEvent("speech_stopped", self._position_ms)
        return None
