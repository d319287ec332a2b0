"""The compact notation of test files: days relative to a case's today, and usage series.

Days: ``today``, ``+91d``, ``-2w`` (also ``today+3d``). Series, as Prometheus'
``promtool test rules`` writes them, oldest first: ``10+5x3`` is 10 15 20 25,
``7x2`` is 7 7 7, ``_`` a day without a value, ``_x3`` three such days.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

_RELATIVE = re.compile(r"^(?:today)?\s*([+-])\s*(\d+)([dw])$|^today$")
_TERM = re.compile(r"^(?:(_)|(-?\d+(?:\.\d+)?)(?:([+-])(\d+(?:\.\d+)?))?)(?:x(\d+))?$")


def is_relative(raw: Any) -> bool:
    return isinstance(raw, str) and _RELATIVE.match(raw.strip()) is not None


def relative_day(raw: str, today: dt.date) -> dt.date:
    """The day ``raw`` (which :func:`is_relative`) names, counted from ``today``."""
    match = _RELATIVE.match(raw.strip())
    assert match is not None
    if match.group(2) is None:
        return today
    days = int(match.group(2)) * (7 if match.group(3) == "w" else 1)
    return today + dt.timedelta(days=days if match.group(1) == "+" else -days)


def expand_series(text: str) -> list[float | None] | None:
    """promtool's notation: ``a+bxn`` is a, a+b, ..., a+n*b; ``axn`` is n+1 a's; ``_xn`` n gaps."""
    values: list[float | None] = []
    for term in text.split():
        match = _TERM.match(term)
        if match is None:
            return None
        gap, start, sign, step, times = match.groups()
        if gap:
            values.extend([None] * (int(times) if times else 1))
            continue
        delta = float(step or 0) * (-1 if sign == "-" else 1)
        count = int(times) + 1 if times else 1
        values.extend(_number(float(start) + delta * i) for i in range(count))
    return values or None


def _number(value: float) -> float | int:
    return int(value) if value.is_integer() else value
