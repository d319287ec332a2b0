"""health.yaml: strict loading, every problem with its file:line:col, all at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from csm.builtins import builtin_path
from csm.errors import HealthModelError
from csm.health.model import Band, load, parse_model
from csm.language.fields import standard_fields

FIELDS = standard_fields()
PATH = Path("health.yaml")

GOOD = """\
thresholds: { green: 70, yellow: 40 }
measures:
  - id: seats
    title: Seats in use
    value: seat_utilization
    weight: 50
    linear: { from: 20%, to: 70% }
  - id: nps
    value: nps
    weight: 30
    bands:
      - { at_least: 9, score: 100 }
      - { at_least: 7, score: 50 }
      - { score: 0 }
  - id: tickets
    value: open_tickets
    weight: 20
    missing: 50
    linear: { from: 10, to: 0 }
profiles:
  onboarding:
    weights: { seats: 80, nps: 0 }
    thresholds: { green: 60, yellow: 30 }
"""


def problems(text: str) -> list[str]:
    model, found = parse_model(textwrap.dedent(text), PATH, FIELDS)
    assert model is None
    return [f"{p.path}:{p.line}:{p.column}: {p.message}" for p in found]


def test_a_good_model_loads_into_frozen_parts() -> None:
    model, found = parse_model(GOOD, PATH, FIELDS)
    assert found == []
    assert model is not None
    assert (model.green, model.yellow) == (70, 40)
    seats, nps, tickets = model.measures
    assert (seats.id, seats.title, seats.weight, seats.linear, seats.missing) == (
        "seats",
        "Seats in use",
        50,
        (0.2, 0.7),
        None,
    )
    assert nps.title == "nps"
    assert nps.bands == (Band(9, None, 100), Band(7, None, 50), Band(None, None, 0))
    assert (tickets.linear, tickets.missing) == ((10, 0), 50)
    assert seats.value.fields == ("seat_utilization",)
    onboarding = model.profiles["onboarding"]
    assert onboarding.weights == {"seats": 80, "nps": 0, "tickets": 20}
    assert (onboarding.green, onboarding.yellow) == (60, 30)


def test_the_built_in_model_is_valid_and_adds_up() -> None:
    model = load(builtin_path("health.yaml"), FIELDS)
    assert sum(m.weight for m in model.measures) == 100
    assert set(model.profiles) == {"onboarding", "renewal"}
    assert all(sum(p.weights.values()) == 100 for p in model.profiles.values())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("weight: 20\n", "weight: 15\n"),
            "health.yaml:3:3: the weights add up to 95, not 100: seats 50 + nps 30 + tickets 15",
        ),
        (("value: nps\n", "value: nsp\n"), "health.yaml:9:12: unknown field 'nsp' (did you mean 'nps'?)"),
        (("value: nps\n", "value: plan\n"), "health.yaml:9:12: expected a number, found 'plan' (text)"),
        (
            ("value: nps\n", "value: nps > 6\n"),
            "health.yaml:9:12: expected a number, found 'nps > 6' (true/false)",
        ),
        (
            ("value: nps\n", "value: health + 1\n"),
            "health.yaml:9:12: a measure cannot use 'health', the score it is part of",
        ),
        (
            ("value: nps\n", "value: nps +\n"),
            "health.yaml:9:17: expected a value after '+', found end of condition",
        ),
        (
            ("id: nps\n", "id: NPS\n"),
            "health.yaml:8:9: measure id 'NPS' must be lowercase letters, digits and dashes",
        ),
        (("id: tickets\n", "id: nps\n"), "health.yaml:15:9: duplicate measure id 'nps'"),
        (
            ("    weight: 50\n", "    wieght: 50\n"),
            "health.yaml:6:5: unknown key 'wieght' in a measure (did you mean 'weight'?)",
        ),
        (
            ("to: 70%", "to: 20%"),
            "health.yaml:7:13: 'from' and 'to' must differ: from scores 0, to scores 100",
        ),
        (("to: 70%", "to: lots"), "health.yaml:7:30: 'to' must be a number, got 'lots'"),
        (
            ("{ at_least: 7, score: 50 }", "{ at_least: 7, score: 150 }"),
            "health.yaml:13:31: 'score' must be between 0 and 100, got 150",
        ),
        (
            ("{ at_least: 7, score: 50 }", "{ at_least: 7, at_most: 8, score: 50 }"),
            "health.yaml:13:9: a band has at_least or at_most, not both",
        ),
        (
            ("- { at_least: 9, score: 100 }", "- { score: 100 }"),
            "health.yaml:12:9: a band without at_least or at_most holds for any value: it must come last",
        ),
        (
            ("    missing: 50\n", "    missing: 50\n    bands: [{ score: 1 }]\n"),
            "health.yaml:15:5: a measure maps its value with either 'linear' or 'bands'",
        ),
        (
            ("green: 70, yellow: 40", "green: 40, yellow: 70"),
            "health.yaml:1:13: green (40) must be above yellow (70)",
        ),
        (
            ("  onboarding:", "  onbording:"),
            "health.yaml:21:3: unknown key 'onbording' in profiles (did you mean 'onboarding'?)",
        ),
        (
            ("seats: 80, nps: 0", "seats: 80, nps: 10"),
            "health.yaml:22:14: the onboarding profile's weights add up to 110, not 100:"
            " seats 80 + nps 10 + tickets 20",
        ),
        (
            ("seats: 80, nps: 0", "seats: 80, nsp: 0"),
            "health.yaml:22:27: unknown key 'nsp' in weights (did you mean 'nps'?)",
        ),
        (
            ("measures:", "measure:"),
            "health.yaml:2:1: unknown key 'measure' in the health model (did you mean 'measures'?)",
        ),
    ],
)
def test_each_problem_is_located(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in GOOD
    assert expected in problems(GOOD.replace(old, new, 1))


def test_every_problem_of_the_file_is_listed_at_once() -> None:
    text = GOOD.replace("value: nps\n", "value: nsp\n").replace("score: 50 }", "score: 500 }")
    found = problems(text.replace("to: 70%", "to: lots"))
    assert len(found) == 3
    with pytest.raises(HealthModelError) as info:
        Path("bad.yaml").write_text(text)
        load(Path("bad.yaml"), FIELDS)
    assert "bad.yaml:9:12: unknown field 'nsp'" in str(info.value)


def test_yaml_errors_and_empty_files() -> None:
    assert problems("") == ["health.yaml:1:1: empty health model: it needs a list of measures"]
    assert problems("measures: []\n") == [
        "health.yaml:1:11: the health model needs a non-empty list of measures"
    ]
    (found,) = problems("measures:\n  - id: a\n    id: b\n")
    assert found == "health.yaml:3:5: duplicate key 'id'"


def test_a_measure_needs_a_value_a_weight_and_a_mapping() -> None:
    found = problems("measures:\n  - id: only\n")
    assert found == [
        "health.yaml:2:5: missing required key 'value'",
        "health.yaml:2:5: missing required key 'weight'",
        "health.yaml:2:5: a measure maps its value with either 'linear' or 'bands'",
    ]


def test_the_health_model_checks_yaml_without_the_playbook_module() -> None:
    code = "import sys, csm.health.model; print('csm.language.playbooks' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == "False\n"
