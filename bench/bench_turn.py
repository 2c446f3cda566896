"""How much time and memory our side adds to a conversational turn, early and late in a long call.

Each measured turn: the caller's text -> the model calls `get_order_status` -> the tool reads the
SQLite store -> the model answers. The session is built as `agent.py` builds it (the checkout's
own tests/fake_azure/fixtures.py `agent_session`, plus the spool file `agent.py` starts) and
runs against the fake Azure realtime service in its own process (bench/turn_fake.py, which
answers at once), so the worker's process holds only the worker: the figures are the framework's,
the tools' and the store's share of a turn, not the model's.

Per turn: wall time and CPU time of the worker process (all its threads: the event loop and
aiosqlite's), turns 1-20 against the last 20 turns. Memory, in a separate run per checkout with
`tracemalloc` on (it slows every allocation, so the timed runs leave it off): Python heap bytes
still held after turn 20 and at the end (after `gc.collect()`), per turn, split by whose code
allocated them (the project, livekit-agents, other); and the process RSS growth per turn, which
also counts allocator arenas and fragmentation. At the end the call's record is stored, and its
transcript is checked to hold every turn.

With `--baseline DIR` (another checkout, e.g. main before this work, with `.venv` linked) both
checkouts run in the same invocation, interleaved round by round.

    .venv/bin/python bench/bench_turn.py [--turns 400] [--rounds 2] [--baseline /tmp/turns-before]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER, PIN = "482913", "560001"
TURN_FAKE_KEY = "bench-key"  # bench/turn_fake.py's API_KEY (not imported: it imports this checkout's tests)
WARM_UP_TURNS = 10  # the first turns warm caches and connections: not measured
EARLY = 20  # turns 1-20 (after the warm-up) against the last 20


def rss_kb() -> float:
    status = Path("/proc/self/status").read_text()
    return float(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# --- the worker side (a subprocess, importing the checkout under test) -------------------------


def owner_of(trace) -> tuple[str, str]:
    """Whose code asked for a block: the innermost frame in the project or in livekit."""
    for frame in reversed(trace.traceback):
        name = frame.filename
        for owner, marker in (("project", "/support_tools/"), ("livekit", "/livekit/")):
            if marker in name:
                return owner, f"{name.split(marker, 1)[1]}:{frame.lineno}"
    return "other", f"{Path(trace.traceback[-1].filename).name}:{trace.traceback[-1].lineno}"


def retained_by_owner(before, after, turns: int) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """Bytes per turn still held, by owner, and the largest allocation sites."""
    grown: dict[str, float] = {"project": 0.0, "livekit": 0.0, "other": 0.0}
    sites: dict[str, float] = {}
    for stat in after.compare_to(before, "traceback"):
        owner, site = owner_of(stat)
        grown[owner] += stat.size_diff
        sites[f"{owner} {site}"] = sites.get(f"{owner} {site}", 0.0) + stat.size_diff
    top = sorted(sites.items(), key=lambda kv: -kv[1])[:6]
    return {o: size / turns for o, size in grown.items()}, [(s, size / turns) for s, size in top]


async def drive(checkout: Path, endpoint: str, api_key: str, turns: int, memory: bool) -> dict:
    sys.path.insert(0, str(checkout))
    import aiohttp

    from support_tools.domain.caller import CallerState
    from support_tools.domain.rules import ShopRules
    from support_tools.domain.service import SupportService
    from support_tools.store.database import Store
    from support_tools.store.seed import seed_if_empty
    from support_tools.voice.recorder import save_record, start_spool
    from tests.fake_azure.fixtures import agent_session

    if memory:
        import tracemalloc

        tracemalloc.start(16)

    class Endpoint:  # what `agent_session` reads of a fake
        def __init__(self) -> None:
            self.endpoint, self.api_key = endpoint, api_key

    result: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open(f"sqlite+aiosqlite:///{folder}/bench.db")
        await seed_if_empty(store, datetime.now(UTC))
        service = SupportService(store, ShopRules())
        caller = CallerState(session_id="bench-long-call")
        await service.verify_customer(caller, ORDER, PIN)
        env = {
            "AZURE_OPENAI_ENDPOINT": endpoint, "AZURE_OPENAI_API_KEY": api_key,
            "AZURE_OPENAI_DEPLOYMENT": "gpt-realtime", "SHOPME_SPOOL_DIR": f"{folder}/spool",
        }
        async with aiohttp.ClientSession() as http, agent_session(
            Endpoint(), http, env=env, service=service, caller=caller
        ) as run:
            start_spool(run.state)  # as agent.py does: the record goes to disk as the call goes
            wall: list[float] = []
            cpu: list[float] = []
            heap_at_20 = rss_at_20 = 0.0
            for turn in range(turns + WARM_UP_TURNS):
                if turn == WARM_UP_TURNS + EARLY:
                    gc.collect()
                    rss_at_20 = rss_kb()
                    if memory:
                        heap_at_20 = tracemalloc.take_snapshot()
                started, started_cpu = time.perf_counter(), time.process_time()
                await run.session.run(user_input=f"Where is my order {ORDER}?")
                if turn >= WARM_UP_TURNS:
                    wall.append((time.perf_counter() - started) * 1000)
                    cpu.append((time.process_time() - started_cpu) * 1000)
                run.items.clear()  # the test harness's own list of every item: not the worker's
            gc.collect()
            later = turns - EARLY
            result["rss_kb_per_turn"] = (rss_kb() - rss_at_20) / later
            if memory:
                result["heap_b_per_turn"], result["heap_sites"] = retained_by_owner(
                    heap_at_20, tracemalloc.take_snapshot(), later
                )
                tracemalloc.stop()
            result["wall_ms"], result["cpu_ms"] = wall, cpu
            state = run.state
        record_id = await save_record(state)
        stored = await _stored_transcript(store, record_id)
        result["record"] = {
            "stored": record_id is not None,
            "user_messages": sum(1 for e in stored if e.get("role") == "user"),
            "tool_calls": sum(1 for e in stored if e.get("role") == "tool"),
            "expected_turns": turns + WARM_UP_TURNS,
        }
        await store.close()
    return result


async def _stored_transcript(store, record_id: str | None) -> list[dict]:
    """The transcript as the store holds it (read back with the store's own reader)."""
    if record_id is None:
        return []
    from support_tools.domain.records import get_record

    record = await get_record(store, record_id)
    return list((record or {}).get("transcript") or [])


# --- the driver -------------------------------------------------------------------------------


def run_once(checkout: Path, turns: int, memory: bool) -> dict:
    fake = subprocess.Popen(
        [sys.executable, str(HERE / "turn_fake.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(fake.stdout.readline().split()[1])
        worker = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--worker", str(checkout),
             "--endpoint", f"http://127.0.0.1:{port}", "--api-key", TURN_FAKE_KEY, "--turns", str(turns)]
            + (["--memory"] if memory else []),
            capture_output=True, text=True, check=False,
            env={k: v for k, v in os.environ.items() if k != "OPENAI_API_VERSION"},
        )
        if worker.returncode != 0:
            raise SystemExit(f"worker failed in {checkout}:\n{worker.stderr[-4000:]}")
        return json.loads(worker.stdout.strip().splitlines()[-1])
    finally:
        fake.stdin.close()
        fake.wait(timeout=10)


def describe_times(label: str, runs: list[dict]) -> list[str]:
    lines = []
    for kind in ("wall_ms", "cpu_ms"):
        early = [statistics.median(r[kind][:EARLY]) for r in runs]
        late = [statistics.median(r[kind][-EARLY:]) for r in runs]
        every = [t for r in runs for t in r[kind]]
        ratios = " ".join(f"{lt / e:.2f}x" for e, lt in zip(early, late, strict=True))
        lines.append(
            f"{label:8} {kind[:-3]:4} per turn: p50 {statistics.median(every):5.1f}  "
            f"p95 {percentile(every, 0.95):5.1f}  p99 {percentile(every, 0.99):5.1f} ms; "
            f"turns 1-20 p50 {' / '.join(f'{e:.1f}' for e in early)} ms, last 20 p50 "
            f"{' / '.join(f'{lt:.1f}' for lt in late)} ms ({ratios} by round)"
        )
    rss = " / ".join(f"{r['rss_kb_per_turn']:.1f}" for r in runs)
    lines.append(f"{label:8} RSS growth after turn 20: {rss} KB per turn (by round)")
    return lines


def describe_memory(label: str, run: dict) -> list[str]:
    heap = run["heap_b_per_turn"]
    total = sum(heap.values())
    parts = ", ".join(f"{owner} {size / 1024:.2f}" for owner, size in heap.items())
    record = run["record"]
    sites = "; ".join(f"{site} {size:.0f} B" for site, size in run["heap_sites"])
    return [
        f"{label:8} Python heap retained after turn 20: {total / 1024:.2f} KB per turn ({parts}); "
        f"RSS {run['rss_kb_per_turn']:.1f} KB per turn (tracemalloc's own tables included)",
        f"{label:8}   largest sites per turn: {sites}",
        f"{label:8} record stored: {record['stored']}, {record['user_messages']} caller messages and "
        f"{record['tool_calls']} tool calls for {record['expected_turns']} turns",
    ]


def main(args: argparse.Namespace) -> None:
    checkouts = [("after", HERE.parent)]
    if args.baseline:
        checkouts.insert(0, ("before", args.baseline))
    times: dict[str, list[dict]] = {label: [] for label, _ in checkouts}
    for round_number in range(args.rounds):
        order = checkouts if round_number % 2 == 0 else list(reversed(checkouts))
        for label, checkout in order:
            times[label].append(run_once(checkout, args.turns, memory=False))
    memory = {label: run_once(checkout, args.turns, memory=True) for label, checkout in checkouts}

    print(f"{args.turns} turns with one tool call each, {args.rounds} interleaved round(s)")
    for label, _ in checkouts:
        for line in describe_times(label, times[label]):
            print(line)
    for label, _ in checkouts:
        for line in describe_memory(label, memory[label]):
            print(line)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", type=lambda v: Path(v).resolve(), default=None)
    parser.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", default="", help=argparse.SUPPRESS)
    parser.add_argument("--api-key", default="", help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker is not None:
        outcome = asyncio.run(
            drive(arguments.worker.resolve(), arguments.endpoint, arguments.api_key, arguments.turns, arguments.memory)
        )
        print(json.dumps(outcome))
    else:
        main(arguments)
