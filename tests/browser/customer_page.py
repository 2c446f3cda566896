"""The customer page as a test reads and uses it: what a person sees, through Selenium.

Blocking calls: room-level tests run them in a thread (`asyncio.to_thread`), so the LiveKit
double and the worker keep running on the event loop meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

DEFAULT_WAIT_S = 30.0

# Records every change of a transcript line's text or final flag, so a test can tell that a
# segment was shown as interim before it became final.
RECORD_TRANSCRIPT_CHANGES = """
window.__transcriptChanges = [];
const list = document.getElementById('transcript');
new MutationObserver(() => {
  for (const item of list.querySelectorAll('li.turn')) {
    const entry = [item.dataset.segment || '', item.dataset.final, item.querySelector('.text').textContent];
    const last = window.__transcriptChanges.filter(e => e[0] === entry[0] && entry[0]).pop();
    if (!last || last[1] !== entry[1] || last[2] !== entry[2]) window.__transcriptChanges.push(entry);
  }
}).observe(list, {subtree: true, childList: true, characterData: true, attributes: true});
"""


@dataclass(frozen=True)
class Line:
    speaker: str  # agent, customer, person
    who: str
    text: str
    final: bool


class CustomerPage:
    def __init__(self, driver: WebDriver, wait_s: float = DEFAULT_WAIT_S) -> None:
        self.driver = driver
        self.wait_s = wait_s

    # --- doing -----------------------------------------------------------------------------

    def open(self, url: str) -> CustomerPage:
        self.driver.get(url)
        self.wait_until(lambda: self.phase() == "idle", "the page to load")
        self.driver.execute_script(RECORD_TRANSCRIPT_CHANGES)
        return self

    def start_call(
        self, *, name: str | None = None, username: str | None = None, password: str | None = None
    ) -> None:
        for field, value in (("name-input", name), ("username-input", username), ("password-input", password)):
            if value is not None:
                self._by_id(field).clear()
                self._by_id(field).send_keys(value)
        self._by_id("start-button").click()

    def type_message(self, text: str) -> None:
        """Type into the message box and press Enter, as a keyboard user does."""
        self._by_id("chat-input").send_keys(text, Keys.ENTER)

    def hang_up(self) -> None:
        self._by_id("hangup-button").click()

    def toggle_mute(self) -> None:
        self._by_id("mute-button").click()

    # --- seeing ----------------------------------------------------------------------------

    def phase(self) -> str:
        return self._by_id("app").get_attribute("data-phase") or ""

    def agent_state(self) -> str:
        return self._by_id("agent-state").get_attribute("data-state") or ""

    def agent_state_text(self) -> str:
        return self._by_id("agent-state").text

    def error(self) -> str:
        element = self._by_id("error")
        return element.text if element.is_displayed() else ""

    def lines(self) -> list[Line]:
        rows = self.driver.execute_script(
            """
            return [...document.querySelectorAll('#transcript li.turn')].map(li => [
              li.dataset.speaker, li.querySelector('.who').textContent,
              li.querySelector('.text').textContent, li.dataset.final === 'true']);
            """
        )
        return [Line(*row) for row in rows]

    def notices(self) -> list[str]:
        return [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, "#transcript li.notice")]

    def transcript_changes(self) -> list[tuple[str, str, str]]:
        return [tuple(change) for change in self.driver.execute_script("return window.__transcriptChanges")]

    def said(self, speaker: str) -> list[str]:
        return [line.text for line in self.lines() if line.speaker == speaker and line.final]

    def order_card(self, order_number: str) -> dict[str, Any] | None:
        """What the card for `order_number` shows: field -> text (dates: their ISO datetime)."""
        return self.driver.execute_script(
            """
            const card = document.querySelector(`#transcript li.order-card[data-order="${arguments[0]}"]`);
            if (!card) return null;
            const shown = {status: card.querySelector('[data-field="status"]').dataset.status,
                           status_text: card.querySelector('[data-field="status"]').textContent};
            for (const dd of card.querySelectorAll('dd[data-field]')) {
              const time = dd.querySelector('time');
              shown[dd.dataset.field] = time ? time.dateTime : dd.textContent;
            }
            shown.items = [...card.querySelectorAll('tr[data-field="item"]')].map(
              row => [...row.cells].map(cell => cell.textContent));
            return shown;
            """,
            order_number,
        )

    def escalation(self) -> dict[str, str] | None:
        box = self._by_id("escalation")
        if not box.is_displayed():
            return None
        return {
            "ticket": self._by_id("ticket-number").text,
            "step": box.get_attribute("data-step") or "",
            "status": self._by_id("escalation-status").text,
        }

    def mute_button(self) -> dict[str, Any]:
        button = self._by_id("mute-button")
        return {
            "text": button.text,
            "pressed": button.get_attribute("aria-pressed"),
            "enabled": button.is_enabled(),
        }

    # --- waiting ---------------------------------------------------------------------------

    def wait_until(self, condition: Callable[[], Any], what: str, timeout: float | None = None) -> Any:
        def check(_driver: WebDriver) -> Any:
            try:
                return condition()
            except StaleElementReferenceException:
                return False

        return WebDriverWait(self.driver, timeout or self.wait_s, poll_frequency=0.2).until(
            check, message=f"waited {timeout or self.wait_s:.0f} s for {what}"
        )

    def wait_for_line(self, speaker: str, text: str, timeout: float | None = None) -> Line:
        """The first final line of `speaker` containing `text`."""

        def found() -> Line | None:
            return next(
                (ln for ln in self.lines() if ln.speaker == speaker and ln.final and text in ln.text),
                None,
            )

        return self.wait_until(found, f"{speaker} to say {text!r}", timeout)

    def wait_for_agent_line_after(self, count: int, timeout: float | None = None) -> Line:
        """The first final agent line beyond the first `count` agent lines."""

        def found() -> Line | None:
            said = [ln for ln in self.lines() if ln.speaker == "agent" and ln.final]
            return said[count] if len(said) > count else None

        return self.wait_until(found, "the agent's next answer", timeout)

    def _by_id(self, element_id: str):
        return self.driver.find_element(By.ID, element_id)
