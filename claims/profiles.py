"""Temperature profiles per product category (GUIDE §4); configuration, not constants."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_PROFILES", "TemperatureProfile"]


@dataclass(frozen=True)
class TemperatureProfile:
    """The band a category must stay in, and how much excursion counts as abuse."""

    name: str
    t_min: float | None
    t_max: float | None
    # Frozen goods tolerate a brief rise in transport (handling at doors and docks).
    transport_tolerance: float = 0.0
    abuse_degree_minutes: float = 60.0
    post_delivery_window_hours: float = 24.0

    def band(self, *, in_transport: bool) -> tuple[float | None, float | None]:
        """(min, max) in °C, widened by the transport tolerance while in a carrier's hands."""
        if in_transport and self.t_max is not None:
            return self.t_min, self.t_max + self.transport_tolerance
        return self.t_min, self.t_max


DEFAULT_PROFILES: dict[str, TemperatureProfile] = {
    p.name: p
    for p in (
        TemperatureProfile(
            "frozen", None, -18.0, transport_tolerance=3.0, post_delivery_window_hours=12.0
        ),
        TemperatureProfile("chilled", 0.0, 5.0),
        TemperatureProfile("chilled_produce", 1.0, 8.0, post_delivery_window_hours=48.0),
        TemperatureProfile(
            "ambient_produce",
            8.0,
            20.0,
            abuse_degree_minutes=240.0,
            post_delivery_window_hours=72.0,
        ),
    )
}
