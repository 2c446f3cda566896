"""What one call costs a worker on this machine: memory and CPU per session, in both job layouts.

This is where `SHOPME_MAX_SESSIONS`'s default, the job executor type and the Kubernetes resources
come from (README, "Run it in a cluster").

Each simulated call is the project's real `SupportAgent` in an `AgentSession` on the Azure realtime
plugin (built by `support_tools.voice.model`, as the worker does), talking to the fake Azure
service, which runs in this (parent) process so that its work is not counted. The caller speaks
through a real-time 48 kHz microphone (`tests/audio_fixtures/where_is_my_order.wav`, then a
pause) and the model answers with audio paced in real time into a real-time speaker: a call that
never stops talking, so the figures are on the high side of a real call.

Two layouts, as livekit-agents runs jobs:
- process (`JobExecutorType.PROCESS`, the framework's default on Linux): one OS process per call,
  measured as K host processes with one call each;
- thread (`JobExecutorType.THREAD`): K calls in one process.

Not included: WebRTC media (Opus decode/encode, SRTP) in the LiveKit SDK's native core, which a
room adds on top of this; the job processes of a real worker fork from a preloaded forkserver and
share its pages until written, so their private memory (USS) is at most the figure printed here.

    .venv/bin/python bench/bench_session_cost.py [--sessions 4] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CALLER_SPEECH = ROOT / "tests" / "audio_fixtures" / "where_is_my_order.wav"
# livekit-agents' default load: CPU share of the machine, full above 0.7 in production.
LIVEKIT_DEFAULT_LOAD_THRESHOLD = 0.7


# --- the host: K calls in this process, reporting its own cost as one JSON line -------------


async def host(endpoint: str, sessions: int, seconds: float) -> None:
    import aiohttp
    import psutil

    os.environ.pop("OPENAI_API_VERSION", None)
    from livekit.agents import AgentSession

    from support_tools.domain.caller import CallerState
    from support_tools.settings import load_settings
    from support_tools.voice.agent import SupportAgent
    from support_tools.voice.model import build_realtime_model
    from support_tools.voice.session import Userdata
    from tests.fake_azure import audio
    from tests.fake_azure.fixtures import wait_until
    from tests.fake_azure.session_io import ScriptedMicrophone, SimulatedSpeaker

    me = psutil.Process()
    rss_idle = me.memory_info().rss
    settings = load_settings(
        {
            "AZURE_OPENAI_ENDPOINT": endpoint,
            "AZURE_OPENAI_API_KEY": "bench-key",
            "AZURE_OPENAI_DEPLOYMENT": "gpt-realtime",
        }
    )
    speech, rate = audio.read_wav(CALLER_SPEECH)
    stop = asyncio.Event()

    async def one_call(http: aiohttp.ClientSession, index: int) -> None:
        model = build_realtime_model(settings, http_session=http)
        state = Userdata(settings=settings, service=None, caller=CallerState(session_id=f"bench-{index}"))  # type: ignore[arg-type]
        session = AgentSession[Userdata](llm=model, userdata=state, aec_warmup_duration=None)
        microphone, speaker = ScriptedMicrophone(), SimulatedSpeaker()
        session.input.audio, session.output.audio = microphone, speaker
        await session.start(agent=SupportAgent(settings), record=False)
        try:
            while not stop.is_set():
                heard = len(speaker.playbacks)
                await microphone.say(speech, rate)
                with contextlib.suppress(AssertionError):  # no answer: the caller talks again
                    await wait_until(lambda: len(speaker.playbacks) > heard, timeout=15)  # noqa: B023
                speaker.frames.clear()  # a real speaker keeps nothing it has played
                await asyncio.sleep(0.5)
        finally:
            microphone.close()
            await session.aclose()
            await model.aclose()

    async with aiohttp.ClientSession() as http:
        calls = [asyncio.create_task(one_call(http, i)) for i in range(sessions)]
        await asyncio.sleep(5)  # every call greeted and talking
        cpu_start, wall_start = sum(me.cpu_times()[:2]), time.monotonic()
        await asyncio.sleep(seconds)
        cpu = sum(me.cpu_times()[:2]) - cpu_start
        wall = time.monotonic() - wall_start
        memory = me.memory_full_info()
        stop.set()
        await asyncio.gather(*calls, return_exceptions=True)
    print(
        json.dumps(
            {
                "sessions": sessions,
                "rss_idle_mb": rss_idle / 2**20,
                "rss_mb": memory.rss / 2**20,
                "uss_mb": memory.uss / 2**20,
                "pss_mb": memory.pss / 2**20,
                "cpu_share": cpu / wall,  # of one core
            }
        ),
        flush=True,
    )


# --- the parent: the fake service, the hosts, the figures ------------------------------------


async def run_host(endpoint: str, sessions: int, seconds: float) -> dict[str, float]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--host", str(sessions), "--endpoint", endpoint,
        "--seconds", str(seconds),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE": "0"},
    )
    out, _ = await process.communicate()
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        raise SystemExit(f"host with {sessions} calls failed (exit {process.returncode})")
    return json.loads(lines[-1])


async def main(sessions: int, seconds: float) -> None:
    from tests.fake_azure import FakeAzureRealtime

    cores = os.cpu_count() or 1
    async with FakeAzureRealtime(api_key="bench-key", pace=1.0) as fake:
        per_process = await asyncio.gather(
            *(run_host(fake.endpoint, 1, seconds) for _ in range(sessions))
        )
        threaded = await run_host(fake.endpoint, sessions, seconds)

    def mid(key: str) -> float:
        return statistics.median(host[key] for host in per_process)

    process_cpu = mid("cpu_share")
    # What each call beyond the first adds to a process that already holds one.
    thread_mb = (threaded["uss_mb"] - mid("uss_mb")) / max(sessions - 1, 1)
    thread_cpu = threaded["cpu_share"] / sessions
    print(f"machine: {cores} cores; {sessions} calls of {seconds:.0f} s each, caller always talking")
    print(
        f"process layout, per call (median of {sessions} processes): USS {mid('uss_mb'):.0f} MB, "
        f"PSS {mid('pss_mb'):.0f} MB, RSS {mid('rss_mb'):.0f} MB, CPU {process_cpu * 100:.1f}% of a core"
    )
    print(
        f"thread layout, {sessions} calls in one process: USS {threaded['uss_mb']:.0f} MB; each call "
        f"after the first +{thread_mb:.1f} MB, CPU {thread_cpu * 100:.1f}% of a core per call"
    )
    # Keep a third of the machine for WebRTC media, the worker's own process and bursts.
    budget = cores * (2 / 3)
    print(
        f"calls per worker at this CPU cost, 2/3 of {cores} cores: "
        f"{math.floor(budget / process_cpu)} (process), {math.floor(budget / thread_cpu)} (thread)"
    )
    print(
        f"livekit-agents default (CPU load, full at {LIVEKIT_DEFAULT_LOAD_THRESHOLD}): about "
        f"{math.floor(cores * LIVEKIT_DEFAULT_LOAD_THRESHOLD / process_cpu)} calls before it reports full"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--host", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.host is not None:
        asyncio.run(host(options.endpoint, options.host, options.seconds))
    else:
        asyncio.run(main(options.sessions, options.seconds))
