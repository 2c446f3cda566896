"""How many concurrent calls a machine carries: N sessions, each as `agent.py` builds it (settings,
realtime model, `AgentSession[Userdata]`, recorder, `SupportAgent`), with paced caller audio in
(24 kHz in 100 ms frames, as agent.py asks the room for it) and paced model audio out, against
the lean fake Azure service in its own process.

Layouts (SHOPME_WORKER_LAYOUT, support_tools/voice/worker_setup.py):
- `loop-per-core` (the README's recommendation): one worker process per core, each in the `loop`
  layout, the calls shared between them (as LiveKit dispatches by load);
- `loop` (the project's default): one process, every call a task of its calls loop
  (support_tools/voice/calls_loop.py, the same loop the worker uses);
- `threads-per-core`, `threads`: every call a thread with its own event loop (livekit-agents'
  thread executor);
- `processes` (livekit-agents' default): each call a process of its own, forked from a
  forkserver that preloaded the modules (as the worker's forkserver does).

Reported per run: cores used (worker side, and the fake apart), relay latency (the model's audio
delta sent by the fake → the frame reaching the session's audio output) p50/p99, gaps (20 ms
deltas relayed more than 60 ms late: a playout buffer would have run dry), and memory (PSS of
the worker side; per call). On a machine shared with other work, run it under `chrt -r 10` so
that it has the cores as a dedicated machine would give them (the header says which).

    chrt -r 10 .venv/bin/python bench/capacity.py [--calls 1 10 50 100 150] [--layouts loop processes]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

from procmem import process_memory  # noqa: E402

MIC_RATE = 48_000
MIC_FRAME_MS = 20
DELTA_BYTES = 480 * 2  # one 20 ms model delta at 24 kHz, PCM16
GAP_MS = 60.0
SPEAKER_ENV = "CAPACITY_SPEAKER"  # "sink": a speaker that notes no relay times (see make_io)
SETTLE_S = 2.0  # the first seconds of each call's audio are its start-up, not steady state


# --- one call (runs in a call thread or a call process) ----------------------------------------

def call_environment(port: int) -> dict[str, str]:
    return {
        "AZURE_OPENAI_ENDPOINT": f"http://127.0.0.1:{port}",
        "AZURE_OPENAI_API_KEY": "bench-key",
        "AZURE_OPENAI_DEPLOYMENT": "gpt-realtime",
    }


def make_io(mic_rate: int = MIC_RATE, mic_frame_ms: int = MIC_FRAME_MS):  # type: ignore[no-untyped-def]
    """A paced microphone and a timing speaker; built lazily so the parent needs no livekit.

    With CAPACITY_SPEAKER=sink in the environment the speaker only takes the frames, as a device
    would, and notes no relay times: bench_audio_cpu.py's CPU figures then hold the agent's audio
    path alone, not this bench's per-20-ms bookkeeping."""
    timing = os.environ.get(SPEAKER_ENV, "timing") != "sink"
    from lean_fake import read_stamp
    from livekit import rtc
    from livekit.agents.voice import io

    class PacedMicrophone(io.AudioInput):
        """Mono frames (48 kHz, 20 ms unless told), paced by the clock; a quiet tone, never
        digital silence."""

        def __init__(self) -> None:
            super().__init__(label="PacedMicrophone")
            samples = mic_rate * mic_frame_ms // 1000
            self._pcm = b"".join((300 if (i // 48) % 2 else -300).to_bytes(2, "little", signed=True)
                                 for i in range(samples))
            self._samples = samples
            self._started: float | None = None
            self._sent = 0
            self.closed = False

        async def __anext__(self) -> rtc.AudioFrame:
            if self.closed:
                raise StopAsyncIteration
            now = time.monotonic()
            self._started = self._started or now
            due = self._started + self._sent * mic_frame_ms / 1000
            if due > now:
                await asyncio.sleep(due - now)
            self._sent += 1
            return rtc.AudioFrame(self._pcm, mic_rate, 1, self._samples)

    class TimingSpeaker(io.AudioOutput):
        """Takes the agent's audio as a device would (playback started/finished in real time)
        and notes, for every 20 ms delta, how long after the fake sent it the frame arrived."""

        def __init__(self) -> None:
            super().__init__(label="TimingSpeaker", capabilities=io.AudioOutputCapabilities(pause=False))
            self.samples: list[tuple[float, float]] = []  # (sent at, relay ms)
            self._carry = b""
            self._segment_started: float | None = None
            self._pushed_s = 0.0

        async def capture_frame(self, frame: rtc.AudioFrame) -> None:
            await super().capture_frame(frame)
            arrived = time.monotonic()
            if self._segment_started is None:
                self._segment_started, self._pushed_s = time.time(), 0.0
                self.on_playback_started(created_at=self._segment_started)
            self._pushed_s += frame.duration
            if not timing:
                return
            data = self._carry + bytes(frame.data)
            offset = 0
            while offset + DELTA_BYTES <= len(data):
                sent = read_stamp(data, offset)
                self.samples.append((sent, (arrived - sent) * 1000))
                offset += DELTA_BYTES
            self._carry = data[offset:]

        def flush(self) -> None:
            super().flush()
            if self._segment_started is not None:
                played = self._pushed_s
                self._segment_started = None
                self.on_playback_finished(playback_position=played, interrupted=False)

        def clear_buffer(self) -> None:
            if self._segment_started is not None:
                self._segment_started = None
                self.on_playback_finished(playback_position=0.0, interrupted=True)

    return PacedMicrophone(), TimingSpeaker()


async def run_call(
    port: int, seconds: float, mic: tuple[int, int] | None = (MIC_RATE, MIC_FRAME_MS)
) -> list[tuple[float, float]]:
    """One call for `seconds`; `mic` is the caller audio's (rate, frame ms), None for no audio."""
    import logging

    import aiohttp
    from livekit.agents import AgentSession

    from support_tools.domain.caller import CallerState
    from support_tools.settings import load_settings
    from support_tools.voice.agent import SupportAgent
    from support_tools.voice.model import build_realtime_model
    from support_tools.voice.recorder import attach_recorder
    from support_tools.voice.session import Userdata

    # The speaker cannot pause, which the framework mentions once per call: not news here.
    logging.getLogger("livekit.agents").setLevel(logging.ERROR)
    settings = load_settings(call_environment(port))
    async with aiohttp.ClientSession() as http:
        model = build_realtime_model(settings, http_session=http)
        state = Userdata(settings=settings, service=None, caller=CallerState(session_id="bench"))  # type: ignore[arg-type]
        session = AgentSession[Userdata](llm=model, userdata=state, aec_warmup_duration=None)
        attach_recorder(session, state)
        microphone, speaker = make_io(*(mic or (MIC_RATE, MIC_FRAME_MS)))
        session.input.audio = microphone if mic else None
        session.output.audio = speaker
        await session.start(agent=SupportAgent(settings), record=False)
        await asyncio.sleep(seconds + 1.5)  # the greeting: `seconds` of paced model audio
        microphone.closed = True
        await session.aclose()
        await model.aclose()
    return speaker.samples


def call_thread(port: int, seconds: float, start_at: float, results: list, mic: Any) -> None:
    time.sleep(max(0.0, start_at - time.monotonic()))
    results.append(asyncio.run(run_call(port, seconds, mic)))


def get_ready(queue: Any, go: Any) -> None:
    """Warm as the worker's prewarm does, say so, and wait for the start signal."""
    from support_tools.voice.worker_setup import warm_process

    warm_process()
    queue.put(("ready", os.getpid()))
    go.wait()


def host_threads(port: int, calls: int, first: int, seconds: float, queue: Any, go: Any,
                 go_time: Any, mic: tuple[int, int] | None) -> None:
    """The `threads` layouts: every call a thread with its own event loop, in this process."""
    get_ready(queue, go)
    results: list = []
    threads = [
        threading.Thread(target=call_thread,
                         args=(port, seconds, go_time.value + (first + i) * 0.02, results, mic))
        for i in range(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for samples in results:
        queue.put(("result", samples))


def host_loop(port: int, calls: int, first: int, seconds: float, queue: Any, go: Any,
              go_time: Any, mic: tuple[int, int] | None) -> None:
    """The `loop` layouts: every call a task of the worker's calls loop (the product's
    `CALLS_LOOP`, as `SHOPME_WORKER_LAYOUT=loop` runs them), in this process."""
    from support_tools.voice.calls_loop import CALLS_LOOP

    get_ready(queue, go)

    async def one(index: int) -> list:
        await asyncio.sleep(max(0.0, go_time.value + (first + index) * 0.02 - time.monotonic()))
        return await run_call(port, seconds, mic)

    running = [asyncio.run_coroutine_threadsafe(one(i), CALLS_LOOP.loop()) for i in range(calls)]
    for call in running:
        queue.put(("result", call.result()))


def host_one(port: int, index: int, seconds: float, queue: Any, go: Any, go_time: Any,
             mic: tuple[int, int] | None) -> None:
    """The `processes` layout: this process holds one call."""
    get_ready(queue, go)
    time.sleep(max(0.0, go_time.value + index * 0.02 - time.monotonic()))
    queue.put(("result", asyncio.run(run_call(port, seconds, mic))))


# --- the benchmark side ------------------------------------------------------------------------

@dataclass
class Run:
    layout: str
    calls: int
    cores: float
    fake_cores: float
    relay_p50: float
    relay_p99: float
    gaps: int
    deltas: int
    pss_mb: float
    idle_pss_mb: float

    def line(self) -> str:
        per_call = (self.pss_mb - self.idle_pss_mb) / self.calls
        return (f"{self.layout:16s} {self.calls:4d} calls: {self.cores:4.2f} cores (fake {self.fake_cores:4.2f}), "
                f"relay p50 {self.relay_p50:6.1f} ms p99 {self.relay_p99:7.1f} ms, gaps {self.gaps} of "
                f"{self.deltas}, memory {self.pss_mb:6.0f} MB PSS ({per_call:5.1f} MB per call)")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_fake(seconds: float) -> tuple[subprocess.Popen, int]:
    """The lean fake in its own process; each greeting gets `seconds` of paced model audio."""
    fake = subprocess.Popen([sys.executable, str(HERE / "lean_fake.py"), "--audio-seconds", str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    line = fake.stdout.readline()  # type: ignore[union-attr]
    return fake, int(line.split()[1])


def hosts_for(layout: str, calls: int, port: int, seconds: float, queue: Any, go: Any,
              go_time: Any, mic: Any, context: Any) -> list[Any]:
    if layout == "processes":
        return [context.Process(target=host_one, args=(port, i, seconds, queue, go, go_time, mic))
                for i in range(calls)]
    workers = 1 if layout in ("threads", "loop") else min(calls, os.cpu_count() or 1)
    host = host_loop if layout.startswith("loop") else host_threads
    shares = [calls // workers + (1 if i < calls % workers else 0) for i in range(workers)]
    firsts = [sum(shares[:i]) for i in range(workers)]
    return [context.Process(target=host,
                            args=(port, share, first, seconds, queue, go, go_time, mic))
            for share, first in zip(shares, firsts, strict=True)]


def pss_of(pids: list[int]) -> float:
    return sum(m.pss_mb for m in (process_memory(p) for p in pids) if m)


def measure(layout: str, calls: int, seconds: float, mic: Any, context: Any, *, model_audio: bool = True) -> Run:
    fake, port = start_fake(seconds if model_audio else 0.0)
    queue, go, go_time = context.Queue(), context.Event(), context.Value("d", 0.0)
    hosts = hosts_for(layout, calls, port, seconds, queue, go, go_time, mic, context)
    for host in hosts:
        host.start()
    pids = [h.pid for h in hosts]
    for _ in hosts:  # every host warmed up, no call started yet
        kind, _pid = queue.get(timeout=300)
        assert kind == "ready"
    idle_pss = pss_of(pids)
    go_time.value = time.monotonic() + 1.0
    go.set()
    # Steady window: every call started and past its start-up, its audio still flowing.
    window_start = go_time.value + calls * 0.02 + SETTLE_S
    window_end = go_time.value + seconds - 0.5
    time.sleep(max(0.0, window_start - time.monotonic()))
    cpu_before, fake_before, wall_before = sum(cpu_seconds(p) for p in pids), cpu_seconds(fake.pid), time.monotonic()
    time.sleep(max(0.5, (window_end - window_start) / 2))
    pss = pss_of(pids)
    time.sleep(max(0.0, window_end - time.monotonic()))
    wall = time.monotonic() - wall_before
    cores = (sum(cpu_seconds(p) for p in pids) - cpu_before) / wall
    fake_cores = (cpu_seconds(fake.pid) - fake_before) / wall
    relays: list[float] = []
    for _ in range(calls):
        kind, samples = queue.get(timeout=seconds + 300)
        relays += [ms for sent, ms in samples if window_start <= sent <= window_end]
    for host in hosts:
        host.join(timeout=60)
    fake.terminate()
    fake.wait()
    relays.sort()
    p99 = relays[min(len(relays) - 1, int(0.99 * len(relays)))] if relays else float("nan")
    return Run(layout, calls, cores, fake_cores, statistics.median(relays) if relays else float("nan"),
               p99, sum(ms > GAP_MS for ms in relays), len(relays), pss,
               0.0 if layout == "processes" else idle_pss)


LAYOUTS = ["loop-per-core", "loop", "threads-per-core", "threads", "processes"]


def scheduling() -> str:
    """Under a real-time policy (`chrt -r 10 ...`) the bench has the cores as a dedicated machine
    would give them, whatever else runs here; say which, since tails depend on it."""
    policy = os.sched_getscheduler(0)
    return {os.SCHED_OTHER: "normal scheduling (shared with whatever else runs)",
            os.SCHED_RR: "real-time round-robin (chrt -r: as on a dedicated machine)",
            os.SCHED_FIFO: "real-time FIFO (chrt -f: as on a dedicated machine)"}.get(policy, f"policy {policy}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 10, 50, 100, 150])
    parser.add_argument("--layouts", nargs="+", choices=LAYOUTS, default=LAYOUTS)
    parser.add_argument("--mic", default="24000/100",
                        help="caller audio as RATE/FRAME_MS (agent.py asks the room for 24000/100)")
    parser.add_argument("--seconds", type=float, default=20.0, help="model audio per call")
    args = parser.parse_args()
    os.environ.update({"SHOPME_ENV_FILE": "/nonexistent", "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE": "0"})
    os.environ.pop("OPENAI_API_VERSION", None)
    context = mp.get_context("forkserver")
    # As the worker's forkserver: the modules every call needs, imported once, shared by forks.
    context.set_forkserver_preload(["capacity", "livekit.agents", "livekit.plugins.openai",
                                    "support_tools.voice.agent", "support_tools.voice.recorder",
                                    "support_tools.voice.preload_warm"])
    rate, frame_ms = (int(v) for v in args.mic.split("/"))
    print(f"{args.seconds:.0f} s of model audio per call; caller audio {rate} Hz in {frame_ms} ms "
          f"frames; gap = a 20 ms delta relayed over {GAP_MS:.0f} ms late; {os.cpu_count()} cores; "
          f"{scheduling()}",
          flush=True)
    for calls in args.calls:
        for layout in args.layouts:  # interleaved: the same machine state for every layout
            print(measure(layout, calls, args.seconds, (rate, frame_ms), context).line(), flush=True)


if __name__ == "__main__":
    main()
