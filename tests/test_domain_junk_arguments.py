"""Whatever the model passes, every tool answers with a SupportError and writes nothing."""

from __future__ import annotations

import pytest

from support_tools.domain.errors import SupportError
from tests.store_fixtures import caller, snapshot, verified

JUNK = ["", "   ", "x" * 10_000, "🙂🙂🙂", "'; DROP TABLE orders;--", None, 4.5, True, [], ["482913"], {"a": 1}, {}]
GOOD = {
    "order_number": "517204",
    "sku": "SM-TSHIRT-BLK-M",
    "reason": "Too small",
    "quantity": 1,
    "postal_code": "560001",
    "when": "2026-11-24T15:30:00+05:30",
    "phone": "+91 98765 43210",
}


def calls(service, argument: str, junk: object):
    """Every tool call (not yet started) that takes `argument`, with `junk` in its place and valid values elsewhere."""
    me = verified()
    args = {**GOOD, argument: junk}
    table = {
        "order_number": [
            lambda: service.verify_customer(caller(), junk, GOOD["postal_code"]),
            lambda: service.get_order_status(me, junk),
            lambda: service.start_return(me, junk, GOOD["sku"], GOOD["reason"]),
            lambda: service.cancel_order(me, junk, GOOD["reason"]),
        ],
        "postal_code": [lambda: service.verify_customer(caller(), GOOD["order_number"], junk)],
        "sku": [lambda: service.start_return(me, args["order_number"], junk, GOOD["reason"])],
        "reason": [
            lambda: service.start_return(me, GOOD["order_number"], GOOD["sku"], junk),
            lambda: service.cancel_order(me, "710245", junk),
            lambda: service.schedule_callback(me, GOOD["when"], junk),
            lambda: service.open_ticket(caller("fresh"), junk, "normal", "", []),
        ],
        "quantity": [lambda: service.start_return(me, GOOD["order_number"], GOOD["sku"], GOOD["reason"], junk)],
        "when": [lambda: service.schedule_callback(me, junk, GOOD["reason"])],
        "phone": [lambda: service.schedule_callback(me, GOOD["when"], GOOD["reason"], junk),
                  lambda: service.update_contact_details(me, "phone", junk)],
        "email": [lambda: service.update_contact_details(me, "email", junk)],
        "field": [lambda: service.update_contact_details(me, junk, "new@example.com")],
        "query": [lambda: service.get_product_info(junk)],
    }
    return table[argument]


@pytest.mark.parametrize("argument", ["order_number", "postal_code", "sku", "reason", "quantity", "when", "phone",
                                      "email", "field", "query"])
async def test_junk_in_any_argument_is_refused_without_a_write(service, store, argument) -> None:
    before = await snapshot(store)
    for junk in JUNK:
        if argument == "phone" and (junk is None or junk == ""):
            continue  # phone is optional for schedule_callback: these mean "the one on file"
        for call in calls(service, argument, junk):
            with pytest.raises(SupportError) as refusal:
                await call()
            message = refusal.value.message
            assert message.endswith(".") and len(message) < 400
            assert "Traceback" not in message and "DROP" not in message
    assert await snapshot(store) == before


async def test_sql_looking_text_is_only_ever_data(service, store) -> None:
    result = await service.get_product_info("kurta' OR '1'='1")
    assert result["products"] == []
    with pytest.raises(SupportError):
        await service.get_order_status(verified(), "482913' OR 1=1 --")
    assert (await service.get_order_status(verified(), "482913"))["status"] == "shipped"
