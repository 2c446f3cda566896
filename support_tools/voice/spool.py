"""The conversation record, on local disk first: nothing is lost when the store or the process is.

Each session appends to its own file under `SHOPME_SPOOL_DIR` as the call goes: one JSON line
for the session, then one per transcript entry (already masked: see ConversationLog), a line
whenever the caller's identity or ticket changes, and at the end the complete record. The file
is removed once its record is in the store.

A live session holds an exclusive `flock` on its file; the kernel drops it when the process
ends, however it ends (SIGKILL included). So a file nobody holds belongs to a session that is
over: `move_spooled_records` stores its record (the complete one, or one rebuilt from the lines)
and removes the file. The worker runs it at start and then every few seconds, so records wait
out a store outage on disk and reach the store as soon as it is back.

Writes are plain appends (no fsync per line): they survive the process being killed, not the
machine losing power mid-call; the final record line is fsynced.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ..domain.caller import CallerState
from .conversation_log import ConversationLog

logger = logging.getLogger("shopme.spool")

SUFFIX = ".jsonl"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def spool_path(directory: Path, session_id: str) -> Path:
    return directory / f"{_UNSAFE.sub('_', session_id)[:120]}{SUFFIX}"


class SessionSpool:
    """The append-only file of one live session."""

    def __init__(self, directory: str | Path, caller: CallerState, started_at: datetime) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = spool_path(directory, caller.session_id)
        self._caller = caller
        # Read and write: the transcript is read back through this descriptor at the end of the
        # call, never through a second open (which can fail when the process is out of them).
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours until this process ends
        self._written_caller: tuple[str | None, ...] = (None, None, caller.room)
        self._append({
            "kind": "session", "session_id": caller.session_id, "room": caller.room,
            "started_at": started_at.isoformat(), "pid": os.getpid(),  # which process writes it
        })

    def _append(self, line: dict[str, Any]) -> None:
        if self._fd is None:
            raise OSError("the spool file is closed")
        data = (json.dumps(line, ensure_ascii=False, default=str) + "\n").encode()
        while data:  # a short write (a nearly full disk) goes on, or raises
            data = data[os.write(self._fd, data):]

    def append_entry(self, entry: dict[str, Any]) -> None:
        """The caller's state if it changed, then the entry (ConversationLog's archive)."""
        caller = (self._caller.customer_id, self._caller.ticket_number, self._caller.room)
        if caller != self._written_caller:
            self._append({"kind": "caller", "customer_id": caller[0], "ticket_number": caller[1], "room": caller[2]})
            self._written_caller = caller
        self._append({"kind": "entry", "entry": entry})

    def read_entries(self) -> list[dict[str, Any]]:
        """The transcript entries this file holds, in order (the record is built from them).
        Raises OSError if the file cannot be read."""
        if self._fd is None:
            raise OSError("the spool file is closed")
        return [line["entry"] for line in _read_lines(self._fd) if _is_entry(line)]

    async def ended(self, record: dict[str, Any]) -> None:
        """The complete record, as the store is about to be given it. Its fsync runs in a thread:
        under the `loop` layout this loop carries every call of the worker."""
        try:
            self._append({"kind": "record", "record": record})
            fd = self._fd
            await asyncio.to_thread(os.fsync, fd)  # type: ignore[arg-type]
        except OSError as error:  # the entries are on disk already; the store is tried anyway
            logger.warning("could not spool the complete record (%s)", type(error).__name__)

    def stored(self) -> None:
        """The record is in the store: the file goes (before its lock does)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def attach_spool(log: ConversationLog, caller: CallerState, directory: str | Path) -> SessionSpool:
    spool = SessionSpool(directory, caller, log.started_at)
    log.archive = spool  # the transcript lives in the file, not in memory
    return spool


# --- recovery --------------------------------------------------------------------------------


class RecordSink(Protocol):
    async def save_conversation_record(self, record: dict) -> str: ...


@dataclass
class SpooledRecord:
    path: Path
    record: dict[str, Any]


def _moment(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def record_from_lines(lines: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The complete record when the session wrote it, else one rebuilt from what it did write."""
    complete = [line["record"] for line in lines if line.get("kind") == "record" and isinstance(line.get("record"), dict)]
    if complete:
        return complete[-1]
    header = next((line for line in lines if line.get("kind") == "session"), None)
    if header is None or not header.get("session_id"):
        return None
    started = _moment(header.get("started_at")) or datetime.now(UTC)
    log = ConversationLog(started_at=started)
    customer_id = ticket_number = None
    room = header.get("room")
    for line in lines:
        if _is_entry(line):
            log.restore(line["entry"])
        elif line.get("kind") == "caller":
            customer_id, ticket_number = line.get("customer_id"), line.get("ticket_number")
            room = line.get("room") or room
    last_seen = [_moment(e.get("at")) for e in log.entries]
    ended = max([m for m in last_seen if m is not None], default=started)
    return log.to_record(
        session_id=str(header["session_id"]), room=room, customer_id=customer_id,
        ticket_number=ticket_number, ended_at=ended,
    )


def _is_entry(line: dict[str, Any]) -> bool:
    """A transcript entry line, as `append_entry` writes it."""
    return line.get("kind") == "entry" and isinstance(line.get("entry"), dict)


def _parse_lines(data: bytes) -> list[dict[str, Any]]:
    lines = []
    for raw in data.splitlines():
        with contextlib.suppress(ValueError):  # a line cut short by a kill: skip it
            line = json.loads(raw)
            if isinstance(line, dict):
                lines.append(line)
    return lines


def _read_lines(fd: int) -> list[dict[str, Any]]:
    """Every line of the file open at `fd`, from its start (positional reads: no new descriptor,
    and the descriptor's own offset is left alone)."""
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return _parse_lines(b"".join(chunks))


async def move_spooled_records(directory: str | Path, sink: RecordSink) -> list[str]:
    """Store the record of every session whose file nobody holds, then remove the file.
    Returns the session ids moved. Stops at the first store failure (try again later)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    moved = []
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # its session just stored it
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live session
            if not path.exists():
                continue
            record = record_from_lines(_read_lines(fd))
            if record is None:
                logger.warning("spool file %s holds no session: left in place", path.name)
                continue
            await sink.save_conversation_record(record)  # raises while the store is down
            path.unlink()
            moved.append(str(record["session_id"]))
        finally:
            os.close(fd)
    if moved:
        logger.info("moved %d spooled conversation record(s) into the store", len(moved))
    return moved


def has_spooled_records(directory: str | Path) -> bool:
    directory = Path(directory)
    return directory.is_dir() and any(directory.glob(f"*{SUFFIX}"))
