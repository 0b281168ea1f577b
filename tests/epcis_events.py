"""EPCIS 2.0 events and documents for tests: one lot's handovers, inspections and readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["document", "lot_event"]


def lot_event(
    lot: str,
    at: datetime,
    step: str,
    *,
    src: str | None = None,
    dst: str | None = None,
    disposition: str | None = None,
    temps: tuple[float, ...] = (),
) -> dict[str, Any]:
    """An ObjectEvent of 40 kg of ``lot``; ``temps`` are readings 30 minutes apart from ``at``."""
    e: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": at.isoformat(),
        "eventTimeZoneOffset": "+00:00",
        "quantityList": [{"epcClass": lot, "quantity": 40, "uom": "KGM"}],
        "action": "OBSERVE",
        "bizStep": step,
    }
    if disposition:
        e["disposition"] = disposition
    if src:
        e["sourceList"] = [{"type": "possessing_party", "source": src}]
    if dst:
        e["destinationList"] = [{"type": "possessing_party", "destination": dst}]
    if temps:
        reports = [
            {
                "type": "gs1:Temperature",
                "value": c,
                "uom": "CEL",
                "time": (at + timedelta(minutes=30 * i)).isoformat(),
            }
            for i, c in enumerate(temps)
        ]
        e["sensorElementList"] = [{"sensorReport": reports}]
    return e


def document(*events: dict[str, Any]) -> dict[str, Any]:
    """An EPCISDocument holding ``events``."""
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": datetime.now(UTC).isoformat(),
        "epcisBody": {"eventList": list(events)},
    }
