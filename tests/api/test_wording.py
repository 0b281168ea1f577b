"""What people read says "an admin key", not "a admin key" (issue 21, item 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.auth.keys import a_role
from tests.api.seeded import as_role, seeded_client


@pytest.mark.parametrize(
    ("role", "said"),
    [
        ("admin", "an admin"),
        ("adjudicator", "an adjudicator"),
        ("auditor", "an auditor"),
        ("ml_engineer", "an ml_engineer"),
        ("station", "a station"),
        ("customer_app", "a customer_app"),
        ("supply_chain", "a supply_chain"),
    ],
)
def test_each_role_takes_its_article(role: str, said: str) -> None:
    assert a_role(role) == said


def test_a_refused_admin_is_told_an_admin_key_may_not(tmp_path: Path) -> None:
    with seeded_client(tmp_path) as client:
        resp = client.post("/v1/claims/nope/decision", headers=as_role(client, "admin"), json={})
        refused = client.post(
            "/v1/keys",
            headers=as_role(client, "admin"),
            json={"role": "admin", "name": "x", "customer_id": "C-1"},
        )
    assert resp.status_code == 403, resp.text
    assert resp.json()["detail"].startswith("an admin key may not do this")
    assert refused.status_code == 422, refused.text
    assert "an admin key takes no customer_id" in refused.text
    assert "a admin" not in refused.text + resp.text


def test_a_ticket_state_takes_its_article() -> None:
    from claims.errors import InvalidTransitionError
    from claims.review import next_state

    with pytest.raises(InvalidTransitionError, match="an acknowledged ticket cannot acknowledge"):
        next_state("acknowledged", "acknowledge")
    with pytest.raises(InvalidTransitionError, match="a resolved ticket cannot acknowledge"):
        next_state("resolved", "acknowledge")
