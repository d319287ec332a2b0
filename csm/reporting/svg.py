"""The parts every chart is drawn with: escaped elements, the accessible frame, scales, ticks.

Charts are inline SVG written here rather than a JavaScript chart library: the
report is one file that opens anywhere without a network, prints, and keeps
every number in the DOM (``data-value``) and in words (``<title>``) where a
screen reader, a test or a person reading the source can find it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def num(value: float) -> str:
    """A coordinate, short: 12.5, 3, -0.25."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def element(tag: str, body: str = "", /, **attrs: object) -> str:
    """``<tag a="…">body</tag>``; ``class_`` is ``class``, ``data_x`` is ``data-x``; None is left out."""
    pairs = "".join(
        f' {name.rstrip("_").replace("_", "-")}="{esc(value)}"'
        for name, value in attrs.items()
        if value is not None
    )
    return f"<{tag}{pairs}>{body}</{tag}>" if body else f"<{tag}{pairs}/>"


def frame(chart_id: str, title: str, desc: str, width: float, height: float, body: str, kind: str) -> str:
    """The ``<svg>``: an image to assistive technology, named by its title and described by its desc."""
    return element(
        "svg",
        element("title", esc(title), id=f"{chart_id}-title")
        + element("desc", esc(desc), id=f"{chart_id}-desc")
        + body,
        xmlns="http://www.w3.org/2000/svg",
        id=chart_id,
        class_=f"chart chart-{kind}",
        role="img",
        aria_labelledby=f"{chart_id}-title {chart_id}-desc",
        viewBox=f"0 0 {num(width)} {num(height)}",
        width=num(width),
        height=num(height),
        data_chart=kind,
    )


def text(x: float, y: float, content: object, anchor: str = "start", class_: str = "label") -> str:
    return element("text", esc(content), x=num(x), y=num(y), text_anchor=anchor, class_=class_)


def line(x1: float, y1: float, x2: float, y2: float, class_: str) -> str:
    return element("line", x1=num(x1), y1=num(y1), x2=num(x2), y2=num(y2), class_=class_)


def shorten(label: str, limit: int = 24) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


@dataclass(frozen=True)
class Scale:
    """Maps a domain [low, high] onto a pixel range [start, end] (end < start for a y axis)."""

    low: float
    high: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        span = (self.high - self.low) or 1.0
        return self.start + (value - self.low) / span * (self.end - self.start)


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Round tick values covering [low, high]: steps of 1, 2 or 5 times a power of ten."""
    if high <= low:
        high = low + 1
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value < high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def legend(items: Sequence[tuple[str, str]], x: float, y: float, shapes: dict[str, str] | None = None) -> str:
    """Swatches and names in a row: colour is never the only way to tell series apart.

    ``shapes`` names a swatch's shape per series (``circle``; a square otherwise).
    """
    parts = []
    for name, class_ in items:
        mark = (
            element("circle", cx=num(x + 6), cy=num(y - 3), r="5", class_=class_)
            if (shapes or {}).get(name) == "circle"
            else element("rect", x=num(x), y=num(y - 9), width="12", height="12", class_=class_)
        )
        parts.append(mark + text(x + 16, y, name))
        x += 28 + 7 * len(name)
    return element("g", "".join(parts), class_="legend")
