"""health.yaml -> a validated, frozen health model, with every problem's file:line:col.

A model is weighted measures, each a number-valued expression of the
condition language mapped to 0-100 by a linear range or by bands; weights add
up to 100; thresholds split scores into red, yellow and green; profiles
change weights and thresholds per lifecycle stage. The workspace's
``health.yaml`` is used when there is one, else the built-in default.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from csm import textfile
from csm.builtins import builtin_path
from csm.errors import HealthModelError, Problem
from csm.language import yamlfile
from csm.language.compiler import Condition
from csm.language.fields import HEALTH_FIELDS, FieldSet
from csm.language.yamlfile import Checker

MODEL_FILE = "health.yaml"
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
STAGES = ("onboarding", "adoption", "renewal")
_TOP_KEYS = ("thresholds", "measures", "profiles")
_MEASURE_KEYS = ("id", "title", "value", "weight", "linear", "bands", "missing")
_LINEAR_KEYS = ("from", "to")
_BAND_KEYS = ("at_least", "at_most", "score")
_THRESHOLD_KEYS = ("green", "yellow")
_PROFILE_KEYS = ("weights", "thresholds")
DEFAULT_THRESHOLDS = (75.0, 55.0)


@dataclass(frozen=True)
class Band:
    at_least: float | None
    at_most: float | None  # neither: holds for any value
    score: float


@dataclass(frozen=True)
class Measure:
    id: str
    title: str
    value: Condition  # a number-valued expression, compiled to SQL
    weight: float
    linear: tuple[float, float] | None  # (scores 0 at, scores 100 at)
    bands: tuple[Band, ...]
    missing: float | None  # the score when the value is missing; None: leave it out


@dataclass(frozen=True)
class Profile:
    weights: dict[str, float]  # every measure's weight in this stage
    green: float
    yellow: float


@dataclass(frozen=True)
class HealthModel:
    path: Path
    measures: tuple[Measure, ...]
    green: float  # a score at or above is green
    yellow: float  # at or above is yellow; below is red
    profiles: dict[str, Profile]  # by lifecycle stage

    def measure(self, measure_id: str) -> Measure | None:
        return next((m for m in self.measures if m.id == measure_id), None)


def scoring_key(model: HealthModel) -> str:
    """What a snapshot keeps of the model (JSON): enough to score stored values again, the same way."""
    return json.dumps(
        {
            "green": model.green,
            "yellow": model.yellow,
            "measures": [
                {
                    "id": m.id,
                    "title": m.title,
                    "value": m.value.source,
                    "weight": m.weight,
                    "linear": m.linear,
                    "bands": [[b.at_least, b.at_most, b.score] for b in m.bands],
                    "missing": m.missing,
                }
                for m in model.measures
            ],
            "profiles": {stage: [p.weights, p.green, p.yellow] for stage, p in model.profiles.items()},
        }
    )


@functools.lru_cache(maxsize=64)
def from_scoring_key(key: str) -> HealthModel:
    """The model a :func:`scoring_key` kept. Its values are not computed again (their results
    are stored), so each measure's value keeps its source and no SQL."""
    data = json.loads(key)
    measures = tuple(
        Measure(
            m["id"],
            m["title"],
            Condition(m["value"], "NULL", {}, ()),
            m["weight"],
            None if m["linear"] is None else (m["linear"][0], m["linear"][1]),
            tuple(Band(*band) for band in m["bands"]),
            m["missing"],
        )
        for m in data["measures"]
    )
    profiles = {stage: Profile(*profile) for stage, profile in data["profiles"].items()}
    return HealthModel(Path(MODEL_FILE), measures, data["green"], data["yellow"], profiles)


def model_path(own: Path) -> Path:
    """The workspace's health.yaml (``own``) if it has one, else the built-in default."""
    return own if own.exists() else builtin_path(MODEL_FILE)


def load(path: Path, fields: FieldSet) -> HealthModel:
    """The model in ``path``; any problem raises HealthModelError listing them all."""
    model, problems = load_file(path, fields)
    if problems:
        raise HealthModelError(problems)
    assert model is not None
    return model


def load_file(path: Path, fields: FieldSet) -> tuple[HealthModel | None, list[Problem]]:
    try:
        text = textfile.read_text(path)
    except textfile.UnreadableFile as exc:
        return None, [exc.problem]
    return parse_model(text, path, fields)


def _number(value: Any) -> float | None:
    """A number, or a percentage written as text ('20%'); None if it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            return None
    return None


class _ModelChecker(Checker):
    def number(
        self,
        table: dict,
        path: tuple[Any, ...],
        key: str,
        *,
        low: float | None = None,
        high: float | None = None,
    ) -> float | None:
        raw = table.get(key)
        value = _number(raw)
        where = (*path, key)
        if value is None:
            self.add(where, f"'{key}' must be a number, got {raw!r}")
        elif (low is not None and value < low) or (high is not None and value > high):
            self.add(where, f"'{key}' must be between {low:g} and {high:g}, got {raw!r}")
            return None
        return value

    def thresholds(
        self, raw: Any, path: tuple[Any, ...], default: tuple[float, float]
    ) -> tuple[float, float]:
        table = self.table(raw, path, _THRESHOLD_KEYS, "thresholds")
        green = self.number(table, path, "green", low=0, high=100) if "green" in table else default[0]
        yellow = self.number(table, path, "yellow", low=0, high=100) if "yellow" in table else default[1]
        if green is None or yellow is None:
            return default
        if yellow >= green:
            self.add(path, f"green ({green:g}) must be above yellow ({yellow:g})")
        return green, yellow

    def weights_sum(self, weights: dict[str, float], path: tuple[Any, ...], what: str) -> None:
        total = sum(weights.values())
        if abs(total - 100) > 1e-6:
            parts = " + ".join(f"{name} {w:g}" for name, w in weights.items())
            self.add(path, f"{what} add up to {total:g}, not 100: {parts}")


def _bands(c: _ModelChecker, raw: Any, path: tuple[Any, ...]) -> tuple[Band, ...]:
    if not isinstance(raw, list) or not raw:
        c.add(path, "'bands' must be a list like [{ at_least: 9, score: 100 }, { score: 0 }]")
        return ()
    bands = []
    for i, raw_band in enumerate(raw):
        band_path = (*path, i)
        table = c.table(raw_band, band_path, _BAND_KEYS, "a band")
        if not table:
            continue
        if "at_least" in table and "at_most" in table:
            c.add(band_path, "a band has at_least or at_most, not both")
            continue
        bound = next((k for k in ("at_least", "at_most") if k in table), None)
        limit = c.number(table, band_path, bound) if bound else None
        if bound is None and i != len(raw) - 1:
            c.add(band_path, "a band without at_least or at_most holds for any value: it must come last")
        if "score" not in table:
            c.add(band_path, "missing required key 'score'")
            continue
        score = c.number(table, band_path, "score", low=0, high=100)
        if score is not None:
            at_least = limit if bound == "at_least" else None
            at_most = limit if bound == "at_most" else None
            bands.append(Band(at_least, at_most, score))
    return tuple(bands)


def _measure(c: _ModelChecker, raw: Any, path: tuple[Any, ...], index: int) -> Measure | None:
    before = len(c.problems)
    table = c.table(raw, path, _MEASURE_KEYS, "a measure")
    if not table:
        return None
    measure_id = c.text(table, path, "id", required=True)
    if measure_id and not _ID.match(measure_id):
        c.add((*path, "id"), f"measure id '{measure_id}' must be lowercase letters, digits and dashes")
    value = c.condition(table, path, "value", required=True, prefix=f"m{index}_", value=True)
    used = sorted(HEALTH_FIELDS.intersection(value.fields)) if value else []
    if used:
        c.add((*path, "value"), f"a measure cannot use '{used[0]}', the score it is part of")
    weight = c.number(table, path, "weight", low=0, high=100) if "weight" in table else None
    if "weight" not in table:
        c.add(path, "missing required key 'weight'")
    missing = c.number(table, path, "missing", low=0, high=100) if "missing" in table else None
    linear, bands = None, ()
    if ("linear" in table) == ("bands" in table):
        c.add(path, "a measure maps its value with either 'linear' or 'bands'")
    elif "linear" in table:
        linear_path = (*path, "linear")
        spec = c.table(table["linear"], linear_path, _LINEAR_KEYS, "linear")
        ends = [c.number(spec, linear_path, key) if key in spec else None for key in _LINEAR_KEYS]
        for key in _LINEAR_KEYS:
            if key not in spec and isinstance(table["linear"], dict):
                c.add(linear_path, f"missing required key '{key}' (linear: {{ from: 0, to: 100 }})")
        if ends[0] is not None and ends[1] is not None:
            if ends[0] == ends[1]:
                c.add(linear_path, "'from' and 'to' must differ: from scores 0, to scores 100")
            linear = (ends[0], ends[1])
    else:
        bands = _bands(c, table["bands"], (*path, "bands"))
    if len(c.problems) > before or value is None or measure_id is None or weight is None:
        return None
    title = str(table.get("title") or measure_id)
    return Measure(measure_id, title, value, weight, linear, bands, missing)


def _profiles(
    c: _ModelChecker, raw: Any, measures: list[Measure], default: tuple[float, float]
) -> dict[str, Profile]:
    base = {m.id: m.weight for m in measures}
    profiles = {}
    for stage, spec in c.table(raw, ("profiles",), STAGES, "profiles").items():
        if stage not in STAGES:
            continue  # reported by table(): a lifecycle stage it does not know
        path = ("profiles", stage)
        table = c.table(spec, path, _PROFILE_KEYS, f"the {stage} profile")
        weights = dict(base)
        raw_weights = table.get("weights", {})
        weights_path = (*path, "weights")
        for name in c.table(raw_weights, weights_path, tuple(base), "weights") if raw_weights else {}:
            if name in base:
                weight = c.number(raw_weights, weights_path, name, low=0, high=100)
                weights[name] = weight if weight is not None else base[name]
        c.weights_sum(weights, weights_path if raw_weights else path, f"the {stage} profile's weights")
        green, yellow = (
            c.thresholds(table["thresholds"], (*path, "thresholds"), default)
            if "thresholds" in table
            else default
        )
        profiles[stage] = Profile(weights, green, yellow)
    return profiles


def parse_model(text: str, path: Path, fields: FieldSet) -> tuple[HealthModel | None, list[Problem]]:
    """Validate a health model's text; return the model (if clean) and every problem."""
    try:
        doc = yamlfile.load(text, str(path))
    except yamlfile.YamlSyntaxError as exc:
        return None, [exc.problem]
    c = _ModelChecker(doc, fields)
    if doc.data is None or doc.data == {}:
        return None, [doc.problem((), "empty health model: it needs a list of measures")]
    table = c.table(doc.data, (), _TOP_KEYS, "the health model")
    if not table:
        return None, c.problems
    green, yellow = (
        c.thresholds(table["thresholds"], ("thresholds",), DEFAULT_THRESHOLDS)
        if ("thresholds" in table)
        else DEFAULT_THRESHOLDS
    )
    raw_measures = table.get("measures")
    measures: list[Measure] = []
    if not isinstance(raw_measures, list) or not raw_measures:
        c.add(
            ("measures",) if "measures" in table else (),
            "the health model needs a non-empty list of measures",
        )
    else:
        seen: set[str] = set()
        for i, raw in enumerate(raw_measures):
            measure = _measure(c, raw, ("measures", i), i)
            if measure and measure.id in seen:
                c.add(("measures", i, "id"), f"duplicate measure id '{measure.id}'")
            elif measure:
                seen.add(measure.id)
                measures.append(measure)
    if isinstance(raw_measures, list) and raw_measures:
        # Checked even when a measure has other problems: all problems at once.
        weights = {
            str(raw.get("id") if isinstance(raw, dict) else f"#{i + 1}"): _number(raw.get("weight"))
            if isinstance(raw, dict)
            else None
            for i, raw in enumerate(raw_measures)
        }
        if all(w is not None for w in weights.values()):
            c.weights_sum(weights, ("measures",), "the weights")  # type: ignore[arg-type]
    profiles: dict[str, Profile] = {}
    if "profiles" in table and measures and len(measures) == len(raw_measures):
        profiles = _profiles(c, table["profiles"], measures, (green, yellow))
    if c.problems:
        return None, c.problems
    return HealthModel(path, tuple(measures), green, yellow, profiles), []
