"""Memory of `python agent.py console --text` once it is ready, with and without the framework's
preloaded local VAD / turn-detector models (a realtime-model agent uses neither), and in the same
run what the framework's own imports cost a fresh interpreter (the floor under the console).

The console runs on this interpreter, or on `--python`'s: a runtime-only environment made by
`scripts/runtime-venv.sh` holds what the Docker image installs and no test tools.

    .venv/bin/python bench/bench_console_memory.py [--python "$(bash scripts/runtime-venv.sh)"]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from procmem import import_floors, tree_memory  # noqa: E402

from tests import console_pty  # noqa: E402
from tests.console_pty import ConsoleProcess  # noqa: E402
from tests.fake_azure import FakeAzureRealtime  # noqa: E402
from tests.test_console_text import console_env  # noqa: E402


async def measure(preload: str) -> float:
    with tempfile.TemporaryDirectory() as folder:
        async with FakeAzureRealtime() as fake:
            env = console_env(fake, f"sqlite+aiosqlite:///{folder}/shop.db")
            env["LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE"] = preload
            async with ConsoleProcess.spawn(env) as console:
                await console.wait_for_text("Type to talk to your agent", timeout=60)
                await fake.wait_for_sent("response.done", timeout=30)
                rss = sum(m.rss_mb for m in tree_memory(console.process.pid))
                await console.quit()
    return rss


async def main(python: str) -> None:
    console_pty.PYTHON = Path(python)  # the interpreter ConsoleProcess starts agent.py with
    print(f"console runs on {python}")
    for preload, label in (("0", "preload off (the project's default)"), ("1", "preload on")):
        print(f"console --text, {label}: {await measure(preload):.0f} MB RSS")
    for label, mb in import_floors(python):
        print(f"floor: {label:38s} {mb:5.0f} MB RSS")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable,
                        help="the console's interpreter, e.g. the one scripts/runtime-venv.sh prints")
    asyncio.run(main(parser.parse_args().python))
