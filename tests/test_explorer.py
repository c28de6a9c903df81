"""The forecast explorer page in a real headless Chromium (Debian's, through Playwright).

The screenshot is saved to ``test-artifacts/explorer.png`` (or ``$TEST_ARTIFACTS``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import running
from playwright.sync_api import Browser, Page, expect, sync_playwright

from api.settings import Settings

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "test-artifacts"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert shutil.which(CHROMIUM), f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Page, str]]:
    keys = ("secret-key",) if "keys" in request.node.name else ()
    settings = Settings(data_dir=tmp_path, executor="serial", max_draws=5000, api_keys=keys)
    with running(settings) as url:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        yield page, url
        page.close()


def test_explore_a_preset(page: tuple[Page, str]) -> None:
    tab, url = page
    tab.goto(url)
    expect(tab.locator("#preset option")).to_have_count(7)
    tab.select_option("#preset", "high-level-opening")
    for code in ("JPN", "KOR", "IND", "ASEAN", "GBR", "CAN", "RUS", "TUR", "BRA"):
        tab.locator(f"input[name=economies][value={code}]").uncheck()
    tab.fill("#draws", "500")
    tab.fill("#horizon_years", "10")
    tab.click("#submit")
    expect(tab.locator("#results")).to_be_visible(timeout=60_000)
    expect(tab.locator("#status")).to_contain_text("succeeded")
    tab.wait_for_function("document.getElementById('fanchart').naturalWidth > 0", timeout=30_000)
    expect(tab.locator("#economy option")).to_have_text(["CHN", "USA", "EU"])
    expect(tab.locator("#quantiles tbody tr")).to_have_count(2)  # policy and baseline
    expect(tab.locator("#quantiles thead")).to_contain_text("p50")
    expect(tab.locator("#probabilities tbody")).to_contain_text("TFP growth > 2.00%")
    expect(tab.locator("#gains tbody tr")).to_have_count(3)
    expect(tab.locator("#track-record-text")).to_contain_text("the 90% bands held the realized TFP growth")
    expect(tab.locator("#probabilities tbody")).to_contain_text("above the baseline")
    expect(tab.locator("#channels tbody tr")).to_have_count(6)
    first_chart = tab.get_attribute("#fanchart", "src")
    tab.select_option("#economy", "USA")
    tab.wait_for_function(f"document.getElementById('fanchart').src !== {first_chart!r}")
    tab.wait_for_function("document.getElementById('fanchart').complete")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "explorer.png"), full_page=True)
    with tab.expect_download() as download:
        tab.click("#download-csv")
    assert download.value.suggested_filename == "summary.csv"


def test_errors_appear_next_to_their_field(page: tuple[Page, str]) -> None:
    tab, url = page
    tab.goto(url)
    expect(tab.locator("#preset option")).to_have_count(7)
    tab.fill("#draws", "9000")
    tab.click("#submit")
    expect(tab.locator(".error[data-field=draws]")).to_contain_text("at most 5000")
    expect(tab.locator("#draws")).to_have_attribute("aria-invalid", "true")
    tab.fill("#draws", "100")
    tab.check("#custom")
    tab.fill("#digital-start", "1800")
    tab.click("#submit")
    expect(tab.locator(".error[data-field=policy]")).to_contain_text("policy.digital.start_year")
    expect(tab.locator(".error[data-field=draws]")).to_be_hidden()


def test_works_with_api_keys(page: tuple[Page, str]) -> None:
    tab, url = page
    tab.goto(url)
    expect(tab.locator("#form-error")).to_contain_text("API key")
    tab.fill("#api-key", "secret-key")
    tab.dispatch_event("#api-key", "change")
    expect(tab.locator("#preset option")).to_have_count(7)
    tab.fill("#draws", "200")
    tab.fill("#horizon_years", "8")
    tab.click("#submit")
    expect(tab.locator("#status")).to_contain_text("succeeded", timeout=60_000)
    tab.wait_for_function("document.getElementById('fanchart').naturalWidth > 0", timeout=30_000)
