"""Prometheus multiprocess mode for a worker whose calls run in job processes.

livekit-agents serves `/metrics` on its `prometheus_port` from the files of every process in
`PROMETHEUS_MULTIPROC_DIR`, so counters recorded in job processes reach one endpoint. The variable
must be set before `prometheus_client` is first imported, or the worker's own process keeps its
values in memory, where that endpoint never looks. This module imports no LiveKit, and
`prometheus_client` only once the variable is set, so `agent.py` can call it first.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import shutil
import sys
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
        _track_generations(environ)
        return environ[MULTIPROC_DIR]
    if command not in ("dev", "start") or not (environ.get("SHOPME_METRICS_PORT") or "").strip():
        return None
    path = tempfile.mkdtemp(prefix="shopme-metrics-")
    environ[MULTIPROC_DIR] = path
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    _track_generations(environ)
    return path


# --- metrics recorded by the worker process itself -------------------------------------------------
#
# Under the `loop` and `threads` layouts the calls, and so their counters, live in the worker
# process. prometheus_client opens that process's files (`counter_<pid>.db`, ...) when the first
# metric is created, at import; livekit-agents then empties the directory when the worker starts,
# and the process would go on writing into files nobody can see any more. prometheus_client
# reopens its files when the process identifier changes (its fork detection): the identifier
# below is the pid plus a generation, moved on once the directory has been emptied.

_generation = 0


def _process_identifier() -> str:
    return f"{os.getpid()}-{_generation}" if _generation else str(os.getpid())


def _track_generations(environ: MutableMapping[str, str]) -> None:
    """Before any metric exists: identify this process's metric files by `_process_identifier`
    (only for this process's own environment, where prometheus_client finds the directory)."""
    if environ is not os.environ or "prometheus_client" in sys.modules or multiprocessing.parent_process():
        # Another mapping; or metrics already exist here, as in a job process forked from the
        # worker's forkserver: two value classes would write one file over each other.
        return
    from prometheus_client import values

    values.ValueClass = values.MultiProcessValue(process_identifier=_process_identifier)


def reopen_metric_files() -> None:
    """After livekit-agents has emptied the directory (its `worker_started`): the next value
    written creates fresh files, seen by `/metrics`. A value written before is not kept; it was
    in the files just removed."""
    global _generation
    if os.environ.get(MULTIPROC_DIR):
        _generation += 1
