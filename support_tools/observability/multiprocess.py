"""Prometheus multiprocess mode for a worker whose calls run in job processes.

livekit-agents serves `/metrics` on its `prometheus_port` from the files of every process in
`PROMETHEUS_MULTIPROC_DIR`, so counters recorded in job processes reach one endpoint. The variable
must be set before `prometheus_client` is first imported, or the worker's own process keeps its
values in memory, where that endpoint never looks. This module imports neither LiveKit nor
`prometheus_client`, so `agent.py` can call it first.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import MutableMapping

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def prepare_metrics_directory(
    command: str, environ: MutableMapping[str, str] | None = None
) -> str | None:
    """Point prometheus_client at a directory of its own for a `dev`/`start` worker with metrics.

    A directory already named in the environment is kept: the job processes of this worker import
    `agent.py` again and must share it, and an operator may choose one (one per worker process,
    since a worker empties it when it starts). Otherwise this worker gets a fresh one, removed
    when it exits.
    """
    environ = os.environ if environ is None else environ
    if environ.get(MULTIPROC_DIR):
        os.makedirs(environ[MULTIPROC_DIR], exist_ok=True)
        return environ[MULTIPROC_DIR]
    if command not in ("dev", "start") or not (environ.get("SHOPME_METRICS_PORT") or "").strip():
        return None
    path = tempfile.mkdtemp(prefix="shopme-metrics-")
    environ[MULTIPROC_DIR] = path
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path
