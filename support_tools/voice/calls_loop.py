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
import logging
import socket
import threading
from collections.abc import Callable

from livekit.agents import JobExecutorType
from livekit.agents.ipc import job_thread_executor
from livekit.agents.ipc.job_proc_lazy_main import _JobProc
from livekit.agents.ipc.proc_client import _ProcClient
from livekit.agents.telemetry import loop_monitor
from livekit.agents.utils.aio import duplex_unix

logger = logging.getLogger("shopme.worker")


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
            assert self._loop is not None
            return self._loop

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        # as the framework's runners do: a callback over 100 ms is logged, and the framework's
        # monitor reports code that blocks the loop (here it would delay every call)
        loop.slow_callback_duration = 0.1
        loop_monitor.start_monitoring(loop, name="calls")
        self._loop = loop
        logger.info("calls run on one event loop in this worker process (layout loop)")
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
        """On the calls loop: the call's task, held until it ends."""
        call = asyncio.get_running_loop().create_task(client._monitor_task(), name="shopme_call")
        self._calls.add(call)
        call.add_done_callback(self._calls.discard)
        call.add_done_callback(lambda _: ended())


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
