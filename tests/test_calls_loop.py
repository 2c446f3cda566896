"""The `loop` layout's executor against the installed livekit-agents: calls prepared by the
runner's setup function, run at once as tasks of one loop (not the worker's, not a thread each),
and each ended with its executor joined. Fails if the framework internals it relies on change
(support_tools/voice/calls_loop.py)."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time

from livekit.agents import JobContext, JobExecutorType, JobProcess
from livekit.agents.ipc import proc_pool
from livekit.agents.ipc.job_executor import JobStatus
from livekit.agents.job import JobAcceptArguments, RunningJobInfo
from livekit.protocol import agent, models

from support_tools.voice.calls_loop import CALLS_LOOP, CallsLoopJobExecutor, use_calls_loop


def fake_job(job_id: str) -> RunningJobInfo:
    return RunningJobInfo(
        accept_arguments=JobAcceptArguments(name="agent", identity=f"agent-{job_id}", metadata=""),
        job=agent.Job(id=job_id, room=models.Room(name=f"room-{job_id}"), type=agent.JobType.JT_ROOM),
        url="ws://127.0.0.1:1",
        token="",
        worker_id="worker",
        fake_job=True,
    )


class TwoCalls:
    """Entry point and setup function recording where each call ran; each call ends only once
    both are running, so they must run at the same time."""

    def __init__(self) -> None:
        self.prepared: list[str] = []
        self.ran_on: list[tuple[str, asyncio.AbstractEventLoop]] = []
        self.both_running: asyncio.Event | None = None

    def setup(self, proc: JobProcess) -> None:
        proc.userdata["prepared_in"] = threading.current_thread().name
        self.prepared.append(threading.current_thread().name)

    async def entrypoint(self, ctx: JobContext) -> None:
        self.ran_on.append((threading.current_thread().name, asyncio.get_running_loop()))
        if self.both_running is None:
            self.both_running = asyncio.Event()
        if len(self.ran_on) == 2:
            self.both_running.set()
        await asyncio.wait_for(self.both_running.wait(), timeout=10)
        ctx.shutdown(reason="done")


def executor(calls: TwoCalls, close_timeout: float = 10) -> CallsLoopJobExecutor:
    return CallsLoopJobExecutor(
        initialize_process_fnc=calls.setup,
        job_entrypoint_fnc=calls.entrypoint,
        session_end_fnc=None,
        simulation_end_fnc=None,
        inference_executor=None,
        initialize_timeout=10,
        close_timeout=close_timeout,
        session_end_timeout=10,
        ping_interval=2.5,
        high_ping_threshold=0.5,
        http_proxy=None,
        loop=asyncio.get_running_loop(),
    )


async def test_two_calls_run_at_once_on_the_calls_loop_and_each_executor_ends() -> None:
    calls = TwoCalls()
    executors = [executor(calls), executor(calls)]
    for runner in executors:
        await runner.start()
        await runner.initialize()  # the setup function ran, off the calls loop
    for index, runner in enumerate(executors):
        await runner.launch_job(fake_job(f"job-{index}"))
    await asyncio.wait_for(asyncio.gather(*(runner.join() for runner in executors)), timeout=20)

    assert calls.prepared == ["shopme_call_setup", "shopme_call_setup"]
    assert [thread for thread, _ in calls.ran_on] == ["shopme_calls_loop", "shopme_calls_loop"]
    assert {loop for _, loop in calls.ran_on} == {CALLS_LOOP.loop()}
    assert CALLS_LOOP.loop() is not asyncio.get_running_loop()
    assert [runner.status for runner in executors] == [JobStatus.SUCCESS, JobStatus.SUCCESS]
    assert CALLS_LOOP.loop().is_running()  # the loop outlives its calls, for the next ones


async def test_a_runner_whose_setup_fails_ends_without_running_a_call() -> None:
    calls = TwoCalls()

    def failing_setup(proc: JobProcess) -> None:
        raise RuntimeError("the store is unreachable")

    calls.setup = failing_setup  # type: ignore[method-assign]
    runner = executor(calls)
    await runner.start()
    try:
        await runner.initialize()
    except Exception:
        pass  # the framework reports the failed initialisation; the executor must still end
    await asyncio.wait_for(runner.join(), timeout=10)
    assert calls.ran_on == []


async def test_what_a_call_leaves_running_is_cancelled_when_it_ends() -> None:
    """A task a call started and forgot (a plugin's, ours) would keep running on the shared loop
    and keep the whole call in memory: it ends with the call."""
    calls = TwoCalls()
    calls.both_running = asyncio.Event()
    calls.both_running.set()
    forgotten: list[asyncio.Task[None]] = []
    entrypoint = calls.entrypoint

    async def leaves_a_task_behind(ctx: JobContext) -> None:
        async def forever() -> None:
            await asyncio.Event().wait()  # never set

        forgotten.append(asyncio.get_running_loop().create_task(forever()))
        await entrypoint(ctx)

    calls.entrypoint = leaves_a_task_behind  # type: ignore[method-assign]
    runner = executor(calls)
    await runner.start()
    await runner.initialize()
    await runner.launch_job(fake_job("leaves-a-task"))
    await asyncio.wait_for(runner.join(), timeout=20)
    [task] = forgotten
    assert task.cancelled()


async def test_a_runner_stopped_while_it_prepares_closes_in_time() -> None:
    """The worker stopping (SIGTERM) cancels runners still preparing; closing one must not wait
    forever (the framework's thread executor does)."""
    calls = TwoCalls()

    def slow_setup(proc: JobProcess) -> None:
        time.sleep(1.0)

    calls.setup = slow_setup  # type: ignore[method-assign]
    runner = executor(calls, close_timeout=1)
    await runner.start()
    preparing = asyncio.create_task(runner.initialize())
    await asyncio.sleep(0.2)
    preparing.cancel()  # as the process pool does when it closes
    await asyncio.wait_for(runner.aclose(), timeout=10)
    assert calls.ran_on == []


async def test_the_process_pool_runs_its_thread_jobs_on_the_calls_loop(monkeypatch) -> None:
    """What `use_calls_loop` relies on: the worker's pool builds its thread executors by the
    name it replaces, and a job launched through the pool runs on the calls loop."""
    monkeypatch.setattr(
        proc_pool.job_thread_executor, "ThreadJobExecutor", proc_pool.job_thread_executor.ThreadJobExecutor
    )
    use_calls_loop()
    calls = TwoCalls()
    calls.both_running = asyncio.Event()
    calls.both_running.set()  # one call is enough here
    pool = proc_pool.ProcPool(
        initialize_process_fnc=calls.setup,
        job_entrypoint_fnc=calls.entrypoint,
        session_end_fnc=None,
        simulation_end_fnc=None,
        num_idle_processes=1,
        loop=asyncio.get_running_loop(),
        job_executor_type=JobExecutorType.THREAD,
        inference_executor=None,
        mp_ctx=multiprocessing.get_context("spawn"),
        initialize_timeout=10,
        close_timeout=10,
        session_end_timeout=10,
        memory_warn_mb=0,
        memory_limit_mb=0,
        http_proxy=None,
    )
    await pool.start()
    try:
        await pool.launch_job(fake_job("pool-job"))
        [runner] = [p for p in pool.processes if p.running_job]
        assert isinstance(runner, CallsLoopJobExecutor)
        await asyncio.wait_for(runner.join(), timeout=20)
        assert calls.ran_on == [("shopme_calls_loop", CALLS_LOOP.loop())]
    finally:
        await pool.aclose()
