"""Health scores: every account scored set-based in SQL, snapshots per day, why a score moved.

The health model (:mod:`csm.health.model`) compiles to SQL: the derived fields the
measures are built from, each computed once per account (``usage_30d`` serves both
the usage trend and active users per seat) from only the account columns they read,
then each measure's value, into a typed temp table of numbers, each computed once; the
weighted average of their 0-100 scores is one expression a row, a branch per lifecycle
profile with that profile's weights as constants. A snapshot stores that for every
account on one day: ``health_history`` (account, date, score, band) and ``health_parts``
(the profile and each measure's value, as a JSON array, by date); taking it again the
same day replaces it, rewriting only the accounts whose values changed. The ``health``
fields read these snapshots."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from csm.data.backend import dialect_of
from csm.data.store import set_meta, transaction
from csm.errors import NotFound
from csm.health.current import SEEN_IMPORT, last_import
from csm.language.dialect import SqlDialect
from csm.language.fields import FieldSet

BUCKETS = 10  # the distribution's bars: 0-9, 10-19, ..., 90-100
DROP_POINTS = -10  # health_change_30d at or below this is a drop worth a look
BANDS = ("red", "yellow", "green")
if TYPE_CHECKING:  # the model's parser (YAML, conditions) loads only where a model is read
    from csm.health.model import HealthModel, Measure


def _num(value: float) -> str:
    """A model number as SQL text (a float from a validated model, never user text)."""
    return repr(float(value))


def _score_sql(measure: Measure, value: str, d: SqlDialect) -> str:
    """The measure's 0-100 score from its value's SQL (NULL stays NULL unless `missing`)."""
    if measure.linear is not None:
        low, high = measure.linear
        # greatest() and least() are NULL when the value is.
        sql = d.greatest("0.0", d.least("100.0", f"({value} - {_num(low)}) * {_num(100 / (high - low))}"))
    else:
        whens = []
        for band in measure.bands:
            if band.at_least is not None:
                test = f"{value} >= {_num(band.at_least)}"
            elif band.at_most is not None:
                test = f"{value} <= {_num(band.at_most)}"
            else:
                test = "TRUE"
            whens.append(f"WHEN {test} THEN {_num(band.score)}")
        sql = f"CASE WHEN {value} IS NULL THEN NULL {' '.join(whens)} ELSE 0.0 END"
    return sql if measure.missing is None else f"coalesce({sql}, {_num(measure.missing)})"


Weighing = tuple[tuple[float, ...], float, float]  # each measure's weight, the green and yellow thresholds


def _weighings(model: HealthModel) -> dict[str | None, Weighing]:
    """The weights and thresholds of each lifecycle profile, and the model's own (None: no profile)."""
    weighings: dict[str | None, Weighing] = {
        stage: (tuple(p.weights[m.id] for m in model.measures), p.green, p.yellow)
        for stage, p in model.profiles.items()
    }
    weighings[None] = (tuple(m.weight for m in model.measures), model.green, model.yellow)
    return weighings


def _by_profile(model: HealthModel, pick: Callable[[Weighing], str]) -> str:
    """SQL that depends on the row's ``profile``: ``pick`` of that profile's weighing.

    Each branch holds its profile's numbers as constants, so a row works out only its own."""
    picked = {stage: pick(weighing) for stage, weighing in _weighings(model).items()}
    default = picked.pop(None)
    if all(sql == default for sql in picked.values()):
        return default
    whens = " ".join(f"WHEN '{stage}' THEN {sql}" for stage, sql in picked.items())
    return f"(CASE profile {whens} ELSE {default} END)"


def _counted(model: HealthModel, weights: tuple[float, ...]) -> str:
    """The weights of the measures that have a score, from the values v0, v1, ...

    A score is NULL exactly when its value is, unless the measure scores ``missing`` instead."""
    return " + ".join(
        _num(w) if m.missing is not None else f"(CASE WHEN v{i} IS NULL THEN 0 ELSE {_num(w)} END)"
        for i, (m, w) in enumerate(zip(model.measures, weights, strict=True))
    )


def _score_of(model: HealthModel, weighing: Weighing, d: SqlDialect) -> str:
    """The weighted average of the measures' scores (from v0, v1, ...) under ``weighing``,
    rounded to 0.1; NULL when no measure that counts has a score."""
    points = " + ".join(
        f"coalesce({_score_sql(m, f'v{i}', d)} * {_num(w)}, 0)"
        for i, (m, w) in enumerate(zip(model.measures, weighing[0], strict=True))
    )
    return d.round(f"({points}) / nullif({_counted(model, weighing[0])}, 0)", 1)


def _band_sql(model: HealthModel, score: str) -> str:
    """The band of ``score`` under the row's profile's thresholds."""
    green = _by_profile(model, lambda w: _num(w[1]))
    yellow = _by_profile(model, lambda w: _num(w[2]))
    return f"CASE WHEN {score} >= {green} THEN 'green' WHEN {score} >= {yellow} THEN 'yellow' ELSE 'red' END"


def values_sql(model: HealthModel, fields: FieldSet) -> tuple[str, dict[str, Any]]:
    """A SELECT of account_id, profile, v0, v1, ... for every account as of :today: the lifecycle
    profile the model weighs it by (NULL: none of its profiles) and each measure's value.

    Accounts that had not started by :today are left out. Each derived field the values are
    built from is computed once per account (``usage_30d`` serves two measures), from only
    the account columns they read.
    """
    from csm.language.compiler import compile_value

    leaves = _leaf_fields(fields, ["lifecycle_stage", *(f for m in model.measures for f in m.value.fields)])
    on_leaves = _as_columns(fields, leaves)
    params: dict[str, Any] = {}
    values = []
    for i, m in enumerate(model.measures):
        value = compile_value(m.value.source, on_leaves, prefix=f"m{i}_")
        params.update(value.params)
        values.append(f"({value.sql}) AS v{i}")
    stage = on_leaves.sql("lifecycle_stage")
    profile = _profile(model, stage)
    select = f"SELECT a.id AS account_id, {profile} AS profile, {', '.join(values)} FROM leaves a"
    read = "".join(f", a.{column}" for column in _columns_read(select, leaves))
    leaf_columns = "".join(f', ({fields.sql(name)}) AS "{name}"' for name in leaves)
    sql = (
        f"WITH leaves AS MATERIALIZED (SELECT a.id{read}{leaf_columns} FROM accounts a"
        f" WHERE a.start_date IS NULL OR a.start_date <= :today) {select}"
    )
    return sql, params


_COLUMN_READ = re.compile(r'\ba\.("(?:[^"]|"")+"|\w+)')  # a."name" or a.name


def _columns_read(sql: str, leaves: list[str]) -> list[str]:
    """The account columns ``sql`` reads of the row ``a`` besides its id and the leaves, quoted."""
    read = {name if name.startswith('"') else f'"{name}"' for name in _COLUMN_READ.findall(sql)}
    return sorted(read - {f'"{name}"' for name in ("id", *leaves)})


def _profile(model: HealthModel, stage: str) -> str:
    """The account's lifecycle profile from its ``stage``'s SQL, NULL when the model has none for it."""
    if not model.profiles:
        return "NULL"
    whens = " ".join(f"WHEN '{name}' THEN '{name}'" for name in model.profiles)
    return f"CASE ({stage}) {whens} END"


def breakdown_sql(model: HealthModel, profile: str | None, d: SqlDialect) -> str:
    """Each measure's score, weight and points for one account of ``profile``, from its stored values.

    The parameters are ``:v0``, ``:v1``, ... (a snapshot's ``parts``); scores and weights are
    what the snapshot scored with.
    """
    weighings = _weighings(model)
    weights = weighings.get(profile, weighings[None])[0]
    values = ", ".join(f"CAST(:v{i} AS DOUBLE PRECISION) AS v{i}" for i in range(len(model.measures)))
    scores = "".join(f", {_score_sql(m, f'v{i}', d)} AS s{i}" for i, m in enumerate(model.measures))
    shares = ", ".join(
        f"s{i}, {_num(w)}, s{i} * {_num(w)} / CASE WHEN wsum > 0 THEN wsum END" for i, w in enumerate(weights)
    )
    return (
        f"WITH vals AS (SELECT {values}), scored AS (SELECT {_counted(model, weights)} AS wsum{scores}"
        f" FROM vals) SELECT {shares} FROM scored"
    )


def _leaf_fields(fields: FieldSet, names: Iterable[str]) -> list[str]:
    """The derived fields these fields are built from that are built from no other field.

    ``usage_change_30d`` and ``usage_30d / seats_used`` both read ``usage_30d``:
    computed once per account as a column, they share its range scan.
    """
    leaves: dict[str, None] = {}
    pending = list(names)
    while pending:
        name = pending.pop()
        if not fields[name].derived:
            continue
        refs = fields.references(name)
        if refs:
            pending.extend(refs)
        else:
            leaves[name] = None
    return sorted(leaves)


def _as_columns(fields: FieldSet, names: list[str]) -> FieldSet:
    """The fields, with these read as columns of the row ``a`` instead of computed."""
    return fields.with_fields(replace(fields[n], sql=f'a."{n}"') for n in names)


def snapshot(
    conn: sqlite3.Connection,
    model: HealthModel,
    fields: FieldSet,
    base_params: dict[str, Any],
    days: Iterable[dt.date],
) -> int:
    """Score every account on each day and store it, replacing that day's snapshot; accounts scored.

    Taken again the same day with the same model (an import since, `csm health` again), only
    the accounts whose profile or measure values changed are scored and written again: the
    others' stored rows are what scoring them would write. The last import it saw is
    recorded for :func:`csm.health.current.is_current`.
    """
    from csm.health.model import scoring_key

    values, params = values_sql(model, fields)
    key = scoring_key(model)
    scored = 0
    with transaction(conn):
        dialect_of(conn).serialise(conn, "health snapshot")  # two at once on PostgreSQL: one, then the other
        for day in days:
            day_params = {**base_params, **params, "today": day.isoformat()}
            scored += _snapshot_day(conn, model, fields.dialect, values, day_params, key)
        set_meta(conn, SEEN_IMPORT, str(last_import(conn)))
    return scored


def _snapshot_day(
    conn: sqlite3.Connection, model: HealthModel, d: SqlDialect, values: str, params: dict[str, Any], key: str
) -> int:
    """One day's snapshot (``params``' :today), by the model (``key``); accounts scored."""
    day = params["today"]
    numbers = [f"v{i}" for i in range(len(model.measures))]
    number = "" if d.sqlite else " DOUBLE PRECISION"  # SQLite keeps each value's type: 9 stays 9, not 9.0
    for table in ("health_values", "scored_day"):
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(
        "CREATE TEMP TABLE health_values (account_id TEXT, profile TEXT,"
        f" {', '.join(v + number for v in numbers)})"
    )
    conn.execute(
        "CREATE TEMP TABLE scored_day (account_id TEXT, profile TEXT, score DOUBLE PRECISION, parts TEXT)"
    )
    # The values first, each computed once: the score and the stored text read each several times.
    conn.execute(
        f"INSERT INTO health_values SELECT account_id, profile, {', '.join(numbers)} FROM ({values}) x",
        params,
    )
    parts = d.exact_json_array("profile", numbers)
    kept = _keep_unchanged(conn, day, key, parts)
    score = _by_profile(model, lambda weighing: _score_of(model, weighing, d))
    conn.execute(f"INSERT INTO scored_day SELECT account_id, profile, {score}, {parts} FROM health_values")
    return kept + _store_day(conn, day, key, _band_sql(model, "score"))


def _keep_unchanged(conn: sqlite3.Connection, day: str, key: str, parts: str) -> int:
    """Drop from ``health_values`` the accounts whose snapshot of ``day``, by the same model,
    holds these values (as their stored text, ``parts``) already; how many. Its score and band
    were scored from them."""
    same_model = conn.execute("SELECT 1 FROM health_models WHERE date = ? AND model = ?", (day, key))
    if same_model.fetchone() is None:
        return 0
    return conn.execute(
        f"DELETE FROM health_values WHERE {parts} = (SELECT p.parts FROM health_parts p"
        " WHERE p.date = ? AND p.account_id = health_values.account_id)"
        " AND EXISTS (SELECT 1 FROM health_history h WHERE h.account_id = health_values.account_id"
        " AND h.date = ? AND h.parts = '{}')",
        (day, day),
    ).rowcount


def _store_day(conn: sqlite3.Connection, day: str, key: str, band: str) -> int:
    """``scored_day``'s scores and their ``band`` into ``health_history``, its values into
    ``health_parts`` and the model (``key``) into ``health_models``; rows stored. An account's
    snapshot of the day is replaced, never duplicated; one with no score (no measure that
    counts has a value) has none.
    """
    stored = conn.execute(
        "INSERT INTO health_history (account_id, date, score, band)"
        f" SELECT account_id, ?, score, {band} FROM scored_day WHERE score IS NOT NULL"
        " ON CONFLICT (account_id, date) DO UPDATE"
        " SET score = excluded.score, band = excluded.band, parts = excluded.parts",
        (day,),
    ).rowcount
    conn.execute(
        "INSERT INTO health_parts (date, account_id, parts)"
        " SELECT ?, account_id, parts FROM scored_day WHERE score IS NOT NULL ORDER BY account_id"
        " ON CONFLICT (date, account_id) DO UPDATE SET parts = excluded.parts",
        (day,),
    )
    conn.execute(
        "INSERT INTO health_models (date, model) VALUES (?, ?)"
        " ON CONFLICT (date) DO UPDATE SET model = excluded.model",
        (day, key),
    )
    return stored


def has_history(conn: sqlite3.Connection, day: dt.date) -> bool:
    """Is there any snapshot on or before ``day``?"""
    row = conn.execute("SELECT 1 FROM health_history WHERE date <= ? LIMIT 1", (day.isoformat(),))
    return row.fetchone() is not None


# -- what changed ----------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One measure's share of a score, then and now."""

    id: str
    title: str
    value_then: float | None
    value_now: float | None
    score_then: float | None
    score_now: float | None
    points_then: float | None
    points_now: float | None

    @property
    def change(self) -> float:
        return round((self.points_now or 0) - (self.points_then or 0), 1)

    def as_json(self) -> dict[str, Any]:
        return {**vars(self), "change": self.change}


@dataclass(frozen=True)
class Explanation:
    account_id: str
    name: str
    today: str
    now: dict[str, Any] | None  # {"date", "score", "band", "profile"}
    then: dict[str, Any] | None  # the snapshot ``days`` before, or None without one
    parts: tuple[Part, ...]  # biggest loss first

    @property
    def change(self) -> float | None:
        if self.now is None or self.then is None:
            return None
        return round(self.now["score"] - self.then["score"], 1)

    def as_json(self) -> dict[str, Any]:
        return {
            "account": self.account_id,
            "name": self.name,
            "today": self.today,
            "now": self.now,
            "then": self.then,
            "change": self.change,
            "parts": [p.as_json() for p in self.parts],
        }


def _latest(conn: sqlite3.Connection, account_id: str, day: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT h.date, h.score, h.band, coalesce(p.parts, h.parts) AS parts, k.model FROM health_history h"
        " LEFT JOIN health_parts p ON p.date = h.date AND p.account_id = h.account_id"
        " LEFT JOIN health_models k ON k.date = h.date"
        " WHERE h.account_id = ? AND h.date <= ? ORDER BY h.date DESC LIMIT 1",
        (account_id, day),
    ).fetchone()


def _head(conn: sqlite3.Connection, row: sqlite3.Row | None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    if row is None:
        return None, {}
    parts = json.loads(row["parts"])
    if row["model"] is not None and isinstance(parts, list):
        profile, measures = _worked_out(conn, row["model"], parts)
    else:
        profile, measures = breakdown(parts)
    head = {"date": row["date"], "score": row["score"], "band": row["band"], "profile": profile}
    return head, measures


def _worked_out(
    conn: sqlite3.Connection, key: str, parts: list[Any]
) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """A snapshot's profile and measures from its stored values and the model it scored with."""
    from csm.health.model import from_scoring_key

    model = from_scoring_key(key)
    params = {f"v{i}": value for i, value in enumerate(parts[1:])}
    row = conn.execute(breakdown_sql(model, parts[0], dialect_of(conn)), params).fetchone()
    flat: list[Any] = [parts[0]]
    for i, m in enumerate(model.measures):
        score, weight, points = (None if n is None else float(n) for n in row[3 * i : 3 + 3 * i])
        flat.extend([m.id, parts[1 + i], score, weight, points])
    return breakdown(flat)


def breakdown_on(
    conn: sqlite3.Connection, account_id: str, day: dt.date
) -> tuple[str | None, dict[str, Any]]:
    """The profile and measures of the account's latest snapshot on or before ``day``, as shown."""
    head, measures = _head(conn, _latest(conn, account_id, day.isoformat()))
    return (None if head is None else head["profile"]), measures


def breakdown(parts: Any) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """A snapshot's profile and its measures (value, score, weight, points), rounded to show.

    Worked out flat, ``[profile, id, value, score, weight, points, id, ...]``; snapshots taken
    before the values alone were stored hold that; before that, ``{"profile": ...,
    "measures": {id: {...}}}``, already rounded.
    """
    if isinstance(parts, dict):
        return parts.get("profile"), parts.get("measures", {})
    measures = {}
    for k in range(1, len(parts), 5):
        measure_id, value, score, weight, points = parts[k : k + 5]
        measures[measure_id] = {
            "value": _rounded(value, 4),
            "score": _rounded(score, 1),
            "weight": weight,
            "points": _rounded(points, 1),
        }
    return parts[0], measures


def _rounded(number: float | None, digits: int) -> float | None:
    return None if number is None else round(number, digits)


def explain(
    conn: sqlite3.Connection, model: HealthModel, account_id: str, today: dt.date, days: int = 30
) -> Explanation:
    """Each measure's contribution now and ``days`` ago, biggest loss first."""
    account = conn.execute("SELECT id, name FROM accounts WHERE id = ?", (account_id,)).fetchone()
    if account is None:
        raise NotFound(f"no account '{account_id}'", hint="Check the id with `csm health --json`.")
    now, now_parts = _head(conn, _latest(conn, account_id, today.isoformat()))
    then_day = (today - dt.timedelta(days=days)).isoformat()
    then, then_parts = _head(conn, _latest(conn, account_id, then_day))
    ids = list(dict.fromkeys([m.id for m in model.measures] + list(now_parts) + list(then_parts)))
    parts = []
    for measure_id in ids:
        old, new = then_parts.get(measure_id, {}), now_parts.get(measure_id, {})
        measure = model.measure(measure_id)
        parts.append(
            Part(
                measure_id,
                measure.title if measure else measure_id,
                old.get("value"),
                new.get("value"),
                old.get("score"),
                new.get("score"),
                old.get("points"),
                new.get("points"),
            )
        )
    if then is not None:
        parts.sort(key=lambda p: (p.change, ids.index(p.id)))
    return Explanation(account["id"], account["name"], today.isoformat(), now, then, tuple(parts))


# -- the book's health ------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    today: str
    bands: dict[str, int]  # red, yellow, green: active accounts in each
    buckets: list[int]  # active accounts scoring 0-9, 10-19, ..., 90-100
    drops: list[dict[str, Any]]  # health_change_30d <= DROP_POINTS, biggest first

    def as_json(self) -> dict[str, Any]:
        labels = [f"{10 * i}-{10 * i + 9 if i < BUCKETS - 1 else 100}" for i in range(BUCKETS)]
        return {
            "today": self.today,
            "accounts": sum(self.bands.values()),
            "bands": self.bands,
            "distribution": [
                {"scores": lab, "accounts": n} for lab, n in zip(labels, self.buckets, strict=True)
            ],
            "drops": self.drops,
        }


def summary(
    conn: sqlite3.Connection,
    model: HealthModel,
    fields: FieldSet,
    base_params: dict[str, Any],
    today: dt.date,
    owner: str | None = None,
) -> Summary:
    """Today's distribution over active accounts and the biggest drops in 30 days, with their why."""
    where = "a.status = 'active'" + (" AND a.owner = :owner" if owner else "")
    params = {**base_params, "owner": owner}
    health, change = fields.sql("health"), fields.sql("health_change_30d")
    d = fields.dialect
    bucket = d.least(d.whole(f"({health}) / 10"), str(BUCKETS - 1))
    rows = conn.execute(
        f"SELECT ({fields.sql('health_band')}) AS band, {bucket} AS bucket, count(*) AS n"
        f" FROM accounts a WHERE {where} AND ({health}) IS NOT NULL GROUP BY 1, 2",
        params,
    ).fetchall()
    bands = dict.fromkeys(BANDS, 0)
    buckets = [0] * BUCKETS
    for row in rows:
        bands[row["band"]] = bands.get(row["band"], 0) + row["n"]
        buckets[row["bucket"]] += row["n"]
    drops = []
    for row in conn.execute(
        f"SELECT a.id, a.name, a.owner, ({health}) AS health, ({fields.sql('health_band')}) AS band,"
        f" ({change}) AS change FROM accounts a WHERE {where} AND ({change}) <= {DROP_POINTS}"
        " ORDER BY change, a.id",
        params,
    ):
        lost = [p for p in explain(conn, model, row["id"], today).parts if p.change < 0]
        drops.append(
            {
                "account": row["id"],
                "name": row["name"],
                "owner": row["owner"],
                "health": row["health"],
                "band": row["band"],
                "health_change_30d": row["change"],
                "why": [{"measure": p.id, "change": p.change} for p in lost[:3]],
            }
        )
    return Summary(today.isoformat(), bands, buckets, drops)
