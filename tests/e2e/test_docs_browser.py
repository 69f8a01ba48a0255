"""GET /docs in a real browser: headless Chromium renders Swagger UI from the running system.

Needs Debian's chromium and chromium-driver (.ci/run installs them). Without them the
test is skipped, except on CI (CI set), where it fails. Selenium is given the driver
and the browser explicitly, so Selenium Manager never tries to download either. The
screenshot is kept as .run/artifacts/docs.png.
"""
import os
import tempfile
from pathlib import Path

import pytest

from gateway.openapi import openapi_spec
from support import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = ROOT / ".run" / "artifacts" / "docs.png"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--window-size=1280,1800",
)
RENDER_TIMEOUT_SECONDS = 20
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}

# [method, path] of every operation block Swagger UI rendered.
RENDERED_OPERATIONS = """
return Array.from(document.querySelectorAll('#swagger-ui .opblock')).map(block => [
  block.querySelector('.opblock-summary-method').textContent.trim().toLowerCase(),
  block.querySelector('.opblock-summary-path').getAttribute('data-path'),
]);
"""


@pytest.fixture(scope="module")
def browser():
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        reason = (f"headless Chromium needs {' and '.join(missing)}: "
                  "apt-get install chromium chromium-driver (.ci/run does)")
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def test_swagger_ui_renders_every_operation_from_the_gateway_alone(browser, stack):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    expected = sorted(
        [method, path]
        for path, item in openapi_spec()["paths"].items()
        for method in item if method in HTTP_METHODS
    )
    wait = WebDriverWait(browser, RENDER_TIMEOUT_SECONDS)

    browser.get(f"{stack}/docs")
    try:
        wait.until(lambda driver: len(driver.execute_script(RENDERED_OPERATIONS)) >= len(expected))
    except TimeoutException:
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOT))
        pytest.fail(f"Swagger UI rendered {browser.execute_script(RENDERED_OPERATIONS)} "
                    f"within {RENDER_TIMEOUT_SECONDS} s, not the {len(expected)} operations; "
                    f"console: {browser.get_log('browser')}; screenshot: {SCREENSHOT}")

    assert sorted(browser.execute_script(RENDERED_OPERATIONS)) == expected
    assert "Sales Management System" in browser.find_element(By.CSS_SELECTOR, ".info .title").text
    rendered_paths = {element.text for element in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/products", "/orders", "/customers/{customer_id}"} <= {p.replace("\u200b", "") for p in rendered_paths}

    # an operation opens, with the responses the document lists for it
    summary = browser.find_element(By.CSS_SELECTOR, "#operations-orders-create_order .opblock-summary")
    # Into view first: chromedriver clicks the bottom edge of the window without scrolling to it.
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", summary)
    summary.click()
    wait.until(expected_conditions.visibility_of_element_located(
        (By.CSS_SELECTOR, "#operations-orders-create_order .responses-table")))
    statuses = {cell.text for cell in browser.find_elements(
        By.CSS_SELECTOR, "#operations-orders-create_order .responses-table .response-col_status")}
    assert {"201", "400", "409", "413", "422", "500", "503"} <= statuses, statuses

    # everything came from the gateway: no CDN, no online validator, nothing refused
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert f"{stack}/openapi.json" in loaded
    assert f"{stack}/docs/swagger-ui-bundle.js" in loaded
    assert all(url.startswith(f"{stack}/") for url in loaded), loaded
    assert not [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
