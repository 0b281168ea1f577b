"""The outbox's errors reach HTTP clients as they did when they were claims errors."""

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.problems import install_problem_handlers
from notifications.errors import InvalidEventError, NotificationsError


def test_a_notifications_error_answers_422_claim_error() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise InvalidEventError("ticket.created", "not JSON")

    r = TestClient(app).get("/boom")
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"].endswith("/claim-error") and body["title"] == "Claim could not be processed"
    assert body["detail"] == "not JSON"
    assert issubclass(InvalidEventError, NotificationsError)
