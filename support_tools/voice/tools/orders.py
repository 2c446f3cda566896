from __future__ import annotations

from livekit.agents import RunContext, function_tool

from ..order_card import send_order_card
from ..session import Userdata
from ._common import as_output, run_domain


@function_tool
async def get_order_status(context: RunContext[Userdata], order_number: str) -> str:
    """Look up one of the verified caller's orders: status, items, carrier, tracking and dates.

    Requires a verified caller (call verify_customer first). The caller's screen also shows an
    order card. Say dates and amounts exactly as returned.

    Args:
        order_number: The order number as the caller said it, e.g. "482913".
    """
    state = context.userdata
    order = await run_domain(
        "get_order_status", state.service.get_order_status(state.caller, order_number)
    )
    await send_order_card(state.room, state.caller_identity, order)
    return as_output(order)


@function_tool
async def cancel_order(context: RunContext[Userdata], order_number: str, reason: str) -> str:
    """Cancel one of the verified caller's orders that has not shipped yet.

    Confirm with the caller that they want to cancel, and ask why, before calling. The result
    states the refund; an order that has shipped cannot be cancelled (offer a return instead).

    Args:
        order_number: The order to cancel.
        reason: The caller's reason, in a few words.
    """
    state = context.userdata
    result = await run_domain(
        "cancel_order", state.service.cancel_order(state.caller, order_number, reason)
    )
    return as_output(result)
