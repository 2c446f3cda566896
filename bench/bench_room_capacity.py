"""What calls cost a real worker in real rooms: CPU and memory of `python agent.py start` serving
K calls at once through the LiveKit double, WebRTC media included.

Runs inside the room tests' private network namespace (WebRTC traffic stays on 127.0.0.0/8):

    bash scripts/netns-run.sh .venv/bin/python bench/bench_room_capacity.py [--calls 1 4 8] [--seconds 30]

Each caller is a `livekit.rtc.Room` client publishing a 48 kHz microphone that says
`where_is_my_order.wav` every few seconds; the worker relays it to the fake Azure model, which
answers every turn with speech the worker plays into the room. Only the worker's process tree is
measured (its own process, forkserver, job processes), not the double, the callers or the model.
The figures give SHOPME_MAX_SESSIONS's default and the Kubernetes resources (README, "Run it in a
cluster"); bench/bench_session_cost.py compares the process and thread job layouts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fake_azure.fixtures import wait_until  # noqa: E402
from tests.livekit_server import LiveKitServerDouble  # noqa: E402
from tests.livekit_server.fixtures import WorkerProcess  # noqa: E402
from tests.livekit_server.netns import namespace_problem  # noqa: E402
from tests.room import harness  # noqa: E402

LIVEKIT_DEFAULT_LOAD_THRESHOLD = 0.7  # livekit-agents' default: CPU share, full above 0.7


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def memory_mb(processes: list[psutil.Process], kind: str) -> list[float]:
    sizes = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            sizes.append(getattr(process.memory_full_info(), kind) / 2**20)
    return sizes


async def talk(caller, speech: bytes, rate: int, stop: asyncio.Event) -> None:
    await caller.open_microphone()
    while not stop.is_set():
        await caller.speak(speech, rate)
        await asyncio.sleep(6)  # the answer plays, then the caller speaks again


async def measure(worker: WorkerProcess, lk, calls: int, seconds: float, round_: int) -> dict[str, float]:
    speech, rate = harness.recording()
    stop = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        callers = []
        for n in range(calls):
            room = f"bench-{round_}-{n}"
            callers.append(
                await stack.enter_async_context(harness.in_room(lk.url, harness.caller_token(lk, f"c{round_}-{n}", room), f"c{n}"))
            )
        for caller in callers:
            await wait_until(lambda c=caller: harness.GREETING in c.said_by(), timeout=180, what="greeting")
        talkers = [asyncio.create_task(talk(c, speech, rate, stop)) for c in callers]
        await asyncio.sleep(5)
        processes = tree(worker.process.pid)
        cpu_start, wall_start = cpu_seconds(processes), time.monotonic()
        await asyncio.sleep(seconds)
        processes = tree(worker.process.pid)
        cpu = cpu_seconds(processes) - cpu_start
        wall = time.monotonic() - wall_start
        uss, rss = memory_mb(processes, "uss"), memory_mb(processes, "rss")
        stop.set()
        await asyncio.gather(*talkers, return_exceptions=True)
    await lk.wait_for(lambda: not any(w.jobs for w in lk.workers.values()), 60, "calls to end")
    return {"cpu_cores": cpu / wall, "uss_mb": sum(uss), "rss_mb": sum(rss), "processes": len(processes)}


async def main(rounds: list[int], seconds: float) -> None:
    problem = namespace_problem()
    if problem:
        raise SystemExit(f"run inside scripts/netns-run.sh: {problem}")
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as folder:
        async with LiveKitServerDouble() as lk, harness.RoomBrain() as brain:
            desk = await harness.Desk().start()
            env = {
                **harness.worker_env(brain, f"sqlite+aiosqlite:///{folder}/shop.db", desk),
                "SHOPME_MAX_SESSIONS": str(max(rounds) + 1),
                "SHOPME_IDLE_PROCESSES": "1",
            }
            worker = WorkerProcess(lk, ["agent.py", "start"], env, Path(folder) / "worker.log", harness.AGENT_NAME)
            await worker.start()
            try:
                await asyncio.sleep(5)
                processes = tree(worker.process.pid)
                cpu0, t0 = cpu_seconds(processes), time.monotonic()
                await asyncio.sleep(seconds / 2)
                idle = {
                    "cpu_cores": (cpu_seconds(tree(worker.process.pid)) - cpu0) / (time.monotonic() - t0),
                    "uss_mb": sum(memory_mb(tree(worker.process.pid), "uss")),
                }
                print(f"machine: {cores} cores; worker idle: CPU {idle['cpu_cores'] * 100:.1f}% of a core, USS {idle['uss_mb']:.0f} MB")
                print("calls | worker CPU (% of a core) | per call | worker USS MB | per call | RSS MB")
                per_call_cpu = []
                for index, calls in enumerate(rounds):
                    figures = await measure(worker, lk, calls, seconds, index)
                    cpu_each = (figures["cpu_cores"] - idle["cpu_cores"]) / calls
                    mb_each = (figures["uss_mb"] - idle["uss_mb"]) / calls
                    per_call_cpu.append(cpu_each)
                    print(
                        f"{calls:5d} | {figures['cpu_cores'] * 100:24.1f} | {cpu_each * 100:7.1f}% | "
                        f"{figures['uss_mb']:13.0f} | {mb_each:7.0f} | {figures['rss_mb']:.0f}"
                    )
            finally:
                await worker.stop()
                await desk.aclose()
    worst = max(per_call_cpu)
    budget = cores * 2 / 3  # a third of the machine kept for bursts, the worker and the node
    print(f"calls per worker at the highest per-call CPU, within 2/3 of {cores} cores: {math.floor(budget / worst)}")
    print(
        f"livekit-agents default (CPU load, full at {LIVEKIT_DEFAULT_LOAD_THRESHOLD}): about "
        f"{math.floor(cores * LIVEKIT_DEFAULT_LOAD_THRESHOLD / worst)} calls before it reports full"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--seconds", type=float, default=30)
    options = parser.parse_args()
    asyncio.run(main(options.calls, options.seconds))
