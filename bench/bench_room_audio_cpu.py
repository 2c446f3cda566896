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

`--baseline DIR` runs the worker of another checkout (e.g. the main branch) in the same rounds,
interleaved; `--layout` gives both workers the same SHOPME_WORKER_LAYOUT (otherwise each runs its
checkout's default, which differ across versions). Runs inside the private network namespace of scripts/netns-run.sh (it re-executes
itself there), so nothing leaves 127.0.0.0/8.

    .venv/bin/python bench/bench_room_audio_cpu.py [--calls 3] [--seconds 24] [--rounds 3]
        [--delta-ms 100 20] [--pace 2] [--layout processes] [--baseline /tmp/audio-before]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SETTLE_S = 3.0  # after every caller hears the greeting: job start-up is over
TAIL_S = 1.5  # the speech's last frames have played


def tree_cpu(root_pid: int) -> dict[int, float]:
    """CPU seconds of a process and all its descendants, by pid."""
    try:
        root = psutil.Process(root_pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    seconds: dict[int, float] = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seconds[process.pid] = times.user + times.system
    return seconds


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two readings, over the processes alive at both."""
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())


async def run_once(tree: Path, calls: int, seconds: float, delta_ms: int, pace: float) -> float:
    """ms of worker CPU per second of agent audio per call, with the worker of `tree`."""
    from tests.fake_azure import Say, ScriptedResponse
    from tests.fake_azure.fixtures import wait_until
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
                    await wait_until(lambda: all(c.voiced() for c in callers), timeout=60,
                                     what="every caller hearing the agent")
                    spoke_at = max(c.voiced()[0].at for c in callers)
                    window = seconds - SETTLE_S - TAIL_S - 1.0
                    await asyncio.sleep(max(0.0, spoke_at + SETTLE_S - time.monotonic()))
                    start = tree_cpu(worker.process.pid)
                    await asyncio.sleep(window)
                    speaking = spent(start, tree_cpu(worker.process.pid))
                    await asyncio.sleep(max(0.0, spoke_at + seconds + TAIL_S - time.monotonic()))
                    start = tree_cpu(worker.process.pid)
                    await asyncio.sleep(window)
                    quiet = spent(start, tree_cpu(worker.process.pid))
                    heard = [len(c.voiced()) for c in callers]
            finally:
                await worker.stop()
                await desk.aclose()
    if min(heard) == 0:
        raise SystemExit("a caller heard nothing")
    return (speaking - quiet) * 1000 / window / calls


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
    figures: dict[tuple[str, int], list[float]] = {}
    print(f"{args.calls} calls at once, {args.seconds:.0f} s of agent audio each, sent at {args.pace:g}x "
          f"real time; {os.cpu_count()} cores", flush=True)
    for round_no in range(args.rounds):
        for delta_ms in args.delta_ms:
            for name, tree in trees.items():
                figure = await run_once(tree, args.calls, args.seconds, delta_ms, args.pace)
                figures.setdefault((name, delta_ms), []).append(figure)
                print(f"  round {round_no + 1}: {name:8s} {delta_ms:3d} ms deltas: {figure:5.2f} ms",
                      flush=True)
    print(f"\nms of worker CPU per second of agent audio per call, median of {args.rounds} rounds:")
    for (name, delta_ms), values in figures.items():
        print(f"  {name:8s} ({trees[name]}) {delta_ms:3d} ms model deltas: "
              f"{statistics.median(values):5.2f} ms  (runs: {', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=24.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--delta-ms", type=int, nargs="+", default=[100, 20])
    parser.add_argument("--pace", type=float, default=2.0, help="audio sent per second of playout")
    parser.add_argument("--layout", help="SHOPME_WORKER_LAYOUT for every worker (threads, processes, ...)")
    parser.add_argument("--baseline", help="another checkout whose worker runs in the same rounds")
    args = parser.parse_args()
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
