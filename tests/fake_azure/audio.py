"""PCM16 helpers for the fake and the tests: synthesis, measuring, WAV reading, resampling.

All audio here is signed 16-bit little-endian mono PCM (`bytes`), the realtime wire format.
"""

from __future__ import annotations

import base64
import math
import wave
from pathlib import Path

import numpy as np

WIRE_RATE = 24_000  # the realtime API speaks 24 kHz mono PCM16 both ways
BYTES_PER_SAMPLE = 2


def samples_for(duration_ms: float, rate: int = WIRE_RATE) -> int:
    return int(round(rate * duration_ms / 1000))


def duration_ms(pcm: bytes, rate: int = WIRE_RATE) -> float:
    return len(pcm) / BYTES_PER_SAMPLE * 1000 / rate


def silence(duration: float, rate: int = WIRE_RATE) -> bytes:
    """`duration` milliseconds of digital silence."""
    return bytes(samples_for(duration, rate) * BYTES_PER_SAMPLE)


def tone(
    duration: float, *, frequency: float = 220.0, amplitude: float = 0.3, rate: int = WIRE_RATE
) -> bytes:
    """A sine tone, `duration` ms long, `amplitude` a fraction of full scale."""
    t = np.arange(samples_for(duration, rate)) / rate
    wave_ = amplitude * 32767 * np.sin(2 * math.pi * frequency * t)
    return wave_.astype("<i2").tobytes()


def rms(pcm: bytes) -> float:
    """Root-mean-square level in int16 units (0 for silence, ~23170 for a full-scale sine)."""
    if len(pcm) < BYTES_PER_SAMPLE:
        return 0.0
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples * samples)))


def dbfs(level_rms: float) -> float:
    return 20 * math.log10(max(level_rms, 1e-9) / 32768)


def voiced_ms(
    pcm: bytes, *, rate: int = WIRE_RATE, min_rms: float = 300.0, frame_ms: int = 10
) -> float:
    """How many milliseconds of `pcm` are louder than `min_rms`, counted in `frame_ms` frames."""
    frame_bytes = samples_for(frame_ms, rate) * BYTES_PER_SAMPLE
    frames = (pcm[i : i + frame_bytes] for i in range(0, len(pcm) - frame_bytes + 1, frame_bytes))
    return sum(frame_ms for frame in frames if rms(frame) >= min_rms)


def chunks(pcm: bytes, chunk_ms: float, rate: int = WIRE_RATE) -> list[bytes]:
    """Split into pieces of `chunk_ms` (the last one may be shorter)."""
    size = max(BYTES_PER_SAMPLE, samples_for(chunk_ms, rate) * BYTES_PER_SAMPLE)
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def to_base64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode("ascii")


def from_base64(data: str) -> bytes:
    return base64.b64decode(data)


def resample(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """Linear-interpolation resampling; good enough for test speech, not for listening."""
    if from_rate == to_rate or not pcm:
        return pcm
    source = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    count = int(len(source) * to_rate / from_rate)
    positions = np.arange(count) * (from_rate / to_rate)
    target = np.interp(positions, np.arange(len(source)), source)
    return np.clip(np.round(target), -32768, 32767).astype("<i2").tobytes()


def read_wav(path: str | Path) -> tuple[bytes, int]:
    """Read a PCM16 WAV as mono PCM16 bytes and its sample rate (channels are averaged)."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != BYTES_PER_SAMPLE:
            raise ValueError(f"{path}: expected 16-bit PCM, got {8 * wav.getsampwidth()}-bit")
        rate, channels = wav.getframerate(), wav.getnchannels()
        data = wav.readframes(wav.getnframes())
    if channels > 1:
        samples = np.frombuffer(data, dtype="<i2").reshape(-1, channels).mean(axis=1)
        data = samples.astype("<i2").tobytes()
    return data, rate


def write_wav(path: str | Path, pcm: bytes, rate: int) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(BYTES_PER_SAMPLE)
        wav.setframerate(rate)
        wav.writeframes(pcm)
