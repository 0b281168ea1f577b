"""EPCIS query parameters read into a query: each one read right, each bad one refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from supplychain.query import QueryParameterError, read_query
from supplychain.query.cursor import PageToken, read_token
from supplychain.query.params import Match, SensorBound

SSCC = "urn:epc:id:sscc:4012345.0000000017"
SSCC_DL = "https://id.gs1.org/00/040123450000000177"  # its identity (canonical Digital Link)


def test_lists_split_on_pipes_and_repeat() -> None:
    q = read_query([("EQ_bizStep", "shipping|urn:epcglobal:cbv:bizstep:receiving")])
    assert q.biz_steps == ("shipping", "receiving")
    q = read_query([("eventType", "ObjectEvent"), ("eventType", "AggregationEvent")])
    assert q.event_types == ("ObjectEvent", "AggregationEvent")


def test_times_are_utc_and_a_decoded_plus_is_read_as_one() -> None:
    q = read_query([("GE_eventTime", "2024-05-02T06:15:00.000 02:00")])
    assert q.event_time == (datetime(2024, 5, 2, 4, 15, tzinfo=UTC), None)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "EQ_readPoint",
            "urn:epc:id:sgln:4012345.00001.0",
            Match(("readPoint",), ("urn:epc:id:sgln:4012345.00001.0",)),
        ),
        (
            "WD_bizLocation",
            "urn:epc:id:sgln:1.2.0",
            Match(("bizLocation",), ("urn:epc:id:sgln:1.2.0",)),
        ),
        ("EQ_action", "ADD|DELETE", Match(("action",), ("ADD", "DELETE"))),
        ("MATCH_epc", SSCC, Match(("epc",), (SSCC, SSCC_DL), (), (SSCC_DL,))),
        (
            "MATCH_anyEPC",
            SSCC,
            Match(("epc", "inputEPC", "outputEPC", "parentID"), (SSCC, SSCC_DL), (), (SSCC_DL,)),
        ),
        # A Digital Link on any host: the link as given, and its identity in every form.
        (
            "MATCH_parentID",
            "http://shop.example/00/040123450000000177?x=1",
            Match(
                ("parentID",),
                ("http://shop.example/00/040123450000000177?x=1", SSCC_DL),
                (),
                (SSCC_DL,),
            ),
        ),
        ("MATCH_epc", SSCC_DL, Match(("epc",), (SSCC_DL,), (), (SSCC_DL,))),
        # A pattern without '*' names its one EPC: in either form too.
        (
            "MATCH_epc",
            "urn:epc:idpat:sscc:4012345.0000000017",
            Match(("epc",), (SSCC, SSCC_DL), (), (SSCC_DL,)),
        ),
        # Not a GS1 identifier: itself (no index row has an identity that is not a link).
        ("MATCH_epc", "urn:x:tag:1", Match(("epc",), ("urn:x:tag:1",), (), ("urn:x:tag:1",))),
        (
            "MATCH_epc",
            "urn:epc:idpat:sgtin:0614141.107346.*",
            Match(("epc",), (), ("urn:epc:id:sgtin:0614141.107346.",)),
        ),
        (
            "MATCH_epcClass",
            "urn:epc:idpat:sgtin:4012345.012345.*",
            Match(
                ("epcClass",),
                ("urn:epc:idpat:sgtin:4012345.012345.*",),
                ("urn:epc:id:sgtin:4012345.012345.", "urn:epc:class:lgtin:4012345.012345."),
            ),
        ),
        (
            "EQ_type",
            "gs1:Temperature",
            Match(("sensorType",), ("https://gs1.org/voc/Temperature",)),
        ),
        (
            "EQ_source_urn:epcglobal:cbv:sdt:owning_party",
            "urn:epc:id:pgln:4012345.00000",
            Match(("source:owning_party",), ("urn:epc:id:pgln:4012345.00000",)),
        ),
        ("EQ_bizTransaction_po", "urn:x:po:1", Match(("bizTransaction:po",), ("urn:x:po:1",))),
    ],
)
def test_equality_and_match_parameters(name: str, value: str, expected: Match) -> None:
    assert read_query([(name, value)]).matches == (expected,)


@pytest.mark.parametrize(
    ("name", "value", "bound"),
    [
        ("GE_maxValue_CEL", "8", SensorBound("maxValue", "CEL", "GE", 8.0)),
        ("LT_minValue_KEL", "273.15", SensorBound("minValue", "CEL", "LT", 0.0)),
        ("GT_value_FAR", "46.4", SensorBound("value", "CEL", "GT", pytest.approx(8.0))),  # type: ignore[arg-type]
        ("LE_sDev_FAR", "9", SensorBound("sDev", "CEL", "LE", 5.0)),
        ("GE_maxValue_K40", "2", SensorBound("maxValue", "MSK", "GE", 2 * 9.80665)),
        ("GE_value_P1", "90", SensorBound("value", "P1", "GE", 90.0)),
    ],
)
def test_sensor_bounds_in_the_index_unit(name: str, value: str, bound: SensorBound) -> None:
    assert read_query([(name, value)]).sensors == (bound,)


@pytest.mark.parametrize(
    ("pairs", "field"),
    [
        ([("bogus", "1")], "bogus"),
        ([("EXISTS_sensorElement", "")], "EXISTS_sensorElement"),  # standard, not supported
        ([("eventType", "FancyEvent")], "eventType"),
        ([("GE_eventTime", "2024-05-02")], "GE_eventTime"),
        ([("GE_eventTime", "2024-05-02T06:00:00")], "GE_eventTime"),  # no offset
        (
            [("GE_eventTime", "2024-05-02T06:00:00Z"), ("GE_eventTime", "2024-05-03T06:00:00Z")],
            "GE_eventTime",
        ),
        (
            [("GE_eventTime", "2024-05-03T00:00:00Z"), ("LT_eventTime", "2024-05-02T00:00:00Z")],
            "LT_eventTime",
        ),
        ([("EQ_bizStep", "shipping|")], "EQ_bizStep"),
        ([("EQ_bizStep", "sailing")], "EQ_bizStep"),
        ([("EQ_disposition", "urn:epcglobal:cbv:bizstep:shipping")], "EQ_disposition"),
        ([("EQ_action", "UPDATE")], "EQ_action"),
        ([("MATCH_epc", "urn:epc:idpat:sgtin:*.107346.*")], "MATCH_epc"),
        ([("MATCH_epc", "urn:epc:idpat:sgtin")], "MATCH_epc"),
        ([("GE_maxValue_CEL", "warm")], "GE_maxValue_CEL"),
        ([("GE_maxValue_CEL", "nan")], "GE_maxValue_CEL"),
        ([("EQ_value_CEL", "5")], "EQ_value_CEL"),
        ([("EQ_source_pirate", "urn:x:y")], "EQ_source_pirate"),
        ([("perPage", "0")], "perPage"),
        ([("perPage", "ten")], "perPage"),
        ([("orderBy", "bizStep")], "orderBy"),
        ([("orderDirection", "UP")], "orderDirection"),
        ([("eventCountLimit", "5"), ("maxEventCount", "5")], "maxEventCount"),
    ],
)
def test_bad_parameters_are_query_parameter_exceptions(
    pairs: list[tuple[str, str]], field: str
) -> None:
    with pytest.raises(QueryParameterError) as caught:
        read_query(pairs)
    assert caught.value.parameter == field
    assert caught.value.exception == "QueryParameterException"


def test_a_path_event_type_narrows_the_query() -> None:
    assert read_query([], event_type="ObjectEvent").event_types == ("ObjectEvent",)
    both = [("eventType", "ObjectEvent|AggregationEvent")]
    assert read_query(both, event_type="AggregationEvent").event_types == ("AggregationEvent",)
    assert (
        read_query([("eventType", "ObjectEvent")], event_type="AggregationEvent").event_types == ()
    )


def test_the_canonical_form_ignores_order_and_paging() -> None:
    a = read_query([("EQ_bizStep", "shipping"), ("eventType", "ObjectEvent"), ("perPage", "5")])
    b = read_query([("eventType", "ObjectEvent"), ("EQ_bizStep", "shipping")])
    assert a.params == b.params == (("EQ_bizStep", "shipping"), ("eventType", "ObjectEvent"))


def _token() -> PageToken:
    return PageToken((("EQ_bizStep", "shipping"),), "scope-a", "recordTime", False, (None, 41), 30)


def test_a_page_token_reads_back_only_with_its_secret_and_scope() -> None:
    text = _token().encode(b"k" * 32)
    assert read_token(text, secret=b"k" * 32, scope="scope-a") == _token()
    for secret, scope in ((b"x" * 32, "scope-a"), (b"k" * 32, "scope-b")):
        with pytest.raises(QueryParameterError):
            read_token(text, secret=secret, scope=scope)
    payload, sig = text.split(".")
    for forged in (payload[:-2] + "AA." + sig, payload + "." + sig[:-2] + "AA", "junk", "a.b.c"):
        with pytest.raises(QueryParameterError):
            read_token(forged, secret=b"k" * 32, scope="scope-a")
