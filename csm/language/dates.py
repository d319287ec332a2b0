"""Dates in conditions: arithmetic with durations, and day counts tested on the column.

    renewal_date - 45 days <= today          date - duration, compared with today
    days_since(nps_answered_at) <= 2         a day count of any date column
    today - start_date > 90                  date - date: a number of days

A comparison of a stored date column (shifted by durations, or counted in
days from today) with a day relative to today is compiled as a range test on
the column itself: ``renewal_date <= date(:today, '+45 days')``. No day count
per row, and an index on the column serves it. Exact because imports keep
dates as plain YYYY-MM-DD, and date-times as YYYY-MM-DDTHH:MM:SS, which sort
as their days do (a date-time column's ``<=`` becomes ``<`` the next day).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from csm.language.fields import TODAY
from csm.language.parser import Arith, Call, FieldRef, Literal, Node

if TYPE_CHECKING:
    from csm.language.compiler import _Compiler

MIRRORED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "<>": "<>"}  # a op b == b op' a
DAY_FUNCTIONS = {"days_since": -1, "days_until": 1}  # how the count moves as the date grows


@dataclass(frozen=True)
class ColumnDay:
    """A stored date column, shifted by durations: ``column + offset`` (the offset's SQL, or "")."""

    column: str
    timed: bool
    offset: str


def days_from_today(c: _Compiler, days_sql: str) -> str:
    return c.dialect.add_days(":today", days_sql)


def arithmetic(c: _Compiler, node: Arith, items: list[tuple[str, str]]) -> tuple[str, str]:
    """``+`` and ``-`` over dates and durations: date ± duration, duration ± duration, date - date."""
    sql, type_ = items[0]
    for op, item, (item_sql, item_type) in zip(node.ops, node.items[1:], items[1:], strict=True):
        if "error" in (type_, item_type):
            sql, type_ = "NULL", "error"
        elif op in "+-" and {type_, item_type} == {"date", "duration"} and (op == "+" or type_ == "date"):
            date_sql, days = (sql, item_sql) if type_ == "date" else (item_sql, sql)
            sign = "-" if op == "-" else ""
            sql, type_ = c.dialect.add_days(date_sql, f"{sign}{days}"), "date"
        elif op in "+-" and type_ == item_type == "duration":
            sql = f"({sql} {op} {item_sql})"
        elif op == "-" and type_ == item_type == "date":
            sql, type_ = c.dialect.days_between(sql, item_sql), "number"
        else:
            c.fail(_why_not(c, op, (node.items[0], type_), (item, item_type)), item.start)
            sql, type_ = "NULL", "error"
    return sql, type_


def _why_not(c: _Compiler, op: str, left: tuple[Node, str], right: tuple[Node, str]) -> str:
    if "date" in (left[1], right[1]) and op in "+-":
        other = right if left[1] == "date" else left
        return f"'{op}' with a date needs a duration like 30 days or 2w, found {c.describe(*other)}"
    odd = left if left[1] != "number" else right
    return f"'{op}' needs numbers, found {c.describe(*odd)}"


def _column_day(c: _Compiler, node: Node) -> ColumnDay | None:
    """``column``, or ``column ± durations``, when ``column`` is a stored date column."""
    base, offset = _shifted(c, node)
    if not isinstance(base, FieldRef) or base.name == TODAY or base.name not in c.fields:
        return None
    field = c.fields[base.name]
    if field.stored_day is None:
        return None
    return ColumnDay(c.fields.expand(field.stored_day), field.timed, offset)


def _is_today(c: _Compiler, node: Node) -> tuple[bool, str]:
    base, offset = _shifted(c, node)
    return isinstance(base, FieldRef) and base.name == TODAY, offset


def _shifted(c: _Compiler, node: Node) -> tuple[Node, str]:
    """``node`` as (base, the SQL of the durations added to it): ``x - 45 days`` is (x, "- :c0")."""
    if not isinstance(node, Arith) or node.ops[0] not in "+-":
        return node, ""
    offset = ""
    for op, item in zip(node.ops, node.items[1:], strict=True):
        if not (isinstance(item, Literal) and item.kind == "duration"):
            return node, ""
        offset += f" {op} {c.literal_sql(item)}"
    return node.items[0], offset


def counted_day(c: _Compiler, node: Node, *numbers: Node) -> tuple[str, int, str, bool] | None:
    """A day count compared with whole numbers only: (the date's SQL, its sign, its offset, timed).

    The derived counts (days_to_renewal) say so in their field; days_since() and
    days_until() count any stored date column.
    """
    if not all(isinstance(n, Literal) and type(n.value) is int for n in numbers):
        return None
    if isinstance(node, FieldRef) and node.name in c.fields:
        day_count = c.fields[node.name].day_count
        return None if day_count is None else (c.fields.expand(day_count[0]), day_count[1], "", False)
    if isinstance(node, Call) and node.name in DAY_FUNCTIONS and len(node.args) == 1:
        column = _column_day(c, node.args[0])
        if column is not None:
            return column.column, DAY_FUNCTIONS[node.name], column.offset, column.timed
    return None


def on_column(c: _Compiler, subject: Node, op: str, other: Node, other_sql: str) -> str | None:
    """``subject op other`` as a range test on a date column, when it is one."""
    counted = counted_day(c, subject, other)
    if counted is not None:
        day, sign, offset, timed = counted
        # day + offset - today op n   is  day op today + n - offset;
        # today - day - offset op n   is  day op' today - n - offset.
        if sign < 0:
            op, other_sql = MIRRORED[op], f"- {other_sql}"
        return range_test(c, day, timed, op, days_from_today(c, f"{other_sql}{_minus(offset)}"))
    column = _column_day(c, subject)
    today, today_offset = _is_today(c, other)
    if column is None or not today:
        return None
    # column + a op today + b   is   column op today + b - a
    days = f"0{today_offset}{_minus(column.offset)}"
    return range_test(c, column.column, column.timed, op, days_from_today(c, days))


def _minus(offset: str) -> str:
    return f" - (0{offset})" if offset else ""


def range_test(c: _Compiler, column: str, timed: bool, op: str, bound: str) -> str:
    """``day(column) op bound`` on the column as stored (a date-time sorts within its day)."""
    if not timed or op in ("<", ">="):
        return f"({column} {op} {bound})"
    next_day = c.dialect.add_days(bound, 1)
    if op == "<=":
        return f"({column} < {next_day})"
    if op == ">":
        return f"({column} >= {next_day})"
    if op == "=":
        return f"({column} >= {bound} AND {column} < {next_day})"
    return f"({column} < {bound} OR {column} >= {next_day})"


def between_test(c: _Compiler, column: str, timed: bool, negated: bool, low: str, high: str) -> str:
    if not timed:
        return f"({column} {'NOT ' if negated else ''}BETWEEN {low} AND {high})"
    inside = f"{column} >= {low} AND {column} < {c.dialect.add_days(high, 1)}"
    return f"(NOT ({inside}))" if negated else f"({inside})"
