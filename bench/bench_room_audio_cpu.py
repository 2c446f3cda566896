"""CPU per second of agent audio in a real room: the worker (`python agent.py dev`, its job
processes included) while the model speaks to callers, against the loopback LiveKit double.

Each run starts a worker, then `--calls` callers join their own rooms at once. The fake Azure
service greets each with `--seconds` of model audio (a voiced tone with its transcript) in deltas
of `--delta-ms`, sent `--pace` times as fast as it plays (2: as the project's fake describes the
real service, which generates faster than real time, so audio queues ahead of playout; 1: each
delta just in time, the worst case for per-frame work). The worker tree's CPU over a steady window of that speech,
less its CPU over an equally long window after it (the same calls, nobody speaking), divided by
calls and window, is the figure: RoomIO's whole output chain (transcript synchronizer, participant
audio output, the native audio source and WebRTC's encoder) included. The double, the fake and the
callers run in this process and are not counted.

`--floor [RATE:FRAME_MS[:QUEUE_MS] ...]` adds, in the same rounds, the floor: no worker, but a bare
`livekit.rtc` process (bench/room_floor_publisher.py; no livekit-agents, no support_tools) that
joins each caller's room and publishes the same tone through an `rtc.AudioSource` as RoomIO builds
it (200 ms queue unless QUEUE_MS), in frames of FRAME_MS at RATE (alone: 24000:100, what the worker
sends), paced by that queue. Its CPU, same windows, is what the native source, WebRTC, Opus and SRTP/UDP cost
with no Python agent at all. Every row also gives the part spent in named native threads (the
Rust client's and WebRTC's; see `tree_cpu`).

`--baseline DIR` runs the worker of another checkout (e.g. the main branch) in the same rounds,
interleaved; `--layout` gives both workers the same SHOPME_WORKER_LAYOUT (otherwise each runs its
checkout's default, which differ across versions). Runs inside the private network namespace of scripts/netns-run.sh (it re-executes
itself there), so nothing leaves 127.0.0.0/8.

    .venv/bin/python bench/bench_room_audio_cpu.py [--calls 3] [--seconds 24] [--rounds 3]
        [--delta-ms 100 20] [--pace 2] [--layout processes] [--baseline /tmp/audio-before]
        [--floor 24000:100 24000:20 48000:20 24000:200:400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SETTLE_S = 3.0  # after every caller hears the greeting: job start-up is over
TAIL_S = 1.5  # the speech's last frames have played
# The agent's audio output in a room, which the floor publisher copies: RoomIO's 24 kHz mono source
# with a 200 ms queue (livekit-agents 1.8.9 _ParticipantAudioOutput), fed in 100 ms frames
# (support_tools/voice/room_output_frames.py).
OUTPUT_RATE = 24_000
OUTPUT_QUEUE_MS = 200
OUTPUT_FRAME_MS = 100


@dataclass(frozen=True)
class CpuReading:
    """CPU seconds of a process tree, by pid, and of its named native threads, by (pid, tid)."""

    processes: dict[int, float]
    native_threads: dict[tuple[int, int], float]


@dataclass(frozen=True)
class Figure:
    """ms of CPU per second of agent audio per call: all of it, and the named native threads' part."""

    total: float
    native: float


def tree_cpu(root_pid: int) -> CpuReading:
    """CPU seconds of a process and all its descendants, and of their named native threads.

    A thread counts as native when its name differs from its process's (Linux names every thread
    after its process unless the thread renames itself: the Rust client's tokio workers and
    WebRTC's threads do, CPython 3.11's threads never do). Unnamed native threads therefore count
    as Python: the native part is a lower bound.
    """
    try:
        root = psutil.Process(root_pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return CpuReading({}, {})
    seconds: dict[int, float] = {}
    native: dict[tuple[int, int], float] = {}
    for process in processes:
        try:
            times = process.cpu_times()
            threads = process.threads()
        except psutil.NoSuchProcess:
            continue
        seconds[process.pid] = times.user + times.system
        process_name = _thread_name(process.pid, process.pid)
        for thread in threads:
            name = _thread_name(process.pid, thread.id)
            if name is not None and name != process_name:
                native[(process.pid, thread.id)] = thread.user_time + thread.system_time
    return CpuReading(seconds, native)


def _thread_name(pid: int, tid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
    except OSError:  # the thread ended meanwhile
        return None


def spent(before: CpuReading, after: CpuReading) -> tuple[float, float]:
    """CPU seconds between two readings (all, native threads), over what was alive at both."""
    total = sum(after.processes[pid] - before.processes[pid]
                for pid in before.processes.keys() & after.processes.keys())
    native = sum(after.native_threads[key] - before.native_threads[key]
                 for key in before.native_threads.keys() & after.native_threads.keys())
    return total, native


async def speaking_less_quiet(pid: int, callers: list[Any], seconds: float) -> Figure:
    """CPU of `pid`'s tree over a steady window of the speech, less an equally long window after
    it (the same calls, nobody speaking), per call and per audio-second."""
    from tests.fake_azure.fixtures import wait_until

    await wait_until(lambda: all(c.voiced() for c in callers), timeout=60,
                     what="every caller hearing the agent")
    spoke_at = max(c.voiced()[0].at for c in callers)
    window = seconds - SETTLE_S - TAIL_S - 1.0
    await asyncio.sleep(max(0.0, spoke_at + SETTLE_S - time.monotonic()))
    start = tree_cpu(pid)
    await asyncio.sleep(window)
    speaking = spent(start, tree_cpu(pid))
    await asyncio.sleep(max(0.0, spoke_at + seconds + TAIL_S - time.monotonic()))
    start = tree_cpu(pid)
    await asyncio.sleep(window)
    quiet = spent(start, tree_cpu(pid))
    if min(len(c.voiced()) for c in callers) == 0:
        raise SystemExit("a caller heard nothing")
    per_call_second = 1000 / window / len(callers)
    return Figure((speaking[0] - quiet[0]) * per_call_second, (speaking[1] - quiet[1]) * per_call_second)


async def run_once(tree: Path, calls: int, seconds: float, delta_ms: int, pace: float) -> Figure:
    """ms of worker CPU per second of agent audio per call, with the worker of `tree`."""
    from tests.fake_azure import Say, ScriptedResponse
    from tests.livekit_server import LiveKitServerDouble
    from tests.livekit_server.fixtures import WorkerProcess
    from tests.room.harness import AGENT_NAME, Desk, RoomBrain, caller_token, in_room, worker_env

    words = " ".join(f"word{n}" for n in range(int(seconds * 3)))  # about 3 words a second

    class Speaker(RoomBrain):
        def next_response_for(self, connection: Any, request: dict[str, Any]) -> ScriptedResponse:
            return ScriptedResponse((Say(words, audio_ms=seconds * 1000, chunk_ms=delta_ms, pace=pace),))

    with tempfile.TemporaryDirectory() as folder:
        async with LiveKitServerDouble() as lk, Speaker() as brain:
            desk = await Desk().start()
            env = worker_env(brain, f"sqlite+aiosqlite:///{folder}/bench.db", desk)
            worker = WorkerProcess(lk, [str(tree / "agent.py"), "dev"], env, Path(folder) / "w.log", AGENT_NAME)
            await worker.start()
            assert worker.process is not None
            try:
                async with _callers(lk, calls, in_room, caller_token) as callers:
                    return await speaking_less_quiet(worker.process.pid, callers, seconds)
            finally:
                await worker.stop()
                await desk.aclose()


@dataclass(frozen=True)
class Floor:
    """A bare `livekit.rtc` publisher (bench/room_floor_publisher.py) in place of the worker."""

    sample_rate: int
    frame_ms: int
    queue_ms: int = OUTPUT_QUEUE_MS

    @property
    def label(self) -> str:
        queue = "" if self.queue_ms == OUTPUT_QUEUE_MS else f", {self.queue_ms} ms queue"
        return f"floor: bare rtc publisher ({self.sample_rate // 1000} kHz, {self.frame_ms} ms frames{queue})"

    @classmethod
    def parse(cls, text: str) -> Floor:
        """`RATE:FRAME_MS[:QUEUE_MS]`, e.g. 24000:100 or 24000:200:400."""
        try:
            floor = cls(*(int(part) for part in text.split(":")))
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"{text!r}: give RATE:FRAME_MS[:QUEUE_MS], e.g. 24000:100") from None
        if floor.sample_rate not in (8000, 16000, 24000, 32000, 48000) or not 10 <= floor.frame_ms <= 500:
            raise argparse.ArgumentTypeError(f"{text!r}: a rate WebRTC takes and 10-500 ms frames")
        if floor.queue_ms < floor.frame_ms:
            raise argparse.ArgumentTypeError(f"{text!r}: the queue must hold a whole frame")
        return floor


async def run_floor(floor: Floor, calls: int, seconds: float) -> Figure:
    """ms of the bare publisher's CPU per second of its audio per call, windows as for the worker."""
    from tests.livekit_server import LiveKitServerDouble
    from tests.room.harness import caller_token, in_room

    def no_dispatch(lk: Any, identity: str, room: str) -> str:
        return caller_token(lk, identity, room, dispatch=False)

    async with LiveKitServerDouble() as lk, _callers(lk, calls, in_room, no_dispatch) as callers:
        tokens = [_publisher_token(lk, f"cpu-{n}") for n in range(calls)]
        publisher = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "bench" / "room_floor_publisher.py"),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        assert publisher.stdin is not None and publisher.stdout is not None
        try:
            config = {"url": lk.url, "tokens": tokens, "sample_rate": floor.sample_rate,
                      "frame_ms": floor.frame_ms, "queue_ms": floor.queue_ms, "seconds": seconds}
            publisher.stdin.write(json.dumps(config).encode() + b"\n")
            await publisher.stdin.drain()
            line = await asyncio.wait_for(publisher.stdout.readline(), timeout=60)
            if line.strip() != b"subscribed":
                raise SystemExit("the floor publisher never saw its callers subscribe")
            return await speaking_less_quiet(publisher.pid, callers, seconds)
        finally:
            publisher.stdin.close()
            try:
                await asyncio.wait_for(publisher.wait(), timeout=20)
            except TimeoutError:
                publisher.kill()
                await publisher.wait()


def _publisher_token(lk: Any, room: str) -> str:
    """A join token for the floor publisher, of kind agent as a job's token is."""
    from livekit import api

    return (
        api.AccessToken(lk.api_key, lk.api_secret)
        .with_identity(f"floor-{room}")
        .with_kind("agent")
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .to_jwt()
    )


class _callers:
    """`calls` callers, each in a room of its own, joined at once."""

    def __init__(self, lk: Any, calls: int, in_room: Any, caller_token: Any) -> None:
        self._rooms = [in_room(lk.url, caller_token(lk, f"caller-{n}", f"cpu-{n}"), f"caller-{n}")
                       for n in range(calls)]

    async def __aenter__(self) -> list[Any]:
        return list(await asyncio.gather(*(room.__aenter__() for room in self._rooms)))

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*(room.__aexit__(None, None, None) for room in self._rooms))


async def main(args: argparse.Namespace, trees: dict[str, Path]) -> None:
    figures: dict[str, list[Figure]] = {}
    print(f"{args.calls} calls at once, {args.seconds:.0f} s of agent audio each, sent at {args.pace:g}x "
          f"real time; {os.cpu_count()} cores", flush=True)
    if args.floor:
        print("floor rows: no worker; a bare livekit.rtc process publishes the tone into each caller's room, "
              f"paced by its source's queue ({OUTPUT_QUEUE_MS} ms as RoomIO's unless the row says otherwise)", flush=True)

    def record(label: str, figure: Figure, round_no: int) -> None:
        figures.setdefault(label, []).append(figure)
        print(f"  round {round_no + 1}: {label}: {figure.total:6.2f} ms "
              f"(named native threads {figure.native:6.2f} ms)", flush=True)

    for round_no in range(args.rounds):
        for delta_ms in args.delta_ms:
            for name, tree in trees.items():
                figure = await run_once(tree, args.calls, args.seconds, delta_ms, args.pace)
                record(f"{name:8s} ({tree}) {delta_ms:3d} ms model deltas", figure, round_no)
        for floor in args.floor:
            record(floor.label, await run_floor(floor, args.calls, args.seconds), round_no)
    print(f"\nms of CPU per second of agent audio per call, median of {args.rounds} rounds "
          "(in brackets: of which named native threads):")
    for label, values in figures.items():
        print(f"  {label}: {statistics.median(v.total for v in values):6.2f} ms "
              f"({statistics.median(v.native for v in values):6.2f} ms)  "
              f"(runs: {', '.join(f'{v.total:.2f}' for v in values)})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=24.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--delta-ms", type=int, nargs="+", default=[100, 20])
    parser.add_argument("--pace", type=float, default=2.0, help="audio sent per second of playout")
    parser.add_argument("--layout", help="SHOPME_WORKER_LAYOUT for every worker (threads, processes, ...)")
    parser.add_argument("--baseline", help="another checkout whose worker runs in the same rounds")
    parser.add_argument("--floor", type=Floor.parse, nargs="*", default=[], metavar="RATE:FRAME_MS[:QUEUE_MS]",
                        help="also a bare livekit.rtc publisher in the same rounds (alone: 24000:100)")
    args = parser.parse_args()
    if args.floor == [] and "--floor" in sys.argv:
        args.floor = [Floor(OUTPUT_RATE, OUTPUT_FRAME_MS)]
    if os.environ.get("SHOPME_NETNS") != "1":
        script = ROOT / "scripts" / "netns-run.sh"
        raise SystemExit(subprocess.call(["bash", str(script), sys.executable, __file__, *sys.argv[1:]]))
    from tests.livekit_server.netns import namespace_problem

    problem = namespace_problem()
    if problem:
        raise SystemExit(f"bench_room_audio_cpu: {problem}")
    os.environ.setdefault("SHOPME_ENV_FILE", str(ROOT / "tests" / "no-such.env"))
    if args.layout:
        os.environ["SHOPME_WORKER_LAYOUT"] = args.layout  # the workers inherit this environment
    trees = {"this": ROOT}
    if args.baseline:
        trees = {"baseline": Path(args.baseline).resolve(), **trees}
    asyncio.run(main(args, trees))
