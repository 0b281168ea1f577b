"""Temperature profiles per product category (GUIDE §4); configuration, not constants."""

from __future__ import annotations

from dataclasses import dataclass

from claims.errors import InvalidPolicyError

__all__ = ["DEFAULT_PROFILES", "TemperatureProfile"]


@dataclass(frozen=True)
class TemperatureProfile:
    """The band a category must stay in, how much excursion counts as abuse, and how fast
    the goods age (``claims.shelflife``): ``shelf_life_hours`` at the top of the band, and
    ``q10``, the factor by which the rate of spoiling grows for every 10 °C warmer.
    """

    name: str
    t_min: float | None
    t_max: float | None
    # Frozen goods tolerate a brief rise in transport (handling at doors and docks).
    transport_tolerance: float = 0.0
    abuse_degree_minutes: float = 60.0
    post_delivery_window_hours: float = 24.0
    q10: float = 3.0
    shelf_life_hours: float = 168.0

    def band(self, *, in_transport: bool) -> tuple[float | None, float | None]:
        """(min, max) in °C, widened by the transport tolerance while in a carrier's hands."""
        if in_transport and self.t_max is not None:
            return self.t_min, self.t_max + self.transport_tolerance
        return self.t_min, self.t_max

    def __post_init__(self) -> None:
        if not self.q10 > 1.0:
            raise InvalidPolicyError(f"profiles.{self.name}.q10", "must be above 1")
        if not self.shelf_life_hours > 0:
            raise InvalidPolicyError(f"profiles.{self.name}.shelf_life_hours", "must be above 0")


DEFAULT_PROFILES: dict[str, TemperatureProfile] = {
    p.name: p
    for p in (
        # Starting values from the food-science literature's usual ranges (Q10 of 2 to 4
        # for microbial spoilage); an operator tunes them per product in the policy file.
        TemperatureProfile(
            "frozen",
            None,
            -18.0,
            transport_tolerance=3.0,
            post_delivery_window_hours=12.0,
            q10=3.0,
            shelf_life_hours=365 * 24,
        ),
        TemperatureProfile("chilled", 0.0, 5.0, q10=3.0, shelf_life_hours=7 * 24),
        TemperatureProfile(
            "chilled_produce",
            1.0,
            8.0,
            post_delivery_window_hours=48.0,
            q10=2.5,
            shelf_life_hours=10 * 24,
        ),
        TemperatureProfile(
            "ambient_produce",
            8.0,
            20.0,
            abuse_degree_minutes=240.0,
            post_delivery_window_hours=72.0,
            q10=2.0,
            shelf_life_hours=5 * 24,
        ),
    )
}
