from __future__ import annotations

from livekit.agents import RunContext, function_tool

from ..session import Userdata
from ._common import as_output, run_domain


@function_tool
async def get_product_info(context: RunContext[Userdata], query: str) -> str:
    """Find products by SKU or by words of their name: name, price and stock. Open to every caller.

    Args:
        query: A SKU such as "SM-TSHIRT-BLK-M", or words such as "cotton kurta".
    """
    state = context.userdata
    result = await run_domain("get_product_info", state.service.get_product_info(query))
    return as_output(result)


@function_tool
async def lookup_policy(context: RunContext[Userdata], topic: str) -> str:
    """Read the shop's policy on a topic, to answer general questions. Open to every caller.

    Known topics: returns, shipping, cancellation, privacy, warranty, payment. Answer only from
    the text returned.

    Args:
        topic: The topic, e.g. "returns" or "shipping".
    """
    state = context.userdata

    async def read() -> dict:
        return state.service.lookup_policy(topic)

    return as_output(await run_domain("lookup_policy", read()))
