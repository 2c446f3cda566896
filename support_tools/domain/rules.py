"""`ShopRules`: the shop's configurable rules (return window, time zone, support hours, policies).

Its own module so that the rule modules (orders, returns, ...) and `SupportService` both depend on
it, and not on each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

# The policy markdown files `lookup_policy` reads: <repo>/prompts/policies.
DEFAULT_POLICIES_DIR = Path(__file__).resolve().parents[2] / "prompts" / "policies"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ShopRules:
    return_window_days: int = 30
    timezone: str = "Asia/Kolkata"  # support hours and return-window dates are in this zone
    hours_start: time = time(9, 0)
    hours_end: time = time(21, 0)
    policies_dir: Path = field(default=DEFAULT_POLICIES_DIR)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local_date(self, moment: datetime) -> date:
        """The calendar date of `moment` in the shop's time zone."""
        return moment.astimezone(self.tz).date()


# One set of default rules: ShopRules is frozen, so it is safe to share.
DEFAULT_RULES = ShopRules()
