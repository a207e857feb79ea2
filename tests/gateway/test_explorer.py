"""The explorer page in a real headless Chromium (Debian's ``chromium`` and its
``chromedriver``, driven by Selenium): it lists the services and actions with their
documentation and schemas, calls an action with the body typed into it and shows the
response, and shows errors as errors. It also takes the screenshots of docs/gateway.md."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from servicewire.gateway import create_app
from tests.gateway.deployments import SHOP_ACTIONS, Deployment, serving
from tests.support.processes import ROOT
from tests.support.services import unavailable
from tests.support.waiting import wait_until

IMAGES = ROOT / "docs" / "images"
SCREENSHOTS_VARIABLE = "SERVICEWIRE_GATEWAY_SCREENSHOTS"
"""Set to ``1`` to write the guide's screenshots into docs/images (else into a temporary
folder, so that a test run leaves the tree alone)."""


def browser_binaries() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        unavailable("the explorer test needs Debian's chromium and chromium-driver packages")
        raise AssertionError("unreachable: unavailable() skips or fails")
    return chromium, driver


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver = browser_binaries()
    with tempfile.TemporaryDirectory(prefix="gateway-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for argument in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--window-size=1000,760",
        ):
            options.add_argument(argument)
        chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
        try:
            yield chrome
        finally:
            chrome.quit()


@pytest.fixture(scope="module")
def explorer_url(sqlite_gateway_deployment: Deployment) -> Iterator[str]:
    app = create_app(
        {"expose": {"shop": SHOP_ACTIONS}, "timeout_in_seconds": 5, "title": "Shop gateway"},
        sqlite_gateway_deployment.client_config(),
    )
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get(SCREENSHOTS_VARIABLE) == "1":
        IMAGES.mkdir(exist_ok=True)
        return IMAGES
    return tmp_path_factory.mktemp("screenshots")


def action_card(browser: webdriver.Chrome, action: str) -> WebElement:
    return wait_until(
        lambda: browser.find_elements(By.CSS_SELECTOR, f'section.action[data-action="{action}"]'),
        f"the card of {action} on the page",
    )[0]


def call_with(browser: webdriver.Chrome, card: WebElement, body: object) -> tuple[str, str]:
    """Type ``body`` into the card's form, press Call; the status line and response shown."""
    textarea = card.find_element(By.CSS_SELECTOR, "textarea.body")
    textarea.clear()
    textarea.send_keys(json.dumps(body) if not isinstance(body, str) else body)
    card.find_element(By.CSS_SELECTOR, "button.call").click()
    status = card.find_element(By.CSS_SELECTOR, ".status")
    wait_until(lambda: status.text and not status.text.startswith("Calling"), "the reply shown")
    return status.text, card.find_element(By.CSS_SELECTOR, ".response").text


def test_the_page_lists_services_and_actions_with_docs_and_schemas(
    browser: webdriver.Chrome, explorer_url: str, screenshots: Path
) -> None:
    browser.get(explorer_url)
    card = action_card(browser, "price_order")
    assert browser.title == "Shop gateway"
    assert "1 service(s), 5 action(s)" in browser.find_element(By.ID, "summary").text
    shown = {
        element.get_attribute("data-action")
        for element in browser.find_elements(By.CSS_SELECTOR, "section.action")
    }
    assert shown == set(SHOP_ACTIONS)
    assert card.find_element(By.CSS_SELECTOR, ".path").text == "/shop/price_order"
    documentation = card.find_element(By.CSS_SELECTOR, ".documentation").text
    assert documentation == (
        "Counts the units of an order.\n\nEach line item names a product and its quantity."
    )
    browser.save_screenshot(str(screenshots / "gateway-explorer.png"))
    card.find_element(By.CSS_SELECTOR, "details summary").click()
    request_schema = json.loads(
        card.find_element(By.CSS_SELECTOR, ".request-schema").get_attribute("textContent") or ""
    )
    # References are resolved for reading: the line item's own schema is shown in place.
    assert request_schema["properties"]["items"]["items"]["properties"]["quantity"]["type"] == (
        "integer"
    )
    prefilled = json.loads(
        card.find_element(By.CSS_SELECTOR, "textarea.body").get_attribute("value") or ""
    )
    assert prefilled == {"customer": "", "items": []}


def test_an_action_called_from_the_page_shows_its_response(
    browser: webdriver.Chrome, explorer_url: str, screenshots: Path
) -> None:
    browser.get(explorer_url)
    card = action_card(browser, "price_order")
    order = {"customer": "ada", "items": [{"sku": "tea", "quantity": 3}]}
    status, response = call_with(browser, card, order)
    assert status == "200 OK"
    assert json.loads(response) == {"units": 3, "lines": order["items"]}
    browser.execute_script("arguments[0].scrollIntoView()", card)
    card.screenshot(str(screenshots / "gateway-call.png"))


def test_errors_are_shown_as_errors(
    browser: webdriver.Chrome, explorer_url: str, screenshots: Path
) -> None:
    browser.get(explorer_url)
    card = action_card(browser, "divide")
    status, response = call_with(browser, card, {"dividend": 1, "divisor": 0})
    assert status == "400 Bad Request"
    assert "failed" in (card.find_element(By.CSS_SELECTOR, ".status").get_attribute("class") or "")
    assert json.loads(response)["errors"][0]["code"] == "DIVISION_BY_ZERO"
    card.screenshot(str(screenshots / "gateway-error.png"))
    status, response = call_with(browser, card, "{not json")
    assert status == "400 Bad Request"
    assert "not valid JSON" in json.loads(response)["errors"][0]["message"]
