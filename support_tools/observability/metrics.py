"""Every Prometheus metric of the worker, in one place.

Names follow Prometheus conventions (`shopme_` prefix, `_total` counters, `_seconds` durations).
Labels only ever hold values from the small fixed sets below, never anything a caller said or
owns: no room names, identities, order numbers or phone numbers.

In a worker with `SHOPME_METRICS_PORT`, job processes write to files in `PROMETHEUS_MULTIPROC_DIR`
(see `multiprocess.py`) and livekit-agents' endpoint sums them. The gauges are set by the worker's
own process only ("mostrecent": one writer), and have a label so that their values are created
after livekit-agents empties that directory at start-up.
"""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import Counter, Gauge, Histogram


class SessionOutcome(StrEnum):
    COMPLETED = "completed"  # the caller (or the agent) ended the call normally
    HANDED_OVER = "handed_over"  # a person from the support desk took the call over
    TRANSFERRED = "transferred"  # a phone caller was transferred to the desk
    ERROR = "error"  # the session failed (the realtime model gave up, ...)


class ToolOutcome(StrEnum):
    OK = "ok"
    REFUSED = "refused"  # a rule said no (not verified, window closed, ...): a normal answer
    ERROR = "error"  # something broke on our side


class EscalationPath(StrEnum):
    HANDED_OVER = "handed_over"
    TRANSFERRED = "transferred"
    CALLBACK = "callback"  # nobody joined in time: the caller was offered a callback
    TICKET_ONLY = "ticket_only"  # nothing to hand over to: a colleague follows up on the ticket


# --- sessions (calls) ---
SESSIONS_ACTIVE = Gauge(
    "shopme_sessions_active",
    "Calls this worker is serving now; the autoscaler's metric.",
    ["agent"],
    multiprocess_mode="mostrecent",
)
SESSIONS_CAPACITY = Gauge(
    "shopme_sessions_capacity",
    "Calls this worker takes before it reports itself full (SHOPME_MAX_SESSIONS).",
    ["agent"],
    multiprocess_mode="mostrecent",
)
SESSIONS_ENDED = Counter(
    "shopme_sessions_ended_total", "Calls ended, by how they ended.", ["outcome"]
)
SESSION_DURATION = Histogram(
    "shopme_session_duration_seconds",
    "Length of a call, from the session's start to its end.",
    buckets=(15, 30, 60, 120, 180, 300, 450, 600, 900, 1200, 1800, 3600),
)

# --- tools ---
TOOL_CALLS = Counter(
    "shopme_tool_calls_total", "Function tool calls, by tool and outcome.", ["tool", "outcome"]
)
TOOL_DURATION = Histogram(
    "shopme_tool_duration_seconds",
    "Time a function tool took, store included.",
    ["tool"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
VERIFICATION_FAILURES = Counter(
    "shopme_verification_failures_total", "Failed identity checks (wrong order number or PIN code)."
)
VERIFICATION_LOCKOUTS = Counter(
    "shopme_verification_lockouts_total", "Sessions whose identity checks were locked after repeated failures."
)

# --- escalation ---
ESCALATIONS = Counter(
    "shopme_escalations_total", "Escalations to a person, by how they went on.", ["path"]
)
WEBHOOK_DELIVERIES = Counter(
    "shopme_webhook_deliveries_total", "Escalation webhooks the support desk accepted."
)
WEBHOOK_FAILURES = Counter(
    "shopme_webhook_failures_total", "Escalation webhook attempts that failed (each retry counts)."
)

# --- the realtime model ---
MODEL_ERRORS = Counter(
    "shopme_model_errors_total",
    "Errors reported by the realtime model; recoverable ones are retried by the framework.",
    ["recoverable"],
)
MODEL_RECONNECTS = Counter(
    "shopme_model_reconnects_total", "Times a realtime model connection was re-established."
)
MODEL_TOKENS = Counter(
    "shopme_model_tokens_total", "Realtime model tokens used, by direction.", ["direction"]
)

ALL_METRICS = (
    SESSIONS_ACTIVE, SESSIONS_CAPACITY, SESSIONS_ENDED, SESSION_DURATION, TOOL_CALLS,
    TOOL_DURATION, VERIFICATION_FAILURES, VERIFICATION_LOCKOUTS, ESCALATIONS, WEBHOOK_DELIVERIES,
    WEBHOOK_FAILURES, MODEL_ERRORS, MODEL_RECONNECTS, MODEL_TOKENS,
)


def set_worker_sessions(agent: str, active: int, capacity: int) -> None:
    SESSIONS_ACTIVE.labels(agent=agent).set(active)
    SESSIONS_CAPACITY.labels(agent=agent).set(capacity)


def session_ended(outcome: SessionOutcome, duration_s: float) -> None:
    SESSIONS_ENDED.labels(outcome=outcome.value).inc()
    SESSION_DURATION.observe(max(duration_s, 0.0))


def tool_called(tool: str, outcome: ToolOutcome, duration_s: float) -> None:
    TOOL_CALLS.labels(tool=tool, outcome=outcome.value).inc()
    TOOL_DURATION.labels(tool=tool).observe(max(duration_s, 0.0))


def verification_failed(*, locked: bool) -> None:
    VERIFICATION_FAILURES.inc()
    if locked:
        VERIFICATION_LOCKOUTS.inc()


def escalated(path: EscalationPath) -> None:
    ESCALATIONS.labels(path=path.value).inc()


def webhook_attempted(*, delivered: bool) -> None:
    (WEBHOOK_DELIVERIES if delivered else WEBHOOK_FAILURES).inc()


def model_error(*, recoverable: bool) -> None:
    MODEL_ERRORS.labels(recoverable="true" if recoverable else "false").inc()


def model_reconnected() -> None:
    MODEL_RECONNECTS.inc()


def model_tokens_used(*, input_tokens: int, output_tokens: int) -> None:
    if input_tokens > 0:
        MODEL_TOKENS.labels(direction="input").inc(input_tokens)
    if output_tokens > 0:
        MODEL_TOKENS.labels(direction="output").inc(output_tokens)
