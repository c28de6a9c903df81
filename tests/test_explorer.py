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


def _small_run(tab: Page, economies: tuple[str, ...] = ("CHN", "USA")) -> None:
    for box in tab.locator("input[name=economies]").all():
        if box.get_attribute("value") not in economies:
            box.uncheck()
    tab.fill("#draws", "200")
    tab.fill("#horizon_years", "5")


def test_custom_mode_starts_from_the_preset_and_sends_enacting_and_partners(page: tuple[Page, str]) -> None:
    tab, url = page
    tab.goto(url)
    expect(tab.locator("#preset option")).to_have_count(7)
    tab.select_option("#preset", "digital")
    tab.check("#custom")
    expect(tab.locator("#digital-value")).to_have_text("1.00")  # the preset's levers, not 0.50
    expect(tab.locator("#software-value")).to_have_text("0.00")
    expect(tab.locator("#digital-enacting")).to_have_value("CHN")
    tab.fill("#digital-partners", "usa, EU")
    _small_run(tab, ("CHN", "USA", "EU"))
    tab.click("#submit")
    expect(tab.locator("#status")).to_contain_text("succeeded", timeout=60_000)
    job = tab.evaluate("fetch('/v1/forecasts/' + location.hash.split('/')[1]).then((r) => r.json())")
    digital = job["request"]["policy"]["digital"]
    assert digital["enacting"] == ["CHN"] and digital["partners"] == ["USA", "EU"]
    assert job["request"]["policy"]["software"]["intensity"] == 0.0


def test_compare_policies_side_by_side(page: tuple[Page, str]) -> None:
    tab, url = page
    tab.goto(url)
    expect(tab.locator("#preset option")).to_have_count(7)
    tab.select_option("#analysis", "comparisons")
    expect(tab.locator("#compare-set")).to_be_visible()
    tab.check("input[name=compare][value=digital]")  # with baseline and high-level-opening, ticked
    _small_run(tab)
    tab.click("#submit")
    expect(tab.locator("#analysis-results")).to_be_visible(timeout=60_000)
    expect(tab.locator("#analysis-table tbody tr")).to_have_count(3)
    expect(tab.locator("#analysis-table thead")).to_contain_text("P(ranks first)")
    expect(tab.locator("#analysis-chart")).to_be_hidden()
    tab.select_option("#analysis-economy", "USA")
    expect(tab.locator("#analysis-table tbody tr").first).to_contain_text("baseline")


def test_attribution_bars_a_tornado_and_a_shared_link_that_reopens_them(
    page: tuple[Page, str], browser: Browser
) -> None:
    tab, url = page
    tab.goto(url)
    expect(tab.locator("#preset option")).to_have_count(7)
    tab.select_option("#analysis", "attributions")
    _small_run(tab)
    tab.click("#submit")
    expect(tab.locator("#analysis-results")).to_be_visible(timeout=60_000)
    rows = tab.locator("#analysis-table tbody tr")
    expect(rows).to_have_count(6)  # four levers, the interaction, the total
    expect(rows.nth(1)).to_contain_text("software")
    expect(tab.locator("#analysis-table .bar")).to_have_count(6)
    tab.wait_for_function("document.getElementById('analysis-chart').naturalWidth > 0", timeout=30_000)
    shared, table = tab.url, tab.locator("#analysis-table").text_content() or ""
    assert "#attributions/" in shared
    expect(tab.locator("#history-list li").first).to_contain_text("attribution")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "explorer-attribution.png"), full_page=True)
    other = browser.new_page()
    try:
        other.goto(shared)  # a colleague opens the link
        expect(other.locator("#analysis-results")).to_be_visible(timeout=60_000)
        expect(other.locator("#analysis-table")).to_have_text(table)
    finally:
        other.close()
    tab.select_option("#analysis", "sensitivities")
    tab.click("#submit")
    expect(tab.locator("#job-title")).to_have_text("Sensitivity")
    expect(tab.locator("#analysis-table tbody tr")).to_have_count(7, timeout=60_000)  # seven groups
    expect(tab.locator("#analysis-heading")).to_contain_text("policy effect")
