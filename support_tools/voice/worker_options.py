"""How this worker presents itself to LiveKit: capacity and load, drain, processes, ports.

Load is the share of the worker's call capacity in use: active sessions / SHOPME_MAX_SESSIONS
(livekit-agents' default is CPU use, which says nothing about how many calls a worker may take
safely). At capacity the worker reports itself full, and LiveKit sends new calls to other
workers. On SIGTERM the framework drains: no new job, active calls go on to their end (up to
the drain timeout), then the process exits 0.
"""

from __future__ import annotations

import os
from typing import Any

from livekit.agents import AgentServer, JobExecutorType
from livekit.agents.worker import ServerEnvOption

from ..observability import metrics
from ..settings import DEFAULT_IDLE_PROCESSES, ConfigError, WorkerSettings, load_worker_settings

# livekit-agents' own health port in `start`; `dev` takes any free port.
LIVEKIT_HEALTH_PORT = 8081


class SessionLoad:
    """livekit-agents' `load_fnc`: active sessions / capacity, between 0 and 1.

    Runs in the worker's own process (every 0.5 s and before each job offer), so it also keeps
    the sessions gauges current.
    """

    def __init__(self, max_sessions: int, agent_name: str) -> None:
        self.max_sessions = max_sessions
        self.agent_name = agent_name

    def __call__(self, server: AgentServer) -> float:
        active = len(server.active_jobs)
        metrics.set_worker_sessions(self.agent_name, active, self.max_sessions)
        return min(active / self.max_sessions, 1.0)


def load_threshold(max_sessions: int) -> float:
    """Full from `max_sessions` active sessions on. Half a session below the exact ratio, so that
    rounding in the framework's sum of loads can neither let one more in nor keep one out."""
    return (max_sessions - 0.5) / max_sessions


def agent_server_options(worker: WorkerSettings, agent_name: str) -> dict[str, Any]:
    """Keyword arguments for `AgentServer(...)`."""
    health_port: int | ServerEnvOption[int] = (
        worker.health_port
        if worker.health_port is not None
        else ServerEnvOption(dev_default=0, prod_default=LIVEKIT_HEALTH_PORT)
    )
    idle_processes: int | ServerEnvOption[int] = (
        worker.idle_processes
        if worker.idle_processes is not None
        else ServerEnvOption(dev_default=0, prod_default=DEFAULT_IDLE_PROCESSES)
    )
    return {
        # One process per call (README "Run it in a cluster"): a crash, a leak or a slow tool in
        # one call cannot stall or take down the others, for about 65 MB more per call.
        "job_executor_type": JobExecutorType.PROCESS,
        "load_fnc": SessionLoad(worker.max_sessions, agent_name),
        "load_threshold": load_threshold(worker.max_sessions),
        "drain_timeout": worker.drain_timeout_s,
        "num_idle_processes": idle_processes,
        "job_memory_warn_mb": worker.job_memory_warn_mb,
        "job_memory_limit_mb": worker.job_memory_limit_mb,
        "port": health_port,
        "prometheus_port": worker.metrics_port,
        "prometheus_multiproc_dir": os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None,
    }


def agent_server_options_from_env(agent_name: str) -> dict[str, Any]:
    """As `agent_server_options`, from the environment. A malformed value falls back to the
    defaults here: `agent.py` validates every setting before the worker runs and stops with one
    line naming it, and this runs earlier, while the module is imported."""
    try:
        worker = load_worker_settings()
    except ConfigError:
        worker = WorkerSettings()
    return agent_server_options(worker, agent_name)
