"""Records a call's metrics from its AgentSession: how it ended, how long it ran, the realtime
model's errors, reconnects and token use. Definitions: `support_tools/observability/metrics.py`."""

from __future__ import annotations

import logging
import time
from typing import Any

from livekit.agents import AgentSession, CloseEvent, CloseReason, ErrorEvent, MetricsCollectedEvent
from livekit.agents.metrics import RealtimeModelMetrics

from ..escalation.handoff import HandoffOutcome
from ..observability import metrics
from ..observability.metrics import SessionOutcome
from .session import Userdata

logger = logging.getLogger("shopme.metrics")

_OUTCOME_OF_HANDOFF = {
    HandoffOutcome.HUMAN_JOINED: SessionOutcome.HANDED_OVER,
    HandoffOutcome.TRANSFERRED: SessionOutcome.TRANSFERRED,
}


class SessionMetrics:
    """One per call: created when the job starts, `watch`es the session, `ended` once."""

    def __init__(self) -> None:
        self._started = time.monotonic()
        self._failed = False
        self._ended = False

    def watch(self, session: AgentSession[Userdata]) -> None:
        """Subscribe to the session's events; call before `session.start`."""
        session.on("error", self._on_error)
        session.on("close", self._on_close)
        session.on("metrics_collected", self._on_metrics)

    def watch_model(self, session: AgentSession[Userdata]) -> None:
        """Count the realtime model's reconnects; call once `session.start` has returned."""
        try:
            realtime = session.current_agent.realtime_llm_session
        except RuntimeError:
            return  # no realtime session (not started, or a pipeline model)
        realtime.on("session_reconnected", lambda _event: metrics.model_reconnected())

    def ended(self, state: Userdata) -> SessionOutcome:
        """Count the call as ended (once) and return how it ended."""
        outcome = self._outcome(state)
        if not self._ended:
            self._ended = True
            metrics.session_ended(outcome, time.monotonic() - self._started)
        return outcome

    def _outcome(self, state: Userdata) -> SessionOutcome:
        handoff = getattr(state.escalation, "handoff_outcome", None)
        if handoff in _OUTCOME_OF_HANDOFF:
            return _OUTCOME_OF_HANDOFF[handoff]
        return SessionOutcome.ERROR if self._failed else SessionOutcome.COMPLETED

    def _on_error(self, event: ErrorEvent) -> None:
        metrics.model_error(recoverable=bool(getattr(event.error, "recoverable", False)))

    def _on_close(self, event: CloseEvent) -> None:
        if event.reason == CloseReason.ERROR:
            self._failed = True

    def _on_metrics(self, event: MetricsCollectedEvent) -> None:
        usage: Any = event.metrics
        if isinstance(usage, RealtimeModelMetrics):
            metrics.model_tokens_used(
                input_tokens=usage.input_tokens, output_tokens=usage.output_tokens
            )
