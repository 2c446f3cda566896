"""Headless Chromium from Debian's packages, driven by Selenium through chromium-driver.

Only the system browser and driver are used (no download of either). The flags keep the browser
quiet on the network: no background services, no updates, no sync, no QUIC, and no host name
resolves except loopback, so a page or the browser itself can only reach 127.0.0.0/8.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PHONE_WINDOW = (390, 844)

QUIET_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-default-browser-check",
    "--no-proxy-server",
    # Any name but the loopback ones fails to resolve: nothing leaves the machine by name.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
)


def missing_browser() -> str | None:
    """Why the browser cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            return f"{path} is missing: run `make system-deps` (scripts/install-system-deps.sh)"
    return None


def start_chromium(
    profile_dir: Path,
    *,
    window: tuple[int, int] = PHONE_WINDOW,
    fake_microphone_wav: Path | None = None,
    deny_microphone: bool = False,
    extra_flags: tuple[str, ...] = (),
) -> webdriver.Chrome:
    """A fresh browser with its own profile. The fake microphone plays `fake_microphone_wav`."""
    problem = missing_browser()
    if problem:
        raise RuntimeError(problem)
    # Selenium must not look for (or fetch) a driver of its own.
    os.environ["SE_OFFLINE"] = "true"
    options = Options()
    options.binary_location = CHROMIUM
    for flag in QUIET_FLAGS + extra_flags:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.add_argument(f"--window-size={window[0]},{window[1]}")
    options.add_argument("--use-fake-device-for-media-stream")
    if deny_microphone:
        options.add_argument("--deny-permission-prompts")
    else:
        options.add_argument("--use-fake-ui-for-media-stream")
    if fake_microphone_wav is not None:
        options.add_argument(f"--use-file-for-fake-audio-capture={fake_microphone_wav}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER, log_output=str(profile_dir.parent / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    # A headless window is never narrower than 500 px: emulate the phone's viewport instead.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": window[0], "height": window[1], "deviceScaleFactor": 1, "mobile": True},
    )
    if deny_microphone:
        driver.execute_cdp_cmd(
            "Browser.setPermission",
            {"permission": {"name": "microphone"}, "setting": "denied"},
        )
    return driver


def save_screenshot(driver: webdriver.Chrome, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def browser_log(driver: webdriver.Chrome) -> list[str]:
    try:
        return [entry["message"] for entry in driver.get_log("browser")]
    except Exception:
        return []


def remove_profile(profile_dir: Path) -> None:
    shutil.rmtree(profile_dir, ignore_errors=True)
