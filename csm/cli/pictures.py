"""Small terminal pictures: sparklines and bars."""

from __future__ import annotations

from collections.abc import Sequence

_TICKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int = 30) -> str:
    """A one-line trend, resampled to at most ``width`` points."""
    if not values:
        return ""
    if len(values) > width:
        step = len(values) / width
        values = [values[int(i * step)] for i in range(width - 1)] + [values[-1]]
    low, high = min(values), max(values)
    span = (high - low) or 1
    return "".join(_TICKS[int((v - low) / span * (len(_TICKS) - 1))] for v in values)


def bar(value: float, maximum: float, width: int = 20) -> str:
    if maximum <= 0:
        return ""
    filled = max(0, min(width, round(value / maximum * width)))
    return "█" * filled + "·" * (width - filled)
