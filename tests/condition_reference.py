"""A plain-Python reference for the condition language, for property tests.

Expressions are small trees that render to condition source text; `evaluate`
computes their value over one account row with SQL's three-valued logic
(None is unknown). It shares no code with csm.language.

The row may carry the account's related rows, for the forms that read them:
``_usage`` (metric, date, value), ``_events`` and ``_contacts`` (dicts).
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

FIELD_TYPES = {
    "arr": "number",
    "seats_licensed": "number",
    "seats_used": "number",
    "nps": "number",
    "open_tickets": "number",
    "health_score": "number",
    "days_to_renewal": "number",
    "days_since_start": "number",
    "days_since_login": "number",
    "seat_utilization": "number",
    "usage.logins": "number",  # the property's database has no usage rows
    "name": "text",
    "plan": "text",
    "status": "text",
    "region": "text",
    "lifecycle_stage": "text",
    "start_date": "date",
    "renewal_date": "date",
    "last_login_at": "date",
    "churn_risk": "bool",
}
# Fields of the database the dates, metrics, events and contacts property builds.
WORLD_FIELD_TYPES = {**FIELD_TYPES, "nps_answered_at": "date"}


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Lit:
    value: Any
    text: str  # as written in the condition: 90%, 'O''Brien', TRUE


@dataclass(frozen=True)
class Neg:
    operand: Any


@dataclass(frozen=True)
class Arith:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Compare:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class In:
    operand: Any
    items: tuple[Any, ...]
    negated: bool


@dataclass(frozen=True)
class Between:
    operand: Any
    low: Any
    high: Any
    negated: bool


@dataclass(frozen=True)
class IsNull:
    operand: Any
    negated: bool


@dataclass(frozen=True)
class Not:
    operand: Any


@dataclass(frozen=True)
class Logic:
    op: str  # and, or
    items: tuple[Any, ...]


class Days(int):
    """A duration's value: a whole number of days."""


@dataclass(frozen=True)
class Today:
    pass


@dataclass(frozen=True)
class Dur:
    days: int
    text: str  # 30d, 2w, 45 days


@dataclass(frozen=True)
class DayCount:
    function: str  # days_since, days_until
    operand: Any


@dataclass(frozen=True)
class Metric:
    metric: str
    form: str  # latest, last, days_since_nonzero, avg, sum, change
    days: int = 0


@dataclass(frozen=True)
class Coll:
    source: str  # contact, or an event kind
    within: Dur | None = None
    filter: Any = None


@dataclass(frozen=True)
class Call:
    function: str  # count, any, no, last
    collection: Coll


@dataclass(frozen=True)
class LastField:
    collection: Coll
    name: str


def precedence(expr: Any) -> int:
    if isinstance(expr, Logic):
        return 1 if expr.op == "or" else 2
    if isinstance(expr, Not):
        return 3
    if isinstance(expr, Compare | In | Between | IsNull):
        return 4
    if isinstance(expr, Arith):
        return 5 if expr.op in "+-" else 6
    if isinstance(expr, Neg):
        return 7
    return 8


def _render_collection(coll: Coll, upper: bool) -> str:
    text = coll.source
    if coll.within is not None:
        text += f" {'WITHIN' if upper else 'within'} {coll.within.text}"
    if coll.filter is not None:
        text += f" {'WHERE' if upper else 'where'} {render(coll.filter, upper)}"
    return text


def render(expr: Any, upper: bool = False) -> str:
    """Source text with only the parentheses precedence needs."""

    def kw(words: str) -> str:
        return words.upper() if upper else words

    def sub(child: Any, min_precedence: int) -> str:
        text = render(child, upper)
        return f"({text})" if precedence(child) < min_precedence else text

    if isinstance(expr, Field):
        return expr.name
    if isinstance(expr, Today):
        return "today"
    if isinstance(expr, Dur):
        return expr.text
    if isinstance(expr, DayCount):
        return f"{expr.function}({render(expr.operand, upper)})"
    if isinstance(expr, Metric):
        if expr.form == "latest":
            return f"usage.{expr.metric}"
        if expr.form in ("last", "days_since_nonzero"):
            return f"usage.{expr.metric}.{expr.form}"
        return f"usage.{expr.metric}.{expr.form}({expr.days}d)"
    if isinstance(expr, Call):
        return f"{expr.function}({_render_collection(expr.collection, upper)})"
    if isinstance(expr, LastField):
        return f"last({_render_collection(expr.collection, upper)}).{expr.name}"
    if isinstance(expr, Lit):
        return expr.text
    if isinstance(expr, Neg):
        return "-" + sub(expr.operand, 7)
    if isinstance(expr, Arith):
        level = precedence(expr)
        return f"{sub(expr.left, level)} {expr.op} {sub(expr.right, level + 1)}"
    if isinstance(expr, Compare):
        return f"{sub(expr.left, 5)} {expr.op} {sub(expr.right, 5)}"
    if isinstance(expr, In):
        items = ", ".join(sub(item, 5) for item in expr.items)
        return f"{sub(expr.operand, 5)} {kw('not in' if expr.negated else 'in')} ({items})"
    if isinstance(expr, Between):
        word = kw("not between" if expr.negated else "between")
        return f"{sub(expr.operand, 5)} {word} {sub(expr.low, 5)} {kw('and')} {sub(expr.high, 5)}"
    if isinstance(expr, IsNull):
        return f"{sub(expr.operand, 5)} {kw('is not null' if expr.negated else 'is null')}"
    if isinstance(expr, Not):
        return f"{kw('not')} {sub(expr.operand, 3)}"
    assert isinstance(expr, Logic)
    return f" {kw(expr.op)} ".join(sub(item, precedence(expr) + 1) for item in expr.items)


def fields_in_order(expr: Any) -> tuple[str, ...]:
    """Account field names in order of first appearance (a usage window by its canonical name)."""
    names: dict[str, None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, Field):
            names[node.name] = None
        elif isinstance(node, Metric):
            names[render(node)] = None
        elif isinstance(node, Coll | Lit | Dur | Today):
            return  # a collection's where names the row's fields, not the account's
        else:
            for value in vars(node).values():
                for child in value if isinstance(value, tuple) else (value,):
                    if not isinstance(child, str | bool):
                        walk(child)

    walk(expr)
    return tuple(names)


# -- evaluation -----------------------------------------------------------------

_INT64 = 2**63
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}


def _day(value: str | None) -> dt.date | None:
    """SQLite's date(): the day of an ISO date or date-time, else NULL."""
    try:
        return dt.datetime.fromisoformat(value).date() if value else None
    except ValueError:
        return None


def _days(later: dt.date | None, earlier: dt.date | None) -> int | None:
    return None if later is None or earlier is None else (later - earlier).days


def field_value(name: str, row: Mapping[str, Any], today: dt.date) -> Any:
    if isinstance(row, RowView):
        return row.get(name)
    if name == "days_to_renewal":
        return _days(_day(row["renewal_date"]), today)
    if name == "days_since_start":
        return _days(today, _day(row["start_date"]))
    if name == "days_since_login":
        days = _days(today, _day(row["last_login_at"]))
        return None if days is None else max(0, days)
    if name == "seat_utilization":
        licensed, used = row["seats_licensed"], row["seats_used"]
        if licensed is None or used is None or licensed <= 0:
            return None
        return float(used) / licensed
    if name == "lifecycle_stage":
        if row["status"] != "active":
            return row["status"]
        since_start = field_value("days_since_start", row, today)
        if since_start is not None and since_start < 90:
            return "onboarding"
        to_renewal = field_value("days_to_renewal", row, today)
        return "renewal" if to_renewal is not None and to_renewal <= 120 else "adoption"
    if name.startswith("usage."):
        return None
    if WORLD_FIELD_TYPES[name] == "date":
        day = _day(row[name])
        return None if day is None else day.isoformat()
    return row[name]


def truth(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _not(value: bool | None) -> bool | None:
    return None if value is None else not value


def _and(values: list[bool | None]) -> bool | None:
    if False in values:
        return False
    return None if None in values else True


def _or(values: list[bool | None]) -> bool | None:
    if True in values:
        return True
    return None if None in values else False


def _compare(op: str, left: Any, right: Any) -> bool | None:
    return None if left is None or right is None else _COMPARE[op](left, right)


def _shift(day: str, days: int) -> str:
    return (dt.date.fromisoformat(day) + dt.timedelta(days=days)).isoformat()


def _arith(op: str, left: Any, right: Any) -> Any:
    if left is None or right is None:
        return None
    if isinstance(left, str) and isinstance(right, Days):
        return _shift(left, right if op == "+" else -right)
    if isinstance(left, Days) and isinstance(right, str):
        return _shift(right, left)
    if isinstance(left, str) and isinstance(right, str):
        return (dt.date.fromisoformat(left) - dt.date.fromisoformat(right)).days
    if isinstance(left, Days) and isinstance(right, Days):
        return Days(left + right if op == "+" else left - right)
    if op == "/":
        return None if right == 0 else float(left) / float(right)
    result = _ARITH[op](left, right)
    if isinstance(result, int) and not -_INT64 <= result < _INT64:
        # SQLite redoes an overflowing integer operation in floating point
        return _ARITH[op](float(left), float(right))
    return result


def evaluate(expr: Any, row: Mapping[str, Any], today: dt.date) -> Any:
    """The value of ``expr`` for one account row; None is SQL's NULL / unknown."""

    def ev(node: Any) -> Any:
        return evaluate(node, row, today)

    if isinstance(expr, Field):
        return field_value(expr.name, row, today)
    if isinstance(expr, Lit):
        return expr.value
    if isinstance(expr, Today):
        return today.isoformat()
    if isinstance(expr, Dur):
        return Days(expr.days)
    if isinstance(expr, DayCount):
        value = ev(expr.operand)
        if value is None:
            return None
        days = (today - dt.date.fromisoformat(value)).days
        return days if expr.function == "days_since" else -days
    if isinstance(expr, Metric):
        return _metric(expr, row["_usage"], today)
    if isinstance(expr, Call | LastField):
        return _collection(expr, row, today)
    if isinstance(expr, Neg):
        value = ev(expr.operand)
        return None if value is None else -value
    if isinstance(expr, Arith):
        return _arith(expr.op, ev(expr.left), ev(expr.right))
    if isinstance(expr, Compare):
        return _compare(expr.op, ev(expr.left), ev(expr.right))
    if isinstance(expr, In):
        value = ev(expr.operand)
        items = [ev(item) for item in expr.items]
        found = _or([_compare("=", value, item) for item in items])
        return _not(found) if expr.negated else found
    if isinstance(expr, Between):
        value = ev(expr.operand)
        inside = _and([_compare(">=", value, ev(expr.low)), _compare("<=", value, ev(expr.high))])
        return _not(inside) if expr.negated else inside
    if isinstance(expr, IsNull):
        return (ev(expr.operand) is None) != expr.negated
    if isinstance(expr, Not):
        return _not(truth(ev(expr.operand)))
    assert isinstance(expr, Logic)
    values = [truth(ev(item)) for item in expr.items]
    return _and(values) if expr.op == "and" else _or(values)


# -- metrics, events and contacts ---------------------------------------------------


class RowView(dict):  # type: ignore[type-arg]
    """A contact's or an event's fields, as a collection's where sees them."""


def _window(usage: list[Any], metric: str, today: dt.date, after: int, upto: int) -> list[int]:
    """Values of ``metric`` on days in (today - after, today - upto]."""
    low = (today - dt.timedelta(days=after)).isoformat()
    high = (today - dt.timedelta(days=upto)).isoformat()
    return [value for m, day, value in usage if m == metric and low < day <= high]


def _avg(values: list[int]) -> float | None:
    return sum(values) / len(values) if values else None


def _metric(expr: Metric, usage: list[tuple[str, str, int]], today: dt.date) -> Any:
    seen = sorted((day, value) for m, day, value in usage if m == expr.metric and day <= today.isoformat())
    if expr.form in ("latest", "last"):
        return seen[-1][1] if seen else None
    if expr.form == "days_since_nonzero":
        days = [day for day, value in seen if value != 0]
        return (today - dt.date.fromisoformat(days[-1])).days if days else None
    now = _window(usage, expr.metric, today, expr.days, 0)
    if expr.form == "sum":
        return sum(now) if now else None
    if expr.form == "avg":
        return _avg(now)
    before = _avg(_window(usage, expr.metric, today, 2 * expr.days, expr.days))
    current = _avg(now)
    return None if current is None or not before else current / before - 1


def event_view(event: Mapping[str, Any], today: dt.date) -> RowView:
    closed = _day(event["closed_at"])
    view = RowView(event["attributes"])
    view.update(
        id=event["id"],
        kind=event["kind"],
        contact=event["contact"],
        occurred_at=_day(event["occurred_at"]).isoformat(),  # type: ignore[union-attr]
        closed_at=None if closed is None else closed.isoformat(),
        open=closed is None or closed > today,
    )
    return view


def contact_view(contact: Mapping[str, Any]) -> RowView:
    view = RowView(contact)
    for name in ("left_at", "bounced_at"):
        day = _day(view.get(name))
        view[name] = None if day is None else day.isoformat()
    return view


def _rows(coll: Coll, row: Mapping[str, Any], today: dt.date) -> list[tuple[Any, RowView]]:
    """(sort key, view) of the collection's rows that pass its within and where."""
    if coll.source == "contact":
        found = [(None, contact_view(c)) for c in row["_contacts"]]
    else:
        found = []
        for event in row["_events"]:
            day = _day(event["occurred_at"])
            assert day is not None
            if event["kind"] != coll.source or day > today:
                continue
            if coll.within is not None and day < today - dt.timedelta(days=coll.within.days):
                continue
            found.append(((event["occurred_at"], event["id"]), event_view(event, today)))
    if coll.filter is None:
        return found
    return [(key, view) for key, view in found if truth(evaluate(coll.filter, view, today)) is True]


def _collection(expr: Call | LastField, row: Mapping[str, Any], today: dt.date) -> Any:
    rows = _rows(expr.collection, row, today)
    if isinstance(expr, LastField) or expr.function == "last":
        if not rows:
            return None
        latest = max(rows, key=lambda r: r[0])[1]
        return latest["occurred_at"] if isinstance(expr, Call) else latest.get(expr.name)
    if expr.function == "count":
        return len(rows)
    return bool(rows) if expr.function == "any" else not rows
