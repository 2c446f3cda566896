"""A worker's capacity, load, drain and ports, as the operator sets them and LiveKit sees them.

The subprocess tests run real `python agent.py start` workers with no LiveKit server to reach (a
closed port on 127.0.0.1): the worker still serves its health and metrics endpoints, reports its
load, and drains and exits on SIGTERM. Calls through a LiveKit server are in tests/room/.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from livekit.agents.worker import ServerEnvOption
from prometheus_client import REGISTRY

from support_tools.settings import (
    DEFAULT_MAX_SESSIONS,
    ConfigError,
    WorkerSettings,
    load_settings,
    load_worker_settings,
)
from support_tools.voice.worker_options import SessionLoad, agent_server_options, load_threshold

from .conftest import ROOT
from .test_config import SECRET, assert_one_line_naming, run_agent

# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SHOPME_MAX_SESSIONS", "0"),
        ("SHOPME_MAX_SESSIONS", "ten"),
        ("SHOPME_MAX_SESSIONS", "2.5"),
        ("SHOPME_HEALTH_PORT", "70000"),
        ("SHOPME_HEALTH_PORT", SECRET),
        ("SHOPME_METRICS_PORT", "8081"),  # the health port's default: both cannot listen there
        ("SHOPME_DRAIN_TIMEOUT_S", "-1"),
        ("SHOPME_IDLE_PROCESSES", "lots"),
        ("SHOPME_JOB_MEMORY_WARN_MB", "1e3"),
        ("SHOPME_JOB_MEMORY_LIMIT_MB", "100"),  # below the warning level
    ],
)
def test_malformed_worker_setting_is_one_line_naming_it(base_env, variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**base_env, variable: value})
    assert caught.value.variable == variable
    assert "\n" not in str(caught.value) and SECRET not in str(caught.value)


def test_a_malformed_worker_setting_stops_the_worker_with_exit_2() -> None:
    env = {
        "AZURE_OPENAI_API_KEY": SECRET,
        "AZURE_OPENAI_ENDPOINT": "https://example-resource.openai.azure.com",
        "AZURE_OPENAI_DEPLOYMENT": "gpt-realtime",
        "LIVEKIT_URL": "ws://127.0.0.1:9",
        "LIVEKIT_API_KEY": "devkey",
        "LIVEKIT_API_SECRET": SECRET,
        "SHOPME_MAX_SESSIONS": "0",
    }
    assert_one_line_naming(run_agent(env, "start"), "SHOPME_MAX_SESSIONS")


def test_worker_defaults(base_env: dict[str, str]) -> None:
    worker = load_settings(base_env).worker
    assert worker == WorkerSettings()
    assert worker.max_sessions == DEFAULT_MAX_SESSIONS
    assert worker.health_port is None and worker.metrics_port is None  # livekit's own, and off
    assert worker.job_memory_limit_mb > worker.job_memory_warn_mb


def test_metrics_port_may_be_8081_when_the_health_port_moved() -> None:
    worker = load_worker_settings({"SHOPME_HEALTH_PORT": "9000", "SHOPME_METRICS_PORT": "8081"})
    assert (worker.health_port, worker.metrics_port) == (9000, 8081)


# --- load ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("max_sessions", [1, 2, 3, 7, 8, 10, 25, 64, 1000])
def test_the_worker_is_full_exactly_at_its_capacity(max_sessions: int) -> None:
    """livekit-agents marks a worker full when load >= load_threshold (worker.py)."""
    load = SessionLoad(max_sessions, "shopme-test")
    threshold = load_threshold(max_sessions)
    for active in range(max_sessions + 2):
        server = SimpleNamespace(active_jobs=[object()] * active)
        reported = load(server)  # type: ignore[arg-type]
        assert 0.0 <= reported <= 1.0
        assert (reported >= threshold) == (active >= max_sessions), (active, reported)


def test_load_keeps_the_sessions_gauges_current() -> None:
    load = SessionLoad(4, "gauge-test")
    load(SimpleNamespace(active_jobs=[object()] * 3))  # type: ignore[arg-type]
    assert REGISTRY.get_sample_value("shopme_sessions_active", {"agent": "gauge-test"}) == 3
    assert REGISTRY.get_sample_value("shopme_sessions_capacity", {"agent": "gauge-test"}) == 4


def test_server_options_carry_the_settings() -> None:
    worker = load_worker_settings(
        {
            "SHOPME_MAX_SESSIONS": "5",
            "SHOPME_HEALTH_PORT": "9001",
            "SHOPME_METRICS_PORT": "9002",
            "SHOPME_DRAIN_TIMEOUT_S": "120",
            "SHOPME_IDLE_PROCESSES": "3",
            "SHOPME_JOB_MEMORY_WARN_MB": "300",
            "SHOPME_JOB_MEMORY_LIMIT_MB": "0",
        }
    )
    options = agent_server_options(worker, "shopme-test")
    assert options["load_fnc"].max_sessions == 5
    assert options["load_threshold"] == load_threshold(5)
    assert (options["port"], options["prometheus_port"]) == (9001, 9002)
    assert options["drain_timeout"] == 120 and options["num_idle_processes"] == 3
    assert (options["job_memory_warn_mb"], options["job_memory_limit_mb"]) == (300, 0)
    # unset: livekit-agents' defaults per mode (dev: any free port and no warm processes)
    defaults = agent_server_options(WorkerSettings(), "shopme-test")
    assert defaults["port"] == ServerEnvOption(dev_default=0, prod_default=8081)
    assert defaults["num_idle_processes"].dev_default == 0
    assert defaults["prometheus_port"] is None


# --- real worker processes -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (127.0.0.1 only)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def scrape(port: int | None) -> str:
    """GET /metrics, again after an HTTP 500: one was seen once while job processes were starting
    (in prometheus_client's multiprocess reader, cause not pinned down); Prometheus, too, simply
    scrapes again. A 500 that persists fails the test."""
    for _ in range(10):
        status, body = http_get(f"http://127.0.0.1:{port}/metrics")
        if status != 500:
            return body
        time.sleep(0.2)
    raise AssertionError(f"/metrics kept failing: {body[:200]}")


def worker_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "LIVEKIT_", "SHOPME_"))}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        SHOPME_ENV_FILE=str(tmp_path / "no.env"),
        AZURE_OPENAI_API_KEY="test-key",
        AZURE_OPENAI_ENDPOINT="http://127.0.0.1:9",
        AZURE_OPENAI_DEPLOYMENT="gpt-realtime",
        LIVEKIT_URL=f"ws://127.0.0.1:{free_port()}",  # nothing listens: the worker keeps retrying
        LIVEKIT_API_KEY="devkey",
        LIVEKIT_API_SECRET="capacity-test-secret-" + "s" * 24,
        LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE="0",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path
    health_port: int | None
    metrics_port: int | None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_serving(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"worker exited:\n{self.output()[-3000:]}"
            try:
                healthy = self.health_port is None or http_get(
                    f"http://127.0.0.1:{self.health_port}/"
                )[0] in (200, 503)
                measured = self.metrics_port is None or "shopme_sessions_capacity{" in self.metrics()
                if healthy and measured:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"worker not serving after {timeout}s:\n{self.output()[-3000:]}")

    def metrics(self) -> str:
        return scrape(self.metrics_port)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_worker(tmp_path: Path, name: str, command: str = "start", **extra: str) -> Worker:
    log = tmp_path / f"{name}.log"
    env = worker_env(tmp_path, **extra)
    with log.open("wb") as out, (tmp_path / f"{name}.err").open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "agent.py"), command],
            cwd=ROOT, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
        )
    health = extra.get("SHOPME_HEALTH_PORT")
    metrics = extra.get("SHOPME_METRICS_PORT")
    return Worker(process, log, int(health) if health else None, int(metrics) if metrics else None)


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory) -> Iterator[list[Worker]]:
    """Two `start` workers on one host, each with its own health and metrics port."""
    folder = tmp_path_factory.mktemp("workers")
    workers = [
        start_worker(
            folder, f"worker-{i}",
            SHOPME_HEALTH_PORT=str(free_port()), SHOPME_METRICS_PORT=str(free_port()),
            SHOPME_MAX_SESSIONS=str(3 + i), SHOPME_IDLE_PROCESSES="1",
        )
        for i in range(2)
    ]
    try:
        for worker in workers:
            worker.wait_until_serving()
        yield workers
    finally:
        for worker in workers:
            worker.stop()


def test_two_workers_on_one_host_serve_health_on_their_own_ports(two_workers) -> None:
    for worker in two_workers:
        status, _ = http_get(f"http://127.0.0.1:{worker.health_port}/")
        assert status in (200, 503)  # 503 once it gives up reaching LiveKit; it answers either way
        _, body = http_get(f"http://127.0.0.1:{worker.health_port}/worker")
        assert json.loads(body)["agent_name"] == "shopme-support"


def test_each_worker_reports_its_capacity_and_no_active_session(two_workers) -> None:
    for index, worker in enumerate(two_workers):
        exposition = worker.metrics()
        assert f'shopme_sessions_capacity{{agent="shopme-support"}} {3 + index}.0' in exposition
        assert 'shopme_sessions_active{agent="shopme-support"} 0.0' in exposition


def test_start_mode_logs_one_json_object_per_line(two_workers) -> None:
    lines = [line for line in two_workers[0].output().splitlines() if line.strip()]
    assert len(lines) >= 3
    for line in lines:
        entry = json.loads(line)
        assert {"message", "level", "name", "timestamp"} <= set(entry)
    assert any(json.loads(line)["message"] == "starting worker" for line in lines)


def test_dev_mode_logs_stay_human_readable(tmp_path) -> None:
    worker = start_worker(tmp_path, "dev", command="dev", SHOPME_METRICS_PORT=str(free_port()))
    try:
        worker.wait_until_serving()
    finally:
        worker.stop()
    lines = [line for line in worker.output().splitlines() if line.strip()]
    assert any("starting worker" in line for line in lines)
    for line in lines:
        with pytest.raises(ValueError):
            json.loads(line)


def test_sigterm_on_an_idle_worker_drains_and_exits_0(tmp_path) -> None:
    worker = start_worker(tmp_path, "term", SHOPME_HEALTH_PORT=str(free_port()))
    worker.wait_until_serving()
    assert worker.stop() == 0
    messages = [json.loads(line)["message"] for line in worker.output().splitlines() if line.strip()]
    assert "draining worker" in messages
