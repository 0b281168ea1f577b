"""The claim as a customer submits it: one validated model, shared by the API and the domain.

Every bound here matches the column that stores the value (``claims/tables.py``), so a value
that passes can always be stored, and one that cannot is refused with the field's name before
a photo is read or a byte written. Rules that need the service's configuration or the clock
(a known category, a delivery not in the future) stay in ``claims.service``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_extra_types.currency_code import ISO4217

from supplychain.identifiers.tds import EPCError, check_lot_key, is_gs1_key
from vision.operating import KIND_FAMILIES

__all__ = [
    "AMOUNT_PATTERN",
    "EARLIEST_DELIVERY",
    "LINE_PATTERN",
    "MAX_LINE_VALUE",
    "TEXT_PATTERN",
    "ClaimInput",
    "DecisionInput",
    "Description",
    "FindingReview",
    "Identifier",
    "LotName",
    "Name",
]

# The claims.line_value column is Numeric(12, 2).
MAX_LINE_VALUE = Decimal("9999999999.99")
# Older dates are typing errors, and the responsibility window is computed back from them.
EARLIEST_DELIVERY = datetime(2000, 1, 1, tzinfo=UTC)

# Never in text: C0/C1 controls (NUL, ESC and terminal escapes), and the invisible format
# characters that make text read differently than it is stored (bidi overrides and isolates,
# zero-width space, BOM, soft hyphen), line/paragraph separators and private use. The joiners
# U+200C/U+200D stay: emoji and several scripts need them. One pattern is both the check and
# the OpenAPI schema, so clients and fuzzers see exactly the rule that is applied.
_INVISIBLE = (
    r"\u00ad\u061c\u180e\u200b\u200e\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb"
    r"\ue000-\uf8ff"
)
# `$` also matches before a final newline (in Python, not in JSON Schema's ECMA regex):
# the look-ahead refuses any newline, so "id\n" is not a second id that prints like "id".
LINE_PATTERN = rf"^(?!.*\n)(?=.*\S)[^\x00-\x1f\x7f-\x9f{_INVISIBLE}]*$"
"""One line of printable text, not blank."""
TEXT_PATTERN = rf"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_INVISIBLE}]*$"
"""Printable text; line breaks and tabs allowed."""


def _line(max_length: int) -> StringConstraints:
    return StringConstraints(strict=True, min_length=1, max_length=max_length, pattern=LINE_PATTERN)


Identifier = Annotated[str, _line(100)]
"""An id a client system assigns (order, customer): 1 to 100 printable characters."""

LotName = Annotated[str, _line(300)]
"""A lot (batch) number or an EPC: 1 to 300 printable characters."""

Name = Annotated[str, _line(200)]
"""A name people read (a party's): 1 to 200 printable characters on one line."""

Description = Annotated[str, StringConstraints(strict=True, max_length=4000, pattern=TEXT_PATTERN)]
"""Free text: up to 4000 printable characters; line breaks and tabs allowed."""

AMOUNT_PATTERN = r"^[0-9]+(\.[0-9]+)?$"
"""An amount sent as a string: ASCII digits and one point. Python's ``Decimal`` also reads
"1e3", "1_000", " 12.50 " and other scripts' digits ("١٢"), none of which an order line's
value is written as."""


def _plain_amount(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(AMOUNT_PATTERN, value) is None:
        raise ValueError(
            "write the amount with digits and one point, as in 12.50 (no sign, exponent, "
            "spaces or separators)"
        )
    return value


def _amount_schema(schema: dict[str, Any]) -> None:
    for branch in schema.get("anyOf", ()):
        if branch.get("type") == "string":
            branch["pattern"] = AMOUNT_PATTERN


Family = Literal["produce", "parcel", "can", "pouch"]
"""What a product is (``vision.operating.FAMILIES``)."""


def claim_families(category: str, family: str | None = None) -> tuple[str, ...]:
    """The product families a claim's photos may show: the one the claim names, else from its
    temperature category: produce for a produce category (``chilled_produce``,
    ``ambient_produce``), else any package (parcel, can, pouch), each of whose operating
    points a photo must then pass."""
    if family is not None:
        return (family,)
    return KIND_FAMILIES["produce" if category.endswith("produce") else "package"]


class ClaimInput(BaseModel):
    """The customer's claim as submitted (the ``claim`` JSON part)."""

    # Python's engine: the text patterns look ahead, which Rust's regex crate cannot.
    model_config = ConfigDict(frozen=True, extra="forbid", title="Claim", regex_engine="python-re")

    order_id: Identifier = Field(examples=["7781"])
    lot: LotName = Field(
        description="The lot (batch) of the goods, or an EPC from the label as `epc`.",
        examples=["STRAW-0502"],
    )
    category: str = Field(
        pattern=r"^(?!.*\n)[a-z][a-z0-9_]{0,39}$",
        description="Temperature profile of the product: one the service's policy names "
        "(by default: frozen, chilled, chilled_produce, ambient_produce).",
        examples=["chilled"],
    )
    line_value: Decimal = Field(
        gt=0,
        le=MAX_LINE_VALUE,
        max_digits=12,
        decimal_places=2,
        allow_inf_nan=False,
        description="Value of the order line, at most 2 decimals; a JSON number, or a string "
        "of digits with one point.",
        examples=["12.50"],
        json_schema_extra=_amount_schema,
    )
    currency: ISO4217 = Field(description="ISO 4217 code.", examples=["EUR"])
    delivered_at: AwareDatetime = Field(
        description="When the goods were delivered: RFC 3339 with an offset, not before 2000.",
        examples=["2024-05-02T10:00:00Z"],
    )
    description: Description | None = None
    customer_id: Identifier | None = None
    family: Family | None = Field(
        None,
        description="What the product is, when the shop knows: produce for a produce category; "
        "a package (parcel, can or pouch) otherwise. The model may then decide the claim's "
        "photos alone at that family's operating point, instead of every family the category "
        "may be, and a person's decision on them is evidence for that family.",
        examples=["pouch"],
    )

    @property
    def families(self) -> tuple[str, ...]:
        """The families the claim's photos are held to (``claim_families``)."""
        return claim_families(self.category, self.family)

    @model_validator(mode="after")
    def _family_fits_the_category(self) -> ClaimInput:
        if self.family is not None and self.family not in claim_families(self.category):
            allowed = ", ".join(claim_families(self.category))
            raise ValueError(
                f"family {self.family!r} does not fit category {self.category!r} (one of {allowed})"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _epc_names_the_lot(cls, data: Any) -> Any:
        # Apps that scan the label send the EPC; it names the lot just as well.
        if isinstance(data, dict) and "epc" in data and data.get("lot") in (None, ""):
            data = {k: v for k, v in data.items() if k not in ("epc", "lot")} | {"lot": data["epc"]}
        return data

    @field_validator("line_value", mode="before")
    @classmethod
    def _plain(cls, value: Any) -> Any:
        return _plain_amount(value)

    @field_validator("lot")
    @classmethod
    def _gs1_lot_in_full(cls, value: str) -> str:
        # A lot written as a GS1 key (LGTIN/SGTIN/SSCC URN, Digital Link) must be one, check
        # digit and all (supplychain/identifiers/tds.py); a plain lot number is any one printable line.
        if is_gs1_key(value):
            try:
                check_lot_key(value)
            except EPCError as exc:
                raise ValueError(exc.reason) from None
        return value

    @field_validator("delivered_at")
    @classmethod
    def _delivered_in_range(cls, value: datetime) -> datetime:
        if value < EARLIEST_DELIVERY:
            raise ValueError(f"must not be before {EARLIEST_DELIVERY.date().isoformat()}")
        return value


LABELS = ("spoilage", "mold", "swelling", "package_damage")


class FindingReview(BaseModel):
    """An adjudicator's word on one finding: right or wrong, and the corrected label or box."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    photo: int = Field(ge=0, le=9, description="The photo's position in the claim.")
    index: int | None = Field(
        None, ge=0, le=99, description="The finding's position; none: a finding the model missed."
    )
    correct: bool
    label: Literal["spoilage", "mold", "swelling", "package_damage"] | None = None
    box: tuple[float, float, float, float] | None = Field(
        None, description="x1, y1, x2, y2 in the photo's pixels."
    )

    @model_validator(mode="after")
    def _consistent(self) -> FindingReview:
        if self.index is None and (self.correct or self.label is None or self.box is None):
            raise ValueError("a missed finding is added with correct=false, its label and box")
        if self.box is not None:
            x1, y1, x2, y2 = self.box
            if not (0 <= x1 < x2 and 0 <= y1 < y2):
                raise ValueError("box must be x1 < x2, y1 < y2, not negative")
        return self


class DecisionInput(BaseModel):
    """An adjudicator's decision on a claim: the party, the compensation, the findings.

    ``party``: ``confirm`` the verdict's party, or ``override`` it with ``responsible_party``
    (and ``party_id`` where the role is not enough). ``compensation``: ``approve`` the
    proposal, ``deny`` it, or ``change`` it to ``amount``. ``reason`` is always written down.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, regex_engine="python-re")

    party: Literal["confirm", "override"]
    responsible_party: (
        Literal["supplier", "warehouse", "carrier", "customer", "retailer"] | None
    ) = None
    party_id: Identifier | None = Field(None, max_length=200)
    reason: Annotated[str, _line(2000)]
    compensation: Literal["approve", "deny", "change"]
    amount: Decimal | None = Field(
        None, gt=0, le=MAX_LINE_VALUE, decimal_places=2, json_schema_extra=_amount_schema
    )

    @field_validator("amount", mode="before")
    @classmethod
    def _plain(cls, value: Any) -> Any:
        return _plain_amount(value)

    findings: tuple[FindingReview, ...] = Field((), max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> DecisionInput:
        if self.party == "override" and self.responsible_party is None:
            raise ValueError("an override names the responsible_party")
        if self.party == "confirm" and (self.responsible_party or self.party_id):
            raise ValueError("confirm takes the verdict's party; name one only to override")
        if (self.compensation == "change") != (self.amount is not None):
            raise ValueError("amount is given exactly when compensation is change")
        return self
