"""A plain-Python reference for the condition language, for property tests.

Expressions are small trees that render to condition source text; `evaluate`
computes their value over one account row with SQL's three-valued logic
(None is unknown). It shares no code with csm.conditions.
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


def render(expr: Any, upper: bool = False) -> str:
    """Source text with only the parentheses precedence needs."""

    def kw(words: str) -> str:
        return words.upper() if upper else words

    def sub(child: Any, min_precedence: int) -> str:
        text = render(child, upper)
        return f"({text})" if precedence(child) < min_precedence else text

    if isinstance(expr, Field):
        return expr.name
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
    """Field names in order of first appearance."""
    names: dict[str, None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, Field):
            names[node.name] = None
        elif not isinstance(node, Lit):
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
    if FIELD_TYPES[name] == "date":
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


def _arith(op: str, left: Any, right: Any) -> Any:
    if left is None or right is None:
        return None
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
