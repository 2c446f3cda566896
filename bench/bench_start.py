"""Job start → first `response.create` (the greeting requested), through `agent.py`'s worker, and
the worker's memory idle and with calls running.

The worker runs as `agent.py` builds it, unregistered (no LiveKit server): jobs are started with
the framework's own `simulate_job` (a mock room), one every `--spacing` seconds, and the lean
fake Azure service (bench/lean_fake.py, its own process) notes when each greeting request
arrives. Variants run interleaved in rounds, so a busy machine hits them alike:

- `ours-loop`: this checkout's agent.py with SHOPME_WORKER_LAYOUT=loop (the default);
- `ours-threads`, `ours-processes`: the same with SHOPME_WORKER_LAYOUT=threads / processes;
- `livekit-default` (with `--baseline DIR`): another checkout's agent.py, e.g. the commit before
  this work, which runs livekit-agents' defaults (a process per job, no preload, no prewarm).

The workers run on this interpreter, or on `--python`'s: a runtime-only environment made by
`scripts/runtime-venv.sh` holds what the Docker image installs and no test tools (the test tools
bring modules the framework then imports too: PyJWT loads `cryptography` when it is installed).
The floors printed at the end are measured with the same interpreter.

    .venv/bin/python bench/bench_start.py [--jobs 6] [--rounds 3] [--baseline /tmp/shopme-before]
        [--variants ours-loop ours-processes] [--python "$(bash scripts/runtime-venv.sh)"]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

THIS_FILE = Path(__file__).resolve()
HERE = THIS_FILE.parent
sys.path.insert(0, str(HERE))

from procmem import import_floors, tree_memory  # noqa: E402


@dataclass
class Variant:
    label: str
    checkout: Path
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    first_ms: float
    later_ms: list[float]
    idle_rss_mb: float
    idle_main_rss_mb: float
    idle_children_private_mb: list[float]
    busy_rss_mb: float
    per_call_mb: float


# --- the worker side (a subprocess) ------------------------------------------------------------

def load_worker(checkout: Path):
    """agent.py as `python agent.py start` loads it, on the main thread: the module (which builds
    the AgentServer), then the store prepared the way its `__main__` block does."""
    sys.path.insert(0, str(checkout))
    os.chdir(checkout)
    import agent

    if hasattr(agent, "prepare_store_before_start"):
        agent.prepare_store_before_start("start", os.environ["DATABASE_URL"])
    else:  # a checkout from before it (--baseline)
        from support_tools.voice.startup import prepare_store

        asyncio.run(prepare_store(os.environ["DATABASE_URL"]))
    return agent


async def drive(agent, jobs: int, spacing: float, warm_s: float) -> None:
    server = agent.server
    runner = asyncio.create_task(server.run(devmode=False, unregistered=True))
    await asyncio.sleep(warm_s)  # the idle pool warms up
    report_memory("idle")
    for index in range(jobs):
        print(f"launch {index} {time.monotonic():.6f}", flush=True)
        await server.simulate_job(f"bench-room-{index}", fake_job=True)
        await asyncio.sleep(spacing)
    report_memory("busy")
    print("done", flush=True)
    await asyncio.sleep(3600)  # the parent ends this process
    runner.cancel()


def report_memory(label: str) -> None:
    tree = tree_memory(os.getpid())
    main, children = tree[0], tree[1:]
    total = sum(m.rss_mb for m in tree)
    private = " ".join(f"{m.private_mb:.1f}" for m in children)
    pss = sum(m.pss_mb for m in tree)
    print(f"memory {label} {main.rss_mb:.1f} {total:.1f} {pss:.1f} | {private}", flush=True)


# --- the benchmark side ------------------------------------------------------------------------

async def read_lines(stream: asyncio.StreamReader, sink: list[str], event: asyncio.Event) -> None:
    while line := await stream.readline():
        sink.append(line.decode().strip())
        event.set()


async def wait_for(lines: list[str], changed: asyncio.Event, prefix: str, count: int, within: float) -> list[str]:
    deadline = time.monotonic() + within
    while True:
        found = [line for line in lines if line.startswith(prefix)]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {within}s for {count} x {prefix!r}; got {len(found)}")
        changed.clear()
        try:
            await asyncio.wait_for(changed.wait(), 1.0)
        except TimeoutError:
            pass


async def run_variant(variant: Variant, jobs: int, spacing: float, warm_s: float, python: str) -> Outcome:
    fake = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "lean_fake.py"), stdout=asyncio.subprocess.PIPE
    )
    fake_lines: list[str] = []
    fake_changed = asyncio.Event()
    fake_reader = asyncio.create_task(read_lines(fake.stdout, fake_lines, fake_changed))  # type: ignore[arg-type]
    port = (await wait_for(fake_lines, fake_changed, "port ", 1, 30))[0].split()[1]
    with tempfile.TemporaryDirectory() as folder:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "AZURE_OPENAI_ENDPOINT": f"http://127.0.0.1:{port}",
            "AZURE_OPENAI_API_KEY": "bench-key",
            "AZURE_OPENAI_DEPLOYMENT": "gpt-realtime",
            "DATABASE_URL": f"sqlite+aiosqlite:///{folder}/shop.db",
            "SHOPME_ENV_FILE": "/nonexistent",
            "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE": "0",
            **variant.env,
        }
        worker = await asyncio.create_subprocess_exec(
            python, str(THIS_FILE), "--drive", str(variant.checkout),
            "--jobs", str(jobs), "--spacing", str(spacing), "--warm", str(warm_s),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env,
            start_new_session=True,
        )
        lines: list[str] = []
        changed = asyncio.Event()
        reader = asyncio.create_task(read_lines(worker.stdout, lines, changed))  # type: ignore[arg-type]
        try:
            await wait_for(lines, changed, "done", 1, warm_s + jobs * spacing + 120)
            creates = await wait_for(fake_lines, fake_changed, "create ", jobs, 30)
        finally:
            os.killpg(worker.pid, 9)
            await worker.wait()
            fake.terminate()
            await fake.wait()
            reader.cancel()
            fake_reader.cancel()
    launches = [float(line.split()[2]) for line in lines if line.startswith("launch ")]
    # Jobs are seconds apart: the n-th greeting request belongs to the n-th job.
    requested = sorted(float(line.split()[2]) for line in creates)[:jobs]
    took = [(r - s) * 1000 for s, r in zip(launches, requested, strict=True)]
    idle = next(line for line in lines if line.startswith("memory idle")).split()
    busy = next(line for line in lines if line.startswith("memory busy")).split()
    bar = idle.index("|")
    return Outcome(
        first_ms=took[0],
        later_ms=took[1:],
        idle_rss_mb=float(idle[3]),
        idle_main_rss_mb=float(idle[2]),
        idle_children_private_mb=[float(v) for v in idle[bar + 1:]],
        busy_rss_mb=float(busy[3]),
        per_call_mb=(float(busy[4]) - float(idle[4])) / jobs,  # PSS of the whole tree, per call
    )


def describe(label: str, outcomes: list[Outcome]) -> str:
    firsts = [o.first_ms for o in outcomes]
    later = [ms for o in outcomes for ms in o.later_ms]
    ordered = sorted(later)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    idle_children = [mb for o in outcomes for mb in o.idle_children_private_mb]
    return (
        f"{label:16s} first job: median {statistics.median(firsts):6.1f} ms (runs: "
        f"{', '.join(f'{v:.0f}' for v in firsts)})\n"
        f"{'':16s} later jobs: p50 {statistics.median(later):6.1f} ms  p95 {p95:6.1f} ms  "
        f"max {ordered[-1]:6.1f} ms ({len(later)} jobs)\n"
        f"{'':16s} idle: worker process RSS "
        f"{statistics.median([o.idle_main_rss_mb for o in outcomes]):.0f} MB, whole tree RSS "
        f"{statistics.median([o.idle_rss_mb for o in outcomes]):.0f} MB"
        f" (idle job processes private MB: {', '.join(f'{v:.1f}' for v in idle_children) or 'none'})\n"
        f"{'':16s} added per call (PSS of the tree): "
        f"{statistics.median([o.per_call_mb for o in outcomes]):.1f} MB"
    )


async def main(args: argparse.Namespace) -> None:
    variants = [Variant("ours-loop", HERE.parent, {"SHOPME_WORKER_LAYOUT": "loop"}),
                Variant("ours-threads", HERE.parent, {"SHOPME_WORKER_LAYOUT": "threads"}),
                Variant("ours-processes", HERE.parent, {"SHOPME_WORKER_LAYOUT": "processes"})]
    if args.baseline:
        variants.append(Variant("livekit-default", args.baseline))
    if args.variants:
        variants = [v for v in variants if v.label in args.variants]
    print(f"workers run on {args.python}", flush=True)
    results: dict[str, list[Outcome]] = {v.label: [] for v in variants}
    for round_number in range(args.rounds):
        for variant in variants:
            outcome = await run_variant(variant, args.jobs, args.spacing, args.warm, args.python)
            results[variant.label].append(outcome)
            print(f"round {round_number + 1} {variant.label}: first {outcome.first_ms:.0f} ms, later "
                  f"{', '.join(f'{v:.0f}' for v in outcome.later_ms)} ms", flush=True)
    print()
    for variant in variants:
        print(describe(variant.label, results[variant.label]))
    print_import_floor(args.python)


def print_import_floor(python: str) -> None:
    """The floor under a worker that runs its calls (`loop`, `threads`), measured in this run."""
    for label, mb in import_floors(python):
        print(f"{'floor':16s} {label:38s} {mb:5.0f} MB RSS")

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--spacing", type=float, default=2.0, help="seconds between job starts")
    parser.add_argument("--warm", type=float, default=12.0, help="seconds for the idle pool to warm")
    parser.add_argument("--baseline", type=lambda v: Path(v).resolve(),
                        help="a checkout of the project to run as livekit's default")
    parser.add_argument("--variants", nargs="+", help="run only these (ours-loop, ours-threads, "
                        "ours-processes, livekit-default)")
    parser.add_argument("--python", default=sys.executable,
                        help="the workers' interpreter, e.g. the one scripts/runtime-venv.sh prints")
    parser.add_argument("--drive", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        asyncio.run(drive(load_worker(args.drive), args.jobs, args.spacing, args.warm))
    else:
        asyncio.run(main(args))
