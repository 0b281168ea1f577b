"""From EPCIS records to FSMA 204 rows: which event is which CTE, and where each KDE is read.

Pure: a `Selection` in (``supplychain.fsma.records``), typed `CteRow` objects out.

Which CTE an event records (``cte_of``), by its CBV business step:

- ``packing`` is initial packing, ``shipping`` shipping, ``receiving`` receiving;
- harvesting and cooling have no CBV 2.0 step: a private-vocabulary step whose last term is
  ``harvesting`` or ``cooling`` (``https://freshproof.dev/epcis/BizStep-harvesting``, or any
  other namespace's ``…harvesting``) records them;
- any other ``TransformationEvent`` is a transformation. Other events (storing, inspecting,
  sensor reports) are no CTE and make no row.

Where each KDE is read (GS1 US maps FSMA 204 onto EPCIS the same way: the what, when, where
and why of the event, its ILMD as the lot's master data):

- the traceability lot code and the product's GTIN: the lot class (LGTIN URI or Digital Link
  with AI 10) in the event's ``quantityList`` / ``epcList`` (a transformation's outputs);
- quantity and unit: that class's ``quantityList`` entry (a quantity without ``uom`` counts
  trade items, as EPCIS reads it);
- the date: ``eventTime`` at the event's own ``eventTimeZoneOffset``;
- where it happened: ``bizLocation`` / ``readPoint`` and the event's own possessing party
  (a shipment's source, a receipt's destination) from the party registry; the previous source
  and subsequent recipient: ``sourceList`` / ``destinationList``, and when the party named there
  is a carrier (FSMA asks for the source or recipient "other than a transporter") the lot's
  earlier shipment or later receipt that names the non-carrier;
- the reference document: ``bizTransactionList`` (type and number);
- product description, commodity and variety, field or growing area, harvest date, TLC source
  reference: the lot's ILMD, in any event of the lot (``productDescription`` / ``productName``,
  ``commodity``, ``variety``, ``fieldName`` / ``growingArea``, ``harvestStartDate`` /
  ``harvestEndDate``, ``tlcSourceReference``; matched on the term's local name, any prefix);
- the TLC source: where the lot's initial packing, transformation or commissioning happened.

The registry holds a party's name and role, not its address or phone number: a location
description read from it is `Known` with those parts ``lacking``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from supplychain.capture import Party
from supplychain.epcis.vocabulary import CBVVocabulary, cbv_short, local_name
from supplychain.fsma.kdes import Cte, CteRow, Kde, KdeValue, Known, Missing
from supplychain.fsma.records import (
    INPUTS,
    OBSERVED,
    OUTPUTS,
    Record,
    Selection,
    lot_classes,
    records_of,
)
from supplychain.identifiers.digital_link import gtin, is_lot_class, lot

__all__ = ["BTT_NAMES", "cte_of", "rows"]

_STEP_CTE = {"packing": Cte.INITIAL_PACKING, "shipping": Cte.SHIPPING, "receiving": Cte.RECEIVING}
_PRIVATE_STEP_CTE = {
    "harvesting": Cte.HARVESTING,
    "cooling": Cte.COOLING,
    "initial_packing": Cte.INITIAL_PACKING,
    "transformation": Cte.TRANSFORMATION,
}
BTT_NAMES = {
    "bol": "Bill of Lading",
    "cert": "Certificate",
    "desadv": "Despatch Advice (ASN)",
    "inv": "Invoice",
    "pedigree": "Pedigree",
    "po": "Purchase Order",
    "poc": "Purchase Order Confirmation",
    "prodorder": "Production Order",
    "recadv": "Receiving Advice",
    "rma": "Return Merchandise Authorization",
    "testprd": "Test Procedure",
    "testres": "Test Result",
    "upevt": "Upstream EPCIS Event",
}
"""CBV 2.0 business transaction types as a reference document type reads."""

_PRODUCT = ("productDescription", "productName", "tradeItemDescription", "itemDescription")
_FIELD = ("fieldName", "growingArea", "growingAreaName")
_HARVEST_DATE = ("harvestEndDate", "harvestStartDate", "harvestDate")
_TLC_REFERENCE = ("tlcSourceReference", "traceabilityLotCodeSourceReference")
_NO_CONTACT = ("physical address", "phone number")


def cte_of(record: Record) -> Cte | None:
    """The CTE the event records, or None (module docstring)."""
    step = record.biz_step
    if step in _STEP_CTE:
        return _STEP_CTE[step]
    if step and ":" in step:
        term = local_name(step).removeprefix("BizStep-").lower()
        if term in _PRIVATE_STEP_CTE:
            return _PRIVATE_STEP_CTE[term]
    return Cte.TRANSFORMATION if record.event_type == "TransformationEvent" else None


def _ilmd(records: Iterable[Record], names: Sequence[str]) -> tuple[Any, Record] | None:
    """The first scalar ILMD value under one of ``names`` (in that order of preference)."""
    for name in names:
        for r in records:
            ilmd = r.event.get("ilmd")
            for key, value in ilmd.items() if isinstance(ilmd, dict) else ():
                if (
                    local_name(key) == name
                    and isinstance(value, str | int | float)
                    and str(value).strip()
                ):
                    return value, r
    return None


def _made(r: Record, lot_class: str) -> bool:
    """The event's ILMD describes the lot: it is what the event observed or made."""
    lists = OUTPUTS if r.event_type == "TransformationEvent" else OBSERVED
    return lot_class in lot_classes(r.event, lists)


def _as_date(value: Any) -> date | str:
    text = str(value).strip()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return text


def _tlc_text(lot_class: str) -> str:
    return lot(lot_class) or lot_class


class _Rows:
    """The rows of one selection; the party registry and lot histories it reads from."""

    def __init__(self, selection: Selection) -> None:
        self.sel = selection
        self.parties: Mapping[str, Party] = selection.parties
        # Every row reads its lot's history, master data and packing: read each once.
        self._histories: dict[tuple[str, ...], tuple[Record, ...]] = {}
        self._master: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[Any, Record] | None] = {}
        self._packed: dict[str, tuple[tuple[datetime, int], ...]] = {}

    # ------------------------------------------------------------------ places

    def _role(self, party: str | None) -> str | None:
        found = self.parties.get(party) if party else None
        return found.role if found else None

    def place(self, at: Record, *, party: str | None, location: str | None) -> KdeValue | None:
        """A location description: the party's registered name and id, the GLN of the place."""
        if party is None and location is None:
            return None
        parts: list[str] = []
        entries = [at.index]
        lacking: list[str] = []
        if party is not None:
            found = self.parties.get(party)
            if found is not None:
                parts.append(f"{found.name} ({party})")
                entries += [found.ledger_idx] if found.ledger_idx is not None else []
            else:
                parts.append(party)
                lacking.append("business name (party not registered)")
        else:
            lacking.append("business name")
        if location is not None:
            parts.append(f"at {location}")
        return Known(" ".join(parts), tuple(dict.fromkeys(entries)), (*lacking, *_NO_CONTACT))

    def own_party(self, r: Record, cte: Cte | None) -> str | None:
        if cte is Cte.RECEIVING:
            party = r.party("destinations") or r.party("sources")
        else:
            party = r.party("sources") or r.party("destinations")
        if party is None and len(r.captured_for) == 1:
            party = r.captured_for[0]  # the one party of its capturer's that took part
        return party

    def own_place(self, r: Record, cte: Cte | None) -> KdeValue:
        if cte is Cte.SHIPPING:
            where = r.read_point or r.biz_location or r.party("sources", ("location",))
        elif cte is Cte.RECEIVING:
            where = r.biz_location or r.read_point or r.party("destinations", ("location",))
        else:
            where = r.biz_location or r.read_point
        found = self.place(r, party=self.own_party(r, cte), location=where)
        return found or Missing("the event names no location (bizLocation, readPoint) nor party")

    def previous_source(self, r: Record, history: Sequence[Record]) -> KdeValue:
        party = r.party("sources")
        location = r.party("sources", ("location",))
        if party is None and location is None:
            return Missing("the event names no source (sourceList)")
        if self._role(party) != "carrier":
            return self.place(r, party=party, location=location) or Missing("no source")
        # The carrier only moved it: the source is whoever tendered it to a carrier.
        for earlier in reversed([e for e in history if (e.time, e.index) < (r.time, r.index)]):
            sender = earlier.party("sources")
            if cte_of(earlier) is Cte.SHIPPING and sender and self._role(sender) != "carrier":
                found = self.place(earlier, party=sender, location=earlier.read_point)
                if isinstance(found, Known):
                    return Known(found.value, (r.index, *found.entries), found.lacking)
        return Missing(
            f"the source named, {party}, is a transporter, and no earlier shipment of the lot "
            "names who sent it"
        )

    def subsequent_recipient(self, r: Record, history: Sequence[Record]) -> KdeValue:
        party = r.party("destinations")
        location = r.party("destinations", ("location",))
        if party is None and location is None:
            return Missing("the event names no destination (destinationList)")
        if self._role(party) != "carrier":
            return self.place(r, party=party, location=location) or Missing("no destination")
        for later in (e for e in history if (e.time, e.index) > (r.time, r.index)):
            taker = later.party("destinations")
            if taker and self._role(taker) != "carrier":
                found = self.place(later, party=taker, location=later.biz_location)
                if isinstance(found, Known):
                    return Known(found.value, (r.index, *found.entries), found.lacking)
        return Missing(
            f"the recipient named, {party}, is a transporter, and no later record of the lot "
            "names who took it over"
        )

    # ------------------------------------------------------------------ the lot's data

    def history(self, *lot_classes_: str) -> tuple[Record, ...]:
        if lot_classes_ not in self._histories:
            self._histories[lot_classes_] = records_of(self.sel, lot_classes_)
        return self._histories[lot_classes_]

    def master(self, lots: Sequence[str], names: Sequence[str]) -> tuple[Any, Record] | None:
        """The lots' master data: the ILMD of the events that made them (a transformation's
        outputs, an object event's objects), never another lot's."""
        key = (tuple(lots), tuple(names))
        if key not in self._master:
            made = [h for c in lots for h in self.history(c) if _made(h, c)]
            self._master[key] = _ilmd(made, names)
        return self._master[key]

    def product(self, lot_class: str) -> KdeValue:
        found = self.master((lot_class,), _PRODUCT)
        if found is None:
            return Missing(
                f"no record of lot {_tlc_text(lot_class)} gives a product description "
                "(ILMD productDescription or productName)"
            )
        return Known(str(found[0]).strip(), (found[1].index,))

    def commodity(self, lot_class: str) -> KdeValue:
        found = self.master((lot_class,), ("commodity",))
        if found is None:
            return self.product(lot_class)
        variety = self.master((lot_class,), ("variety",))
        if variety is None:
            return Known(str(found[0]).strip(), (found[1].index,))
        text = f"{str(found[0]).strip()}, {str(variety[0]).strip()}"
        return Known(text, tuple(dict.fromkeys((found[1].index, variety[1].index))))

    def tlc_source(self, lot_class: str) -> KdeValue:
        records = self.history(lot_class)
        for r in records:
            cte = cte_of(r)
            created = (
                (
                    r.event_type == "TransformationEvent"
                    and lot_class in lot_classes(r.event, OUTPUTS)
                )
                or (cte is Cte.INITIAL_PACKING and lot_class in lot_classes(r.event, OBSERVED))
                or (r.event_type == "ObjectEvent" and r.action == "ADD" and cte is None)
            )
            if created:
                return self.own_place(r, cte)
        reference = self.master((lot_class,), _TLC_REFERENCE)
        if reference is not None:
            return Known(f"TLC source reference: {reference[0]}", (reference[1].index,))
        return Missing(
            f"no initial packing, transformation or commissioning record of lot "
            f"{_tlc_text(lot_class)} says where its code was assigned"
        )

    @staticmethod
    def quantity(r: Record, lot_class: str, lists: Sequence[str]) -> tuple[KdeValue, KdeValue]:
        if not is_lot_class(lot_class):
            gone = Missing(f"the event names no lot class (it was found by {lot_class})")
            return gone, gone
        for name in lists:
            for item in r.event.get(name) or ():
                if isinstance(item, dict) and item.get("epcClass") == lot_class:
                    amount, uom = item.get("quantity"), item.get("uom")
                    if amount is None:
                        gone = Missing(f"the {name} entry of the lot gives no quantity")
                        return gone, gone
                    unit: KdeValue = (
                        Known(str(uom), (r.index,))
                        if uom
                        else Known("EA", (r.index,), ("unit (no uom: EPCIS counts trade items)",))
                    )
                    return Known(float(amount), (r.index,)), unit
        gone = Missing("the event names the lot without a quantity (no quantityList entry)")
        return gone, gone

    @staticmethod
    def reference(r: Record) -> tuple[KdeValue, KdeValue]:
        listed = [t for t in r.event.get("bizTransactionList") or () if isinstance(t, dict)]
        if not listed:
            gone = Missing("the event lists no business transaction (bizTransactionList)")
            return gone, gone
        kinds: list[str] = []
        for t in listed:
            short = (
                cbv_short(str(t["type"]), CBVVocabulary.BIZ_TRANSACTION_TYPE)[0]
                if t.get("type")
                else None
            )
            kinds.append(BTT_NAMES.get(short or "", short or "untyped"))
        numbers = "; ".join(str(t.get("bizTransaction")) for t in listed)
        untyped = ("type of a listed transaction",) if "untyped" in kinds else ()
        return Known("; ".join(kinds), (r.index,), untyped), Known(numbers, (r.index,))

    # ------------------------------------------------------------------ rows

    def row(self, r: Record, cte: Cte, lot_class: str) -> CteRow:
        history = self.history(lot_class) if is_lot_class(lot_class) else (r,)
        kdes: dict[Kde, KdeValue] = {Kde.EVENT_DATE: Known(r.local_date, (r.index,))}
        if is_lot_class(lot_class):
            kdes[Kde.TLC] = Known(_tlc_text(lot_class), (r.index,))
            code = gtin(lot_class)
            kdes[Kde.GTIN] = (
                Known(code, (r.index,)) if code else Missing("the lot code names no GTIN")
            )
        else:
            kdes[Kde.TLC] = Missing(f"the event names no lot class (it was found by {lot_class})")
        sides = OUTPUTS if r.event_type == "TransformationEvent" else OBSERVED
        kdes[Kde.QUANTITY], kdes[Kde.UNIT] = self.quantity(r, lot_class, sides)
        kdes[Kde.REFERENCE_TYPE], kdes[Kde.REFERENCE_NUMBER] = self.reference(r)
        kdes[Kde.LOCATION] = self.own_place(r, cte)
        if cte in (Cte.HARVESTING, Cte.COOLING):
            kdes[Kde.PRODUCT] = self.commodity(lot_class)
        else:
            kdes[Kde.PRODUCT] = self.product(lot_class)
        if cte in (Cte.SHIPPING, Cte.RECEIVING, Cte.INITIAL_PACKING, Cte.TRANSFORMATION):
            kdes[Kde.TLC_SOURCE] = self.tlc_source(lot_class)
        if cte in (Cte.HARVESTING, Cte.COOLING, Cte.SHIPPING):
            kdes[Kde.SUBSEQUENT_RECIPIENT] = self.subsequent_recipient(r, history)
        if cte is Cte.RECEIVING:
            kdes[Kde.PREVIOUS_SOURCE] = self.previous_source(r, history)
        if cte is Cte.HARVESTING:
            kdes[Kde.FIELD] = self.field((lot_class,))
        if cte is Cte.COOLING:
            harvest = self.last(history, Cte.HARVESTING, before=r)
            kdes[Kde.HARVEST_FARM] = (
                self.own_place(harvest, Cte.HARVESTING)
                if harvest
                else Missing("no harvesting record of the lot before it was cooled")
            )
        if cte is Cte.INITIAL_PACKING:
            kdes.update(self.packing(r, lot_class))
        if cte is Cte.TRANSFORMATION:
            kdes.update(self.inputs(r))
        return CteRow(cte, r.time, r.index, r.leaf_hash, r.hash_id, kdes)

    def packed_after(self, r: Record, lot_class: str) -> bool:
        """The lot is initially packed after this record."""
        if lot_class not in self._packed:
            self._packed[lot_class] = tuple(
                (h.time, h.index)
                for h in self.history(lot_class)
                if cte_of(h) is Cte.INITIAL_PACKING
            )
        return any(at > (r.time, r.index) for at in self._packed[lot_class])

    @staticmethod
    def last(history: Sequence[Record], cte: Cte, *, before: Record) -> Record | None:
        found = [
            h
            for h in history
            if cte_of(h) is cte and (h.time, h.index) < (before.time, before.index)
        ]
        return found[-1] if found else None

    def field(self, lots: Sequence[str]) -> KdeValue:
        found = self.master(lots, _FIELD)
        if found is None:
            return Missing("no record of the lot names its field or growing area (ILMD fieldName)")
        return Known(str(found[0]).strip(), (found[1].index,))

    def packing(self, r: Record, lot_class: str) -> dict[Kde, KdeValue]:
        """§1.1330(a)(1)-(10): what the packer received, and its harvest and cooling."""
        received_lots = lot_classes(r.event, INPUTS) or (lot_class,)
        context = [h for h in self.history(lot_class, *received_lots) if h.index != r.index]
        harvest = self.last(context, Cte.HARVESTING, before=r)
        cooling = self.last(context, Cte.COOLING, before=r)
        receipt = self.last(context, Cte.RECEIVING, before=r)
        out: dict[Kde, KdeValue] = {Kde.RECEIVED_COMMODITY: self.commodity(received_lots[0])}
        if receipt is not None:
            out[Kde.RECEIVED_DATE] = Known(receipt.local_date, (receipt.index,))
            taken = next(
                (c for c in lot_classes(receipt.event, OBSERVED) if c in received_lots),
                received_lots[0],
            )
            out[Kde.RECEIVED_QUANTITY], out[Kde.RECEIVED_UNIT] = self.quantity(
                receipt, taken, OBSERVED
            )
        else:
            gone = Missing("no receiving record of the food before it was packed")
            out[Kde.RECEIVED_DATE] = out[Kde.RECEIVED_QUANTITY] = out[Kde.RECEIVED_UNIT] = gone
        out[Kde.FIELD] = self.field((*received_lots, lot_class))
        dated = self.master((*received_lots, lot_class), _HARVEST_DATE)
        if harvest is not None:
            out[Kde.HARVEST_FARM] = self.own_place(harvest, Cte.HARVESTING)
            who = self.own_party(harvest, Cte.HARVESTING)
            found = self.parties.get(who) if who else None
            out[Kde.HARVESTER] = (
                Known(
                    found.name,
                    tuple(i for i in (harvest.index, found.ledger_idx) if i is not None),
                    ("phone number",),
                )
                if found
                else Missing(f"the harvesting record's party {who} is not in the party registry")
                if who
                else Missing("the harvesting record names no party")
            )
            out[Kde.HARVEST_DATE] = Known(harvest.local_date, (harvest.index,))
        else:
            gone = Missing("no harvesting record of the food before it was packed")
            out[Kde.HARVEST_FARM] = out[Kde.HARVESTER] = out[Kde.HARVEST_DATE] = gone
        if dated is not None:
            out[Kde.HARVEST_DATE] = Known(_as_date(dated[0]), (dated[1].index,))
        if cooling is not None:
            out[Kde.COOLING_LOCATION] = self.own_place(cooling, Cte.COOLING)
            out[Kde.COOLING_DATE] = Known(cooling.local_date, (cooling.index,))
        else:
            gone = Missing("no cooling record before packing (required if the food was cooled)")
            out[Kde.COOLING_LOCATION] = out[Kde.COOLING_DATE] = gone
        return out

    def inputs(self, r: Record) -> dict[Kde, KdeValue]:
        """§1.1350(a)(1): each input lot's code, product description and quantity used."""
        used = lot_classes(r.event, INPUTS)
        if not used:
            gone = Missing("the transformation names no input lot (inputQuantityList)")
            return {Kde.INPUT_TLCS: gone, Kde.INPUT_PRODUCTS: gone, Kde.INPUT_QUANTITIES: gone}
        products, amounts, lacking_p, lacking_q = [], [], [], []
        entries_p: list[int] = [r.index]
        for c in used:
            desc = self.product(c)
            if isinstance(desc, Known):
                products.append(f"{_tlc_text(c)}: {desc.value}")
                entries_p += desc.entries
            else:
                products.append(_tlc_text(c))
                lacking_p.append(f"product description of {_tlc_text(c)}")
            amount, unit = self.quantity(r, c, INPUTS)
            if isinstance(amount, Known) and isinstance(unit, Known):
                amounts.append(f"{_tlc_text(c)}: {amount.value:g} {unit.value}")
            else:
                amounts.append(f"{_tlc_text(c)}: (not on record)")
                lacking_q.append(f"quantity of {_tlc_text(c)}")
        return {
            Kde.INPUT_TLCS: Known("; ".join(_tlc_text(c) for c in used), (r.index,)),
            Kde.INPUT_PRODUCTS: (
                Known("; ".join(products), tuple(dict.fromkeys(entries_p)), tuple(lacking_p))
                if len(lacking_p) < len(used)
                else Missing("no record of the input lots gives a product description")
            ),
            Kde.INPUT_QUANTITIES: (
                Known("; ".join(amounts), (r.index,), tuple(lacking_q))
                if len(lacking_q) < len(used)
                else Missing("the inputQuantityList gives no quantity of the input lots")
            ),
        }


def rows(selection: Selection) -> tuple[CteRow, ...]:
    """One row per CTE and traceability lot the selection's events record, oldest first."""
    build = _Rows(selection)
    out: list[CteRow] = []
    for record, keys in selection.selected:
        cte = cte_of(record)
        if cte is None:
            continue
        lots: Sequence[str] = keys
        if record.event_type == "TransformationEvent":
            outputs = lot_classes(record.event, OUTPUTS)
            # A transformation's row is about the lots it made, whichever side selected it.
            lots = [k for k in keys if k in outputs] or list(outputs) or list(keys)
        if cte is Cte.RECEIVING:
            # A receipt before the lot's initial packing is the packing's record, not a
            # receiving CTE (§1.1345(c)): its date and quantity are the packer's KDEs.
            lots = [k for k in lots if not build.packed_after(record, k)]
        out += [build.row(record, cte, k) for k in lots]
    return tuple(out)
