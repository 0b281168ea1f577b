"""``freshproof keys``: create prints the key once, list never shows it, revoke sticks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.auth.keys import KeyRejectedError, KeyStore
from api.cli import app
from api.services import build_services
from api.settings import Settings

PARTY = "urn:epc:id:pgln:4012345.00000"
READ_POINT = "urn:epc:id:sgln:4000001.00001.0"


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FRESHPROOF_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LOGNAME", "alice")  # getpass.getuser reads it first
    return tmp_path


def _keys(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["keys", *args])
    return result.exit_code, result.stdout, result.stderr


def _authenticate(token: str) -> str:
    """The role the token authenticates as, or why it is refused."""
    services = build_services(Settings())
    try:
        return KeyStore(services.engine).authenticate(token).role
    except KeyRejectedError as exc:
        return exc.reason
    finally:
        services.close()


def test_create_list_revoke_round_trip() -> None:
    code, out, err = _keys("create", "--role", "admin", "--name", "ops laptop")
    assert code == 0, err
    token = out.strip()
    assert re.fullmatch(r"fpk_([0-9a-f]{8})_[A-Za-z0-9_-]{43}", token)
    key_id = token[4:12]
    assert "not be shown again" in err and token not in err
    assert _authenticate(token) == "admin"

    code, out, err = _keys(
        "create",
        "--role",
        "supply_chain",
        "--name",
        "ERP",
        "--party",
        PARTY,
        "--expires-days",
        "30",
    )
    assert code == 0, err
    erp = out.strip()

    code, out, _ = _keys("list")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"fpk_{erp[4:12]}")
    assert f"fpk_{key_id}" in lines[1] and "active" in lines[1] and "cli:alice" in lines[1]
    assert f"parties={PARTY}" in lines[0] and "expires" in lines[0]
    assert token[13:] not in out and erp[13:] not in out

    code, out, err = _keys("revoke", f"fpk_{key_id}")
    assert code == 0, err
    assert f"fpk_{key_id} (admin) revoked" in out and "by cli:alice" in out
    assert _authenticate(token) == "revoked"

    code, out, _ = _keys("revoke", key_id)
    assert code == 0 and "was already revoked" in out

    code, out, _ = _keys("list", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [(k["key_id"], k["state"]) for k in listed] == [
        (erp[4:12], "active"),
        (key_id, "revoked"),
    ]
    assert listed[1]["revoked_by"] == "cli:alice"
    assert listed[0]["bindings"] == {"parties": [PARTY]}
    assert token[13:] not in out and erp[13:] not in out


def test_key_actions_are_in_the_ledger_as_the_os_user() -> None:
    code, out, _ = _keys(
        "create",
        "--role",
        "station",
        "--name",
        "dock 3",
        "--station",
        "dock-3",
        "--read-point",
        READ_POINT,
    )
    assert code == 0
    token = out.strip()
    assert _keys("revoke", token[4:12])[0] == 0
    services = build_services(Settings())
    try:
        created, revoked = services.ledger.entry(0), services.ledger.entry(1)
    finally:
        services.close()
    assert (created.kind, created.body["actor"]) == ("key.created", "cli:alice")
    assert created.body["bindings"] == {"station_id": "dock-3", "read_point": READ_POINT}
    assert (revoked.kind, revoked.body["actor"]) == ("key.revoked", "cli:alice")
    assert token[13:] not in (created.record + revoked.record).decode()


def test_a_bad_spec_or_an_unknown_key_fails_cleanly() -> None:
    code, out, err = _keys("create", "--role", "customer_app", "--name", "shop")
    assert code == 2 and out == "" and "customer_id" in err and "Traceback" not in err
    code, out, err = _keys("create", "--role", "root", "--name", "x")
    assert code == 2 and out == "" and "role" in err
    code, _, err = _keys("revoke", "0123abcd")
    assert code == 1 and "no API key" in err
    code, out, err = _keys("list")
    assert code == 0 and out == "" and "no API keys" in err


def test_an_approval_limit_is_granted_from_the_shell() -> None:
    code, out, err = _keys(
        "create", "--role", "adjudicator", "--name", "Bea", "--approval-limit", "5000.00"
    )
    assert code == 0, err
    services = build_services(Settings())
    try:
        principal = KeyStore(services.engine).authenticate(out.strip())
    finally:
        services.close()
    assert str(principal.approval_limit) == "5000.00"
    code, listed, _ = _keys("list")
    assert code == 0 and "approves up to 5000.00" in listed
    code, listed, _ = _keys("list", "--json")
    assert [k["approval_limit"] for k in json.loads(listed)] == ["5000.00"]
    # Only an adjudicator takes one, and only an amount in cents.
    for role, limit in (("auditor", "10.00"), ("adjudicator", "ten"), ("adjudicator", "1.001")):
        code, _, err = _keys("create", "--role", role, "--name", "x", "--approval-limit", limit)
        assert code == 2 and "approval_limit" in err
