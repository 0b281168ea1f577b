"""The workbench's cookies are Secure unless a plain-http development setup turns it off.

Issue 22 (item 11): the session cookie lacked ``Secure`` unless configured, so a deployment
that forgot the setting sent the session over any plain-http link. Now ``Secure`` is the
default; ``FRESHPROOF_WEB_SECURE_COOKIES=false`` is for http://127.0.0.1, and ``make run``
sets it only when it binds to loopback.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.settings import Settings
from api.web.routes import LOGIN_COOKIE
from api.web.session import COOKIE
from tests.api.access import grant
from tests.conftest import REPO
from tests.web.test_session import _app, _log_in


def _cookies(resp: Any, name: str) -> list[str]:
    return [c for c in resp.headers.get_list("set-cookie") if c.startswith(f"{name}=")]


def test_the_setting_defaults_to_secure(monkeypatch: Any) -> None:
    monkeypatch.delenv("FRESHPROOF_WEB_SECURE_COOKIES", raising=False)
    assert Settings(_env_file=None).web_secure_cookies is True


def test_session_and_login_cookies_are_secure_by_default(tmp_path: Path) -> None:
    app = _app(tmp_path)
    with TestClient(app, base_url="https://testserver") as client:
        form = client.get("/review/login")
        assert all("; Secure" in c for c in _cookies(form, LOGIN_COOKIE))
        assert _cookies(form, LOGIN_COOKIE)
        resp = _log_in(client, grant(app, "adjudicator"))
        assert resp.status_code == 303
        [cookie] = _cookies(resp, COOKIE)
        assert "; Secure" in cookie and "HttpOnly" in cookie
        assert client.get("/review").status_code == 200


def test_plain_http_development_turns_secure_off_explicitly(tmp_path: Path) -> None:
    app = _app(tmp_path, web_secure_cookies=False)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        resp = _log_in(client, grant(app, "auditor"))
        [cookie] = _cookies(resp, COOKIE)
        assert "secure" not in cookie.lower()
        assert client.get("/review").status_code == 200  # the cookie came back over http


def test_make_run_turns_it_off_on_loopback_only() -> None:
    def dry_run(*args: str) -> str:
        out = subprocess.run(
            ["make", "-n", "-s", "run", *args], cwd=REPO, capture_output=True, text=True
        )
        serve = [line for line in out.stdout.splitlines() if "freshproof serve" in line]
        assert serve, out.stdout + out.stderr
        return serve[-1]

    assert re.search(r"FRESHPROOF_WEB_SECURE_COOKIES=false\b", dry_run())
    assert "FRESHPROOF_WEB_SECURE_COOKIES" not in dry_run("HOST=0.0.0.0")
