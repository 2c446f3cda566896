"""Verification: order number + delivery postal code; uniform failures; lockout; one customer per session."""

from __future__ import annotations

import pytest

from support_tools.domain.errors import SupportError
from tests.store_fixtures import caller


async def refusal(call) -> str:
    with pytest.raises(SupportError) as raised:
        await call
    return raised.value.message


async def test_verified_with_order_number_and_postal_code(service) -> None:
    me = caller()
    result = await service.verify_customer(me, "SM-482913", "560 001")
    assert me.verified and me.customer_id == "CUS-00001"
    assert result["first_name"] == "Priya"
    numbers = {o["order_number"] for o in result["orders"]}
    assert {"482913", "517204", "710245"} <= numbers
    assert all(set(o) == {"order_number", "status", "placed_on"} for o in result["orders"])
    # Nothing else personal: no last name, email, phone, address.
    flat = repr(result)
    for private in ("Sharma", "example.com", "9876543210", "560001"):
        assert private not in flat


async def test_uk_postcodes_match_without_spaces_or_case(service) -> None:
    me = caller()
    result = await service.verify_customer(me, "268402", "sw1a1aa")
    assert result["first_name"] == "Oliver" and me.customer_id == "CUS-00003"


async def test_failure_text_is_the_same_whether_the_order_exists_or_not(service) -> None:
    wrong_pin = await refusal(service.verify_customer(caller("a"), "482913", "110001"))
    unknown = await refusal(service.verify_customer(caller("b"), "999999", "560001"))
    other_customers_pin = await refusal(service.verify_customer(caller("c"), "300125", "560001"))
    assert wrong_pin == unknown == other_customers_pin
    assert "could not be verified" in wrong_pin


async def test_three_failures_lock_the_session_and_offer_a_person(service) -> None:
    me = caller()
    first = await refusal(service.verify_customer(me, "482913", "111111"))
    second = await refusal(service.verify_customer(me, "999999", "111111"))
    third = await refusal(service.verify_customer(me, "482913", "222222"))
    assert first == second and "locked" not in first
    assert "locked" in third and "escalate_to_human" in third
    assert me.failed_verifications == 3 and me.verification_locked
    # Locked: even the right details are refused now, with the same words.
    assert await refusal(service.verify_customer(me, "482913", "560001")) == third
    assert not me.verified


async def test_locked_message_does_not_depend_on_the_order_existing(service) -> None:
    a, b = caller("a"), caller("b")
    for _ in range(2):
        await refusal(service.verify_customer(a, "482913", "000000"))
        await refusal(service.verify_customer(b, "999999", "000000"))
    assert await refusal(service.verify_customer(a, "482913", "000000")) == await refusal(
        service.verify_customer(b, "999999", "000000")
    )


async def test_malformed_input_is_explained_and_not_counted(service) -> None:
    me = caller()
    message = await refusal(service.verify_customer(me, "12", "560001"))
    assert "6 digits" in message
    await refusal(service.verify_customer(me, "482913", "🙂"))
    assert me.failed_verifications == 0


async def test_one_customer_per_session(service) -> None:
    me = caller()
    await service.verify_customer(me, "482913", "560001")
    again = await service.verify_customer(me, "517204", "560001")  # same customer: fine
    assert again["first_name"] == "Priya"
    other = await refusal(service.verify_customer(me, "300125", "110001"))
    assert "already verified" in other
    assert me.customer_id == "CUS-00001"
    # A wrong attempt by a verified caller gets the same words (nothing learned about 300125).
    assert await refusal(service.verify_customer(me, "999999", "110001")) == other


async def test_trusted_customer_id_from_the_app(service) -> None:
    me = caller()
    result = await service.trust_customer(me, "CUS-00002")
    assert me.customer_id == "CUS-00002" and result["first_name"] == "Rahul"


@pytest.mark.parametrize("bad", ["CUS-99999", "cus-00001", "", None, 42, "CUS-00001; drop", {"id": "CUS-00001"}])
async def test_unknown_trusted_id_leaves_the_caller_unverified(service, bad) -> None:
    me = caller()
    with pytest.raises(SupportError):
        await service.trust_customer(me, bad)
    assert not me.verified


async def test_trusted_caller_cannot_switch_customer(service) -> None:
    me = caller()
    await service.trust_customer(me, "CUS-00001")
    with pytest.raises(SupportError):
        await service.trust_customer(me, "CUS-00002")
    assert me.customer_id == "CUS-00001"
