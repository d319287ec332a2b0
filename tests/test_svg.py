"""The SVG parts: escaping, the accessible frame, scales and round ticks."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from csm.reporting.svg import Scale, element, esc, frame, nice_ticks, num, shorten

NS = {"s": "http://www.w3.org/2000/svg"}


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        (0, 500, [0, 100, 200, 300, 400, 500]),
        (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1]),
        (-33.7, 20, [-40, -20, 0, 20]),
        (30, 80, [30, 40, 50, 60, 70, 80]),
        (0, 100, [0, 20, 40, 60, 80, 100]),
        (5, 5, [5, 5.2, 5.4, 5.6, 5.8, 6]),
        (-46.5, 46.5, [-60, -40, -20, 0, 20, 40, 60]),
        (0, 7, [0, 2, 4, 6, 8]),
    ],
)
def test_ticks_are_round_and_cover_the_values(low: float, high: float, ticks: list[float]) -> None:
    assert nice_ticks(low, high) == ticks


def test_a_scale_maps_the_domain_onto_pixels_either_way_up() -> None:
    y = Scale(0, 100, 200, 20)
    assert (y(0), y(50), y(100)) == (200, 110, 20)
    assert Scale(5, 5, 0, 10)(5) == 0  # an empty domain does not divide by zero


def test_elements_escape_text_and_attributes() -> None:
    markup = element("text", esc('<b>"Acme" & co</b>'), class_="label", data_value='1"2', skipped=None)
    assert (
        markup
        == '<text class="label" data-value="1&quot;2">&lt;b&gt;&quot;Acme&quot; &amp; co&lt;/b&gt;</text>'
    )
    assert ET.fromstring(markup).text == '<b>"Acme" & co</b>'


def test_numbers_are_short() -> None:
    assert [num(v) for v in (12.5, 3.0, -0.001, 1 / 3)] == ["12.5", "3", "0", "0.33"]
    assert shorten("adoption-milestones › first-integration", 12) == "adoption-mi…"


def test_the_frame_is_an_image_named_by_its_title_and_described() -> None:
    svg = ET.fromstring(frame("c1", "Title <1>", "What it shows", 100, 50, "", "bars"))
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "c1-title c1-desc"
    assert svg.find("s:title", NS).text == "Title <1>"
    assert svg.find("s:desc", NS).get("id") == "c1-desc"
