"""Workbench sessions and pages without a browser: cookies, CSRF, expiry, the served photo.

The browser tests (test_workbench.py) drive the same flows in Chromium; these pin the
details a browser hides: the cookie's attributes, what the session table stores, and that a
photo comes from the stripped copy, never the original.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from api.settings import Settings
from api.web.session import COOKIE, SessionStore, web_sessions
from tests.api.access import grant
from tests.conftest import scene


def _app(tmp_path: Path, **settings: Any) -> Any:
    return create_app(
        Settings(
            data_dir=tmp_path / "var",
            anchor_backend="none",
            anchor_every_entries=1_000_000,
            **settings,
        )
    )


@pytest.fixture
def app(tmp_path: Path) -> Any:
    return _app(tmp_path)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    # Over HTTPS, as deployed: the cookies are Secure by default.
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c


def _log_in(client: TestClient, headers: dict[str, str]) -> Any:
    form = client.get("/review/login").text
    token = re.search(r'name="login_csrf" value="([^"]+)"', form)
    assert token is not None
    return client.post(
        "/review/login",
        data={
            "api_key": headers["Authorization"].removeprefix("Bearer "),
            "login_csrf": token.group(1),
            "next": "/review",
        },
        follow_redirects=False,
    )


def _csrf(client: TestClient) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/review").text)
    assert found is not None
    return found.group(1)


def test_the_session_cookie_is_http_only_strict_and_scoped(app: Any, client: TestClient) -> None:
    resp = _log_in(client, grant(app, "adjudicator"))
    assert resp.status_code == 303 and resp.headers["location"] == "/review"
    cookie = next(c for c in resp.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}="))
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= attributes
    assert "Path=/review" in cookie and "SameSite=strict" in cookie
    assert "secure" in attributes  # by default (issue 22); `make run` turns it off
    # Only the id's SHA-256 is stored, never the id.
    value = cookie.split(";")[0].split("=", 1)[1]
    with app.state.services.engine.connect() as conn:
        rows = conn.execute(sa.select(web_sessions)).all()
    assert [r.id_hash for r in rows] == [hashlib.sha256(value.encode()).hexdigest()]
    assert value not in json.dumps([list(map(str, r)) for r in rows])
    assert client.get("/review").status_code == 200


def test_secure_cookies_when_the_setting_is_on(tmp_path: Path) -> None:
    app = _app(tmp_path, web_secure_cookies=True)
    # Secure cookies (the login form's too) travel over HTTPS only.
    with TestClient(app, base_url="https://testserver") as client:
        resp = _log_in(client, grant(app, "auditor"))
        cookie = next(c for c in resp.headers.get_list("set-cookie") if c.startswith(COOKIE))
        assert "; Secure" in cookie


def test_login_refuses_a_forged_form_and_keys_of_other_roles(app: Any, client: TestClient) -> None:
    judge = grant(app, "adjudicator")["Authorization"].removeprefix("Bearer ")
    client.get("/review/login")
    forged = client.post(
        "/review/login",
        data={"api_key": judge, "login_csrf": "guessed"},
        follow_redirects=False,
    )
    assert forged.status_code == 403 and COOKIE not in forged.headers.get("set-cookie", "")
    shop = _log_in(client, grant(app, "customer_app", customer_id="C-1"))
    assert shop.status_code == 403 and "cannot use the workbench" in shop.text
    bad = _log_in(client, {"Authorization": "Bearer fpk_00000000_" + "a" * 43})
    assert bad.status_code == 401 and "not accepted" in bad.text
    with app.state.services.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(web_sessions)).scalar() == 0


def test_posts_need_the_sessions_csrf_token(app: Any, client: TestClient) -> None:
    _log_in(client, grant(app, "adjudicator"))
    size = app.state.services.ledger.size()
    for form in ({"action": "acknowledge", "csrf": "x" * 43}, {"action": "acknowledge"}):
        resp = client.post("/review/claims/nope/ticket", data=form, follow_redirects=False)
        assert resp.status_code == 403
    assert app.state.services.ledger.size() == size
    # With the token the request goes through to the domain: no such claim.
    resp = client.post(
        "/review/claims/nope/ticket", data={"action": "acknowledge", "csrf": _csrf(client)}
    )
    assert resp.status_code == 404


def test_an_expired_session_sends_you_to_log_in(app: Any, client: TestClient) -> None:
    _log_in(client, grant(app, "adjudicator"))
    later = datetime.now(UTC) + timedelta(hours=8, seconds=1)
    app.state.web_sessions = SessionStore(app.state.services.engine, clock=lambda: later)
    resp = client.get("/review", follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/review/login?reason=ended"
    with app.state.services.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(web_sessions)).scalar() == 0


def test_logout_ends_the_session_on_the_server(app: Any, client: TestClient) -> None:
    resp = _log_in(client, grant(app, "adjudicator"))
    cookie = client.cookies.get(COOKIE)
    assert resp.status_code == 303 and cookie
    out = client.post("/review/logout", data={"csrf": _csrf(client)}, follow_redirects=False)
    assert out.headers["location"] == "/review/login?reason=logout"
    # The old cookie, replayed, opens nothing.
    client.cookies.set(COOKIE, cookie, path="/review")
    assert client.get("/review", follow_redirects=False).status_code == 303


def _photo_with_gps() -> bytes:
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[2] = (52.0, 22.0, 1.0)
    gps[4] = (13.0, 24.0, 1.0)
    exif.get_ifd(0x8769)[0xA431] = "SERIAL-123456"
    buf = io.BytesIO()
    Image.fromarray(scene(seed=9)).save(buf, format="JPEG", exif=exif.tobytes())
    return buf.getvalue()


def test_a_photo_is_the_stripped_copy_and_needs_a_session(app: Any, client: TestClient) -> None:
    original = _photo_with_gps()
    claim = {
        "order_id": "O-GPS",
        "lot": "LOT-GPS",
        "category": "chilled",
        "line_value": "5.00",
        "currency": "EUR",
        "delivered_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    }
    filed = client.post(
        "/v1/claims",
        headers=grant(app, "customer_app", customer_id="C-GPS"),
        files=[("photos", ("p.jpg", original, "image/jpeg"))],
        data={"claim": json.dumps(claim)},
    )
    assert filed.status_code == 201, filed.text
    url = f"/review/claims/{filed.json()['id']}/photos/0"
    assert client.get(url, follow_redirects=False).status_code == 303
    _log_in(client, grant(app, "auditor"))
    resp = client.get(url)
    assert resp.status_code == 200 and resp.headers["content-type"] == "image/jpeg"
    assert resp.content != original and b"SERIAL-123456" not in resp.content
    assert not Image.open(io.BytesIO(resp.content)).getexif().get_ifd(0x8825)
    assert client.get(url.replace("/0", "/1")).status_code == 404
