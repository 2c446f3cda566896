"""Where the worker's Python goes while the agent speaks in a room: shares of a py-spy profile.

Reads py-spy's raw (collapsed) output of the worker, keeps the samples of one thread (the calls
loop of the `loop` layout by default) that are not waiting (epoll, condition, executor idle), and
sorts each into the first category whose code is on its stack, inner parts first: this project's
code, livekit-agents' transcript outputs, RoomIO's audio output, the transcript synchronizer, the
model's receive path, livekit.rtc's event dispatch. Prints each category's share of the samples.

Take the profile while bench/bench_room_audio_cpu.py runs (attach by pid to the `agent.py dev`
process it starts, inside the speaking window; see bench/results/audio-room-python.txt):

    /tmp/pyspy/bin/py-spy record --pid PID --rate 150 --nonblocking --duration 24 --threads \
        --format raw -o profile.raw
    .venv/bin/python bench/room_python_shares.py profile.raw [more.raw ...] [--thread shopme_calls_loop]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

# (label, substrings of a stack frame): the first category any frame of a sample matches wins
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("this project: transcript pacing (support_tools/voice/transcript_pacing.py)",
     ("transcript_pacing.py",)),
    ("this project: other support_tools code on the audio path",
     ("support_tools/voice/room_output_frames", "support_tools/voice/recorder",
      "support_tools/voice/session_metrics", "support_tools/voice/order_card",
      "support_tools/voice/history_window", "support_tools/voice/spool",
      "support_tools/observability")),
    ("livekit-agents: legacy rtc.Transcription packet per word (_ParticipantLegacyTranscriptionOutput)",
     ("_ParticipantLegacyTranscriptionOutput",)),
    ("livekit-agents: lk.transcription text stream (_ParticipantStreamTranscriptionOutput)",
     ("_ParticipantStreamTranscriptionOutput", "data_stream.py")),
    ("livekit-agents: RoomIO audio to the source (_forward_audio, AudioSource.capture_frame over FFI)",
     ("_ParticipantAudioOutput._forward_audio",)),
    ("livekit-agents: RoomIO audio output's capture_frame (byte stream, flush timer)",
     ("_ParticipantAudioOutput.capture_frame", "_ParticipantAudioOutput._flush_bstream",
      "_ParticipantAudioOutput._arm_bstream_flush", "_ParticipantAudioOutput._wait_for_playout")),
    ("livekit-agents: transcript synchronizer (the rest of it)", ("synchronizer.py",)),
    ("livekit-agents: realtime model receive (session side, also without a room)",
     ("_recv_task (agents/llm/_realtime/openai.py)", "openai/_models.py", "aiohttp")),
    ("livekit-agents: generation and agent activity (the rest)",
     ("agents/voice/generation.py", "agents/voice/agent_activity.py", "agents/voice/io.py")),
    ("livekit.rtc: room event dispatch (Room._listen_task)", ("Room._listen_task",)),
    ("livekit.rtc: FFI plumbing outside the above", ("rtc/_ffi_client.py", "rtc/_utils.py")),
    ("livekit-agents: event-loop monitor", ("loop_monitor.py",)),
]
OTHER = "the asyncio loop itself, and stacks py-spy cut short"
WAITING = ("EpollSelector.select", "Condition.wait", "_worker (concurrent", "select.epoll")


def read_samples(paths: list[Path], thread: str) -> list[tuple[list[str], int]]:
    """(frames, count) of every sample of `thread` that was running, not waiting."""
    samples = []
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            if not count.isdigit() or not any(thread in frame for frame in frames[:2]):
                continue
            if any(wait in frames[-1] for wait in WAITING):
                continue
            samples.append((frames, int(count)))
    return samples


def shares(samples: list[tuple[list[str], int]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for frames, count in samples:
        stack = ";".join(frames)
        label = next((label for label, keys in CATEGORIES if any(k in stack for k in keys)), OTHER)
        counts[label] += count
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profiles", type=Path, nargs="+", help="py-spy record --format raw output")
    parser.add_argument("--thread", default="shopme_calls_loop", help="the thread's name")
    args = parser.parse_args()
    counts = shares(read_samples(args.profiles, args.thread))
    total = sum(counts.values())
    if not total:
        raise SystemExit(f"no running samples of thread {args.thread!r} in {args.profiles}")
    print(f"{total} running samples of {args.thread} in {', '.join(map(str, args.profiles))}")
    for label, count in counts.most_common():
        print(f"  {100 * count / total:5.1f} %  ({count:3d})  {label}")


if __name__ == "__main__":
    main()
