"""The customer page in headless Chromium where no LiveKit server is needed: every failure before
the call starts gets a clear sentence, and the start form fits a phone and works by keyboard.

The page and its token endpoint (`python -m support_tools.web`) run on 127.0.0.1; the LiveKit URL
the endpoint hands out points at a closed loopback port.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from .fixtures import output_dir
from .page_server import free_port, token_endpoint

API_KEY = "APIpageTest"
API_SECRET = "page-secret-" + "p" * 32
WAIT_S = 30


def closed_livekit_url() -> str:
    return f"ws://127.0.0.1:{free_port()}"  # nothing listens there


@pytest.fixture(scope="module")
def page_url():
    with token_endpoint(
        livekit_url=closed_livekit_url(),
        api_key=API_KEY,
        api_secret=API_SECRET,
        log_path=output_dir() / "logs" / "token-endpoint-smoke.log",
    ) as url:
        yield url


def shown_error(driver) -> str:
    error = WebDriverWait(driver, WAIT_S).until(seen.visibility_of_element_located((By.ID, "error")))
    return error.text


def phase(driver) -> str:
    return driver.find_element(By.ID, "app").get_attribute("data-phase")


def test_a_refused_token_shows_the_reason_and_lets_the_customer_try_again(browser_factory, page_url):
    driver = browser_factory()
    driver.get(page_url)
    driver.find_element(By.ID, "username-input").send_keys("priya")
    # by keyboard: Enter in the password field starts the call
    driver.find_element(By.ID, "password-input").send_keys("not-the-password", Keys.ENTER)

    assert shown_error(driver) == (
        "The call could not be started: That username and password do not match the demo account."
    )
    assert phase(driver) == "idle"
    start = driver.find_element(By.ID, "start-button")
    assert start.is_enabled() and start.text == "Start call"
    assert driver.switch_to.active_element == start  # focus is back where the customer can retry
    assert driver.find_element(By.ID, "call").is_displayed() is False


def test_an_unreachable_voice_server_shows_a_clear_message(browser_factory, page_url):
    driver = browser_factory()
    driver.get(page_url)
    driver.find_element(By.ID, "start-button").click()

    assert shown_error(driver) == (
        "The voice service could not be reached, so the call could not start. "
        "Please try again in a moment."
    )
    assert phase(driver) == "idle"


def test_an_unreachable_shop_server_shows_a_clear_message(browser_factory):
    driver = browser_factory()
    with token_endpoint(
        livekit_url=closed_livekit_url(),
        api_key=API_KEY,
        api_secret=API_SECRET,
        log_path=output_dir() / "logs" / "token-endpoint-stopped.log",
    ) as url:
        driver.get(url)
        WebDriverWait(driver, WAIT_S).until(lambda d: phase(d) == "idle")
    # the server is gone now; the page is still open
    driver.find_element(By.ID, "start-button").click()

    assert shown_error(driver) == (
        "The ShopMe server could not be reached. Check your internet connection and try again."
    )


def test_the_start_form_fits_a_phone_and_every_control_is_labelled(browser_factory, page_url):
    driver = browser_factory(window=(360, 740))
    driver.get(page_url)
    WebDriverWait(driver, WAIT_S).until(lambda d: phase(d) == "idle")

    width = driver.execute_script(
        "return [window.innerWidth, document.documentElement.scrollWidth,"
        " document.documentElement.clientWidth]"
    )
    assert width[0] == 360
    assert width[1] <= width[2], f"the page scrolls sideways on a phone: {width}"
    unlabelled = driver.execute_script(
        """
        const missing = [];
        for (const input of document.querySelectorAll('input')) {
          if (!input.labels || input.labels.length === 0 || !input.labels[0].textContent.trim())
            missing.push(input.id);
        }
        for (const button of document.querySelectorAll('button')) {
          if (!button.textContent.trim() && !button.getAttribute('aria-label')) missing.push(button.id);
        }
        return missing;
        """
    )
    assert unlabelled == []
    # keyboard order on the start form: name, username, password, start
    driver.find_element(By.ID, "name-input").click()
    order = []
    for _ in range(3):
        driver.switch_to.active_element.send_keys(Keys.TAB)
        order.append(driver.switch_to.active_element.get_attribute("id"))
    assert order == ["username-input", "password-input", "start-button"]
