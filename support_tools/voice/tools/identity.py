from __future__ import annotations

from dataclasses import dataclass

from livekit.agents import RunContext, function_tool

from support_tools.observability import metrics

from ..session import Userdata
from ._common import as_output, run_domain


@function_tool
async def verify_customer(context: RunContext[Userdata], order_number: str, postal_code: str) -> str:
    """Verify the caller's identity. Call this before discussing any order or account.

    Ask the caller for one of their order numbers and the postal code (PIN code) the order was
    delivered to, then call this. On success you get the customer's first name and their orders.
    If it fails, ask the caller to check both details; after repeated failures offer a person.

    Args:
        order_number: The order number as the caller said it, e.g. "482913" or "SM-482913".
        postal_code: The delivery postal or PIN code, e.g. "560001".
    """
    state = context.userdata
    try:
        result = await run_domain(
            "verify_customer", state.service.verify_customer(state.caller, order_number, postal_code)
        )
    finally:
        _count_new_failures(state)
    return as_output(result)


@dataclass
class _CountedFailures:
    failures: int = 0
    lockout: bool = False


def _count_new_failures(state: Userdata) -> None:
    """Count each failed check once, however the model's concurrent calls interleave."""
    caller = state.caller
    counted = caller.extra.get("counted_failures")
    if not isinstance(counted, _CountedFailures):
        counted = caller.extra["counted_failures"] = _CountedFailures()
    for _ in range(caller.failed_verifications - counted.failures):
        counted.failures += 1
        locked_now = caller.verification_locked and not counted.lockout
        counted.lockout = counted.lockout or locked_now
        metrics.verification_failed(locked=locked_now)
