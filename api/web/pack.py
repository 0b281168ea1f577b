"""A pack's public page: what the QR code on it links to, as GS1 Digital Link paths.

``GET /01/{gtin}/10/{lot}`` (a lot) and ``GET /01/{gtin}/21/{serial}`` (a serialised item)
answer the lot's public story (``supplychain.public_story``): origin, route, inspections, a
temperature chart against the product's band, and every record's ledger proof for the
reader's browser to check (``static/proofs.js``, as the workbench does). ``.../qr.svg`` and
``.../qr.png`` are the QR code to print, naming the canonical link on this resolver.

No key: anyone holding the pack may look. The edge counts each client address's rate
(``Permission.PUBLIC_PAGE``). A malformed link is a 400 page, an unknown lot a 404 page;
neither says anything of any lot. The text is in the reader's language (``api.web.i18n``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import segno
from fastapi import APIRouter, Request, Response

from api.services import Services
from api.web.charts import TemperatureChart, temperature_chart
from api.web.i18n import (
    LANGUAGES,
    country_name,
    format_time,
    i18n_templates,
    negotiate,
    translate,
)
from claims.coldchain import Aggregate
from ledger.bundle import make_bundle
from ledger.service import current_checkpoint
from supplychain.identifiers.digital_link import DigitalLinkError, PackLink, parse_pack_link
from supplychain.public_story import PublicStory, UnknownLotError, public_story

__all__ = ["PACK_TEXT", "PackView", "pack_view", "router"]

router = APIRouter(include_in_schema=False)
templates = i18n_templates(Path(__file__).parent / "templates")

# The message ids of the words the page takes from the records (api/web/locales has their
# translations; a test checks each has one).
STEPS = {
    "commissioning": "Produced",
    "packing": "Packed",
    "shipping": "Shipped",
    "receiving": "Received",
    "inspecting": "Inspected",
    "storing": "Stored",
    "transporting": "In transport",
    "loading": "Loaded",
    "unloading": "Unloaded",
    "departing": "Departed",
    "arriving": "Arrived",
    "accepting": "Accepted",
    "holding": "Held",
    "picking": "Picked",
    "staging_outbound": "Staged for dispatch",
    "sensor_reporting": "Sensor report",
    "repackaging": "Repacked",
    "retail_selling": "Sold",
}
ROLES = {
    "supplier": "Supplier",
    "warehouse": "Warehouse",
    "carrier": "Carrier",
    "retailer": "Retailer",
}
OUTCOMES = {"passed": "Passed", "failed": "Failed", "recorded": "Recorded"}
DISPOSITIONS = {
    "conformant": "conformant",
    "non_conformant": "not conformant",
    "sellable_accessible": "fit for sale",
    "sellable_not_accessible": "fit for sale",
    "damaged": "damaged",
    "expired": "expired",
    "destroyed": "destroyed",
    "in_transit": "in transit",
    "in_progress": "in progress",
    "active": "active",
    "recalled": "recalled",
}
ORIGIN = {
    "cbvmda:countryOfOrigin": "Country of origin",
    "cbvmda:countryOfOriginCode": "Country of origin",
    "cbvmda:farmList": "Farm",
    "cbvmda:harvestStartDate": "Harvest began",
    "cbvmda:harvestEndDate": "Harvest ended",
    "cbvmda:productionMethodForFishAndSeafoodCode": "Production method",
    "cbvmda:catchArea": "Catch area",
    "cbvmda:bestBeforeDate": "Best before",
    "cbvmda:useByDate": "Use by",
    "cbvmda:itemExpirationDate": "Expires",
    "cbvmda:sellByDate": "Sell by",
}
CATEGORIES = {
    "frozen": "Frozen",
    "chilled": "Chilled",
    "chilled_produce": "Chilled produce",
    "ambient_produce": "Ambient produce",
}
# What the proof script writes, in the page's language.
PROOF_TEXT = {
    "checking": "checking…",
    "verified": "verified",
    "leaf_only": "logged (not public)",
    "failed": "FAILED",
    "checkpoint": "verified: signed checkpoint of {origin}, {size} entries",
    "summary": "{good} of {total} records verified against the signed checkpoint.",
}
PACK_TEXT = (STEPS, ROLES, OUTCOMES, DISPOSITIONS, ORIGIN, CATEGORIES, PROOF_TEXT)
"""Every table of message ids above (the catalogue test reads them)."""

# The workbench's headers, less its no-store: a pack's page is public.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
    "Vary": "Accept-Language",
}
CHART_SIZE = (360, 190)  # a phone's width in CSS pixels: the axis text keeps its size


@dataclass(frozen=True)
class PackView:
    """Everything the pack page shows, in one language."""

    story: PublicStory
    lang: str
    title: str
    category: str | None
    band: tuple[float | None, float | None] | None
    chart: TemperatureChart | None
    proofs: dict[str, Any]
    uri: str  # the canonical Digital Link on this resolver
    origin: tuple[tuple[str, str], ...]  # (message id of the field, value as read)


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _resolver(request: Request) -> str:
    base: str | None = request.app.state.settings.resolver_base
    return (base or str(request.base_url)).rstrip("/")


def _proofs(services: Services, story: PublicStory, lang: str) -> dict[str, Any]:
    """Each step's entry with its inclusion proof against one signed checkpoint; the record
    only where it is public (else the leaf alone is proven)."""
    checkpoint = current_checkpoint(ledger=services.ledger, signer=services.signer)
    entries = []
    for step in story.steps:
        b = make_bundle(services.ledger, index=step.index, checkpoint=checkpoint)
        entries.append(
            {
                "index": step.index,
                "cited_leaf_hash": step.leaf_hash,
                "record": step.record,
                "shown": dict(step.shown),
                "tree_size": b["tree_size"],
                "inclusion_proof": b["inclusion_proof"],
            }
        )
    texts = {k: translate(v, lang) for k, v in PROOF_TEXT.items()}
    return {
        "key_url": "/v1/ledger/key",
        "checkpoint": checkpoint,
        "entries": entries,
        "texts": texts,
    }


def _origin(story: PublicStory, lang: str) -> tuple[tuple[str, str], ...]:
    out = []
    for fact in story.origin:
        value = fact.value
        if fact.key in ("cbvmda:countryOfOrigin", "cbvmda:countryOfOriginCode"):
            value = country_name(value, lang)
        out.append((ORIGIN.get(fact.key, fact.key.partition(":")[2] or fact.key), value))
    return tuple(out)


def pack_view(services: Services, story: PublicStory, *, lang: str, resolver: str) -> PackView:
    """The page's content for a story, in ``lang``."""
    category = story.product.category
    profile = services.claims_config.profiles.get(category) if category else None
    band = profile.band(in_transport=False) if profile else None
    # The chart spans the route: from the first record to the last custodian's handover.
    ends = [story.steps[-1].time, *(s.end for s in story.route if s.end is not None)]
    chart = temperature_chart(
        story.readings,
        start=story.steps[0].time,
        end=max([*ends, *(r.time for r in story.readings)]),
        band=band or (None, None),
        aggregates=[
            Aggregate(a.start, a.end, a.min_celsius, a.max_celsius, a.mean_celsius)
            for a in story.aggregates
        ],
        size=CHART_SIZE,
        tick_format="%m-%d %H:%M",
    )
    name = story.product.name(lang)
    return PackView(
        story=story,
        lang=lang,
        title=name or translate("Lot %(lot)s", lang) % {"lot": story.lot or story.link.lot},
        category=category,
        band=band,
        chart=chart,
        proofs=_proofs(services, story, lang),
        uri=story.link.uri(resolver),
        origin=_origin(story, lang),
    )


def _celsius(value: float | None) -> str:
    return "" if value is None else f"{value:g} °C"


def _band_text(band: tuple[float | None, float | None], lang: str) -> str:
    t_min, t_max = band
    if t_min is not None and t_max is not None:
        return translate("%(min)s to %(max)s", lang) % {
            "min": _celsius(t_min),
            "max": _celsius(t_max),
        }
    if t_max is not None:
        return translate("at most %(max)s", lang) % {"max": _celsius(t_max)}
    return translate("at least %(min)s", lang) % {"min": _celsius(t_min)}


def _duration(minutes: float, lang: str) -> str:
    hours, rest = divmod(round(minutes), 60)
    if hours:
        return translate("%(h)s h %(m)s min", lang) % {"h": hours, "m": rest}
    return translate("%(m)s min", lang) % {"m": rest}


def _span(start: datetime, end: datetime, lang: str) -> str:
    """A stretch of time; within one day the day is written once."""
    first = format_time(start, lang)
    if start.astimezone(UTC).date() == end.astimezone(UTC).date():
        return f"{first.removesuffix(' UTC')} → {end.astimezone(UTC):%H:%M} UTC"
    return f"{first} → {format_time(end, lang)}"


templates.env.filters["celsius"] = _celsius
templates.env.globals.update(
    STEPS=STEPS,
    ROLES=ROLES,
    OUTCOMES=OUTCOMES,
    DISPOSITIONS=DISPOSITIONS,
    CATEGORIES=CATEGORIES,
    LANGUAGES=LANGUAGES,
    when=format_time,
    span=_span,
    duration=_duration,
    band_text=_band_text,
)


def _page(
    request: Request, name: str, context: dict[str, Any], lang: str, status_code: int = 200
) -> Response:
    headers = {**_HEADERS, "Content-Language": "zh-Hans" if lang == "zh" else lang}
    return templates.TemplateResponse(
        request, name, {"lang": lang, **context}, status_code=status_code, headers=headers
    )


def _problem_page(request: Request, lang: str, status: int, reason: str | None = None) -> Response:
    return _page(request, "pack_error.html", {"status": status, "reason": reason}, lang, status)


def _qr(link: PackLink, resolver: str, kind: str) -> Response:
    """The QR code of the lot's canonical link (error correction M: a smudged label reads)."""
    code = segno.make_qr(link.uri(resolver), error="m")
    out = BytesIO()
    if kind == "svg":
        code.save(out, kind="svg", scale=4, border=4, xmldecl=False, title=link.uri(resolver))
        media = "image/svg+xml"
    else:
        code.save(out, kind="png", scale=8, border=4)
        media = "image/png"
    headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    return Response(out.getvalue(), media_type=media, headers=headers)


@router.get("/01/{link:path}")
def pack_page(request: Request, link: str) -> Response:
    """A lot's (or an item's) public page, or its QR code (``/qr.svg``, ``/qr.png``)."""
    lang = negotiate(request.headers.get("accept-language"), request.query_params.get("lang"))
    # The path as sent: a lot may hold '/', percent-encoded, which the decoded path loses.
    raw = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    qr = next((k for k in ("svg", "png") if raw.endswith(f"/qr.{k}")), None)
    if qr is not None:
        raw = raw[: -len(f"/qr.{qr}")]
    try:
        pack = parse_pack_link(raw)
    except DigitalLinkError as exc:
        return _problem_page(request, lang, 400, exc.reason)
    services = _services(request)
    try:
        story = public_story(ledger=services.ledger, link=pack, policy=services.story_policy)
    except UnknownLotError:
        return _problem_page(request, lang, 404)
    if qr is not None:
        return _qr(pack, _resolver(request), qr)
    view = pack_view(services, story, lang=lang, resolver=_resolver(request))
    return _page(request, "pack.html", {"v": view}, lang)
