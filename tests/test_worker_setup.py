"""The worker's layout setting, what an idle runner prepares for its call, and which database
driver a worker loads."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import weakref

import pytest
from livekit.agents import JobExecutorType
from livekit.agents.ipc import job_thread_executor

from support_tools.store.database import Store
from support_tools.voice import worker_setup
from support_tools.voice.calls_loop import CallsLoopJobExecutor
from support_tools.voice.worker_setup import (
    PreparedCall,
    prewarm,
    server_options,
    take_prepared_call,
    worker_layout,
)

from .conftest import ROOT
from .test_config import SECRET, assert_one_line_naming, run_agent


@pytest.fixture(autouse=True)
def thread_executor_restored(monkeypatch) -> None:
    """`server_options` under the `loop` layout replaces the thread executor the process pool
    builds, for the whole process (as in a worker): undone after each test here."""
    monkeypatch.setattr(job_thread_executor, "ThreadJobExecutor", job_thread_executor.ThreadJobExecutor)


def test_calls_share_the_calls_loop_unless_threads_or_processes_are_asked_for() -> None:
    assert worker_layout({}) == "loop"
    assert server_options({})["job_executor_type"] == JobExecutorType.THREAD
    assert job_thread_executor.ThreadJobExecutor is CallsLoopJobExecutor
    assert server_options({"SHOPME_WORKER_LAYOUT": " Threads "})["job_executor_type"] == JobExecutorType.THREAD
    assert server_options({"SHOPME_WORKER_LAYOUT": "processes"})["job_executor_type"] == JobExecutorType.PROCESS
    assert server_options({})["setup_fnc"] is prewarm


def test_an_unknown_layout_stops_start_up_with_one_line() -> None:
    env = {
        "AZURE_OPENAI_API_KEY": SECRET,
        "AZURE_OPENAI_ENDPOINT": "https://example-resource.openai.azure.com",
        "AZURE_OPENAI_DEPLOYMENT": "gpt-realtime",
        "SHOPME_WORKER_LAYOUT": "one-big-process",
    }
    assert_one_line_naming(run_agent(env, "console", "--text"), "SHOPME_WORKER_LAYOUT")


def test_the_postgresql_driver_is_preloaded_only_for_a_postgresql_store() -> None:
    sqlite = server_options({"DATABASE_URL": "sqlite+aiosqlite:///shop.db"})["preload_modules"]
    postgres = server_options({"DATABASE_URL": "postgresql+asyncpg://u:p@127.0.0.1/shop"})["preload_modules"]
    assert "asyncpg" not in sqlite and "asyncpg" in postgres
    assert "support_tools.voice.agent" in sqlite


def test_a_sqlite_worker_never_imports_the_postgresql_driver(tmp_path) -> None:
    """The worker as `agent.py` builds it, a runner prepared, a lookup made: no asyncpg loaded."""
    script = f"""
import asyncio, os, sys
os.environ.update(AZURE_OPENAI_API_KEY="k", AZURE_OPENAI_ENDPOINT="https://r.openai.azure.com",
                  AZURE_OPENAI_DEPLOYMENT="gpt-realtime", SHOPME_ENV_FILE="/nonexistent",
                  DATABASE_URL="sqlite+aiosqlite:///{tmp_path}/shop.db")
sys.path.insert(0, {str(ROOT)!r})
import agent
from support_tools.voice.startup import prepare_store
from support_tools.voice.worker_setup import prepare_call
from support_tools.domain.caller import CallerState
from support_tools.domain.service import SupportService
asyncio.run(prepare_store(os.environ["DATABASE_URL"]))
call = prepare_call()
async def lookup():
    await SupportService(call.store, call.rules).verify_customer(CallerState("s"), "482913", "560001")
    await call.store.close()
asyncio.run(lookup())
print(sorted(name for name in sys.modules if "asyncpg" in name or "postgresql" in name))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


WORKER_SCRIPT = """
import json, os, sqlite3, sys
os.environ.update(AZURE_OPENAI_API_KEY="k", AZURE_OPENAI_ENDPOINT="https://r.openai.azure.com",
                  AZURE_OPENAI_DEPLOYMENT="gpt-realtime", SHOPME_ENV_FILE="/nonexistent",
                  DATABASE_URL="sqlite+aiosqlite:///{database}", SHOPME_WORKER_LAYOUT="{layout}")
sys.path.insert(0, {root!r})
sys.argv = ["agent.py", "start"]
import agent
agent.prepare_store_before_start("start", os.environ["DATABASE_URL"])
orders = sqlite3.connect("{database}").execute("select count(*) from orders").fetchone()[0]
loaded = [name for name in ("sqlalchemy", "livekit.plugins.openai", "support_tools.voice.call")
          if name in sys.modules]
print(json.dumps({{"orders": orders, "loaded": loaded}}))
"""


def start_worker_process(layout: str, database) -> dict:
    """`python agent.py start` up to the point where the worker runs: module and store ready."""
    script = WORKER_SCRIPT.format(database=database, layout=layout, root=str(ROOT))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_processes_worker_never_loads_what_only_its_calls_need(tmp_path) -> None:
    """Its calls run in processes of their own: the worker process prepares the store (in a
    short-lived process) but loads neither the store, nor the realtime plugin, nor the call."""
    started = start_worker_process("processes", tmp_path / "shop.db")
    assert started["orders"] > 0  # schema created and demo data seeded
    assert started["loaded"] == []


@pytest.mark.parametrize("layout", ["loop", "threads"])
def test_a_worker_whose_calls_run_in_it_loads_their_modules_at_start_up(tmp_path, layout) -> None:
    """Its calls run in it: their modules are imported on the main thread before any call
    (livekit-agents refuses to register the realtime plugin from a runner's thread)."""
    started = start_worker_process(layout, tmp_path / "shop.db")
    assert started["orders"] > 0
    assert started["loaded"] == ["sqlalchemy", "livekit.plugins.openai", "support_tools.voice.call"]


class FakeProcess:
    def __init__(self) -> None:
        self.userdata: dict = {}


@pytest.fixture
def azure_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("OPENAI_API_VERSION", raising=False)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "k")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "gpt-realtime")
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/shop.db")


async def test_a_call_takes_what_its_runner_prepared_and_the_next_builds_its_own(azure_env) -> None:
    runner = FakeProcess()
    prewarm(runner)  # type: ignore[arg-type]
    prepared = runner.userdata[worker_setup._PREPARED_KEY]
    first = take_prepared_call(runner)  # type: ignore[arg-type]
    second = take_prepared_call(runner)  # type: ignore[arg-type]
    try:
        assert first is prepared
        assert isinstance(second, PreparedCall) and second is not first
        assert isinstance(first.store, Store) and first.store is not second.store
        assert first.settings.azure_deployment == "gpt-realtime"
    finally:
        await first.store.close()
        await second.store.close()


async def test_a_runner_prepared_while_a_call_runs_leaves_that_call_collectable(azure_env) -> None:
    """A long-running worker prepares runners while calls run; ended calls must be freed."""
    first, second = FakeProcess(), FakeProcess()
    prewarm(first)  # type: ignore[arg-type]  (the worker's first runner, before any call)

    class RunningCall:
        pass

    call = RunningCall()
    call.itself = call  # a call's objects reference each other (sessions, tasks, callbacks)
    still_there = weakref.ref(call)
    prewarm(second)  # type: ignore[arg-type]  (the next runner, prepared during that call)
    del call
    gc.collect()
    try:
        assert still_there() is None
    finally:
        for runner in (first, second):
            await take_prepared_call(runner).store.close()  # type: ignore[arg-type]


async def test_a_call_process_takes_the_call_its_forkserver_prepared_once(azure_env) -> None:
    """Under `processes` the forkserver builds one prepared call; each call process (a copy of
    the forkserver) takes it as its own instead of building a private one, and only once."""
    worker_setup.prepare_call_for_forks()
    forked = worker_setup._forked_call
    first, second = FakeProcess(), FakeProcess()
    prewarm(first)  # type: ignore[arg-type]
    prewarm(second)  # type: ignore[arg-type]
    taken, built = take_prepared_call(first), take_prepared_call(second)  # type: ignore[arg-type]
    try:
        assert isinstance(forked, PreparedCall)
        assert taken is forked
        assert built is not forked and built.store is not forked.store
    finally:
        await taken.store.close()
        await built.store.close()


def test_a_forkserver_that_cannot_prepare_a_call_leaves_it_to_the_call_processes(monkeypatch) -> None:
    """Settings the forkserver cannot read must not stop it: each call process then prepares
    its own call and reports the problem there."""
    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    worker_setup.prepare_call_for_forks()
    assert worker_setup._forked_call is None


def test_runners_preparing_at_once_in_one_process_do_not_crash_it() -> None:
    """Under `loop` and `threads` the idle runners prepare in threads of the worker process at
    the same moment; the native audio client's first start used to crash the process (SIGSEGV)
    when two of them raced to it. Each round is a fresh process, whose client has not started; a
    race, so without the guard this fails in most runs rather than every run."""
    script = f"""
import threading, sys
sys.path.insert(0, {str(ROOT)!r})
from support_tools.voice.worker_setup import warm_process, warm_wire_models
warm_wire_models()  # done, so that the runners reach the native client together
start = threading.Barrier(8)
def prepare():
    start.wait()
    warm_process()
threads = [threading.Thread(target=prepare) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print("prepared")
"""
    for _ in range(8):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert (done.returncode, done.stdout.strip()) == (0, "prepared"), done.stderr[-2000:]
