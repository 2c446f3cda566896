"""The worker's Prometheus metrics, recorded by the real agent, tools and escalation flow.

Conversations run the project's SupportAgent on the fake Azure model against the demo store (as in
test_support_conversation.py); each test reads the counters before and after, since the registry
is shared by every test of the run. The metrics endpoint of a real worker process is checked in
test_worker_capacity.py (worker gauges) and at room level (a whole call).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from livekit.agents import AgentSession, CloseEvent, CloseReason, ErrorEvent, MetricsCollectedEvent
from livekit.agents.llm import RealtimeModelError
from livekit.agents.metrics import RealtimeModelMetrics
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, generate_latest

from support_tools.domain.caller import CallerState
from support_tools.domain.rules import ShopRules
from support_tools.domain.service import SupportService
from support_tools.escalation import HandoffOutcome
from support_tools.observability import metrics
from support_tools.observability.metrics import SessionOutcome
from support_tools.voice.session_metrics import SessionMetrics
from tests import test_escalation_flow as escalation_tests
from tests.fake_azure import fixtures
from tests.fake_azure.fixtures import StubSupportService, agent_session
from tests.fake_azure.script import ToolCall
from tests.fake_room import FakeRoom
from tests.test_escalation_flow import (
    ESCALATE,
    ROOM,
    FakeJobContext,
    desk_env,
    escalation_output,
    escalation_session,
)

fake_azure = fixtures.fake_azure
http_session = fixtures.http_session
demo_service = escalation_tests.demo_service
desk = escalation_tests.desk

ORDER, PIN, WRONG_PIN = "482913", "560001", "110001"
PERSONAL = ["Priya", "priya", "560001", "110001", "@", "+91", "room-"]


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Deltas:
    """Reads counters before and after: `deltas.of(name, **labels)` is the change since creation."""

    def __init__(self) -> None:
        self._before = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in REGISTRY.collect()
            if family.name.startswith("shopme_")
            for s in family.samples
        }

    def of(self, name: str, **labels: str) -> float:
        return value(name, **labels) - self._before.get((name, tuple(sorted(labels.items()))), 0.0)


# --- names and labels ----------------------------------------------------------------------------

ALLOWED_LABEL_VALUES = {
    "agent": None,  # the worker's AGENT_NAME, set by the operator
    "outcome": {o.value for o in metrics.SessionOutcome} | {o.value for o in metrics.ToolOutcome},
    "tool": {
        "verify_customer", "get_order_status", "start_return", "cancel_order",
        "update_contact_details", "schedule_callback", "get_product_info", "lookup_policy",
        "escalate_to_human",
    },
    "path": {p.value for p in metrics.EscalationPath},
    "recoverable": {"true", "false"},
    "direction": {"input", "output"},
    "le": None,
}


def test_metric_names_follow_prometheus_conventions() -> None:
    for metric in metrics.ALL_METRICS:
        [family] = metric.collect()
        assert family.name.startswith("shopme_"), family.name
        assert set(metric._labelnames) <= set(ALLOWED_LABEL_VALUES), family.name
        if isinstance(metric, Counter):
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), family.name
        if isinstance(metric, Histogram):
            assert family.name.endswith("_seconds"), family.name
        if isinstance(metric, Gauge):
            assert not family.name.endswith(("_total", "_seconds")), family.name


def assert_no_personal_data_in_labels() -> None:
    for family in REGISTRY.collect():
        if not family.name.startswith("shopme_"):
            continue
        for sample in family.samples:
            for label, label_value in sample.labels.items():
                allowed = ALLOWED_LABEL_VALUES[label]
                assert allowed is None or label_value in allowed, (sample.name, label, label_value)
    exposition = generate_latest(REGISTRY).decode()
    shopme_lines = [line for line in exposition.splitlines() if line.startswith("shopme_")]
    for line in shopme_lines:
        labels = line.split("{", 1)[1].split("}", 1)[0] if "{" in line else ""
        assert not any(p in labels for p in PERSONAL), line


# --- tools and verification ----------------------------------------------------------------------


async def test_tool_calls_are_counted_by_tool_and_outcome_and_timed(
    fake_azure, http_session, demo_store
) -> None:
    fake, deltas = fake_azure, Deltas()
    service = SupportService(demo_store, ShopRules())
    fake.script.say("Hello.")
    async with agent_session(
        fake, http_session, service=service, caller=CallerState(session_id="m-1", room="room-9")
    ) as run:
        SessionMetrics().watch(run.session)  # as the worker's entrypoint does
        await fake.wait_for_sent("response.done")
        fake.script.call_tool("get_order_status", {"order_number": ORDER})  # not verified yet
        fake.script.say("Please verify first.")
        await run.session.run(user_input=f"Where is {ORDER}?")
        fake.script.call_tool("verify_customer", {"order_number": ORDER, "postal_code": WRONG_PIN})
        fake.script.say("That did not match.")
        await run.session.run(user_input=f"{ORDER}, PIN {WRONG_PIN}")
        fake.script.call_tool("verify_customer", {"order_number": ORDER, "postal_code": PIN})
        fake.script.say("You're verified.")
        await run.session.run(user_input=f"Sorry, PIN {PIN}")
        fake.script.call_tool("get_order_status", {"order_number": ORDER})
        fake.script.say("It has shipped.")
        await run.session.run(user_input=f"Where is {ORDER}?")

    calls = "shopme_tool_calls_total"
    assert deltas.of(calls, tool="get_order_status", outcome="refused") == 1
    assert deltas.of(calls, tool="get_order_status", outcome="ok") == 1
    assert deltas.of(calls, tool="verify_customer", outcome="refused") == 1
    assert deltas.of(calls, tool="verify_customer", outcome="ok") == 1
    assert deltas.of(calls, tool="get_order_status", outcome="error") == 0
    # every call has its latency observed, under the tool's name
    assert deltas.of("shopme_tool_duration_seconds_count", tool="verify_customer") == 2
    assert deltas.of("shopme_tool_duration_seconds_count", tool="get_order_status") == 2
    assert deltas.of("shopme_tool_duration_seconds_sum", tool="get_order_status") > 0
    assert deltas.of("shopme_verification_failures_total") == 1
    assert deltas.of("shopme_verification_lockouts_total") == 0
    assert deltas.of("shopme_model_tokens_total", direction="input") > 0
    assert deltas.of("shopme_model_tokens_total", direction="output") > 0
    assert_no_personal_data_in_labels()


async def test_three_wrong_pin_codes_count_three_failures_and_one_lockout(
    fake_azure, http_session, demo_store
) -> None:
    fake, deltas = fake_azure, Deltas()
    service = SupportService(demo_store, ShopRules())
    caller = CallerState(session_id="m-2")
    fake.script.say("Hello.")
    async with agent_session(fake, http_session, service=service, caller=caller) as run:
        await fake.wait_for_sent("response.done")
        # three wrong attempts in one response (run concurrently by the framework), then one more
        wrong = {"order_number": ORDER, "postal_code": WRONG_PIN}
        fake.script.respond(*(ToolCall("verify_customer", wrong) for _ in range(3)))
        fake.script.say("That did not match.")
        await run.session.run(user_input="Try these")
        fake.script.call_tool("verify_customer", {"order_number": ORDER, "postal_code": PIN})
        fake.script.say("Verification is locked.")
        await run.session.run(user_input=f"PIN {PIN}")

    assert caller.verification_locked and caller.customer_id is None
    assert deltas.of("shopme_verification_failures_total") == 3
    assert deltas.of("shopme_verification_lockouts_total") == 1
    assert deltas.of("shopme_tool_calls_total", tool="verify_customer", outcome="refused") == 4


async def test_a_tool_failing_on_our_side_counts_as_error(fake_azure, http_session) -> None:
    fake, deltas = fake_azure, Deltas()

    class BrokenStore(StubSupportService):
        async def get_order_status(self, caller, order_number):
            raise ConnectionError("database is down")

    fake.script.say("Hello.")
    async with agent_session(fake, http_session, service=BrokenStore()) as run:
        await fake.wait_for_sent("response.done")
        fake.script.call_tool("get_order_status", {"order_number": ORDER})
        fake.script.say("Sorry, that did not work.")
        await run.session.run(user_input=f"Where is {ORDER}?")

    assert deltas.of("shopme_tool_calls_total", tool="get_order_status", outcome="error") == 1


# --- escalation and webhook ----------------------------------------------------------------------


async def test_escalation_without_a_desk_counts_ticket_only(
    fake_azure, http_session, demo_service
) -> None:
    fake, deltas = fake_azure, Deltas()
    fake.script.say("Hello.")
    fake.script.call_tool("escalate_to_human", ESCALATE)
    fake.script.say("Your ticket is open.")
    async with escalation_session(fake, http_session, demo_service, env=desk_env(fake)) as (run, _):
        await fake.wait_for_sent("response.done")
        await run.session.run(user_input="I want a person")
        await escalation_output(fake)

    assert deltas.of("shopme_escalations_total", path="ticket_only") == 1
    assert deltas.of("shopme_webhook_deliveries_total") == 0


async def test_a_desk_failing_twice_then_nobody_joining_counts_failures_delivery_and_callback(
    fake_azure, http_session, demo_service, desk
) -> None:
    fake, deltas = fake_azure, Deltas()
    desk.statuses = [503, 500]
    fake.script.say("Hello.")
    fake.script.call_tool("escalate_to_human", ESCALATE)
    fake.script.say("Your ticket is open, a colleague is on the way.")
    fake.script.say("Nobody is free right now; shall I book a callback?")
    env = desk_env(fake, desk, ESCALATION_TIMEOUT_S="1")
    async with escalation_session(
        fake, http_session, demo_service, env=env, room=FakeRoom(ROOM), ctx=FakeJobContext()
    ) as (run, flow):
        await fake.wait_for_sent("response.done")
        await run.session.run(user_input="Get me a person")
        await escalation_output(fake)
        await asyncio.gather(*flow.notifications)
        await fixtures.wait_until(lambda: flow.handoff_outcome is not None, timeout=10)

    assert flow.handoff_outcome == HandoffOutcome.CALLBACK_OFFERED
    assert deltas.of("shopme_webhook_failures_total") == 2
    assert deltas.of("shopme_webhook_deliveries_total") == 1
    assert deltas.of("shopme_escalations_total", path="callback") == 1
    assert deltas.of("shopme_escalations_total", path="ticket_only") == 0
    assert_no_personal_data_in_labels()


# --- how a session ended, and the model ----------------------------------------------------------


class _Escalation:
    def __init__(self, outcome: HandoffOutcome | None) -> None:
        self.handoff_outcome = outcome


def _state(outcome: HandoffOutcome | None = None):
    return type("State", (), {"escalation": _Escalation(outcome)})()


def _model_error(recoverable: bool) -> RealtimeModelError:
    return RealtimeModelError(
        timestamp=time.time(), label="realtime", error=RuntimeError("x"), recoverable=recoverable
    )


async def test_a_session_that_failed_counts_as_error_with_its_model_errors_and_duration() -> None:
    deltas, session = Deltas(), AgentSession()
    watched = SessionMetrics()
    watched.watch(session)
    session.emit("error", ErrorEvent(error=_model_error(True), source=None))
    session.emit("error", ErrorEvent(error=_model_error(False), source=None))
    session.emit(
        "metrics_collected",
        MetricsCollectedEvent(
            metrics=RealtimeModelMetrics(
                request_id="r", timestamp=time.time(), input_tokens=120, output_tokens=80,
                input_token_details=RealtimeModelMetrics.InputTokenDetails(),
                output_token_details=RealtimeModelMetrics.OutputTokenDetails(),
            )
        ),
    )
    session.emit("close", CloseEvent(reason=CloseReason.ERROR, error=_model_error(False)))

    assert watched.ended(_state()) == SessionOutcome.ERROR
    assert watched.ended(_state()) == SessionOutcome.ERROR  # counted once, however often asked

    assert deltas.of("shopme_sessions_ended_total", outcome="error") == 1
    assert deltas.of("shopme_session_duration_seconds_count") == 1
    assert deltas.of("shopme_model_errors_total", recoverable="true") == 1
    assert deltas.of("shopme_model_errors_total", recoverable="false") == 1
    assert deltas.of("shopme_model_tokens_total", direction="input") == 120
    assert deltas.of("shopme_model_tokens_total", direction="output") == 80


@pytest.mark.parametrize(
    ("handoff", "outcome"),
    [
        (None, "completed"),
        (HandoffOutcome.CALLBACK_OFFERED, "completed"),
        (HandoffOutcome.HUMAN_JOINED, "handed_over"),
        (HandoffOutcome.TRANSFERRED, "transferred"),
    ],
)
async def test_a_session_ends_by_how_the_call_ended(handoff, outcome) -> None:
    deltas, session = Deltas(), AgentSession()
    watched = SessionMetrics()
    watched.watch(session)
    session.emit("close", CloseEvent(reason=CloseReason.PARTICIPANT_DISCONNECTED))

    assert watched.ended(_state(handoff)) == outcome
    assert deltas.of("shopme_sessions_ended_total", outcome=outcome) == 1


async def test_a_dropped_model_connection_counts_one_reconnect(fake_azure, http_session) -> None:
    fake, deltas = fake_azure, Deltas()
    fake.script.say("Hello.")
    async with agent_session(fake, http_session) as run:
        SessionMetrics().watch_model(run.session)  # as the worker's entrypoint does after start
        await fake.wait_for_sent("response.done")
        await fake.drop_connection()
        await fixtures.wait_until(lambda: len(fake.connections) == 2, timeout=20, what="a reconnect")
        await fixtures.wait_until(
            lambda: deltas.of("shopme_model_reconnects_total") == 1, timeout=10, what="the count"
        )


_WORKER_AND_JOB_PROCESS = """
import multiprocessing, os, sys
sys.path.insert(0, {root!r})
os.environ["PROMETHEUS_MULTIPROC_DIR"] = {folder!r}
from support_tools.observability.multiprocess import prepare_metrics_directory
prepare_metrics_directory("start")  # as agent.py does, in the worker and again in each job process


def call():
    from support_tools.observability import metrics
    from support_tools.observability.metrics import ToolOutcome
    metrics.tool_called("get_order_status", ToolOutcome.OK, 0.01)
    metrics.verification_failed(locked=False)
    metrics.tool_called("verify_customer", ToolOutcome.REFUSED, 0.01)
    metrics.verification_failed(locked=False)


if __name__ == "__main__":
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["support_tools.observability.metrics"])
    job = context.Process(target=call)
    job.start()
    job.join()
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    print(generate_latest(registry).decode())
"""


def test_a_job_process_forked_from_the_forkserver_counts_what_metrics_then_reads(tmp_path) -> None:
    """Under `processes` a call's process comes from the worker's forkserver, which imported the
    metrics already: its counters must land in files `/metrics` reads whole."""
    import subprocess
    import sys

    from .conftest import ROOT

    script = tmp_path / "worker.py"
    script.write_text(_WORKER_AND_JOB_PROCESS.format(root=str(ROOT), folder=str(tmp_path / "metrics")))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert "shopme_verification_failures_total 2.0" in lines
    assert 'shopme_tool_calls_total{outcome="ok",tool="get_order_status"} 1.0' in lines
    assert 'shopme_tool_calls_total{outcome="refused",tool="verify_customer"} 1.0' in lines
