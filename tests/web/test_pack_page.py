"""A pack's public page over HTTP: 200 for a lot built through the API, 400 for a malformed
Digital Link, 404 for an unknown lot or GTIN, nothing private in what it serves, its QR
code, its language, and the edge's rate limit on it."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import segno
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.web.i18n import country_name, negotiate
from tests.web.pack_seed import GTIN, LOT, OTHER_GTIN, SECRETS, PackSeed, seed_pack

PAGE = f"/01/{GTIN}/10/{LOT}"
POLICY = {
    "products": {
        GTIN: {"category": "chilled", "names": {"en": "Strawberries 500 g", "zh": "草莓 500 克"}}
    }
}


def pack_settings(tmp: Path, **overrides: Any) -> Settings:
    """Settings of an app whose policy names the seeded product (chilled, 0-5 °C)."""
    policy = tmp / "story.json"
    policy.write_text(json.dumps(POLICY), encoding="utf-8")
    values: dict[str, Any] = {
        "data_dir": tmp / "var",
        "anchor_backend": "none",
        "anchor_every_entries": 1_000_000,
        "rate_limit_per_minute": 0,
        "public_story_policy_file": policy,
    }
    return Settings(**{**values, **overrides})


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(pack_settings(tmp_path_factory.mktemp("pack")))
    with TestClient(app) as c:
        c.app_state_seed = seed_pack(app, c)  # type: ignore[attr-defined]
        yield c


@pytest.fixture(scope="module")
def seeded(client: TestClient) -> PackSeed:
    seed: PackSeed = client.app_state_seed  # type: ignore[attr-defined]
    return seed


def _proof_data(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="proof-data">(.*?)</script>', html, re.S)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_the_page_shows_the_route_inspections_and_temperatures(
    client: TestClient, seeded: PackSeed
) -> None:
    resp = client.get(PAGE, headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    html = resp.text
    assert "Strawberries 500 g" in html and "Spain" in html
    route = html[html.index('id="route"') : html.index('id="inspections"')]
    assert [n for n in ("Green Farm", "North DC", "FastVan") if n in route] == [
        "Green Farm",
        "North DC",
        "FastVan",
    ]
    assert route.index("Green Farm") < route.index("North DC") < route.index("FastVan")
    assert 'class="badge passed">Passed' in html and "fit for sale" in html
    # The chilled band (0-5 °C) is drawn, and the reefer's two hours above it are marked.
    assert 'class="band"' in html and 'class="excursion"' in html
    assert "0 °C to 5 °C" in html and "Outside the band once" in html
    assert "Content-Security-Policy" in resp.headers and resp.headers["vary"] == "Accept-Language"


def test_no_customer_claim_price_nor_private_field_is_served(
    client: TestClient, seeded: PackSeed
) -> None:
    pages = [client.get(PAGE, headers={"Accept-Language": lang}).text for lang in ("en", "zh")]
    data = _proof_data(pages[0])
    fetched = [client.get(data["key_url"]).text]  # the one thing the page's script fetches
    served = "\n".join([*pages, *fetched, client.get(f"{PAGE}/qr.svg").text])
    for what, secret in SECRETS.items():
        assert secret not in served, what
    for claim in seeded.claims:
        assert claim["id"] not in served
    # Records go out whole only where every field is public; the others as leaf hashes.
    whole = [e for e in data["entries"] if e["record"] is not None]
    assert whole and len(whole) < len(data["entries"])
    for entry in whole:
        record = json.loads(entry["record"])
        assert record["kind"] == "epcis.event"
        assert record["body"]["event"]["quantityList"][0]["epcClass"].endswith(f".012345.{LOT}")
        assert all(record["body"]["view"][k] == v for k, v in entry["shown"].items())


def test_a_lot_of_one_gtin_never_shows_another_gtins(client: TestClient, seeded: PackSeed) -> None:
    other = client.get(f"/01/{OTHER_GTIN}/10/{LOT}")
    assert other.status_code == 200
    assert "Green Farm" not in other.text and "Spain" not in other.text
    assert len(_proof_data(other.text)["entries"]) == 1
    # Same lot number, unknown GTIN: nothing.
    assert client.get(f"/01/04000001999996/10/{LOT}").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        f"/01/{GTIN[:-1]}7/10/{LOT}",  # wrong check digit
        f"/01/{GTIN}/10",
        f"/01/{GTIN}/99/{LOT}",
        f"/01/{GTIN}/10/{'X' * 21}",
        f"/01/{GTIN}",
        "/01/banana/10/x",
    ],
)
def test_a_malformed_link_is_a_400_page(client: TestClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 400 and resp.headers["content-type"].startswith("text/html")
    assert "Not a pack's link" in resp.text and "Green Farm" not in resp.text


@pytest.mark.parametrize(
    "path", [f"/01/{GTIN}/10/NO-SUCH-LOT", f"/01/{GTIN}/21/NO-SUCH-ITEM", f"/01/{GTIN}/10/x/qr.svg"]
)
def test_an_unknown_lot_is_a_plain_404_page(client: TestClient, path: str) -> None:
    resp = client.get(path, headers={"Accept-Language": "zh-CN"})
    assert resp.status_code == 404 and resp.headers["content-type"].startswith("text/html")
    assert "未找到该产品" in resp.text and "Green Farm" not in resp.text


def test_equivalent_links_show_the_same_lot(client: TestClient, seeded: PackSeed) -> None:
    # A GTIN-13 and a percent-encoded lot name the same lot; the canonical link is one.
    for path in (f"/01/{GTIN[1:]}/10/{LOT}", f"/01/{GTIN}/10/STRAW%2D0502"):
        resp = client.get(path)
        assert resp.status_code == 200
        assert f'<link rel="canonical" href="http://testserver{PAGE}">' in resp.text


def test_the_qr_code_names_the_canonical_link(client: TestClient, seeded: PackSeed) -> None:
    svg = client.get(f"{PAGE}/qr.svg")
    png = client.get(f"{PAGE}/qr.png")
    assert (
        svg.headers["content-type"] == "image/svg+xml"
        and png.headers["content-type"] == "image/png"
    )
    uri = f"http://testserver{PAGE}"
    # segno is deterministic: the same URI, error level and size give the same image.
    expected = io.BytesIO()
    segno.make_qr(uri, error="m").save(
        expected, kind="svg", scale=4, border=4, xmldecl=False, title=uri
    )
    assert svg.content == expected.getvalue()
    assert png.content.startswith(b"\x89PNG")


def test_the_resolver_base_is_a_setting(tmp_path: Path) -> None:
    app = create_app(pack_settings(tmp_path, resolver_base="https://trace.example.com"))
    with TestClient(app) as c:
        seed_pack(app, c)
        html = c.get(PAGE).text
    assert f"https://trace.example.com{PAGE}" in html


def test_the_language_comes_from_the_browser_or_lang(client: TestClient, seeded: PackSeed) -> None:
    zh = client.get(PAGE, headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert "草莓 500 克" in zh.text and "流转路线" in zh.text and "西班牙" in zh.text
    assert zh.headers["content-language"] == "zh-Hans" and '<html lang="zh-Hans">' in zh.text
    assert _proof_data(zh.text)["texts"]["verified"] == "已验证"
    en = client.get(PAGE + "?lang=en", headers={"Accept-Language": "zh-CN"})
    assert "Route" in en.text and "流转路线" not in en.text
    assert negotiate("fr-FR, zh;q=0.5, en;q=0.4") == "zh"
    assert negotiate("zh;q=0, en") == "en" and negotiate(None) == "en" and negotiate("*") == "en"
    assert negotiate("en", "zh-TW") == "zh" and negotiate("zh", "xx") == "zh"
    assert country_name("ES", "zh") == "西班牙" and country_name("ESP", "en") == "Spain"


def test_the_page_is_behind_the_edges_rate_limit(tmp_path: Path) -> None:
    app = create_app(pack_settings(tmp_path, rate_limit_per_minute=1, rate_limit_burst=2))
    with TestClient(app) as c:
        answers = [c.get(f"/01/{GTIN}/10/{LOT}").status_code for _ in range(3)]
        refused = c.get(f"/01/{GTIN}/10/{LOT}")
    assert answers[:2] == [404, 404] and answers[2] == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "from this address" in refused.json()["detail"]
