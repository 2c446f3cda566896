"""The floor of agent audio in a room: a bare `livekit.rtc` publisher, no agent session at all.

Started by bench/bench_room_audio_cpu.py, never on its own. It reads one JSON line on stdin
(`url`, `tokens`: one join token per room, `sample_rate`, `frame_ms`, `queue_ms`, `seconds`),
joins each room, publishes one audio track there the way livekit-agents' RoomIO publishes the
agent's voice (an `rtc.AudioSource` with that queue, source microphone), and once the caller has
subscribed, pushes `seconds` of a voiced tone (220 Hz, 30 % of full scale: the fake model's
voice) in frames of `frame_ms`. `capture_frame` returns only when the source's queue has room,
so the push runs at real time, as the worker's output does once its queue is full. Then it stays
in the rooms, silent, until stdin closes.

Only the standard library and `livekit.rtc` are imported, so what this process spends is what the
native audio source, WebRTC's audio pipeline, Opus and SRTP/UDP cost, plus one Python call per frame.
It writes `subscribed` and `spoken` lines to stdout; the tokens never reach its output.
"""

from __future__ import annotations

import array
import asyncio
import json
import math
import sys

from livekit import rtc

TONE_HZ = 220.0  # tests/fake_azure: Say.frequency
TONE_AMPLITUDE = 0.3  # tests/fake_azure/audio.py: tone()
TRACK_NAME = "roomio_audio"  # RoomIO's default name for the agent's track


def tone_frames(sample_rate: int, frame_ms: int, seconds: float) -> list[rtc.AudioFrame]:
    """`seconds` of the tone as mono PCM16 frames of `frame_ms`, continuous across frames."""
    per_frame = sample_rate * frame_ms // 1000
    count = round(seconds * 1000 / frame_ms)
    step = 2 * math.pi * TONE_HZ / sample_rate
    scale = TONE_AMPLITUDE * 32767
    frames = []
    for index in range(count):
        first = index * per_frame
        samples = array.array("h", (int(scale * math.sin(step * (first + n))) for n in range(per_frame)))
        frames.append(rtc.AudioFrame(samples.tobytes(), sample_rate, 1, per_frame))
    return frames


async def publish(url: str, token: str, sample_rate: int, queue_ms: int) -> tuple[rtc.Room, rtc.AudioSource]:
    """Join the room and publish the track; returns once the room's caller has subscribed."""
    room = rtc.Room()
    await room.connect(url, token)
    source = rtc.AudioSource(sample_rate, 1, queue_size_ms=queue_ms)
    track = rtc.LocalAudioTrack.create_audio_track(TRACK_NAME, source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    publication = await room.local_participant.publish_track(track, options)
    await publication.wait_for_subscription()
    return room, source


async def speak(source: rtc.AudioSource, frames: list[rtc.AudioFrame]) -> None:
    for frame in frames:
        await source.capture_frame(frame)
    await source.wait_for_playout()


async def stdin_closed() -> None:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)


async def main() -> None:
    config = json.loads(sys.stdin.readline())
    rate, frame_ms, queue_ms = int(config["sample_rate"]), int(config["frame_ms"]), int(config["queue_ms"])
    frames = tone_frames(rate, frame_ms, float(config["seconds"]))
    joined = await asyncio.gather(*(publish(config["url"], t, rate, queue_ms) for t in config["tokens"]))
    print("subscribed", flush=True)
    await asyncio.gather(*(speak(source, frames) for _room, source in joined))
    print("spoken", flush=True)
    await stdin_closed()
    for room, source in joined:
        await source.aclose()
        await room.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
