"""Memory of a process tree from /proc: RSS, PSS and private memory per process (Linux)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ProcMemory:
    pid: int
    name: str
    rss_mb: float
    pss_mb: float
    private_mb: float


def _kb_fields(text: str) -> dict[str, int]:
    fields = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            fields[parts[0].rstrip(":")] = int(parts[1])
    return fields


def process_memory(pid: int) -> ProcMemory | None:
    try:
        rollup = _kb_fields(Path(f"/proc/{pid}/smaps_rollup").read_text())
        status = _kb_fields(Path(f"/proc/{pid}/status").read_text())
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    private = rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0)
    return ProcMemory(pid, name, status.get("VmRSS", 0) / 1024, rollup.get("Pss", 0) / 1024, private / 1024)


def descendants(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                children = [int(c) for c in (task / "children").read_text().split()]
                found.extend(children)
                pending.extend(children)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def tree_memory(pid: int) -> list[ProcMemory]:
    """The process itself first, then its descendants."""
    return [m for m in (process_memory(p) for p in [pid, *descendants(pid)]) if m is not None]


def import_floor_mb(python: str, modules: list[str], then: str = "") -> float:
    """RSS of a fresh interpreter that has imported `modules` (and run the statement `then`) and
    nothing else: what those packages cost by themselves, for comparison with a process that also
    does work."""
    import subprocess

    script = (
        f"import {', '.join(modules)}\n{then}\n"
        "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS:')))"
    )
    result = subprocess.run([python, "-c", script], capture_output=True, text=True, check=True)
    return int(result.stdout.strip()) / 1024


# What a process that runs calls holds before any of this project's code, step by step: the
# framework and its realtime plugin; the warm-up livekit-agents itself runs in every process that
# takes jobs (livekit.agents.ipc._preload: PyAV, the openai SDK's resources, an HTTP client); the
# store's SQLAlchemy (its asyncio extension brings the ORM) and SQLite driver; the native client's
# runtime (its threads), which every process that joins a room starts.
_FRAMEWORK = ["livekit.agents", "livekit.plugins.openai"]
_WARM_UP = [*_FRAMEWORK, "livekit.agents.ipc._preload"]
_STORE = [*_WARM_UP, "sqlalchemy.ext.asyncio", "aiosqlite"]
_NATIVE_RUNTIME = "from livekit.rtc._ffi_client import FfiClient\nassert FfiClient.instance\nimport time\ntime.sleep(0.5)"
FLOORS = [
    ("livekit.agents", ["livekit.agents"], ""),
    ("+ livekit.plugins.openai", _FRAMEWORK, ""),
    ("+ the framework's job warm-up", _WARM_UP, ""),
    ("+ sqlalchemy.ext.asyncio, aiosqlite", _STORE, ""),
    ("+ the native client's runtime started", _STORE, _NATIVE_RUNTIME),
]


def import_floors(python: str) -> list[tuple[str, float]]:
    """FLOORS measured in fresh interpreters of `python`, as agent.py runs (no local inference
    models preloaded)."""
    os.environ.setdefault("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")
    return [(label, import_floor_mb(python, modules, then)) for label, modules, then in FLOORS]
