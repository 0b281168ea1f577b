"""EPCIS 2.0 events and documents for tests: one lot's handovers, inspections and readings.

Thin over ``supplychain.epcis.build``, the one builder of events.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from supplychain.epcis.build import (
    ObjectEvent,
    Quantity,
    SensorElement,
    SensorReport,
    SourceDestination,
    epcis_document,
)

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
    reports = tuple(
        SensorReport("gs1:Temperature", value=c, uom="CEL", time=at + timedelta(minutes=30 * i))
        for i, c in enumerate(temps)
    )
    return ObjectEvent(
        event_time=at,
        biz_step=step,
        disposition=disposition or None,
        quantities=(Quantity(lot, 40, "KGM"),),
        sources=(SourceDestination(src),) if src else (),
        destinations=(SourceDestination(dst),) if dst else (),
        sensors=(SensorElement(reports),) if reports else (),
    ).to_json()


def document(*events: dict[str, Any] | ObjectEvent) -> dict[str, Any]:
    """An EPCISDocument holding ``events``."""
    return epcis_document(events, creation_date=datetime.now(UTC))
