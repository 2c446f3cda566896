from __future__ import annotations

from livekit.agents import RunContext, function_tool

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
    result = await run_domain(
        "verify_customer", state.service.verify_customer(state.caller, order_number, postal_code)
    )
    return as_output(result)
