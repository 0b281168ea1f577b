"""The validated EPCIS event and document as the rest of the system sees them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from supplychain.epcis.sensors import AccelerationReading, TemperatureReading

__all__ = ["CaptureEvent", "EPCISDocument"]


@dataclass(frozen=True, slots=True)
class CaptureEvent:
    """A validated EPCIS event as the rest of the system sees it."""

    index: int
    event_type: str
    hash_id: str
    declared_id: str | None
    event_time: datetime
    event_time_zone_offset: str
    action: str | None
    biz_step: str | None
    disposition: str | None
    epcs: tuple[str, ...]
    lots: tuple[str, ...]
    parent_id: str | None
    read_point: str | None
    biz_location: str | None
    sources: tuple[tuple[str, str], ...]
    destinations: tuple[tuple[str, str], ...]
    temperatures: tuple[TemperatureReading, ...]
    raw: dict[str, Any] = field(compare=False, repr=False)
    accelerations: tuple[AccelerationReading, ...] = ()

    @property
    def is_inspection(self) -> bool:
        """True when the business step is CBV ``inspecting`` (a handover inspection)."""
        return self.biz_step == "inspecting"

    def possessing_party_source(self) -> str | None:
        """Return the id of the first ``possessing_party`` source, if any."""
        return next((i for t, i in self.sources if t == "possessing_party"), None)

    def possessing_party_destination(self) -> str | None:
        """Return the id of the first ``possessing_party`` destination, if any."""
        return next((i for t, i in self.destinations if t == "possessing_party"), None)


@dataclass(frozen=True, slots=True)
class EPCISDocument:
    """A validated EPCIS 2.0 document: header facts and its events in document order."""

    schema_version: str
    creation_date: datetime
    events: tuple[CaptureEvent, ...]
