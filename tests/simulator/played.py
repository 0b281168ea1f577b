"""A planned shop week played through the public HTTP API, as the shop-week tests play it.

The app is served in-process on a localhost port with the shipped model and a webhook
receiver; the admin key is bootstrapped, a senior adjudicator (with an approval limit) and a
second admin are made as ``freshproof keys create`` makes them, and every simulated user
calls the API over HTTP (``simulator.shopweek.play``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from api.app import create_app
from api.settings import Settings
from simulator.photos import HeldOutPhotos
from simulator.receiver import webhook_receiver
from simulator.shopweek import WeekPhotos, WeekResult, play
from simulator.week import Week
from tests.conftest import REPO
from tests.web.server import serve
from vision.registry import resolve_model

__all__ = ["played_week"]

SPLIT = REPO / "datasets" / "splits" / "fp-v0-test.txt"


def _approver(app: FastAPI) -> str | None:
    """A senior adjudicator's key with an approval limit, made as ``freshproof keys create
    --approval-limit`` makes it (the API never grants one); None where keys carry none."""
    try:
        token, _ = app.state.services.keys.create(
            role="adjudicator",
            name="senior adjudicator",
            created_by="shop week test",
            approval_limit="5000.00",
        )
    except TypeError:  # this key store has no approval limits (four eyes not there)
        return None
    return str(token)


def _second_admin(app: FastAPI) -> str:
    """A second admin's key, made as ``freshproof keys create --role admin`` makes it: it
    approves the adjudicator keys the first admin asks for (separation of duties)."""
    token, _ = app.state.services.keys.create(
        role="admin", name="second admin", created_by="shop week test"
    )
    return str(token)


def played_week(
    week: Week, *, data: Path, pools: Path, photo_seed: int, secret: str
) -> tuple[FastAPI, WeekResult]:
    """Play ``week`` on a fresh app over ``data``; the app (its services still open, its
    server and the webhook receiver stopped) and the result."""
    settings = Settings(data_dir=data, anchor_backend="none", relay_interval_seconds=0.5)
    photos = WeekPhotos(
        week,
        HeldOutPhotos(
            pools=pools,
            split=SPLIT,
            seed=photo_seed,
            limits=settings.image_limits,
            quality=settings.quality_thresholds,
            # The shipped release refuses a few real photos as no product photo: passed over.
            product_photo=resolve_model(verify=False).product_photo,
        ),
    )
    with webhook_receiver(secret) as (url, received):
        app: Any = create_app(
            settings.model_copy(update={"webhook_urls": url, "webhook_secret": secret})
        )
        admin = app.state.services.keys.bootstrap_admin(data)
        assert admin is not None
        with serve(app) as base, httpx.Client(base_url=base, timeout=120) as client:
            result = play(
                client,
                week,
                admin_token=admin.read_text().strip(),
                photos=photos,
                received=received,
                customers_at_once=3,
                adjudicators=2,
                approver_token=_approver(app),
                second_admin_token=_second_admin(app),
                drain_seconds=60,
                webhook_wait=30,
            )
    return app, result
