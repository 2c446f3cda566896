from __future__ import annotations

from livekit.agents import RunContext, function_tool

from ..session import Userdata
from ._common import as_output, run_domain


@function_tool
async def start_return(
    context: RunContext[Userdata], order_number: str, sku: str, reason: str, quantity: int = 1
) -> str:
    """Start a return for one item of a verified caller's delivered order.

    First call get_order_status to see the items and their SKUs, ask which item, how many and
    why. The result gives the RMA code, the refund computed by the shop and the next steps; if
    the item is final sale or the return window has closed, tell the caller what the tool says.

    Args:
        order_number: The order the item belongs to.
        sku: The item's SKU, as listed by get_order_status.
        reason: The caller's reason, in a few words.
        quantity: How many of that item to return.
    """
    state = context.userdata
    result = await run_domain(
        "start_return",
        state.service.start_return(state.caller, order_number, sku, reason, quantity),
    )
    return as_output(result)
