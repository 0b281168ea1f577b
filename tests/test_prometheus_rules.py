"""The Prometheus alert rules shipped in deploy/prometheus: valid, unit-tested, on real metrics.

``promtool`` (Debian's ``prometheus`` package) checks the rules and runs their unit tests
(``alerts.test.yml``). Skipped only where promtool is missing and FRESHPROOF_REQUIRE_PROMTOOL
is not 1; CI sets it (and installs the package). Every ``freshproof_ops_*`` metric the rules
read must be one the app exports at /metrics: checked on an app with the hand-built days of
``tests/operations`` seeded, without promtool.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.api.access import grant
from tests.conftest import REPO
from tests.operations.handbuilt import seed_days

RULES = REPO / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
REQUIRED = os.environ.get("FRESHPROOF_REQUIRE_PROMTOOL") == "1"
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None and not REQUIRED,
    reason="no promtool (apt-get install prometheus; FRESHPROOF_REQUIRE_PROMTOOL=1 makes "
    "this a failure)",
)


def _promtool(*args: str) -> str:
    assert PROMTOOL is not None, "promtool is required here (apt-get install prometheus)"
    done = subprocess.run(
        [PROMTOOL, *args], cwd=RULES, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@needs_promtool
def test_the_rules_are_valid() -> None:
    assert "SUCCESS: 7 rules found" in _promtool("check", "rules", "alerts.yml")


@needs_promtool
def test_the_rules_unit_tests_pass() -> None:
    assert "SUCCESS" in _promtool("test", "rules", "alerts.test.yml")


def test_every_metric_the_rules_read_is_exported(tmp_path: Path) -> None:
    app = create_app(
        Settings(data_dir=tmp_path / "var", anchor_backend="none", rate_limit_per_minute=0)
    )
    services = app.state.services
    seed_days(services.engine, services.ledger, now=datetime.now(UTC))
    with TestClient(app) as client:
        text = client.get("/metrics", headers=grant(app, "auditor")).text
    exported = set(re.findall(r"^(freshproof_ops_\w+?)(?:\{| )", text, flags=re.M))
    read = set(re.findall(r"\bfreshproof_ops_\w+", (RULES / "alerts.yml").read_text()))
    assert read and read <= exported, read - exported
    # The hand-built lots: STRAW-1 is 8x its baseline, 54% likely above 2x.
    assert re.search(
        r'freshproof_ops_lot_excess_probability\{category="chilled_produce",lot="STRAW-1",'
        r'multiple="2"\} 0\.54',
        text,
    ), text
    # Open P1 tickets c2, c5, c6: all three unanswered past 4 h; c5 and c6 past 24 h too.
    assert 'freshproof_ops_overdue_tickets{priority="P1",sla="first_response"} 3.0' in text
    assert 'freshproof_ops_overdue_tickets{priority="P1",sla="resolution"} 2.0' in text
    assert "freshproof_ops_claims_filed_24h 2.0" in text  # c1 and c2
