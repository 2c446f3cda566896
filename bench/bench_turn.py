"""How much time our side adds to a conversational turn with a tool call.

Runs the real SupportAgent, tools and SQLite store against the fake Azure realtime service on
127.0.0.1 (which answers at once, so the figures are the framework's, the tools' and the store's
share of a turn, not the model's). Each measured turn: the caller's text -> the model calls
`get_order_status` -> the tool reads the store -> the model answers.

    .venv/bin/python bench/bench_turn.py [--turns 200]

Long calls: per-turn time of turns 1-20 against the last 20 turns, and memory growth per turn
(process RSS after turn 20 to the end, and Python heap blocks, `tracemalloc` off so the timing
stays honest).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from support_tools.domain.caller import CallerState  # noqa: E402
from support_tools.domain.rules import ShopRules  # noqa: E402
from support_tools.domain.service import SupportService  # noqa: E402
from support_tools.store.database import Store  # noqa: E402
from support_tools.store.seed import seed_if_empty  # noqa: E402
from tests.fake_azure import FakeAzureRealtime  # noqa: E402
from tests.fake_azure.fixtures import agent_session  # noqa: E402

ORDER, PIN = "482913", "560001"


def rss_kb() -> float:
    status = Path("/proc/self/status").read_text()
    return float(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def main(turns: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open(f"sqlite+aiosqlite:///{folder}/bench.db")
        await seed_if_empty(store, datetime.now(UTC))
        service = SupportService(store, ShopRules())
        caller = CallerState(session_id="bench")
        await service.verify_customer(caller, ORDER, PIN)

        async with FakeAzureRealtime() as fake, aiohttp.ClientSession() as http:
            fake.script.say("Hello.")
            async with agent_session(fake, http, service=service, caller=caller) as run:
                await fake.wait_for_sent("response.done")
                took: list[float] = []
                rss_at_20 = 0.0
                for turn in range(turns + 10):
                    if turn == 30:  # after 20 measured turns
                        gc.collect()
                        rss_at_20 = rss_kb()
                    fake.script.call_tool("get_order_status", {"order_number": ORDER})
                    fake.script.say("It has shipped.")
                    start = time.perf_counter()
                    await run.session.run(user_input=f"Where is my order {ORDER}?")
                    if turn >= 10:  # the first turns warm caches and connections
                        took.append((time.perf_counter() - start) * 1000)
                gc.collect()
                grown_kb = rss_kb() - rss_at_20
        await store.close()

    print(f"turns with one tool call: {len(took)}")
    print(
        f"per turn (ms): p50 {statistics.median(took):.1f}  p95 {percentile(took, 0.95):.1f}  "
        f"max {max(took):.1f}"
    )
    first, last = statistics.median(took[:20]), statistics.median(took[-20:])
    print(f"turns 1-20: p50 {first:.1f} ms; last 20 turns: p50 {last:.1f} ms ({last / first:.2f}x)")
    print(f"memory: {grown_kb / max(1, len(took) - 20):.1f} KB RSS per turn after turn 20")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    asyncio.run(main(parser.parse_args().turns))
