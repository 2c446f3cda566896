"""CPU per audio-second of one call: the caller's audio on its way to the model, and the model's
audio on its way to the caller, through the session as `agent.py` builds it (bench/capacity.py's
calls, against the lean fake in its own process), in each of `--layouts`: `loop` (agent.py's
default: every call a task of one calls loop) and `threads` (a thread and event loop per call).

Each configuration runs `--calls` calls at once for `--seconds` in a fresh process; its CPU over
the steady part, less the CPU of the same calls with no audio at all, divided by calls and
seconds, is the figure. Configurations are interleaved over `--rounds`; medians are reported.
With `--baseline DIR` every configuration also runs with the `support_tools` of another checkout
(e.g. the main branch), interleaved with this one, the bench modules (capacity.py, lean_fake.py)
being this checkout's for both.

Caller audio as it reaches the session:
- `48k/20ms`: a 48 kHz participant's frames as they come, resampled in Python by the plugin
  (what livekit-agents does with 48 kHz input; the issue's baseline, "no room");
- `24k/50ms`: RoomIO's default in livekit-agents 1.8.9;
- `24k/100ms`: the project's room setting (support_tools/voice/room_audio.py).
In a room the 24 kHz frames come from the native client's audio stream, which resamples off the
Python thread; that native work is not in these figures (there is no room here).

Agent audio: the model's `response.output_audio.delta` events (PCM16, 24 kHz) of `--delta-ms`
each, paced in real time, to the session's audio output: a sink that takes each frame as a device
would and does nothing else (capacity.py's speaker with CAPACITY_SPEAKER=sink; no room, so what a
room's device costs is not here). 100 ms is
the size in the recorded wire trace the project's fake follows (wire_ga.json beside the shared
wire notes: deltas of 6400 base64 characters = 4800 bytes = 100 ms at 24 kHz PCM16) and the
fake's default (tests/fake_azure/script.py); the real service's delta size is not documented
there and could not be observed from this machine. 20 ms is the worst case: five times the
events for the same audio, and the cost here is per event. What RoomIO adds in a room is
measured by bench/bench_room_audio_cpu.py.

    .venv/bin/python bench/bench_audio_cpu.py [--calls 10] [--seconds 15] [--rounds 3]
        [--delta-ms 100 20] [--layouts loop threads] [--baseline /tmp/audio-before]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CALLER_AUDIO = {
    "caller 48k/20ms": (48_000, 20),
    "caller 24k/50ms": (24_000, 50),
    "caller 24k/100ms": (24_000, 100),
}
IDLE = "no audio"


def agent_row(delta_ms: int) -> str:
    return f"agent audio {delta_ms}ms"


def measure_one(row: str, tree: Path, calls: int, seconds: float, layout: str) -> float:
    """Cores used by `calls` calls of `row` with the support_tools of `tree` (in this process)."""
    import multiprocessing as mp

    sys.path[:0] = [str(HERE), str(tree)]
    from capacity import measure

    context = mp.get_context("forkserver")
    context.set_forkserver_preload(["capacity", "livekit.agents", "livekit.plugins.openai",
                                    "support_tools.voice.agent", "support_tools.voice.preload_warm"])
    mic = CALLER_AUDIO.get(row)
    model_audio = row.startswith("agent audio")
    return measure(layout, calls, seconds, mic, context, model_audio=model_audio).cores


def cores_in_fresh_process(row: str, tree: Path, delta_ms: int, layout: str, args: argparse.Namespace) -> float:
    env = {**os.environ, "SHOPME_ENV_FILE": "/nonexistent", "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE": "0",
           "LEAN_FAKE_DELTA_MS": str(delta_ms),  # read by lean_fake.py, which capacity.py starts
           "CAPACITY_SPEAKER": "sink"}
    env.pop("OPENAI_API_VERSION", None)
    out = subprocess.run(
        [sys.executable, __file__, "--one", row, "--tree", str(tree),
         "--calls", str(args.calls), "--seconds", str(args.seconds), "--layouts", layout],
        env=env, check=True, capture_output=True, text=True,
    ).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--delta-ms", type=int, nargs="+", default=[100, 20],
                        help="model audio per delta for the agent audio rows (multiples of 20)")
    parser.add_argument("--layouts", nargs="+", default=["loop", "threads"], choices=["loop", "threads"],
                        help="where the calls run (SHOPME_WORKER_LAYOUT); loop is agent.py's default")
    parser.add_argument("--baseline", help="another checkout, measured in the same rounds "
                        "(with --layouts threads for a checkout from before the calls loop)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # one measurement (a child process)
    parser.add_argument("--tree", default=str(ROOT), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(measure_one(args.one, Path(args.tree), args.calls, args.seconds, args.layouts[0]))
        return

    trees = {"this": ROOT} if not args.baseline else {"baseline": Path(args.baseline).resolve(), "this": ROOT}
    variants = [(f"{name} {layout}", tree, layout) for name, tree in trees.items() for layout in args.layouts]
    rows = [(IDLE, 20)] + [(name, 20) for name in CALLER_AUDIO] + [(agent_row(d), d) for d in args.delta_ms]
    cores: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for row, delta_ms in rows:
            for label, tree, layout in variants:
                figure = cores_in_fresh_process(row, tree, delta_ms, layout, args)
                cores.setdefault((label, row), []).append(figure)
                print(f"  {label:16s} {row:18s} {figure:.3f} cores", flush=True)

    print(f"\n{args.calls} calls, medians of {args.rounds} rounds; ms of CPU per audio-second per call, "
          f"above the same calls without audio:")
    for label, tree, _layout in variants:
        idle = statistics.median(cores[(label, IDLE)])
        print(f"{label} ({tree}; without audio {idle * 1000 / args.calls:.2f} ms/s per call):")
        for row, _delta in rows[1:]:
            extra = (statistics.median(cores[(label, row)]) - idle) * 1000 / args.calls
            print(f"  {row:18s} {extra:5.2f} ms")

if __name__ == "__main__":
    main()
