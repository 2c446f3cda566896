"""The shop's policy texts, read from `prompts/policies/<topic>.md`.

Only files found in that folder are ever read: the topic is matched against their names (with a
few synonyms), never turned into a path, so "../" and the like simply match nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .errors import SupportError

MAX_POLICY_CHARS = 6000
SYNONYMS = {
    "return": "returns", "refund": "returns", "refunds": "returns", "exchange": "returns",
    "exchanges": "returns", "rma": "returns", "replacement": "returns",
    "delivery": "shipping", "deliveries": "shipping", "ship": "shipping", "shipment": "shipping",
    "courier": "shipping", "tracking": "shipping", "dispatch": "shipping",
    "cancel": "cancellation", "cancellations": "cancellation", "cancelling": "cancellation",
    "canceling": "cancellation",
    "data": "privacy", "personal": "privacy", "gdpr": "privacy", "dpdp": "privacy",
    "guarantee": "warranty", "repair": "warranty", "defective": "warranty", "damaged": "warranty",
    "faulty": "warranty",
    "payments": "payment", "pay": "payment", "cod": "payment", "upi": "payment", "emi": "payment",
    "card": "payment", "cash": "payment",
}
_WORD = re.compile(r"[a-z]+")


def known_topics(policies_dir: Path) -> list[str]:
    if not policies_dir.is_dir():
        return []
    return sorted(path.stem for path in policies_dir.glob("*.md") if path.is_file())


def match_topic(topic: str, topics: list[str]) -> str | None:
    words = _WORD.findall(topic.lower())
    for word in words:
        name = word if word in topics else SYNONYMS.get(word)
        if name in topics:
            return name
    return None


def lookup_policy(policies_dir: Path, topic: object) -> dict[str, Any]:
    if not isinstance(topic, str) or len(topic) > 200:
        raise SupportError("The policy topic must be a short word such as returns or shipping.")
    topics = known_topics(policies_dir)
    name = match_topic(topic, topics)
    if name is None:
        return {
            "topic": None,
            "known_topics": topics,
            "message": "There is no policy on that topic. Known topics: " + ", ".join(topics) + ".",
        }
    root = policies_dir.resolve()
    path = (root / f"{name}.md").resolve()
    if path.parent != root:  # a symlink pointing out of the folder
        raise SupportError("That policy cannot be read right now.")
    return {"topic": name, "text": path.read_text(encoding="utf-8").strip()[:MAX_POLICY_CHARS]}
