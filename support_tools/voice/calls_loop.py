"""The `loop` layout: every call of a worker is a task of one event loop, the worker's calls loop.

Why: with a thread per call (livekit-agents' thread executor) 50 threads per process queue for
the interpreter lock, and the model's audio reaches the caller tens of ms late at 100 calls on
2 cores; a process per call costs 30-40 MB each and saturates the cores first. One loop per
worker process, one worker per core, carries them with the least CPU and about 1 MB per call
(bench/capacity.py, README "Capacity").

livekit-agents has no such executor, so this module provides one: `CallsLoopJobExecutor` is the
framework's thread executor with one change, where the call runs. The worker side (IPC channel,
pings, shutdown, status) is the framework's own; the call side is the framework's job runner
(`_JobProc` behind `_ProcClient`), run as a task of the shared loop instead of in a thread
with a loop of its own. The runner's hand-shake and `setup_fnc` (the prewarm) block, so they
run in a short-lived thread, never on the shared loop.

Framework internals used (livekit-agents is pinned ~=1.8.9): the thread executor's attributes
that `_start` sets, `job_proc_lazy_main._JobProc`, `proc_client._ProcClient` and the name
`job_thread_executor.ThreadJobExecutor` that the process pool looks up.
tests/test_calls_loop.py fails if any of them changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import socket
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from livekit.agents import JobExecutorType
from livekit.agents.ipc import job_thread_executor
from livekit.agents.ipc.job_proc_lazy_main import _JobProc
from livekit.agents.ipc.proc_client import _ProcClient
from livekit.agents.telemetry import loop_monitor
from livekit.agents.utils.aio import duplex_unix

logger = logging.getLogger("shopme.worker")

# Every task a call creates, directly or through its children (they copy its context): cancelled
# when the call ends, as the framework's runner does when a call's own loop ends.
_CALL_TASKS: contextvars.ContextVar[set[asyncio.Task[Any]] | None] = contextvars.ContextVar(
    "shopme_call_tasks", default=None
)
_LEFTOVER_TIMEOUT_S = 10.0


def _task_factory(
    loop: asyncio.AbstractEventLoop,
    coro: Coroutine[Any, Any, Any],
    context: contextvars.Context | None = None,
) -> asyncio.Task[Any]:
    task = asyncio.Task(coro, loop=loop, context=context)
    tasks = context.get(_CALL_TASKS) if context is not None else _CALL_TASKS.get()
    if tasks is not None:
        tasks.add(task)  # also a strong reference: the loop holds its tasks only weakly
        task.add_done_callback(tasks.discard)
    return task


class CallsLoop:
    """One event loop, in a thread of its own, that runs every call of this process."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Lock()
        # The loop keeps only weak references to its tasks: a call's task must be held here, or
        # the garbage collector may destroy it mid-call.
        self._calls: set[asyncio.Task[None]] = set()

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._started:
            if self._loop is None:
                ready = threading.Event()
                threading.Thread(
                    target=self._run, args=(ready,), name="shopme_calls_loop", daemon=True
                ).start()
                ready.wait()
            if self._loop is None:
                raise RuntimeError("the calls loop did not start")
            return self._loop

    def _run(self, ready: threading.Event) -> None:
        try:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            loop.set_task_factory(_task_factory)
            # One pool for all calls (DNS lookups, the framework's clean-up): sized for many calls,
            # not the default of cores + 4 that a loop per call had to itself.
            loop.set_default_executor(ThreadPoolExecutor(32, thread_name_prefix="shopme_calls_io"))
            # as the framework's runners do: a callback over 100 ms is logged, and the
            # framework's monitor reports code that blocks the loop (here it delays every call)
            loop.slow_callback_duration = 0.1
            monitor = loop_monitor.start_monitoring(loop, name="calls")
            if monitor is not None:
                # Each job would make the monitor report in its own context; on a loop shared by
                # calls that blames the latest call for every stall and keeps it alive: report in
                # the loop's own context instead.
                monitor.set_report_context = lambda _context: None  # type: ignore[method-assign]
            self._loop = loop
            logger.info("calls run on one event loop in this worker process (layout loop)")
        finally:
            ready.set()
        loop.run_forever()

    def run_call(self, call_end: socket.socket, runner: _JobProc, ended: Callable[[], None]) -> None:
        """Run one call's job runner on this loop; `ended` is called once it has finished."""
        threading.Thread(
            target=self._prepare_then_run, args=(call_end, runner, ended), name="shopme_call_setup",
            daemon=True,
        ).start()

    def _prepare_then_run(
        self, call_end: socket.socket, runner: _JobProc, ended: Callable[[], None]
    ) -> None:
        client = _ProcClient(call_end, None, runner.initialize, runner.entrypoint)
        try:
            client.initialize()  # blocking: the worker's hand-shake and the runner's prewarm
        except BaseException:
            logger.exception("a call runner failed to prepare")
            with contextlib.suppress(OSError):
                call_end.close()
            ended()
            return
        self.loop().call_soon_threadsafe(self._start_call, client, ended)

    def _start_call(self, client: _ProcClient, ended: Callable[[], None]) -> None:
        """On the calls loop: the call's task, held until it ends, in a context of its own that
        collects every task the call starts."""
        context = contextvars.copy_context()
        context.run(_CALL_TASKS.set, set())
        call = asyncio.get_running_loop().create_task(
            self._run_call(client), name="shopme_call", context=context
        )
        self._calls.add(call)
        call.add_done_callback(self._calls.discard)
        call.add_done_callback(lambda _: ended())

    @staticmethod
    async def _run_call(client: _ProcClient) -> None:
        try:
            await client._monitor_task()
        except Exception:
            logger.exception("a call's runner failed")
        finally:
            await _cancel_leftovers(_CALL_TASKS.get() or set())


async def _cancel_leftovers(tasks: set[asyncio.Task[Any]]) -> None:
    """Cancel what the ended call left running (it would keep the whole call in memory)."""
    leftovers = [task for task in tasks if task is not asyncio.current_task() and not task.done()]
    for task in leftovers:
        task.cancel()
    if leftovers:
        await asyncio.wait(leftovers, timeout=_LEFTOVER_TIMEOUT_S)


CALLS_LOOP = CallsLoop()


class CallsLoopJobExecutor(job_thread_executor.ThreadJobExecutor):
    """The framework's thread executor, whose call runs on the worker's calls loop."""

    async def _start(self) -> None:
        async with self._lock:
            worker_end, call_end = socket.socketpair()
            try:
                self._pch = await duplex_unix._AsyncDuplex.open(worker_end)
            except BaseException:
                worker_end.close()
                call_end.close()
                raise
            self._join_fut = asyncio.Future[None]()
            runner = _JobProc(
                self._opts.initialize_process_fnc,
                self._opts.job_entrypoint_fnc,
                self._opts.session_end_fnc,
                session_end_timeout=self._opts.session_end_timeout,
                executor_type=JobExecutorType.THREAD,
                user_arguments=self._user_args,
                simulation_end_fnc=self._opts.simulation_end_fnc,
            )
            CALLS_LOOP.run_call(call_end, runner, self._call_ended)
            self._main_atask = asyncio.create_task(self._main_task())

    async def initialize(self) -> None:
        try:
            await super().initialize()
        except asyncio.CancelledError:
            # The pool cancels a runner still preparing when the worker stops. The framework
            # leaves the runner's start-up pending then, and closing it would wait forever.
            if not self._initialize_fut.done():
                self._initialize_fut.set_exception(RuntimeError("runner start-up was cancelled"))
            raise

    def _call_ended(self) -> None:
        """From the calls loop or the set-up thread: wake the worker side of this executor."""
        with contextlib.suppress(RuntimeError):  # the worker's loop is already closed
            self._loop.call_soon_threadsafe(_resolve, self._join_fut)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def use_calls_loop() -> None:
    """Make the worker's process pool run its thread-executor jobs on the calls loop (the
    worker's `job_executor_type` is THREAD under the `loop` layout). Process-wide: the layout
    is the worker's."""
    job_thread_executor.ThreadJobExecutor = CallsLoopJobExecutor  # type: ignore[misc]
