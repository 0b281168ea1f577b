"""The operations dashboard in a real browser (Debian's Chromium, Playwright), and its access.

The hand-built days of ``tests/operations`` are seeded ending now; an adjudicator and an
auditor log in, see the summary, the four charts drawn by the vendored Chart.js (each canvas
has painted pixels) and the early-warning list; a customer app's and a supply-chain system's
keys are refused at the login. Screenshots land in ``test-output/screenshots`` (and in
``FRESHPROOF_OPS_SHOTS`` when set). Skipped only where there is no Chromium at
/usr/bin/chromium and FRESHPROOF_REQUIRE_BROWSER is not 1 (CI sets it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.api.access import grant
from tests.conftest import REPO
from tests.operations.handbuilt import seed_days
from tests.web.server import serve
from tests.web.test_session import _log_in as _client_log_in

CHROMIUM = Path("/usr/bin/chromium")
REQUIRED = os.environ.get("FRESHPROOF_REQUIRE_BROWSER") == "1"
SHOTS = [REPO / "test-output" / "screenshots"]
if os.environ.get("FRESHPROOF_OPS_SHOTS"):
    SHOTS.append(Path(os.environ["FRESHPROOF_OPS_SHOTS"]))
browser_only = pytest.mark.skipif(
    not CHROMIUM.exists() and not REQUIRED,
    reason="no Chromium at /usr/bin/chromium (apt-get install chromium; "
    "FRESHPROOF_REQUIRE_BROWSER=1 makes this a failure)",
)
if CHROMIUM.exists() or REQUIRED:
    from playwright.sync_api import Browser, Page, expect, sync_playwright

CANVASES = ("chart-category", "chart-defect", "chart-sla", "chart-party")
# Painted pixels of a canvas: a blank one is all transparent.
PAINTED = """(id) => {
  const c = document.getElementById(id);
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) n++;
  return {width: c.width, height: c.height, painted: n};
}"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    app = create_app(
        Settings(
            data_dir=tmp_path_factory.mktemp("operations") / "var",
            anchor_backend="none",
            anchor_every_entries=1_000_000,
            rate_limit_per_minute=0,
            web_secure_cookies=False,
        )
    )
    services = app.state.services
    seed_days(services.engine, services.ledger, now=datetime.now(UTC))
    return app


@pytest.fixture(scope="module")
def base_url(app: Any) -> Iterator[str]:
    with serve(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def _shot(page: Page, name: str) -> None:
    for folder in SHOTS:
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _open(browser: Browser, base_url: str, key: dict[str, str], width: int = 1280) -> Page:
    context = browser.new_context(base_url=base_url, viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto("/review/login?next=/review/operations")
    page.get_by_label("API key").fill(key["Authorization"].removeprefix("Bearer "))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/review/operations$"))
    return page


def _sees_the_dashboard(page: Page) -> None:
    expect(page.get_by_role("heading", name="Operations")).to_be_visible()
    # The default window, the last 7 days, holds all six hand-built claims; one paid alone.
    expect(page.locator('[data-figure="claims"]')).to_have_text("6")
    expect(page.locator('[data-figure="automation"]')).to_have_text("17%")
    expect(page.locator('[data-figure="paid"]')).to_have_text("20.50 EUR")
    page.wait_for_function("document.body.dataset.chartsReady === '1'")
    for canvas in CANVASES:
        drawn = page.evaluate(PAINTED, canvas)
        assert drawn["width"] > 200 and drawn["height"] > 100, (canvas, drawn)
        assert drawn["painted"] > 500, (canvas, drawn)
    rows = page.locator("#warnings li")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("lot STRAW-1: 2 claims on 100 units in 3 days")
    expect(rows.nth(2)).to_contain_text("no delivered quantity on record")
    expect(page.get_by_role("table", name="By responsible party")).to_contain_text("carrier")


@browser_only
def test_an_adjudicator_sees_the_charts_and_the_lots_to_watch(
    app: Any, base_url: str, browser: Browser
) -> None:
    page = _open(browser, base_url, grant(app, "adjudicator"))
    _sees_the_dashboard(page)
    _shot(page, "operations-desktop")
    phone = _open(browser, base_url, grant(app, "adjudicator"), width=390)
    _sees_the_dashboard(phone)
    _shot(phone, "operations-phone")


@browser_only
def test_an_auditor_sees_it_too(app: Any, base_url: str, browser: Browser) -> None:
    page = _open(browser, base_url, grant(app, "auditor"))
    _sees_the_dashboard(page)
    expect(page.get_by_text("read only")).to_be_visible()


@browser_only
@pytest.mark.parametrize(
    ("role", "bindings"),
    [
        ("customer_app", {"customer_id": "cust-1"}),
        ("supply_chain", {"parties": ["urn:epc:id:pgln:4012345.00000"]}),
    ],
)
def test_customer_and_supply_chain_keys_are_refused(
    app: Any, base_url: str, browser: Browser, role: str, bindings: dict[str, Any]
) -> None:
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    page.goto("/review/operations")
    assert "/review/login" in page.url  # no session: the login first
    key = grant(app, role, **bindings)
    page.get_by_label("API key").fill(key["Authorization"].removeprefix("Bearer "))
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("cannot use the workbench")).to_be_visible()
    assert page.goto("/review/operations.json").url.startswith(f"{base_url}/review/login")


def test_the_json_is_the_pages_figures_behind_the_same_session(app: Any) -> None:
    with TestClient(app, base_url="https://testserver") as client:
        refused = client.get("/review/operations.json", follow_redirects=False)
        assert refused.status_code == 303 and "/review/login" in refused.headers["location"]
        # A bearer key is not a session: the API's keys do not open workbench pages.
        bearer = client.get(
            "/review/operations.json", headers=grant(app, "auditor"), follow_redirects=False
        )
        assert bearer.status_code == 303
        _client_log_in(client, grant(app, "auditor"))
        body = client.get("/review/operations.json?days=7").json()
        # c1..c6; c2 and c4 answered late, c5 and c6 (P1, untouched for days) breached both.
        assert body["total"]["claims"] == 6 and body["total"]["breached"] == 6
        assert [w["lot"] for w in body["warnings"]] == ["STRAW-1", "BEEF-7", "APPLE-3"]
        assert client.get("/review/operations?days=0").status_code == 422
        page = client.get("/review/operations")
        assert page.status_code == 200
        assert "cdn" not in page.text.lower() and "/review/static/vendor/chart.umd.js" in page.text
