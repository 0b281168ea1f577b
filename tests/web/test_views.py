"""What the pages say about SLA deadlines, before the script takes over the counting."""

from __future__ import annotations

import itertools

from api.web.views import fact_text, format_remaining, place_labels, timers


def _ticket(state: str, fr: str, fr_left: float, res: str, res_left: float) -> dict[str, object]:
    return {
        "state": state,
        "due": {
            "first_response": "2024-05-02T10:30:00+00:00",
            "resolution": "2024-05-03T10:00:00+00:00",
        },
        "sla": {
            "first_response": fr,
            "resolution": res,
            "first_response_remaining_s": fr_left,
            "resolution_remaining_s": res_left,
        },
    }


def test_remaining_time_reads_in_the_largest_units() -> None:
    assert format_remaining(3 * 3600 + 5 * 60) == "3 h 05 min left"
    assert format_remaining(125) == "2 min 05 s left"
    assert format_remaining(-200) == "3 min 20 s late"
    assert format_remaining(2 * 86400 + 3600) == "2 d 1 h left"


def test_timers_count_down_unless_met_or_paused() -> None:
    first, resolution = timers(_ticket("new", "breached", -60, "due", 7200))
    assert (first.status, first.running, first.text) == ("breached", True, "1 min 00 s late")
    assert resolution.running and resolution.text == "2 h 00 min left"
    first, resolution = timers(_ticket("waiting_on_customer", "met", 600, "due", 7200))
    assert first.text == "met" and not first.running
    assert not resolution.running and resolution.text.endswith("(paused)")


def test_reason_facts_read_without_python() -> None:
    holes = [
        {"party_id": "urn:epc:id:pgln:4000003.00000", "from": "2024-05-02T10:00:00+00:00"},
        {"party_id": "urn:epc:id:pgln:4000002.00000", "to": None},
    ]
    text = fact_text(holes)
    assert text == (
        "party id urn:epc:id:pgln:4000003.00000, from 02 May 2024 10:00 UTC; "
        "party id urn:epc:id:pgln:4000002.00000, to none"
    )
    assert fact_text(None) == "none" and fact_text([]) == "none"
    assert fact_text(0.1 + 0.2) == "0.3" and fact_text(12) == "12"
    assert fact_text(["a", "b"]) == "a; b" and fact_text(True) == "yes"
    for value in (holes, None, {"leading_abuser": None}, [[1, 2]], {"a": {"b": 1.5}}):
        assert not any(bad in fact_text(value) for bad in ("None", "{", "[", "'"))


def test_labels_of_overlapping_boxes_are_stacked_apart() -> None:
    box = (40.0, 40.0, 200.0, 160.0)
    wanted = [(box, "1 mold", False), (box, "2 spoilage", False), (box, "decided: mold", True)]
    spots = place_labels(wanted, width=320, height=240)
    size = 320 / 22
    ys = sorted(s.y for s in spots)
    assert all(b - a >= size for a, b in itertools.pairwise(ys))
    assert all(s.x >= 0 and size <= s.y <= 240 for s in spots)
    # A lone label sits in its box's corner, as before.
    (lone,) = place_labels([(box, "1 mold", False)], width=320, height=240)
    assert (lone.x, lone.y) == (round(40 + size / 4, 1), round(40 + size, 1))
