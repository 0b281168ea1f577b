"""What the pages say about SLA deadlines, before the script takes over the counting."""

from __future__ import annotations

from api.web.views import format_remaining, timers


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
