"""What every tool shares: reaching the session state and turning domain results into tool output."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable
from typing import Any

from livekit.agents import RunContext, ToolError

from support_tools.domain.errors import SupportError
from support_tools.masking import MaskPiiInLogs
from support_tools.observability import metrics
from support_tools.observability.metrics import ToolOutcome

from ..session import Userdata

logger = logging.getLogger("shopme.tools")
# The framework logs every call's raw arguments ("executing tool"): mask them at the source.
logging.getLogger("livekit.agents").addFilter(MaskPiiInLogs())

INTERNAL_ERROR = (
    "Sorry, that did not work on our side just now. Please try again in a moment, "
    "or I can connect you with a colleague."
)


def session_state(context: RunContext[Userdata]) -> Userdata:
    return context.userdata


def as_output(result: dict[str, Any]) -> str:
    """Tool output for the model: compact JSON, non-ASCII kept readable (names, ₹)."""
    return json.dumps(result, ensure_ascii=False, separators=(",", ":"))


async def run_domain(tool: str, call: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """Await a domain call; a refusal becomes a `ToolError` the model can say back.

    Unexpected failures are logged (without arguments, which may hold personal data) and answered
    with a generic sentence, so the session always goes on. Every call is counted and timed.
    """
    started, outcome = time.perf_counter(), ToolOutcome.ERROR
    try:
        result = await call
        outcome = ToolOutcome.OK
        return result
    except SupportError as refusal:
        outcome = ToolOutcome.REFUSED
        raise ToolError(refusal.message) from None
    except ToolError:
        outcome = ToolOutcome.REFUSED
        raise
    except Exception:
        logger.exception("tool %s failed", tool)
        raise ToolError(INTERNAL_ERROR) from None
    finally:
        metrics.tool_called(tool, outcome, time.perf_counter() - started)
