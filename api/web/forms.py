"""The decision form, read into the same ``DecisionInput`` the API's JSON body becomes.

Field names: ``party``, ``responsible_party``, ``party_id``, ``reason``, ``compensation``,
``amount``; per finding ``finding-<photo>-<index>`` (``right`` / ``wrong`` / empty: not
reviewed); per photo one box correction, ``fix-<photo>-target`` (a finding's index, or
``missed`` for one the model did not find), ``fix-<photo>-label`` and the corners
``fix-<photo>-x1`` … ``-y2`` in the photo's pixels, drawn on the photo or typed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from claims.errors import InvalidDecisionError
from claims.models import DecisionInput

__all__ = ["CORNERS", "decision_from_form"]

CORNERS = ("x1", "y1", "x2", "y2")


def _text(form: Mapping[str, Any], name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _box(form: Mapping[str, Any], p: int) -> tuple[float, float, float, float] | None:
    values = [_text(form, f"fix-{p}-{c}") for c in CORNERS]
    if all(v is None for v in values):
        return None
    if any(v is None for v in values):
        raise InvalidDecisionError(f"photo {p + 1} box", "give all four corners, or none")
    try:
        x1, y1, x2, y2 = (float(v) for v in values if v is not None)
    except ValueError:
        raise InvalidDecisionError(f"photo {p + 1} box", "corners are numbers of pixels") from None
    return x1, y1, x2, y2


def _findings(form: Mapping[str, Any], photos: Sequence[Mapping[str, Any]]) -> list[Any]:
    reviews: list[dict[str, Any]] = []
    for p, photo in enumerate(photos):
        target = _text(form, f"fix-{p}-target")
        label, box = _text(form, f"fix-{p}-label"), _box(form, p)
        if target is None and box is not None:
            raise InvalidDecisionError(
                f"photo {p + 1} box", "say which finding the box corrects, or that it was missed"
            )
        for i, _ in enumerate(photo["findings"]):
            said = _text(form, f"finding-{p}-{i}")
            corrected = target == str(i)
            if said is None and not corrected:
                continue
            review: dict[str, Any] = {"photo": p, "index": i, "correct": said == "right"}
            if corrected:
                # A corrected finding was not right as the model gave it.
                review |= {"correct": False, "label": label, "box": box}
            reviews.append(review)
        if target == "missed":
            reviews.append(
                {"photo": p, "index": None, "correct": False, "label": label, "box": box}
            )
    return reviews


def decision_from_form(
    form: Mapping[str, Any], photos: Sequence[Mapping[str, Any]]
) -> DecisionInput:
    """The decision a submitted form makes; ``ValidationError`` or ``InvalidDecisionError``."""
    return DecisionInput.model_validate(
        {
            "party": _text(form, "party"),
            "responsible_party": _text(form, "responsible_party")
            if _text(form, "party") == "override"
            else None,
            "party_id": _text(form, "party_id") if _text(form, "party") == "override" else None,
            "reason": _text(form, "reason"),
            "compensation": _text(form, "compensation"),
            "amount": _text(form, "amount") if _text(form, "compensation") == "change" else None,
            "findings": _findings(form, photos),
        }
    )
