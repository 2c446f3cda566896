"""CPU per audio-second of one call: the caller's audio on its way to the model, and the model's
audio on its way to the caller, through the session as `agent.py` builds it (bench/capacity.py's
calls, `threads` layout, against the lean fake in its own process).

Each configuration runs `--calls` calls at once for `--seconds` in a fresh process; its CPU over
the steady part, less the CPU of the same calls with no audio at all, divided by calls and
seconds, is the figure. Configurations are interleaved over `--rounds`; medians are reported.

Caller audio as it reaches the session:
- `48k/20ms`: a 48 kHz participant's frames as they come, resampled in Python by the plugin
  (what livekit-agents does with 48 kHz input; the issue's baseline, "no room");
- `24k/50ms`: RoomIO's default in livekit-agents 1.8.9;
- `24k/100ms`: the project's room setting (support_tools/voice/room_audio.py).
In a room the 24 kHz frames come from the native client's audio stream, which resamples off the
Python thread; that native work is not in these figures (there is no room here).

    .venv/bin/python bench/bench_audio_cpu.py [--calls 10] [--seconds 15] [--rounds 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from capacity import measure  # noqa: E402

CONFIGS = {
    "no audio": (None, False),
    "caller 48k/20ms": ((48_000, 20), False),
    "caller 24k/50ms": ((24_000, 50), False),
    "caller 24k/100ms": ((24_000, 100), False),
    "agent audio": (None, True),
}


def cores_for(mic, model_audio: bool, calls: int, seconds: float, context) -> float:  # type: ignore[no-untyped-def]
    return measure("threads", calls, seconds, mic, context, model_audio=model_audio).cores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.update({"SHOPME_ENV_FILE": "/nonexistent", "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE": "0"})
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(["capacity", "livekit.agents", "livekit.plugins.openai",
                                    "support_tools.voice.agent", "support_tools.voice.preload_warm"])
    cores: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for _ in range(args.rounds):
        for name, (mic, model_audio) in CONFIGS.items():
            cores[name].append(cores_for(mic, model_audio, args.calls, args.seconds, context))
            print(f"  {name:18s} {cores[name][-1]:.3f} cores", flush=True)
    idle = statistics.median(cores["no audio"])
    print(f"\n{args.calls} calls, medians of {args.rounds} rounds; ms of CPU per audio-second per call "
          f"(above {idle * 1000 / args.calls:.2f} ms/s of the same calls without audio):")
    for name in CONFIGS:
        if name != "no audio":
            extra = (statistics.median(cores[name]) - idle) * 1000 / args.calls
            print(f"  {name:18s} {extra:5.2f} ms")


if __name__ == "__main__":
    main()
