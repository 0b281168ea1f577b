"""A pack's public page in a real browser at a phone's width: Debian's Chromium by Playwright.

The lot is built through the API (tests/web/pack_seed.py) and the app served by uvicorn on
127.0.0.1 (a secure context: the proof script's WebCrypto works). At 390 by 844 the route,
the inspection and the chart are on screen, every record's proof verifies in the browser
(and fails once a record is changed), nothing runs off the side, and a browser asking for
Chinese reads Chinese. Screenshots land in ``test-output/screenshots``.

Skipped only where there is no Chromium at /usr/bin/chromium and FRESHPROOF_REQUIRE_BROWSER
is not 1 (CI sets it, and installs Chromium).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from tests.conftest import REPO
from tests.web.pack_seed import GTIN, LOT, SECRETS, seed_pack
from tests.web.server import serve
from tests.web.test_pack_page import pack_settings

CHROMIUM = Path("/usr/bin/chromium")
REQUIRED = os.environ.get("FRESHPROOF_REQUIRE_BROWSER") == "1"
SCREENSHOTS = REPO / "test-output" / "screenshots"
PHONE = {"width": 390, "height": 844}
PAGE = f"/01/{GTIN}/10/{LOT}"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not REQUIRED,
    reason="no Chromium at /usr/bin/chromium (apt-get install chromium; "
    "FRESHPROOF_REQUIRE_BROWSER=1 makes this a failure)",
)

if CHROMIUM.exists() or REQUIRED:
    from playwright.sync_api import Browser, Page, expect, sync_playwright

VERIFIED = """async () => {
  const result = await window.freshproof.verification;
  const marks = [...document.querySelectorAll('.proof[data-proof-index]')];
  return {result, all: marks.length > 0 && marks.every(m => m.classList.contains('ok'))};
}"""


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = create_app(pack_settings(tmp_path_factory.mktemp("pack-browser")))
    with serve(app) as url:
        with httpx.Client(base_url=url, timeout=60) as client:
            seed_pack(app, client)
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def _phone(browser: Browser, base_url: str, language: str) -> Page:
    context = browser.new_context(
        base_url=base_url,
        viewport=PHONE,  # type: ignore[arg-type]
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale=language,
        extra_http_headers={"Accept-Language": language},
    )
    return context.new_page()


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _fits(page: Page) -> Any:
    """Nothing wider than the phone's screen: no sideways scrolling."""
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_at_a_phones_width_the_page_shows_its_story_and_verifies(
    browser: Browser, base_url: str
) -> None:
    page = _phone(browser, base_url, "en-GB")
    page.goto(PAGE)
    expect(page.get_by_role("heading", name="Strawberries 500 g")).to_be_visible()
    route = page.locator("#route")
    for name in ("Green Farm", "North DC", "FastVan"):
        expect(route.get_by_text(name, exact=True)).to_be_visible()
    inspection = page.locator("#inspections li.inspection")
    expect(inspection).to_have_count(1)
    expect(inspection.locator(".badge")).to_have_text("Passed")
    chart = page.locator("#temperature svg.chart")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None and 300 <= box["width"] <= 390
    expect(chart.locator("rect.band")).to_have_count(1)
    expect(chart.locator("rect.excursion")).to_have_count(1)

    outcome = page.evaluate(VERIFIED)
    assert outcome["all"] and outcome["result"]["failed"] == 0
    expect(page.locator("#proof-overall")).to_have_class("proof ok")
    expect(page.locator("#checkpoint-status")).to_contain_text("verified")
    # Records with a private field are proven by their leaf alone, and say so.
    expect(page.locator(".proof", has_text="logged (not public)").first).to_be_visible()
    assert _fits(page)
    html = page.content()
    assert all(secret not in html for secret in SECRETS.values())
    _shot(page, "pack-phone-en")

    # A record changed on its way to the page fails to verify, naming why.
    page.evaluate(
        """() => {
      const e = window.freshproof.proofData.entries.find(x => x.record !== null);
      const r = JSON.parse(e.record); r.body.view.biz_step = 'destroying';
      e.record = JSON.stringify(r);
      return window.freshproof.verifyProofs();
    }"""
    )
    expect(page.locator(".proof[data-proof-index].failed").first).to_contain_text("FAILED")
    expect(page.locator("#proof-overall")).to_have_class("proof failed")


def test_a_browser_asking_for_chinese_reads_chinese(browser: Browser, base_url: str) -> None:
    page = _phone(browser, base_url, "zh-CN")
    page.goto(PAGE)
    expect(page.get_by_role("heading", name="草莓 500 克")).to_be_visible()
    expect(page.locator("#h-route")).to_have_text("流转路线")
    expect(page.locator("#inspections .badge")).to_have_text("合格")
    expect(page.locator("#origin")).to_contain_text("西班牙")
    page.evaluate("() => window.freshproof.verification")
    expect(page.locator("#proof-overall")).to_have_class("proof ok")
    expect(page.locator("#checkpoint-status")).to_contain_text("已验证")
    assert _fits(page)
    _shot(page, "pack-phone-zh")
    # The reader may switch: ?lang=en wins over the browser's language.
    page.get_by_role("link", name="English").click()
    expect(page.locator("#h-route")).to_have_text("Route")


def test_unknown_and_malformed_links_are_plain_pages(browser: Browser, base_url: str) -> None:
    page = _phone(browser, base_url, "en")
    answer = page.goto(f"/01/{GTIN}/10/NO-SUCH-LOT")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", name="Not a pack we know")).to_be_visible()
    answer = page.goto(f"/01/{GTIN[:-1]}7/10/{LOT}")
    assert answer is not None and answer.status == 400
    expect(page.get_by_role("heading", name="Not a pack's link")).to_be_visible()
    assert _fits(page)
    _shot(page, "pack-phone-400")
