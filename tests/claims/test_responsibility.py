"""Each responsibility rule on a small supply chain: supplier → warehouse → carrier → customer.

Readings every 15 minutes, as a logger in a reefer sends them; the chain's entries are
refs 1 (farm's handover), 2 (DC's), 3 (truck's); readings are carried by refs 21-23.
"""

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from claims.coldchain import Reading
from claims.profiles import DEFAULT_PROFILES
from claims.responsibility import ClaimFacts, Reason, ResponsibilityPolicy, decide
from claims.segments import NOBODY, CitedShock, LedgerRef, Observation, Party, Segment, Timeline

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
CHILLED = DEFAULT_PROFILES["chilled"]
FROZEN = DEFAULT_PROFILES["frozen"]
FARM = Party("urn:epc:id:pgln:4000001.00000", "supplier", "Green Farm")
DC = Party("urn:epc:id:pgln:4000002.00000", "warehouse", "North DC")
TRUCK = Party("urn:epc:id:pgln:4000003.00000", "carrier", "FastVan")
HOME = Party("urn:epc:id:pgln:4000004.00000", "customer", "Customer")


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def ref(i: int) -> LedgerRef:
    return LedgerRef(i, f"{i:064x}")


def temps(
    start: float, end: float, celsius: float = 3.0, *, hot: tuple[float, float, float] | None = None
) -> tuple[Reading, ...]:
    """Every 15 minutes at ``celsius``; ``hot`` = (from, to, °C) overrides a stretch."""
    out = []
    for i in range(round((end - start) * 4) + 1):
        at = start + i / 4
        c = hot[2] if hot and hot[0] <= at <= hot[1] else celsius
        out.append(Reading(h(at), c))
    return tuple(out)


def seg(
    party: Party, start: float, end: float | None, readings: tuple[Reading, ...], n: int
) -> Segment:
    return Segment(
        party,
        h(start),
        None if end is None else h(end),
        readings,
        (ref(n), ref(20 + n)),
        tuple(ref(20 + n) for _ in readings),
    )


def chain(
    *,
    farm: tuple[Reading, ...] | None = None,
    dc: tuple[Reading, ...] | None = None,
    truck: tuple[Reading, ...] | None = None,
    observations: tuple[Observation, ...] = (),
    truck_shocks: tuple[float, ...] = (),
    dc_shocks: tuple[float, ...] = (),
    segments: tuple[Segment, ...] | None = None,
) -> Timeline:
    def shocks(values: tuple[float, ...], at: float, n: int) -> tuple[CitedShock, ...]:
        return tuple(CitedShock(h(at), v, ref(30 + n)) for v in values)

    default = (
        seg(FARM, 0, 2, farm if farm is not None else temps(0, 2), 1),
        Segment(
            DC,
            h(2),
            h(10),
            dc if dc is not None else temps(2, 10),
            (ref(2), ref(22)),
            tuple(ref(22) for _ in (dc if dc is not None else temps(2, 10))),
            shocks(dc_shocks, 5, 2),
        ),
        Segment(
            TRUCK,
            h(10),
            h(14),
            truck if truck is not None else temps(10, 14, 4.0),
            (ref(3), ref(23)),
            tuple(ref(23) for _ in (truck if truck is not None else temps(10, 14, 4.0))),
            shocks(truck_shocks, 12, 3),
        ),
        Segment(HOME, h(14), None, (), (ref(4),)),
    )
    return Timeline("LOT1", segments or default, observations)


def claim(*defects: str, at: float = 15, delivered: float = 14, conf: float = 0.95) -> ClaimFacts:
    return ClaimFacts(frozenset(defects), h(at), h(delivered), conf, ref(99))


def inspected(
    at: float, *defects: str, n: int = 10, receipt_after: float | None = None, taken: float = 0
) -> Observation:
    """An inspection; ``receipt_after`` minutes after the holder received at hour ``taken``."""
    return Observation(
        h(at),
        "inspection",
        frozenset(defects),
        ref(n),
        since_receipt=None if receipt_after is None else timedelta(minutes=receipt_after),
        taken_over=None if receipt_after is None else h(taken),
    )


def codes(v) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.code for r in v.reasons]


# ------------------------------------------------------------------ latent defects


def test_temperature_abuse_in_one_custodians_segment() -> None:
    hot = temps(10, 14, 4.0, hot=(11, 13, 12.0))  # 7 °C over for two hours
    v = decide(timeline=chain(truck=hot), claim=claim("mold"), profile=CHILLED)
    assert (v.responsible_party, v.party_id) == ("carrier", TRUCK.id)
    assert codes(v) == ["TEMPERATURE_ABUSE"]
    reason = v.reasons[0]
    # The handover and the entry that carried the out-of-band readings.
    assert reason.refs == (ref(3), ref(23))
    assert reason.facts["degree_minutes"] > 60 and reason.facts["excess_pct"] > 0
    assert "pharmaceutical" in reason.message and "Q10" in reason.message
    assert v.confidence == pytest.approx(0.95 * 0.95, abs=1e-3)
    assert [(e.defect, e.source) for e in v.evidence] == [("mold", "photo")]


def test_reefer_failure_before_a_clean_inspection_is_still_the_abuser() -> None:
    # The case: 14 °C for three hours at the DC, then a clean visual check at the
    # next handover. Spoilage shows days later; the check cannot clear the DC.
    hot = temps(2, 10, hot=(4, 7, 14.0))
    obs = (inspected(10.1, receipt_after=6, taken=10),)
    v = decide(timeline=chain(dc=hot, observations=obs), claim=claim("spoilage"), profile=CHILLED)
    assert (v.responsible_party, v.party_id, codes(v)) == (
        "warehouse",
        DC.id,
        ["TEMPERATURE_ABUSE"],
    )


def test_of_two_abusers_the_clearly_worse_one_and_both_are_named() -> None:
    mild = temps(2, 10, hot=(4, 5, 9.0))
    severe = temps(10, 14, 4.0, hot=(10.5, 13.5, 14.0))
    v = decide(timeline=chain(dc=mild, truck=severe), claim=claim("spoilage"), profile=CHILLED)
    assert (v.responsible_party, codes(v)) == ("carrier", ["TEMPERATURE_ABUSE"])
    assert "North DC" in v.reasons[0].message


def test_two_comparable_abusers_name_the_worse_with_less_confidence() -> None:
    dc = temps(2, 10, hot=(4, 6, 12.0))
    truck = temps(10, 14, 4.0, hot=(11, 13, 12.5))
    v = decide(timeline=chain(dc=dc, truck=truck), claim=claim("spoilage"), profile=CHILLED)
    assert v.responsible_party == "carrier"
    assert codes(v) == ["COMPARABLE_ABUSERS", "TEMPERATURE_ABUSE"]
    assert v.reasons[1].facts["party_id"] == DC.id
    assert v.confidence == pytest.approx(0.7 * 0.95) and v.confidence < 0.8


def test_abuse_after_the_defect_was_on_record_does_not_count() -> None:
    # The DC's receipt inspection already found the lot spoiled; the truck's later
    # excursion cannot have caused it. The farm delivered it so.
    obs = (inspected(2.2, "spoilage", receipt_after=10, taken=2),)
    hot_truck = temps(10, 14, 4.0, hot=(11, 13, 14.0))
    v = decide(
        timeline=chain(truck=hot_truck, observations=obs), claim=claim("spoilage"), profile=CHILLED
    )
    assert (v.responsible_party, v.party_id, codes(v)) == (
        "supplier",
        FARM.id,
        ["INHERENT_QUALITY"],
    )


def test_freezing_chilled_goods_is_abuse_too() -> None:
    cold = temps(2, 10, hot=(4, 7, -6.0))
    v = decide(timeline=chain(dc=cold), claim=claim("spoilage"), profile=CHILLED)
    assert (v.responsible_party, codes(v)) == ("warehouse", ["TEMPERATURE_ABUSE"])


def test_frozen_goods_get_the_transport_tolerance_in_a_carriers_hands() -> None:
    def frozen_chain(dc_peak: float, truck_peak: float) -> Timeline:
        return chain(
            farm=temps(0, 2, -20.0),
            dc=temps(2, 10, -20.0, hot=(4, 7, dc_peak)),
            truck=temps(10, 14, -20.0, hot=(11, 13, truck_peak)),
        )

    carrier_only = decide(timeline=frozen_chain(-20, -16), claim=claim("spoilage"), profile=FROZEN)
    assert carrier_only.responsible_party == "supplier"  # -16 °C is inside -18 + 3 on the road
    dc_abuse = decide(timeline=frozen_chain(-16, -20), claim=claim("spoilage"), profile=FROZEN)
    assert dc_abuse.responsible_party == "warehouse"


def test_swelling_and_a_shock_in_one_segment_is_that_custodians() -> None:
    v = decide(timeline=chain(truck_shocks=(310.0,)), claim=claim("swelling"), profile=CHILLED)
    assert (v.responsible_party, v.party_id, codes(v)) == (
        "carrier",
        TRUCK.id,
        ["SHOCK_BROKE_SEAL"],
    )
    assert v.reasons[0].refs == (ref(33),) and v.reasons[0].facts["peak_mps2"] == 310.0


def test_a_shock_below_the_threshold_leaves_a_seal_defect() -> None:
    v = decide(timeline=chain(truck_shocks=(40.0,)), claim=claim("swelling"), profile=CHILLED)
    assert (v.responsible_party, codes(v)) == ("supplier", ["SEAL_DEFECT"])
    lower = ResponsibilityPolicy(shock_threshold_mps2=30.0)
    v = decide(
        timeline=chain(truck_shocks=(40.0,)), claim=claim("swelling"), profile=CHILLED, policy=lower
    )
    assert v.responsible_party == "carrier"


def test_shocks_in_two_segments_name_the_larger_with_less_confidence() -> None:
    v = decide(
        timeline=chain(truck_shocks=(150.0,), dc_shocks=(400.0,)),
        claim=claim("swelling"),
        profile=CHILLED,
    )
    assert (v.responsible_party, codes(v)) == ("warehouse", ["SHOCKS_IN_SEVERAL_SEGMENTS"])
    assert v.confidence < 0.8


def test_a_shock_does_not_explain_spoilage() -> None:
    v = decide(timeline=chain(truck_shocks=(400.0,)), claim=claim("spoilage"), profile=CHILLED)
    assert (v.responsible_party, codes(v)) == ("supplier", ["INHERENT_QUALITY"])


def test_no_abuse_within_shelf_life_is_the_supplier() -> None:
    v = decide(timeline=chain(), claim=claim("spoilage"), profile=CHILLED)
    assert (v.responsible_party, v.party_id, codes(v)) == (
        "supplier",
        FARM.id,
        ["INHERENT_QUALITY"],
    )
    assert {r.index for r in v.reasons[0].refs} == {1, 2, 3}
    assert 0 < v.reasons[0].facts["shelf_life_used_pct"] < 20  # type: ignore[operator]


def test_swelling_without_abuse_or_shock_is_a_seal_defect() -> None:
    v = decide(timeline=chain(), claim=claim("swelling"), profile=CHILLED)
    assert v.responsible_party == "supplier" and codes(v) == ["SEAL_DEFECT"]


def test_late_claim_after_clean_delivery_is_the_customer() -> None:
    obs = (Observation(h(14), "delivery", ref=ref(12)),)
    v = decide(timeline=chain(observations=obs), claim=claim("mold", at=14 + 72), profile=CHILLED)
    assert v.responsible_party == "customer"
    assert codes(v) == ["LATE_CLAIM_AFTER_CLEAN_DELIVERY"] and ref(12) in v.reasons[0].refs


def test_prompt_claim_after_clean_delivery_is_not_the_customer() -> None:
    obs = (Observation(h(14), "delivery", ref=ref(12)),)
    v = decide(timeline=chain(observations=obs), claim=claim("mold", at=16), profile=CHILLED)
    assert v.responsible_party == "supplier"


def test_a_photo_after_the_shelf_life_ran_out_is_the_customers() -> None:
    # Chilled goods keep 7 days at 5 °C; the photo comes 8 days after delivery.
    v = decide(timeline=chain(), claim=claim("mold", at=14 + 8 * 24), profile=CHILLED)
    assert (v.responsible_party, codes(v)) == ("customer", ["CLAIM_AFTER_SHELF_LIFE"])


def test_a_leg_without_temperatures_is_undetermined() -> None:
    v = decide(timeline=chain(truck=()), claim=claim("mold"), profile=CHILLED)
    assert v.responsible_party == "undetermined" and v.needs_review
    assert codes(v) == ["MISSING_TEMPERATURE_DATA"] and v.confidence == 0
    assert v.reasons[0].facts["holes"][0]["party_id"] == TRUCK.id  # type: ignore[index]


def test_a_hole_in_the_sensor_data_is_undetermined_and_names_the_leading_abuser() -> None:
    gappy = tuple(r for r in temps(2, 10) if not h(4) < r.time < h(7))
    hot_truck = temps(10, 14, 4.0, hot=(11, 13, 14.0))
    v = decide(timeline=chain(dc=gappy, truck=hot_truck), claim=claim("mold"), profile=CHILLED)
    assert codes(v) == ["MISSING_TEMPERATURE_DATA"]
    assert v.reasons[0].facts["leading_abuser"] == TRUCK.id
    assert v.reasons[0].facts["holes"] == [  # type: ignore[comparison-overlap]
        {"party_id": DC.id, "from": h(4).isoformat(), "to": h(7).isoformat()}
    ]


def test_a_stretch_nobody_held_is_a_custody_gap() -> None:
    t = chain()
    gap = Segment(NOBODY, h(8), h(10), (), (ref(7),))
    dc = Segment(DC, h(2), h(8), temps(2, 8), (ref(2),), tuple(ref(22) for _ in temps(2, 8)))
    gappy = chain(segments=(t.segments[0], dc, gap, *t.segments[2:]))
    assert codes(decide(timeline=gappy, claim=claim("mold"), profile=CHILLED)) == ["CUSTODY_GAP"]
    damaged = decide(timeline=gappy, claim=claim("package_damage"), profile=CHILLED)
    assert codes(damaged) == ["CUSTODY_GAP"]


# ------------------------------------------------------------------ visible damage


def test_damage_found_on_receipt_is_the_delivering_partys() -> None:
    # The case: the DC's inspection ten minutes after receiving from the truck.
    segments = (
        seg(FARM, 0, 2, temps(0, 2), 1),
        seg(TRUCK, 2, 6, temps(2, 6), 3),
        seg(DC, 6, 14, temps(6, 14), 2),
        Segment(HOME, h(14), None),
    )
    obs = (
        inspected(2.1, n=10, receipt_after=6, taken=2),
        inspected(6 + 10 / 60, "package_damage", n=11, receipt_after=10, taken=6),
    )
    t = chain(segments=segments, observations=obs)
    v = decide(timeline=t, claim=claim("package_damage"), profile=CHILLED)
    assert (v.responsible_party, v.party_id, codes(v)) == (
        "carrier",
        TRUCK.id,
        ["DAMAGED_ON_ARRIVAL"],
    )
    assert "10 minutes after receipt" in v.reasons[0].message
    assert v.reasons[0].refs[:2] == (ref(10), ref(11))
    # Outside the configured window the same inspection no longer speaks for the arrival.
    strict = ResponsibilityPolicy(receipt_window=timedelta(minutes=5))
    v = decide(timeline=t, claim=claim("package_damage"), profile=CHILLED, policy=strict)
    assert codes(v) == ["AMBIGUOUS_CUSTODY"] and v.responsible_party == "undetermined"


def test_damaged_between_two_inspections_is_the_holder_in_between() -> None:
    obs = (inspected(2.5, n=10), inspected(9.5, "package_damage", n=11))
    v = decide(timeline=chain(observations=obs), claim=claim("package_damage"), profile=CHILLED)
    assert (v.responsible_party, v.party_id) == ("warehouse", DC.id)
    assert codes(v) == ["DAMAGED_BETWEEN_OBSERVATIONS"]
    assert v.reasons[0].refs[:2] == (ref(10), ref(11))


def test_an_intact_check_just_before_dispatch_speaks_for_the_handover() -> None:
    dispatch = Observation(
        h(9.9), "inspection", ref=ref(10), until_dispatch=timedelta(minutes=6), handed_over=h(10)
    )
    arrival = Observation(h(14), "delivery", frozenset({"package_damage"}), ref(11))
    v = decide(
        timeline=chain(observations=(dispatch, arrival)),
        claim=claim("package_damage"),
        profile=CHILLED,
    )
    assert (v.responsible_party, v.party_id) == ("carrier", TRUCK.id)


def test_delivered_damaged_after_clean_last_handover_is_the_carrier() -> None:
    obs = (inspected(10.2, n=10, receipt_after=12, taken=10),)
    v = decide(timeline=chain(observations=obs), claim=claim("package_damage"), profile=CHILLED)
    assert (v.responsible_party, v.party_id) == ("carrier", TRUCK.id)
    assert codes(v) == ["DELIVERED_DAMAGED"]


def test_damage_after_a_clean_delivery_is_the_customer() -> None:
    obs = (Observation(h(14), "delivery", ref=ref(12)),)
    v = decide(timeline=chain(observations=obs), claim=claim("package_damage"), profile=CHILLED)
    assert v.responsible_party == "customer" and codes(v) == ["DAMAGED_AFTER_CLEAN_DELIVERY"]


def test_damage_reported_days_later_without_a_delivery_record_goes_to_a_person() -> None:
    obs = (inspected(10.2, n=10, receipt_after=12, taken=10),)
    v = decide(
        timeline=chain(observations=obs),
        claim=claim("package_damage", at=14 + 72),
        profile=CHILLED,
    )
    assert codes(v) == ["DAMAGE_REPORTED_LATE"] and v.needs_review


def test_without_an_intact_record_several_holders_leave_it_open() -> None:
    v = decide(timeline=chain(), claim=claim("package_damage"), profile=CHILLED)
    assert codes(v) == ["NO_CLEAN_OBSERVATION"] and v.responsible_party == "undetermined"


def test_damage_on_the_first_receipt_is_the_suppliers() -> None:
    obs = (inspected(2.2, "package_damage", n=10, receipt_after=12, taken=2),)
    v = decide(timeline=chain(observations=obs), claim=claim("package_damage"), profile=CHILLED)
    assert (v.responsible_party, v.party_id, codes(v)) == (
        "supplier",
        FARM.id,
        ["DAMAGED_ON_ARRIVAL"],
    )


# ------------------------------------------------------------------ evidence and conflicts


def test_a_defect_on_record_counts_when_the_photo_misses_it() -> None:
    # The case: the delivery inspection recorded `damaged`; the model saw nothing.
    obs = (
        inspected(10.2, n=10, receipt_after=12, taken=10),
        Observation(h(14), "delivery", frozenset({"package_damage"}), ref(12)),
    )
    v = decide(timeline=chain(observations=obs), claim=claim(conf=0.0), profile=CHILLED)
    assert (v.responsible_party, v.party_id) == ("carrier", TRUCK.id)
    assert codes(v) == ["DAMAGED_BETWEEN_OBSERVATIONS", "DEFECT_ON_RECORD"]
    assert [(e.defect, e.source, e.ref) for e in v.evidence] == [
        ("package_damage", "ledger", ref(12))
    ]
    assert v.confidence == pytest.approx(0.95)  # a person's record, not a model's guess


def test_photo_and_ledger_agreeing_name_both_sources() -> None:
    obs = (
        inspected(10.2, n=10, receipt_after=12, taken=10),
        Observation(h(14), "delivery", frozenset({"package_damage"}), ref(12)),
    )
    v = decide(
        timeline=chain(observations=obs), claim=claim("package_damage", conf=0.6), profile=CHILLED
    )
    assert {e.source for e in v.evidence} == {"photo", "ledger"}
    assert "DEFECT_ON_RECORD" not in codes(v)
    assert v.confidence == pytest.approx(0.95)  # the stronger source carries it


def test_conflicting_inspections_are_undetermined() -> None:
    obs = (inspected(10, n=10), inspected(10 + 2 / 60, "package_damage", n=11))
    v = decide(timeline=chain(observations=obs), claim=claim("package_damage"), profile=CHILLED)
    assert codes(v) == ["CONFLICTING_EVIDENCE"] and v.reasons[0].refs == (ref(10), ref(11))


def test_no_defect_and_no_custody_are_undetermined() -> None:
    assert codes(decide(timeline=chain(), claim=claim(), profile=CHILLED)) == ["NO_DEFECT_FOUND"]
    empty = Timeline("LOT9", ())
    assert codes(decide(timeline=empty, claim=claim("mold"), profile=CHILLED)) == [
        "NO_CUSTODY_DATA"
    ]


def test_defects_pointing_to_different_parties_go_to_a_person() -> None:
    obs = (inspected(10.2, n=10, receipt_after=12, taken=10),)
    v = decide(
        timeline=chain(observations=obs), claim=claim("mold", "package_damage"), profile=CHILLED
    )
    assert v.responsible_party == "undetermined"
    assert codes(v)[0] == "DEFECTS_POINT_TO_DIFFERENT_PARTIES"
    assert set(codes(v)[1:]) == {"INHERENT_QUALITY", "DELIVERED_DAMAGED"}


def test_one_defect_placed_and_one_not_goes_to_a_person() -> None:
    obs = (Observation(h(14), "delivery", ref=ref(12)),)
    v = decide(
        timeline=chain(truck=(), observations=obs),
        claim=claim("mold", "package_damage"),
        profile=CHILLED,
    )
    assert codes(v) == [
        "PART_UNDETERMINED",
        "MISSING_TEMPERATURE_DATA",
        "DAMAGED_AFTER_CLEAN_DELIVERY",
    ]
    assert v.confidence == 0 and v.needs_review


def test_a_reason_cites_each_ledger_entry_once() -> None:
    a, b = LedgerRef(3, "aa"), LedgerRef(4, "bb")
    assert Reason("X", "x", (a, b, a)).refs == (a, b)


def test_the_policy_refuses_nonsense() -> None:
    from claims.errors import InvalidPolicyError

    with pytest.raises(InvalidPolicyError, match="receipt_window"):
        ResponsibilityPolicy(receipt_window=timedelta(0))
    with pytest.raises(InvalidPolicyError, match="comparable_abusers_ratio"):
        ResponsibilityPolicy(comparable_abusers_ratio=0.5)


def test_a_doorstep_check_is_the_deliverys_even_on_a_short_last_leg() -> None:
    # The last-mile leg lasts 40 minutes, shorter than the receipt window: the driver's
    # check at the door must not be read as the carrier's check on arrival.
    segments = (
        seg(FARM, 0, 2, temps(0, 2), 1),
        seg(DC, 2, 13.3, temps(2, 13.3), 2),
        seg(TRUCK, 13.3, 14, temps(13.3, 14), 3),
        Segment(HOME, h(14), None),
    )
    obs = (
        inspected(13.5, n=10, receipt_after=12, taken=13.3),
        Observation(
            h(14),
            "inspection",
            frozenset({"package_damage"}),
            ref(11),
            since_receipt=timedelta(minutes=42),
            taken_over=h(13.3),
        ),
    )
    v = decide(
        timeline=chain(segments=segments, observations=obs), claim=claim(conf=0), profile=CHILLED
    )
    assert (v.responsible_party, codes(v)) == (
        "carrier",
        ["DAMAGED_BETWEEN_OBSERVATIONS", "DEFECT_ON_RECORD"],
    )


def test_intact_at_dispatch_and_damaged_on_arrival_at_one_handover_contradict() -> None:
    dispatch = Observation(
        h(9.9), "inspection", ref=ref(10), until_dispatch=timedelta(minutes=6), handed_over=h(10)
    )
    arrival = inspected(10.2, "package_damage", n=11, receipt_after=12, taken=10)
    v = decide(
        timeline=chain(observations=(dispatch, arrival)),
        claim=claim("package_damage"),
        profile=CHILLED,
    )
    assert codes(v) == ["CONFLICTING_EVIDENCE"] and v.reasons[0].refs == (ref(10), ref(11))


def test_a_verdict_lists_the_registered_roles_it_relied_on() -> None:
    registered = Party(FARM.id, FARM.role, FARM.name, ledger_idx=41)
    t = chain()
    segments = (dataclasses.replace(t.segments[0], custodian=registered), *t.segments[1:])
    v = decide(timeline=chain(segments=segments), claim=claim("spoilage"), profile=CHILLED)
    assert v.relied_on == (registered, DC, TRUCK)  # never the customer
    assert v.as_dict()["relied_on"][0] == {"id": FARM.id, "role": "supplier", "ledger_idx": 41}
