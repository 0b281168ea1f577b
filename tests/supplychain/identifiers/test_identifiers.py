"""Identifiers are checked in full, by one checker per kind (issue 22, item 10).

``re.match`` with ``$`` let a party id end in a newline (a second party that prints like
the carrier), and a loose pattern let ``urn:epc:id:pgln:4023333.00000.evil`` in. Party
ids, key read points and claim lots now go through ``supplychain.identifiers.tds``: EPC URNs with their
digit counts (GS1 TDS), GS1 Digital Links with their check digits.
"""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from api.auth.keys import InvalidKeySpecError, KeyStore, create_key_tables
from claims.models import ClaimInput
from ledger.log import Ledger
from supplychain.capture import PartyError, create_projection_tables, register_party
from supplychain.identifiers.tds import (
    PARTY_ID_PATTERN,
    EPCError,
    check_lot_key,
    check_party_id,
    check_sgln,
    gs1_check_digit,
)

CARRIER = "urn:epc:id:pgln:4023333.00000"

GOOD_PARTIES = [
    CARRIER,
    "urn:epc:id:pgln:012345678901.",  # a 12-digit company prefix leaves no reference
    "urn:epc:id:sgln:4012345.00001.0",
    "urn:epc:id:sgln:4000001.00010.dock%2F3",
    "https://id.gs1.org/417/4023333000000",
    "https://id.gs1.org/414/4012345000016/254/dock-3",
]
BAD_PARTIES = [
    (CARRIER + "\n", "nothing after them"),
    (CARRIER + ".evil", "nothing after them"),
    ("urn:epc:id:pgln:1.0", "12 digits together"),
    ("urn:epc:id:pgln:4023333.0000", "12 digits together"),
    ("urn:epc:id:sgln:4012345.00001", "extension"),
    ("urn:epc:id:sgln:4012345.00001.0\n", "extension"),
    ("urn:epc:id:sgln:4012345.00001.%20", "GS1 AI encodable"),
    ("urn:epc:id:sgln:4012345.00001." + "x" * 21, "GS1 AI encodable"),
    ("https://id.gs1.org/417/4023333000009", "check digit"),
    ("https://id.gs1.org/417/4023333000000\n", "not a party id"),
    ("https://id.gs1.org/417/4023333000000/254/x", "no location extension"),
    ("urn:epc:id:sgtin:4012345.012345.1", "not a party id"),
    (" " + CARRIER, "not a party id"),
]


@pytest.mark.parametrize("party", GOOD_PARTIES)
def test_party_ids_that_are_gs1_keys_are_accepted(party: str) -> None:
    assert check_party_id(party) == party
    # The schema's pattern agrees (what clients and fuzzers see).
    assert re.fullmatch(PARTY_ID_PATTERN, party)


@pytest.mark.parametrize(("party", "words"), BAD_PARTIES)
def test_party_ids_are_checked_in_full(party: str, words: str) -> None:
    with pytest.raises(EPCError) as refused:
        check_party_id(party)
    assert words in refused.value.reason


def test_the_check_digits_are_gs1_mod_10() -> None:
    # GS1 General Specifications §7.9.1 examples: GTIN-13 629104150021 → 3, GLN 401234500001 → 6.
    assert gs1_check_digit("629104150021") == "3"
    assert gs1_check_digit("401234500001") == "6"


@pytest.fixture
def registry(ledger: Ledger) -> Ledger:
    """The conftest's ledger with the party registry and key tables."""
    create_projection_tables(ledger.engine)
    create_key_tables(ledger.engine)
    return ledger


@pytest.mark.parametrize("party", [CARRIER + "\n", CARRIER + ".evil"])
def test_the_registry_refuses_a_party_that_prints_like_another(
    registry: Ledger, party: str
) -> None:
    ledger = registry
    register_party(ledger=ledger, party_id=CARRIER, role="carrier", name="FastVan")
    size = ledger.size()
    # Before: registered as a second party, a "carrier" that reads like FastVan.
    with pytest.raises(PartyError) as refused:
        register_party(ledger=ledger, party_id=party, role="carrier", name="FastVan")
    assert refused.value.field == "id" and ledger.size() == size


def test_keys_take_only_party_ids_and_read_points_in_full(registry: Ledger) -> None:
    store = KeyStore(registry.engine, ledger=registry)
    for bad in (CARRIER + "\n", CARRIER + ".evil"):
        with pytest.raises(InvalidKeySpecError) as refused:
            store.create(role="supply_chain", name="s", created_by="t", parties=[bad])
        assert refused.value.field == "parties"
    for bad in ("urn:epc:id:sgln:4000001.00001", "urn:epc:id:sgln:4000001.00001.0\n"):
        with pytest.raises(InvalidKeySpecError) as refused:
            store.create(role="station", name="s", created_by="t", station_id="S", read_point=bad)
        assert refused.value.field == "read_point"
    assert check_sgln("urn:epc:id:sgln:4000001.00001.0") == "4000001000012"


@pytest.mark.parametrize(
    "lot",
    [
        "STRAW-0502",
        "urn:epc:class:lgtin:4012345.012345.LOT-1",
        "urn:epc:id:sgtin:4000001.012345.2001",
        "urn:epc:id:sscc:4012345.0000000017",
        "https://id.gs1.org/01/04012345123456/10/ABC",
    ],
)
def test_claim_lots_plain_or_gs1_keys_are_accepted(lot: str) -> None:
    assert _claim(lot).lot == lot


@pytest.mark.parametrize(
    ("lot", "words"),
    [
        ("STRAW-0502\n", "pattern"),
        ("urn:epc:class:lgtin:4012345.01234.LOT-1", "13 digits"),
        ("urn:epc:class:lgtin:4012345.012345.LOT-1.evil\n", "pattern"),
        ("https://id.gs1.org/01/04012345123457/10/ABC", "check digit"),
        ("urn:epc:id:grai:4012345.00001.1", "not a lot or item EPC"),
    ],
)
def test_claim_lots_are_checked_in_full(lot: str, words: str) -> None:
    with pytest.raises(ValidationError) as refused:
        _claim(lot)
    [error] = refused.value.errors()
    assert error["loc"] == ("lot",) and words in error["msg"]


def test_check_lot_key_names_the_fault() -> None:
    with pytest.raises(EPCError, match="SSCC"):
        check_lot_key("urn:epc:id:sscc:4012345.000000001")


def _claim(lot: str) -> ClaimInput:
    return ClaimInput.model_validate(
        {
            "order_id": "O-1",
            "lot": lot,
            "category": "chilled",
            "line_value": "1.00",
            "currency": "EUR",
            "delivered_at": "2024-05-02T10:00:00Z",
        }
    )
