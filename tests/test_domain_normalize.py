"""Input normalisation, masking and money formatting (no store involved)."""

from __future__ import annotations

import pytest

from support_tools.domain.errors import SupportError
from support_tools.domain.money import format_money
from support_tools.domain.normalize import (
    normalize_email,
    normalize_order_number,
    normalize_phone,
    normalize_postal_code,
    require_quantity,
    require_reason,
)
from support_tools.masking import mask_email, mask_phone, mask_pii


@pytest.mark.parametrize(
    "spoken",
    ["482913", " 482913 ", "4 8 2 9 1 3", "482-913", "SM-482913", "sm 482913", "SM482913", "#482913",
     "Order #482913", "order no. 482913", "४८२९१३", "SM-४८२९१३", "৪৮২৯১৩", "４８２９１３", "௪௮௨௯௧௩", 482913],
)
def test_every_spoken_form_normalises_to_the_same_order_number(spoken) -> None:
    assert normalize_order_number(spoken) == "482913"


def test_int_order_numbers_keep_leading_zeros() -> None:
    assert normalize_order_number(4213) == "004213"


@pytest.mark.parametrize(
    "junk",
    ["", "   ", "48291", "4829133", "48291X", "SM-", "abc", "482913; DROP TABLE orders", "🙂482913",
     "4" * 10_000, None, 4829.13, True, 1_000_000, -5, [], {}, ["482913"], {"n": "482913"}, b"482913"],
)
def test_anything_else_is_a_clear_refusal(junk) -> None:
    with pytest.raises(SupportError) as refusal:
        normalize_order_number(junk)
    assert "6 digits" in refusal.value.message


def test_postal_codes_ignore_spaces_and_case() -> None:
    assert normalize_postal_code("sw1a 1aa") == normalize_postal_code("SW1A1AA") == "SW1A1AA"
    assert normalize_postal_code(" 560 001 ") == normalize_postal_code("५६०००१") == "560001"
    for junk in ("", "😀😀😀", "56", "x" * 300, None, 5.6, ["560001"]):
        with pytest.raises(SupportError):
            normalize_postal_code(junk)


def test_phone_numbers_are_stored_normalised() -> None:
    assert normalize_phone("+91 98765-43210") == "+919876543210"
    assert normalize_phone("(415) 555-0134") == "4155550134"
    for junk in ("12345", "+1234567890123456", "98765abc10", "call me", "", None, 9.8, "+91 98765 43210 🙂"):
        with pytest.raises(SupportError):
            normalize_phone(junk)


def test_email_validation() -> None:
    assert normalize_email(" Riya.S+shop@Example.COM ") == "Riya.S+shop@example.com"
    for junk in ("riya", "riya@", "@example.com", "riya@example", "ri ya@example.com", "a@b.c",
                 "x" * 250 + "@example.com", "riya@@example.com", "", None, 42):
        with pytest.raises(SupportError):
            normalize_email(junk)


def test_quantities_are_whole_positive_numbers() -> None:
    assert require_quantity(2) == 2
    assert require_quantity("3") == 3
    for junk in (0, -1, 2.0, 1.5, True, None, "two", "", [], 10_000):
        with pytest.raises(SupportError):
            require_quantity(junk)


def test_reasons_accept_any_script_but_not_emoji_or_code() -> None:
    assert require_reason("साइज़ छोटा है") == "साइज़ छोटा है"
    assert require_reason("  too\n small  ") == "too small"
    for junk in ("", "😢", "too small 😢", "'; DROP TABLE orders;--", "x" * 501, None, 3, ["a"], {"a": 1}):
        with pytest.raises(SupportError):
            require_reason(junk)


def test_masking_contact_details() -> None:
    assert mask_email("riya.sharma@example.com") == "r***@example.com"
    assert mask_phone("+91 98765 43210") == "******3210"
    assert mask_phone("9876543210") == "******3210"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call me on +91 98765 43210 please", "call me on ******3210 please"),
        ("my number is 9876543210.", "my number is ******3210."),
        ("(415) 555-0134", "******0134"),
        ("+44 20 7946 0958", "******0958"),
        ('{"value":"+919876543210"}', '{"value":"******3210"}'),
        ("mail riya.sharma@example.com now", "mail r***@example.com now"),
    ],
)
def test_mask_pii_masks_emails_and_phones_in_free_text(text, expected) -> None:
    assert mask_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    ["order 482913 to PIN 560001", "orders 482913 517204", "SM-482913", "delivered on 2026-11-23 21:15",
     "at 2026-11-23T21:15:00.123456+00:00", "tracking DL123456789IN", "total ₹1,299.00", "postcode SW1A 1AA",
     "RMA-AB12CD34"],
)
def test_mask_pii_leaves_order_numbers_pin_codes_dates_and_amounts(text) -> None:
    assert mask_pii(text) == text


def test_mask_pii_is_idempotent() -> None:
    once = mask_pii("+91 98765 43210 / riya@example.com")
    assert mask_pii(once) == once


def test_money_is_formatted_by_currency() -> None:
    assert format_money(129900, "INR") == "₹1,299.00"
    assert format_money(12345678, "INR") == "₹1,23,456.78"
    assert format_money(2499, "USD") == "$24.99"
    assert format_money(123456789, "GBP") == "£1,234,567.89"
    assert format_money(500, "CHF") == "5.00 CHF"
