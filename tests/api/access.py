"""Keys for tests: headers carrying a fresh key of a role, made in the app's key store.

Tests call the API as its real users do, each with the role its call needs; the store is
the same one ``freshproof keys create`` writes to.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

__all__ = ["grant"]


def grant(app: FastAPI, role: str, **bindings: Any) -> dict[str, str]:
    """``Authorization`` headers for a new key of ``role`` with its bindings.

    ``customer_id`` for a customer_app, ``parties`` for a supply_chain system,
    ``station_id`` and ``read_point`` for a station.
    """
    if "parties" in bindings:
        bindings["parties"] = tuple(bindings["parties"])
    token, _ = app.state.services.keys.create(
        role=role, name=f"test {role}", created_by="tests", **bindings
    )
    return {"Authorization": f"Bearer {token}"}
