"""Run `python agent.py console --text` in a pseudo-terminal and drive it like a person would.

    async with ConsoleProcess.spawn(env) as console:
        await console.wait_for_text("Type to talk to your agent")
        mark = console.mark()
        console.type_line("Where is my order?")
        await console.wait_for_text("shipped", after=mark)  # only output printed after typing
        await console.quit()                 # Ctrl-C, then waits for the process to exit

The pty is read from the test's event loop (`loop.add_reader`), so an in-process fake server
keeps serving while the test waits. The child leads its own session with the pty as controlling
terminal, so Ctrl-C typed into it raises SIGINT exactly as in a real terminal. Leaving the
context kills the child's process group if it is still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import termios
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
COLUMNS, LINES = 120, 40
CTRL_C = b"\x03"

# CSI sequences (colours, cursor moves), OSC sequences (titles, links), two-byte escapes.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    """What a person reads on the screen, roughly: no escape sequences, no carriage returns."""
    return _ANSI.sub("", text).replace("\r", "")


def _take_terminal() -> None:
    """In the child, after setsid: make the pty (stdin) the controlling terminal, so ^C signals."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _start_in_pty(
    env: Mapping[str, str], args: tuple[str, ...]
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `agent.py ARGS` with a fresh pty as its terminal; returns the process and master fd."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    try:
        process = subprocess.Popen(
            [str(PYTHON), "agent.py", *args],
            cwd=ROOT,
            env=dict(env),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=_take_terminal,
        )
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    return process, master


async def poll_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


class ConsoleProcess:
    def __init__(self, process: subprocess.Popen[bytes], master_fd: int) -> None:
        self.process = process
        self._master = master_fd
        self._raw = bytearray()
        self._loop = asyncio.get_running_loop()
        os.set_blocking(master_fd, False)
        self._loop.add_reader(master_fd, self._read)
        self._reading = True

    @classmethod
    @contextlib.asynccontextmanager
    async def spawn(
        cls, env: Mapping[str, str], args: tuple[str, ...] = ("console", "--text")
    ) -> AsyncIterator[ConsoleProcess]:
        process, master = _start_in_pty(env, args)
        console = cls(process, master)
        try:
            yield console
        finally:
            console._kill()
            console._close()

    # --- the screen ---

    @property
    def output(self) -> str:
        """Everything printed so far, escape sequences removed."""
        return strip_ansi(self._raw.decode("utf-8", errors="replace"))

    def mark(self) -> int:
        """A position in `output`: pass it as `after` to look only at what is printed later."""
        return len(self.output)

    async def wait_for_text(self, text: str, *, after: int = 0, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        await self.wait_for_match(re.escape(text), after=after, timeout=timeout, what=repr(text))

    async def wait_for_match(
        self,
        pattern: str,
        *,
        after: int = 0,
        timeout: float = 30.0,  # noqa: ASYNC109 (a test helper's deadline)
        what: str | None = None,
    ) -> re.Match[str]:
        regex = re.compile(pattern)
        found: list[re.Match[str]] = []

        def seen() -> bool:
            self._raise_if_exited()
            match = regex.search(self.output, after)
            if match:
                found.append(match)
            return match is not None

        try:
            await poll_until(seen, timeout=timeout, what=f"{what or pattern} on the console")
        except AssertionError as missing:
            # Show what the screen did say, so a failure explains itself.
            raise AssertionError(f"{missing}; the console showed:\n{self.output[after:][-3000:]}") from None
        return found[0]

    # --- the keyboard ---

    def type_line(self, text: str) -> None:
        """Type `text` and press Enter (a terminal sends carriage return)."""
        os.write(self._master, text.encode() + b"\r")

    async def quit(self, *, timeout: float = 20.0) -> int:  # noqa: ASYNC109
        """Press Ctrl-C and wait for the process to exit; returns its exit code."""
        os.write(self._master, CTRL_C)
        await poll_until(
            lambda: self.process.poll() is not None, timeout=timeout, what="the console to exit"
        )
        await self._drain()
        return self.process.returncode

    # --- plumbing ---

    def _read(self) -> None:
        try:
            chunk = os.read(self._master, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: the child closed its side of the pty
            chunk = b""
        if chunk:
            self._raw.extend(chunk)
        else:
            self._stop_reading()

    async def _drain(self) -> None:
        """Collect the last output the child wrote before it exited."""
        await poll_until(lambda: not self._reading, timeout=5.0, what="the end of the output")

    def _raise_if_exited(self) -> None:
        if self.process.poll() is not None and not self._reading:
            tail = self.output[-3000:]
            raise AssertionError(f"console exited with {self.process.returncode}:\n{tail}")

    def _stop_reading(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._master)
            self._reading = False

    def _kill(self) -> None:
        """Kill the group this child leads (itself and anything it started), then reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def _close(self) -> None:
        self._stop_reading()
        os.close(self._master)
