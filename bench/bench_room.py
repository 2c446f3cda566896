"""Latency a caller sees in a real room: joining -> first agent audio, end of speech -> answer.

Runs the real worker (`python agent.py dev`) against the loopback LiveKit double and the fake
Azure service (which answers at once, so the figures are LiveKit transport, the framework and our
code, not the model). Callers are `livekit.rtc.Room` clients; each call is a new room:
- join: from `Room.connect()` being called to the first audible frame of the greeting at the
  caller (dispatch, job process start, agent join, greeting over WebRTC);
- answer: from the caller's last frame of speech leaving its microphone (espeak-ng recording,
  48 kHz) to the first audible frame of the answer at the caller. This includes the 200 ms of
  silence server VAD waits for before it ends the turn (as Azure's does).

Runs inside the private network namespace of scripts/netns-run.sh (it re-executes itself there),
so nothing leaves 127.0.0.0/8.

    .venv/bin/python bench/bench_room.py [--calls 20]
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def main(calls: int) -> None:
    from tests.fake_azure.fixtures import wait_until
    from tests.livekit_server import LiveKitServerDouble
    from tests.livekit_server.fixtures import WorkerProcess
    from tests.room.harness import (
        AGENT_NAME,
        GREETING,
        SPOKEN_ANSWER,
        Desk,
        RoomBrain,
        caller_token,
        in_room,
        recording,
        worker_env,
    )

    speech, rate = recording()
    joins: list[float] = []
    answers: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        async with LiveKitServerDouble() as lk, RoomBrain() as brain:
            desk = await Desk().start()
            env = worker_env(brain, f"sqlite+aiosqlite:///{folder}/bench.db", desk)
            worker = WorkerProcess(lk, ["agent.py", "dev"], env, Path(folder) / "w.log", AGENT_NAME)
            await worker.start()
            try:
                for call in range(calls):
                    room, identity = f"bench-{call}", f"caller-{call}"
                    started = time.monotonic()
                    async with in_room(lk.url, caller_token(lk, identity, room), identity) as c:
                        await wait_until(lambda c=c: c.voiced(), timeout=30, what="the greeting")
                        joins.append(c.voiced()[0].at - started)
                        await wait_until(lambda c=c: GREETING in c.said_by(), timeout=30)
                        flowing = brain.received_audio_ms()
                        await c.open_microphone()
                        await wait_until(
                            lambda f=flowing: brain.received_audio_ms() > f + 300, timeout=20
                        )
                        await asyncio.sleep(0.5)  # the greeting's last frames have played
                        await c.speak(speech, rate)
                        await wait_until(
                            lambda c=c: SPOKEN_ANSWER in c.said_by(), timeout=30, what="answer"
                        )
                        ended = c.speech_ended_at
                        assert ended is not None
                        await wait_until(lambda c=c, e=ended: c.voiced(since=e), timeout=10)
                        answers.append(c.voiced(since=ended)[0].at - ended)
                    print(f"call {call + 1}: join {joins[-1] * 1000:.0f} ms, "
                          f"answer {answers[-1] * 1000:.0f} ms", flush=True)
            finally:
                await worker.stop()
                await desk.aclose()

    for name, samples in (("caller joins -> first agent audio", joins),
                          ("end of speech -> first answer audio", answers)):
        ms = [s * 1000 for s in samples]
        print(f"{name}: p50 {percentile(ms, 0.5):.0f} ms, p95 {percentile(ms, 0.95):.0f} ms, "
              f"mean {statistics.mean(ms):.0f} ms ({len(ms)} calls)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    if os.environ.get("SHOPME_NETNS") != "1":
        script = ROOT / "scripts" / "netns-run.sh"
        command = ["bash", str(script), sys.executable, __file__, "--calls", str(args.calls)]
        raise SystemExit(subprocess.call(command))
    from tests.livekit_server.netns import namespace_problem

    problem = namespace_problem()
    if problem:
        raise SystemExit(f"bench_room: {problem}")
    os.environ.setdefault("SHOPME_ENV_FILE", str(ROOT / "tests" / "no-such.env"))
    asyncio.run(main(args.calls))
