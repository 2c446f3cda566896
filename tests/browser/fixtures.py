"""Browser test plumbing: a fresh Chromium per test, and a screenshot (and the browser's console
log) for every failed test. A pytest plugin (root conftest), so room-level tests use it too."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from .chromium import browser_log, remove_profile, save_screenshot, start_chromium

ROOT = Path(__file__).resolve().parents[2]


def output_dir() -> Path:
    """Screenshots and logs of the browser tests (kept after the run; not in git)."""
    return Path(os.environ.get("SHOPME_TEST_OUTPUT") or ROOT / "test-output") / "browser"


def screenshot_name(item: pytest.Item) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name)[:120]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def browser_factory(request, tmp_path):
    """Start browsers for a test; each is closed after it, with a screenshot if the test failed."""
    drivers = []

    def start(**options):
        profile = tmp_path / f"profile-{len(drivers)}"
        driver = start_chromium(profile, **options)
        drivers.append((driver, profile))
        return driver

    yield start

    failed = any(
        getattr(getattr(request.node, f"report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )
    for index, (driver, profile) in enumerate(drivers):
        try:
            if failed:
                name = screenshot_name(request.node) + (f"-{index}" if index else "")
                path = save_screenshot(driver, output_dir() / "failures", name)
                (path.with_suffix(".console.txt")).write_text("\n".join(browser_log(driver)))
                print(f"screenshot of the failed page: {path}")
        finally:
            driver.quit()
            remove_profile(profile)
