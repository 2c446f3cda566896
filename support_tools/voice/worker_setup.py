"""How the worker holds its calls, and what it builds before a call arrives instead of during it.

Layout (`SHOPME_WORKER_LAYOUT`; README "Capacity" has the measurements):

- `loop` (default): every call is a task of one event loop in the worker process, its calls
  loop (calls_loop.py). About 0.5 MB per call and the least CPU per call: 150 calls on 2 cores
  with one worker per core (bench/capacity.py). Calls share one interpreter: code that blocks
  delays every call of the worker, and a worker that crashes ends all of its calls (their
  records stay in the spool for the next worker). Run one worker per core.
- `threads`: every call is a thread with its own event loop (livekit-agents' thread executor);
  more CPU than `loop` and late audio above about 50 calls per core, from the threads queueing
  for the interpreter lock.
- `processes`: every call gets a process of its own (livekit-agents' process executor). A crash,
  a leak or blocking code stays inside one call, and `SHOPME_JOB_MEMORY_LIMIT_MB` can end just
  that call; about 30-40 MB and a native-client start per call.

Whatever the layout, an idle runner is prepared before a job is assigned to it (`prewarm`): settings, the
store's engine, the realtime model object, the wire and tool models and the native audio client,
so a call starts by connecting to the model, not by importing and building. Under `processes`,
the modules every call needs are imported once in the forkserver (`preload_modules`) and shared
copy-on-write; the PostgreSQL driver only when `DATABASE_URL` is a PostgreSQL URL. The forkserver
also builds one prepared call (`preload_call`), which every call process inherits copy-on-write
and takes as its own, instead of building a private one after its fork (README "Benchmarks":
an idle call process holds about 11 MB of its own memory, not 19 MB).

This module is imported by the worker process of every layout, which under `processes` runs no
call: what only a call or a runner needs (SQLAlchemy, the realtime plugin, the wire models) is
imported inside the functions that need it.
"""

from __future__ import annotations

import gc
import importlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from livekit.agents import JobExecutorType, JobProcess

from ..settings import ConfigError, Settings, load_settings
from .calls_loop import use_calls_loop

if TYPE_CHECKING:
    from ..domain.rules import ShopRules
    from ..store.database import Store

LAYOUT_VARIABLE = "SHOPME_WORKER_LAYOUT"
# `loop` runs on the framework's thread executor, its calls moved onto one loop (calls_loop.py).
LAYOUTS = {
    "loop": JobExecutorType.THREAD,
    "threads": JobExecutorType.THREAD,
    "processes": JobExecutorType.PROCESS,
}
# The most calls per core at the least memory (bench/capacity.py); `processes` for isolation.
DEFAULT_LAYOUT = "loop"
_PREPARED_KEY = "shopme.prepared_call"

# Imported by the forkserver under `processes`; every call needs them. `preload_warm` also
# builds the wire and tool models there once, shared by every call process; `preload_call`, last,
# one prepared call.
_CALL_MODULES = [
    "support_tools.voice.preload_warm",
    "support_tools.voice.call",
    "support_tools.voice.model",
    "support_tools.voice.agent",
    "support_tools.voice.recorder",
    "support_tools.voice.escalation_flow",
    "support_tools.voice.worker_setup",
    "support_tools.domain.service",
    "sqlalchemy.ext.asyncio",
    "sqlalchemy.dialects.sqlite.aiosqlite",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "aiosqlite",
]
_POSTGRES_MODULES = ["sqlalchemy.dialects.postgresql.asyncpg", "asyncpg"]
_FORKSERVER_CALL_MODULE = "support_tools.voice.preload_call"


def worker_layout(env: Mapping[str, str] | None = None) -> str:
    """The configured layout; a value other than `loop`, `threads` or `processes` is a
    ConfigError."""
    env = os.environ if env is None else env
    layout = (env.get(LAYOUT_VARIABLE) or "").strip().lower() or DEFAULT_LAYOUT
    if layout not in LAYOUTS:
        raise ConfigError(LAYOUT_VARIABLE, "is not a known layout", "use loop, threads or processes")
    return layout


def _layout_or_default(env: Mapping[str, str]) -> str:
    """The layout; a wrong one falls back to the default here, where start-up validation
    (`worker_layout`) has already refused it with one clear line."""
    try:
        return worker_layout(env)
    except ConfigError:
        return DEFAULT_LAYOUT


def calls_run_here(command: str, env: Mapping[str, str] | None = None) -> bool:
    """Whether the calls of `python agent.py <command>` run in the worker process itself: in
    `console` (livekit-agents runs its job in a thread) and in the `loop` and `threads`
    layouts. Under `processes` they run in processes forked from the forkserver, never in the
    worker's."""
    env = os.environ if env is None else env
    return command == "console" or _layout_or_default(env) != "processes"


def import_call_modules() -> None:
    """Where calls run in the worker process (`calls_run_here`): import what they need at
    start-up, on the main thread, where livekit-agents lets its plugins register (a runner thread
    may not), and before a call waits on it."""
    for name in _CALL_MODULES:
        importlib.import_module(name)


def preload_modules(database_url: str, entry_module: str | None = None) -> list[str]:
    """What the forkserver imports for every call process: the module holding the room
    entrypoint (`__main__` for `python agent.py`), the call's modules, the database driver the
    URL names, and last the prepared call built from them."""
    modules = [entry_module] if entry_module else []
    modules += _CALL_MODULES
    if database_url.startswith("postgresql"):
        modules += _POSTGRES_MODULES
    return [*modules, _FORKSERVER_CALL_MODULE]


def server_options(
    env: Mapping[str, str] | None = None, *, entry_module: str | None = None
) -> dict[str, Any]:
    """Keyword arguments for `AgentServer`."""
    env = os.environ if env is None else env
    layout = _layout_or_default(env)
    if layout == "loop":
        use_calls_loop()
    return {
        "job_executor_type": LAYOUTS[layout],
        "setup_fnc": prewarm,
        "preload_modules": preload_modules(env.get("DATABASE_URL") or "", entry_module),
    }


@dataclass
class PreparedCall:
    """What one call needs and an idle runner built in advance."""

    settings: Settings
    rules: ShopRules
    store: Store
    model: Any  # the realtime model object; it connects when the session starts


def prepare_call() -> PreparedCall:
    from ..store.database import Store
    from .model import build_realtime_model
    from .startup import rules_from_settings

    settings = load_settings()
    return PreparedCall(
        settings=settings,
        rules=rules_from_settings(settings),
        store=Store.create(settings.database_url),
        model=build_realtime_model(settings),
    )


# The call the forkserver prepared (`preload_call`): every call process forked from it holds a
# copy-on-write copy, and takes it once. None in the worker process and under `loop`/`threads`.
_forked_call: PreparedCall | None = None


def prepare_call_for_forks() -> None:
    """In the forkserver only: build the call every call process will take as its own. On any
    failure the call processes build their own (and report the error there, where it belongs)."""
    global _forked_call
    try:
        _forked_call = prepare_call()
    except Exception:
        _forked_call = None


def _take_forked_call() -> PreparedCall | None:
    global _forked_call
    prepared, _forked_call = _forked_call, None
    return prepared


def prewarm(proc: JobProcess) -> None:
    """The runner's setup function: runs in an idle runner, before any job is assigned to it."""
    forked = _take_forked_call()
    proc.userdata[_PREPARED_KEY] = forked or prepare_call()
    # A call process forked from the forkserver has the native library mapped already (livekit's
    # own preload): its client then starts in about 5 ms with the call's room, and an idle
    # process does not hold its threads and buffers (about 1.5 MB each, README "Benchmarks").
    warm_process(start_native_client=forked is None)


# Under `loop` and `threads` several runners prepare at once, in threads of one process; the
# native client's first start is not thread-safe (two at once crashed the process).
_warming = threading.Lock()


def warm_process(*, start_native_client: bool = True) -> None:
    """One-time work of the first call in a process, done before a call waits on it."""
    from livekit import rtc

    with _warming:
        warm_wire_models()
        # The native audio client's first start loads its library (hundreds of ms): here, not
        # in a call.
        if start_native_client:
            rtc.AudioResampler(input_rate=48_000, output_rate=24_000, num_channels=1)
        _freeze_start_up_objects()


_start_up_frozen = threading.Event()


def _freeze_start_up_objects() -> None:
    """Everything built before the first call lives as long as the process: keep it out of the
    garbage collector's full passes, which otherwise scan it all and stall every call for
    100-200 ms. Once per process, before any call: frozen objects are never collected, so a
    later freeze would keep the calls then running (their cycles) for good."""
    if not _start_up_frozen.is_set():
        _start_up_frozen.set()
        gc.freeze()


_wire_models_warm = threading.Event()


def warm_wire_models() -> None:
    """Complete the pydantic models of the realtime wire (the OpenAI SDK's `realtime` types) and
    of livekit's chat context, which pydantic builds lazily on first use: about 150 ms of a
    call's first greeting otherwise; here about 30 ms and 3 MB, once per process image. A call
    process forked after the forkserver did it skips it: walking the models again would only
    copy the pages that hold them (about 1.3 MB per process)."""
    if _wire_models_warm.is_set():
        return
    _wire_models_warm.set()
    import openai.types.realtime as realtime_wire
    import pydantic
    from livekit.agents import llm as livekit_llm

    for namespace in (realtime_wire, livekit_llm):
        for name in dir(namespace):
            model = getattr(namespace, name)
            if isinstance(model, type) and issubclass(model, pydantic.BaseModel):
                if not model.__pydantic_complete__:
                    model.model_rebuild()


def take_prepared_call(proc: JobProcess) -> PreparedCall:
    """The call prepared by `prewarm` for this runner (each runner serves one job), or a new one
    where no runner prepared it."""
    prepared = proc.userdata.pop(_PREPARED_KEY, None)
    return prepared if isinstance(prepared, PreparedCall) else prepare_call()
