"""GS1 EPCIS 2.0 capture parsing (JSON / JSON-LD) and the CBV 2.0 canonical event hash.

`parse_document` validates a whole `EPCISDocument`, collects every problem into one
`EPCISDocumentError`, and otherwise returns frozen `CaptureEvent` views (times in UTC,
temperatures in °C, CBV values as short names) each carrying its event hash id.

One concern a module: `vocabulary` (CBV terms, @context prefixes), `errors` (and the limits
of one capture), `timestamps`, `sensors` (temperatures, accelerations), `views` (the
validated event and document), `eventhash` (CBV §8.9), `validate` (one event), `read` (a
whole document), `build` (the one way to write an ObjectEvent and its document: stations,
the logger CSV import, the simulator and the tests all build through it); GS1 Digital Link
lives in ``supplychain.identifiers.digital_link``.
"""

from __future__ import annotations

from supplychain.epcis.errors import (
    CaptureLimits,
    DocumentTooLargeError,
    EPCISDocumentError,
    EPCISError,
    EPCISValidationError,
    TooManyEventsError,
    TooManyReadingsError,
)
from supplychain.epcis.eventhash import HASH_VERSION, event_hash_id, event_prehash
from supplychain.epcis.read import parse_document
from supplychain.epcis.sensors import (
    ACCELERATION_UOMS,
    TEMPERATURE_UOMS,
    AccelerationReading,
    TemperatureReading,
    to_celsius,
)
from supplychain.epcis.validate import stored_temperatures
from supplychain.epcis.views import CaptureEvent, EPCISDocument
from supplychain.epcis.vocabulary import (
    BIZ_STEPS,
    BIZ_TRANSACTION_TYPES,
    DISPOSITIONS,
    EVENT_TYPES,
    SOURCE_DESTINATION_TYPES,
    CBVVocabulary,
    cbv_short_name,
    cbv_uri,
)
from supplychain.identifiers.digital_link import lot, to_digital_link

__all__ = [
    "ACCELERATION_UOMS",
    "BIZ_STEPS",
    "BIZ_TRANSACTION_TYPES",
    "DISPOSITIONS",
    "EVENT_TYPES",
    "HASH_VERSION",
    "SOURCE_DESTINATION_TYPES",
    "TEMPERATURE_UOMS",
    "AccelerationReading",
    "CBVVocabulary",
    "CaptureEvent",
    "CaptureLimits",
    "DocumentTooLargeError",
    "EPCISDocument",
    "EPCISDocumentError",
    "EPCISError",
    "EPCISValidationError",
    "TemperatureReading",
    "TooManyEventsError",
    "TooManyReadingsError",
    "cbv_short_name",
    "cbv_uri",
    "event_hash_id",
    "event_prehash",
    "lot",
    "parse_document",
    "stored_temperatures",
    "to_celsius",
    "to_digital_link",
]
