"""The documented demo login: the shop backend stand-in's one signed-in customer.

A real shop signs its customers in with its own accounts and puts their `customer_id` on the
LiveKit token; this stand-in knows one account, Priya Sharma of the demo store (README).
"""

from __future__ import annotations

import hmac

DEMO_USERNAME = "priya"
DEMO_PASSWORD = "shopme-demo"
DEMO_CUSTOMER_ID = "CUS-00001"  # Priya Sharma, the first customer the demo data seeds


def demo_customer_id(username: str, password: str) -> str | None:
    """Priya's customer id when the credentials match the demo account, else None."""
    # Compared in constant time, both parts always, so a wrong guess learns nothing from timing.
    user_ok = hmac.compare_digest(username.strip().lower().encode(), DEMO_USERNAME.encode())
    password_ok = hmac.compare_digest(password.encode(), DEMO_PASSWORD.encode())
    return DEMO_CUSTOMER_ID if user_ok and password_ok else None
