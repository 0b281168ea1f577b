"""The adjudicator workbench in a real browser: Debian's Chromium driven by Playwright.

The app runs under uvicorn on 127.0.0.1 (a secure context, so the page's WebCrypto works);
claims are filed through the public API. An adjudicator logs in with a key, works the queue,
opens a claim, sees the model's boxes and the temperature chart, watches every cited ledger
entry verify in the browser (and fail once a proof is tampered with), decides, and the
customer's app sees the outcome. Screenshots land in ``test-output/screenshots``.

Skipped only where there is no Chromium at /usr/bin/chromium and FRESHPROOF_REQUIRE_BROWSER
is not 1 (CI sets it, and installs Chromium).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.settings import Settings
from tests.api.access import grant
from tests.conftest import REPO, jpeg_bytes, scene
from tests.web.seed import WAREHOUSE, Seeded, seed
from tests.web.server import serve

CHROMIUM = Path("/usr/bin/chromium")
REQUIRED = os.environ.get("FRESHPROOF_REQUIRE_BROWSER") == "1"
SCREENSHOTS = REPO / "test-output" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not REQUIRED,
    reason="no Chromium at /usr/bin/chromium (apt-get install chromium; "
    "FRESHPROOF_REQUIRE_BROWSER=1 makes this a failure)",
)

if CHROMIUM.exists() or REQUIRED:
    from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

ALL_VERIFIED = """() => {
  const marks = [...document.querySelectorAll('.proof[data-proof-index]')];
  return marks.length > 0 && marks.every(m => m.textContent === 'verified');
}"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # No rate limit: one adjudicator's key loads many pages and photos in a few seconds.
    return create_app(
        Settings(
            data_dir=tmp_path_factory.mktemp("workbench") / "var",
            anchor_backend="none",
            anchor_every_entries=1_000_000,
            rate_limit_per_minute=0,
            web_secure_cookies=False,  # plain http://127.0.0.1, as `make run`
        )
    )


@pytest.fixture(scope="module")
def base_url(app: Any) -> Iterator[str]:
    with serve(app) as url:
        yield url


@pytest.fixture(scope="module")
def seeded(app: Any, base_url: str) -> Seeded:
    return seed(app, base_url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def _log_in(
    browser: Browser, base_url: str, key: dict[str, str], viewport: dict[str, int] = DESKTOP
) -> tuple[BrowserContext, Page]:
    context = browser.new_context(base_url=base_url, viewport=viewport)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto("/review/login")
    page.get_by_label("API key").fill(_token(key))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/review$"))
    return context, page


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _ledger_size(base_url: str) -> int:
    return int(httpx.get(f"{base_url}/v1/ledger/checkpoint").text.split("\n")[1])


def test_without_a_session_every_page_sends_you_to_log_in(
    browser: Browser, base_url: str, seeded: Seeded
) -> None:
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    page.goto(f"/review/claims/{seeded.chain_claim['id']}")
    assert page.url.startswith(f"{base_url}/review/login")
    expect(page.get_by_label("API key")).to_be_visible()
    # A photo is evidence too: no session, no photo.
    photo = context.request.get(
        f"/review/claims/{seeded.chain_claim['id']}/photos/0", max_redirects=0
    )
    assert photo.status == 303 and "/review/login" in photo.headers["location"]
    # A customer's key opens no workbench.
    page.get_by_label("API key").fill(_token(seeded.customer))
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("cannot use the workbench")
    context.close()


def test_an_adjudicator_works_a_claim_from_the_queue_to_the_customers_answer(
    browser: Browser, base_url: str, app: Any, seeded: Seeded
) -> None:
    claim = seeded.chain_claim
    assert claim["verdict"]["reasons"][0]["refs"], "the seeded verdict must cite entries"
    context, page = _log_in(browser, base_url, grant(app, "adjudicator"))

    # The queue: both claims, SLA timers counting down, views as links.
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(2)
    timer = page.locator(".timer[data-remaining] .t-text").first
    before = timer.text_content()
    page.wait_for_timeout(1500)
    assert timer.text_content() != before and "left" in (timer.text_content() or "")
    page.get_by_role("link", name="Awaiting approval").click()
    expect(page.get_by_role("link", name="Awaiting approval")).to_have_attribute(
        "aria-current", "page"
    )
    page.get_by_role("link", name="Needs review").click()
    expect(rows).to_have_count(1)  # only the undetermined claim on the lot without records
    page.get_by_role("link", name="All open").click()
    _shot(page, "queue-1280x800")

    # The claim: the model's box over the photo, a chart per custody segment, the reasons.
    page.get_by_role("link", name="Lot LOT-WORKBENCH").click()
    findings = sum(len(p["findings"]) for p in claim["photos"])
    assert findings >= 1
    expect(page.locator("svg.boxes rect.box")).to_have_count(findings)
    expect(page.locator("img[src$='/photos/0']")).to_have_js_property("complete", True)
    assert page.locator("img[src$='/photos/0']").evaluate("i => i.naturalWidth") > 0
    assert page.locator("svg.chart polyline.series").count() >= 3  # farm, warehouse, truck
    assert page.locator("svg.chart rect.excursion").count() >= 1  # the truck ran hot
    expect(page.locator("article.reason code").first).to_have_text("TEMPERATURE_ABUSE")
    _no_python(page)
    expect(page.get_by_text(claim["photos"][0]["model"]["version"]).first).to_be_visible()

    # Every cited entry verifies in the browser against the signed checkpoint...
    page.wait_for_function(ALL_VERIFIED, timeout=15_000)
    expect(page.locator("#checkpoint-status")).to_contain_text("verified")
    _shot(page, "claim-1280x800")
    # ...and a tampered proof, or a tampered checkpoint, does not.
    cited = claim["verdict"]["reasons"][0]["refs"][0]["index"]
    page.evaluate(
        """(index) => {
          const e = window.freshproof.proofData.entries.find(x => x.index === index);
          e.inclusion_proof[0] = btoa(String.fromCharCode(...new Uint8Array(32)));
        }""",
        cited,
    )
    page.get_by_role("button", name="Verify again").click()
    failed = page.locator(f"table.proofs .proof[data-proof-index='{cited}']")
    expect(failed).to_have_text(re.compile(r"^FAILED: .*signed root"))
    expect(page.locator("article.reason .proof").first).to_contain_text("FAILED")
    assert page.locator("table.proofs .proof.ok").count() >= 1  # the others still verify
    page.evaluate(
        """() => {
          const d = window.freshproof.proofData;
          d.checkpoint = d.checkpoint.replace(/\\n(\\d+)\\n/, (m, n) => `\\n${Number(n) + 1}\\n`);
        }"""
    )
    page.get_by_role("button", name="Verify again").click()
    expect(page.locator("#checkpoint-status")).to_have_text(
        "FAILED: the checkpoint's signature does not verify"
    )
    page.reload()
    page.wait_for_function(ALL_VERIFIED, timeout=15_000)

    # A box drawn with the mouse fills the corners; typed corners are the keyboard's way.
    photo = page.locator("figure.photo[data-photo='0'] svg.boxes")
    photo.scroll_into_view_if_needed()
    box = photo.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.6)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.9, steps=5)
    page.mouse.up()
    expect(page.locator("svg.boxes rect.draft")).to_have_attribute("visibility", "visible")
    x1 = float(page.get_by_label("x1", exact=True).input_value())
    assert 25 < x1 < 40  # 10% of a 320-pixel photo
    expect(page.get_by_label("The box is")).to_have_value("missed")
    for corner, value in zip(("x1", "y1", "x2", "y2"), ("30", "190", "130", "290"), strict=True):
        page.get_by_label(corner, exact=True).fill(value)
    page.get_by_label("Label", exact=True).select_option("package_damage")
    page.locator("fieldset.review-finding").first.get_by_label("right", exact=True).check()

    # Decide: override the carrier with the warehouse, approve the held compensation.
    page.get_by_label("Override it").check()
    page.get_by_label("Responsible instead").select_option("carrier")
    page.get_by_label("Responsible instead").select_option("warehouse")
    page.get_by_label("Party id").fill(WAREHOUSE)
    page.get_by_label("Approve the proposal").check()
    page.get_by_label("Reason").fill("The reefer log was the warehouse's: its unit, its alarm.")
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("status").first).to_contain_text("Decision recorded")
    expect(page.locator("#ticket-state")).to_have_text("resolved")
    expect(page.locator("#outcome-party")).to_contain_text("warehouse")
    expect(page.locator("#decision-form")).to_have_count(0)
    expect(page.locator("svg.boxes rect.reviewed")).to_have_count(1)  # the box added
    page.wait_for_function(ALL_VERIFIED, timeout=15_000)  # the decision's entries too
    _shot(page, "claim-decided-1280x800")
    _no_python(page)
    context.close()

    # The customer's app sees the claim resolved, with the outcome.
    seen = httpx.get(f"{base_url}/v1/claims/{claim['id']}", headers=seeded.customer).json()
    assert seen["status"] == "resolved" and seen["ticket"]["state"] == "resolved"
    outcome = seen["outcome"]
    assert (outcome["responsible_party"], outcome["party_id"]) == ("warehouse", WAREHOUSE)
    assert outcome["compensation"]["paid"] is True
    assert outcome["compensation"]["payment"]["amount"] == claim["compensation"]["amount"]
    # People read a role, not a key id; the final party and payment are the claim's own.
    assert outcome["actor"] == "an adjudicator" and "fpk_" not in json.dumps(seen)
    assert (seen["responsible_party"], seen["verdict"]["responsible_party"]) == ("warehouse",) * 2
    assert seen["compensation"]["paid"] is True and seen["compensation"]["status"] == "paid"
    assert outcome["findings"] == [
        {"photo": 0, "index": 0, "correct": True, "label": None, "box": None},
        {
            "photo": 0,
            "index": None,
            "correct": False,
            "label": "package_damage",
            "box": [30.0, 190.0, 130.0, 290.0],
        },
    ]


def test_refusals_read_as_sentences_and_tickets_move(
    browser: Browser, base_url: str, app: Any, seeded: Seeded
) -> None:
    claim = seeded.bare_claim
    context, page = _log_in(browser, base_url, grant(app, "adjudicator"))
    page.goto(f"/review/claims/{claim['id']}")
    expect(page.get_by_text(f"holds no record of lot {claim['lot']}")).to_be_visible()
    expect(page.locator("article.reason code").first).to_have_text("NO_RECORDS")
    _no_python(page)
    page.wait_for_function(ALL_VERIFIED, timeout=15_000)  # its own evidence and verdict
    size = _ledger_size(base_url)
    # An undetermined verdict cannot be confirmed: the page does not offer it (the API's
    # rule), and an override naming nobody is the API's problem, as a sentence.
    expect(page.get_by_label("Confirm the verdict")).to_have_count(0)
    expect(page.locator("#no-confirm")).to_be_visible()
    page.get_by_label("Deny").check()
    page.get_by_label("Reason").fill("Nothing on record; the photo shows nothing either.")
    page.get_by_role("button", name="Record decision").click()
    problem = page.get_by_role("alert")
    expect(problem).to_contain_text("not valid")
    expect(problem).to_contain_text("an override names the responsible_party")
    expect(page.get_by_label("Reason")).to_have_value(
        "Nothing on record; the photo shows nothing either."
    )
    assert _ledger_size(base_url) == size
    _shot(page, "claim-refused-1280x800")
    # Ticket moves: acknowledge, wait on the customer (the clock pauses), resume.
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#ticket-state")).to_have_text("acknowledged")
    page.get_by_role("button", name="Wait on customer").click()
    expect(page.locator("#ticket-state")).to_have_text("waiting on customer")
    expect(page.locator(".timer.paused").first).to_be_visible()
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#ticket-state")).to_have_text("acknowledged")
    expect(page.locator("ol.history li")).to_have_count(3)
    context.close()


def test_a_form_without_the_sessions_csrf_token_is_refused(
    browser: Browser, base_url: str, app: Any, seeded: Seeded
) -> None:
    context, page = _log_in(browser, base_url, grant(app, "adjudicator"))
    size = _ledger_size(base_url)
    url = f"/review/claims/{seeded.bare_claim['id']}/ticket"
    for form in ({"action": "acknowledge", "csrf": "not-the-token"}, {"action": "acknowledge"}):
        resp = context.request.post(url, form=form, max_redirects=0)
        assert resp.status == 403 and "security token" in resp.text()
    assert _ledger_size(base_url) == size
    # Logging out ends the session on the server, not only in this browser.
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/review/login\?reason=logout"))
    context.close()


def test_an_auditor_reads_everything_and_decides_nothing(
    browser: Browser, base_url: str, seeded: Seeded
) -> None:
    context, page = _log_in(browser, base_url, seeded.auditor)
    expect(page.locator(".account .role")).to_contain_text("read only")
    page.goto(f"/review/claims/{seeded.chain_claim['id']}")
    page.wait_for_function(ALL_VERIFIED, timeout=15_000)
    expect(page.locator("svg.boxes rect.box").first).to_be_visible()
    expect(page.locator("#decision-form")).to_have_count(0)
    expect(page.get_by_role("heading", name="Move the ticket")).to_have_count(0)
    expect(page.locator("fieldset.fix")).to_have_count(0)
    # Posting the form anyway, with the session's own token: refused.
    token = page.locator("form[action='/review/logout'] input[name='csrf']").input_value()
    resp = context.request.post(
        f"/review/claims/{seeded.bare_claim['id']}/ticket",
        form={"action": "acknowledge", "csrf": token},
    )
    assert resp.status == 403 and "may not move tickets" in resp.text()
    context.close()


def test_revoking_the_key_ends_its_sessions(browser: Browser, base_url: str, app: Any) -> None:
    store = app.state.services.keys
    token, record = store.create(role="adjudicator", name="Leaving", created_by="tests")
    context, page = _log_in(browser, base_url, {"Authorization": f"Bearer {token}"})
    store.revoke(record.key_id, by="tests")
    page.reload()
    assert "/review/login" in page.url
    expect(page.get_by_role("status")).to_contain_text("revoked")
    context.close()


def test_the_pages_read_at_phone_width(
    browser: Browser, base_url: str, app: Any, seeded: Seeded
) -> None:
    context, page = _log_in(browser, base_url, grant(app, "adjudicator"), PHONE)
    _shot(page, "queue-390x844")
    # One column: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.goto(f"/review/claims/{seeded.bare_claim['id']}")
    page.wait_for_function(ALL_VERIFIED, timeout=15_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.goto(f"/review/claims/{seeded.chain_claim['id']}")
    page.wait_for_function(ALL_VERIFIED, timeout=15_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _shot(page, "claim-390x844")
    # The keyboard reaches the decision's controls in reading order, focus visible.
    page.goto(f"/review/claims/{seeded.bare_claim['id']}")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    context.close()


def test_an_adjudicator_grades_a_station_item_the_model_was_unsure_of(
    app: Any, browser: Browser, base_url: str
) -> None:
    from stations.batches import ItemInput, Station, grade_batch
    from stations.grading import GradingPolicy
    from tests.stations.test_batches import PHOTOS, PhotoScores

    services = app.state.services
    item = "urn:epc:id:sgtin:4000001.012345.8001"
    grade_batch(
        ledger=services.ledger,
        store=services.evidence,
        inspector=PhotoScores(),
        station=Station("ST-8", "urn:epc:id:sgln:4000002.00008.0", "key:fpk_00000008 (station)"),
        batch_id="b-browser",
        items=[ItemInput(item, "package", (("u.jpg", PHOTOS["unsure"]),), family="can")],
        policy=GradingPolicy(0.7),
        now=datetime.now(UTC),
    )
    context, page = _log_in(browser, base_url, grant(app, "adjudicator"))
    page.get_by_role("link", name="Station items to grade").click()
    section = page.locator("section.station-item", has_text=item)
    expect(section).to_be_visible()
    # What the station said the package is: a person's grade is evidence for that family.
    expect(section.get_by_role("heading")).to_have_text(f"Package (can) {item}")
    # decode() waits for the photo to arrive (and rejects if it cannot be shown): the page can
    # be visible before its image has loaded.
    assert section.locator("img").evaluate("img => img.decode().then(() => img.naturalWidth > 0)")
    _shot(page, "station-items")
    _no_python(page)
    size = _ledger_size(base_url)
    section.get_by_role("button", name="Damaged").click()
    expect(page.get_by_role("status")).to_contain_text("Graded: damaged")
    expect(page.locator("section.station-item", has_text=item)).to_have_count(0)
    assert _ledger_size(base_url) == size + 1
    context.close()


NO_PYTHON = re.compile(r"\bNone\b|\{'|\[\{|\['|\bTrue\b|\bFalse\b")


def _no_python(page: Page) -> None:
    """What people read carries no Python: no None, no dict or list literals."""
    text = page.locator("main").inner_text()
    assert not NO_PYTHON.search(text), NO_PYTHON.search(text)


def _file_bare(
    base_url: str, customer: dict[str, str], value: str, seed_: int, **more: str
) -> dict[str, Any]:
    claim = {
        **more,
        "order_id": f"ORD-{value}-{seed_}",
        "lot": f"LOT-UNKNOWN-{seed_}",
        "category": "chilled",
        "line_value": value,
        "currency": "EUR",
        "delivered_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }
    resp = httpx.post(
        f"{base_url}/v1/claims",
        headers=customer,
        files=[("photos", ("p.jpg", jpeg_bytes(scene(seed=seed_)), "image/jpeg"))],
        data={"claim": json.dumps(claim)},
        timeout=60,
    )
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def test_above_the_limit_one_adjudicator_proposes_and_another_approves(
    browser: Browser, base_url: str, app: Any, seeded: Seeded
) -> None:
    claim = _file_bare(base_url, seeded.customer, "900.00", 41, family="pouch")
    proposer = grant(app, "adjudicator")
    context, page = _log_in(browser, base_url, proposer)
    page.goto(f"/review/claims/{claim['id']}")
    # What the shop said the product is, beside its category.
    expect(page.locator("dt:has-text('Category') + dd")).to_have_text("chilled · pouch")
    page.get_by_label("Override it").check()
    page.get_by_label("Responsible instead").select_option("carrier")
    page.get_by_label("Approve the proposal").check()
    page.get_by_label("Reason").fill("Crushed crate on the driver's own photo.")
    size = _ledger_size(base_url)
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("status").first).to_contain_text("waits for a second adjudicator")
    expect(page.locator("#approval")).to_contain_text("900.00")
    expect(page.locator("#compensation-now")).to_contain_text("awaiting approval")
    # Four eyes: the proposer is offered no approval and no second decision.
    expect(page.locator("#own-proposal")).to_be_visible()
    expect(page.get_by_role("button", name="Approve and pay")).to_have_count(0)
    expect(page.locator("#decision-form")).to_have_count(0)
    expect(page.locator("#not-decidable")).to_contain_text("waits for approval")
    assert _ledger_size(base_url) > size
    page.goto("/review?view=awaiting_approval")
    expect(page.locator("table.queue tbody tr", has_text=claim["lot"])).to_have_count(1)
    context.close()
    # A plain adjudicator may not approve it either: their key has no approval limit.
    context, page = _log_in(browser, base_url, grant(app, "adjudicator"))
    page.goto(f"/review/claims/{claim['id']}")
    expect(page.locator("#approval-limit")).to_be_visible()
    expect(page.get_by_role("button", name="Approve and pay")).to_have_count(0)
    context.close()
    # A senior adjudicator (an approval limit from the server's shell) approves and pays.
    token, _ = app.state.services.keys.create(
        role="adjudicator", name="senior", created_by="cli:tests", approval_limit="5000.00"
    )
    context, page = _log_in(browser, base_url, {"Authorization": f"Bearer {token}"})
    page.goto(f"/review/claims/{claim['id']}")
    page.get_by_label("Note").first.fill("Checked the carrier's log.")
    page.get_by_role("button", name="Approve and pay").click()
    expect(page.get_by_role("status").first).to_contain_text("Proposal approved")
    expect(page.locator("#ticket-state")).to_have_text("resolved")
    expect(page.locator("#compensation-now")).to_contain_text("paid")
    expect(page.locator("#compensation-now")).to_contain_text("approved by")
    expect(page.locator("#current-party")).to_contain_text("carrier")
    page.wait_for_function(ALL_VERIFIED, timeout=15_000)  # proposal and approval entries too
    _no_python(page)
    _shot(page, "claim-approved-1280x800")
    context.close()


def test_a_paid_claim_offers_only_what_the_api_takes(
    browser: Browser, base_url: str, app: Any, seeded: Seeded
) -> None:
    claim = _file_bare(base_url, seeded.customer, "20.00", 42)
    judge = grant(app, "adjudicator")
    decision = {
        "party": "override",
        "responsible_party": "carrier",
        "reason": "Paid at once.",
        "compensation": "approve",
    }
    url = f"{base_url}/v1/claims/{claim['id']}"
    assert httpx.post(f"{url}/decision", headers=judge, json=decision).status_code == 200
    assert httpx.post(f"{url}/ticket", headers=judge, json={"action": "reopen"}).status_code == 200
    context, page = _log_in(browser, base_url, judge)
    page.goto(f"/review/claims/{claim['id']}")
    # Paid: the payment stands; Deny and Change (which the API refuses) are not offered.
    expect(page.get_by_label("Keep the payment made")).to_be_checked()
    expect(page.get_by_label("Deny")).to_have_count(0)
    expect(page.get_by_label("Change the amount")).to_have_count(0)
    page.get_by_label("Responsible instead").select_option("warehouse")
    page.get_by_label("Reason").fill("The warehouse after all; the payment stands.")
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("status").first).to_contain_text("Decision recorded")
    expect(page.locator("#compensation-now")).to_contain_text("paid")
    context.close()


def test_labels_of_overlapping_boxes_never_print_on_each_other_on_a_phone(
    browser: Browser, base_url: str, app: Any, seeded: Seeded
) -> None:
    claim = _file_bare(base_url, seeded.customer, "15.00", 43)
    box = [40.0, 40.0, 200.0, 160.0]
    decision = {
        "party": "override",
        "responsible_party": "carrier",
        "reason": "Two defects in the same spot.",
        "compensation": "deny",
        # Three corrections on one spot: their labels would all print at one place.
        "findings": [
            {"photo": 0, "index": None, "correct": False, "label": label, "box": box}
            for label in ("package_damage", "mold", "swelling")
        ],
    }
    judge = grant(app, "adjudicator")
    resp = httpx.post(f"{base_url}/v1/claims/{claim['id']}/decision", headers=judge, json=decision)
    assert resp.status_code == 200, resp.text
    context, page = _log_in(browser, base_url, judge, PHONE)
    page.goto(f"/review/claims/{claim['id']}")
    labels = page.locator("figure.photo[data-photo='0'] svg.boxes text.box-label")
    expect(labels).to_have_count(3 + len(claim["photos"][0]["findings"]))
    rects = labels.evaluate_all(
        "ts => ts.map(t => { const r = t.getBoundingClientRect(); "
        "return [r.left, r.top, r.right, r.bottom]; })"
    )
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            overlap = (
                a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5
            )
            assert not overlap, (a, b)
    _shot(page, "claim-labels-390x844")
    context.close()
