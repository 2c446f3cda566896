"""pytest fixtures for the double, and a real agent worker process run against it.

    from tests.livekit_server.fixtures import livekit_server   # a started double per test

`WorkerProcess` runs a worker command (e.g. `python agent.py dev`) with LIVEKIT_URL and the key
pair pointing at the double, logs to a file, and waits until the double has seen it register.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import pytest_asyncio

from .server import LiveKitServerDouble

ROOT = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture
async def livekit_server() -> AsyncIterator[LiveKitServerDouble]:
    async with LiveKitServerDouble() as double:
        yield double


class WorkerProcess:
    """One worker subprocess registered with `double`; `await stop()` ends it (SIGINT, then kill)."""

    def __init__(
        self,
        double: LiveKitServerDouble,
        args: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        agent_name: str,
    ) -> None:
        self.double = double
        self.args = list(args)
        self.env = {
            **os.environ,
            "LIVEKIT_URL": double.url,
            "LIVEKIT_API_KEY": double.api_key,
            "LIVEKIT_API_SECRET": double.api_secret,
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.log_path = log_path
        self.agent_name = agent_name
        self.process: subprocess.Popen[bytes] | None = None
        self.worker_id: str | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def start(self, timeout: float = 60.0) -> WorkerProcess:  # noqa: ASYNC109
        known = set(self.double.workers)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: ASYNC220 (started once, not awaited)
                [sys.executable, *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its job processes go with it
            )

        def registered() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"worker exited with {self.process.returncode}:\n{self.log()[-4000:]}"
                )
            fresh = [
                w for w in self.double.workers.values()
                if w.id not in known and w.agent_name == self.agent_name
            ]
            if fresh:
                self.worker_id = fresh[0].id
            return bool(fresh)

        try:
            await self.double.wait_for(registered, timeout, "the worker to register")
        except AssertionError as error:
            await self.stop()
            raise AssertionError(f"{error}\n--- worker log ---\n{self.log()[-4000:]}") from None
        return self

    async def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        for _ in range(100):
            if process.poll() is not None:
                break
            await asyncio.sleep(0.1)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
