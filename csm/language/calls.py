"""Calls in conditions: day counts, usage windows, and collections of contacts and events.

    days_since(nps_answered_at) <= 2         days_until(renewal_date - 45 days) < 0
    usage.exports.avg(30d) < 5               usage.logins.change(14d) <= -30%
    count(ticket where severity = 'P1' and open) > 0
    count(nps_response within 30d) >= 1      last(nps_response).score <= 6
    no(contact where role = 'economic_buyer')
    any(contact where role = 'champion' and left_at is not null)

One grammar for every collection: ``SOURCE [within DURATION] [where CONDITION]``,
where the source is ``contact`` or an event kind. Each compiles to a
correlated subquery on the account ``a``: the contacts table (alias ``ct``)
or the events of that kind (alias ``e``) that occurred on or before today,
served by the (account_id, kind, occurred_at) index. Inside ``where`` names
are the row's: a contact's columns (imported ones too), or an event's
columns and, for any other name, its free attribute, whose type is known only
at run time (a JSON value: :meth:`csm.language.dialect.SqlDialect.json_value`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csm.errors import did_you_mean
from csm.language.dates import DAY_FUNCTIONS
from csm.language.fields import METRIC_WINDOWS, USAGE_PREFIX, FieldSet, event_fields
from csm.language.parser import COLLECTION_FUNCTIONS, Attr, Call, Collection, Literal

if TYPE_CHECKING:
    from csm.language.compiler import _Compiler

CONTACTS = ("contact", "contacts")
FUNCTIONS = (*sorted(DAY_FUNCTIONS), *sorted(COLLECTION_FUNCTIONS))
MAX_WINDOW_DAYS = 3650
_LATEST = "ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1"


def call(c: _Compiler, node: Call) -> tuple[str, str]:
    """A call's SQL and type."""
    if node.name in COLLECTION_FUNCTIONS:
        return _collection_call(c, node)
    if node.name in DAY_FUNCTIONS:
        return _day_count(c, node)
    if node.name.startswith(USAGE_PREFIX):
        return _metric_window(c, node)
    c.fail(f"unknown function '{node.name}'{did_you_mean(node.name, FUNCTIONS)}", node.start)
    return "NULL", "error"


def _day_count(c: _Compiler, node: Call) -> tuple[str, str]:
    if len(node.args) != 1:
        c.fail(f"{node.name}() takes one date, like {node.name}(renewal_date)", node.start)
        return "NULL", "error"
    sql, type_ = c.value(node.args[0])
    if type_ not in ("date", "any", "error"):
        c.fail(f"{node.name}() needs a date, found {c.describe(node.args[0], type_)}", node.args[0].start)
        return "NULL", "error"
    sql = c.typed(sql, type_, "date")
    later, earlier = (":today", sql) if node.name == "days_since" else (sql, ":today")
    counted = c.dialect.days_between(later, earlier)
    return counted, "error" if type_ == "error" else "number"


def _metric_window(c: _Compiler, node: Call) -> tuple[str, str]:
    """``usage.exports.avg(30d)``: the field of that name, made on demand."""
    window = node.name.rpartition(".")[2]
    arg = node.args[0] if len(node.args) == 1 else None
    if window not in METRIC_WINDOWS or node.name.count(".") != 2:
        c.fail(
            f"unknown function '{node.name}'; a usage window is {USAGE_PREFIX}<metric>.avg(30d),"
            " .sum(7d) or .change(14d)",
            node.start,
        )
        return "NULL", "error"
    if not (isinstance(arg, Literal) and arg.kind == "duration" and 1 <= arg.value <= MAX_WINDOW_DAYS):  # type: ignore[operator]
        where = arg.start if arg is not None else node.start
        c.fail(f"{node.name}() takes a window from 1d to {MAX_WINDOW_DAYS}d, like {node.name}(30d)", where)
        return "NULL", "error"
    return c.named_field(f"{node.name}({arg.value}d)", node)


def _collection_call(c: _Compiler, node: Call) -> tuple[str, str]:
    """count(...), any(...), no(...); last(...) alone is the day of the latest event."""
    collection = node.args[0]
    assert isinstance(collection, Collection)
    found = _rows(c, node.name, collection)
    if found is None:
        return "NULL", "error"
    table, where = found
    count = f"(SELECT count(*) FROM {table} WHERE {where})"
    last_day = f"(SELECT {c.dialect.date_of('max(e.occurred_at)')} FROM {table} WHERE {where})"
    if node.name != "no":  # a match has none: nothing to show
        c.values.setdefault(c.text(node), count if node.name != "last" else last_day)
    if node.name == "count":
        return count, "number"
    if node.name == "last":
        return last_day, "date"
    exists = f"EXISTS (SELECT 1 FROM {table} WHERE {where})"
    return (f"(NOT {exists})" if node.name == "no" else f"({exists})"), "bool"


def attribute(c: _Compiler, node: Attr) -> tuple[str, str]:
    """``last(nps_response).score``: a field of the latest event of the collection."""
    operand = node.operand
    if not (isinstance(operand, Call) and operand.name == "last"):
        c.fail(f"only last(...) has fields to pick; '.{node.name}' cannot follow this", node.name_start)
        return "NULL", "error"
    collection = operand.args[0]
    assert isinstance(collection, Collection)
    found = _rows(c, "last", collection)
    if found is None:
        return "NULL", "error"
    table, where = found
    fields = event_fields(c.dialect)
    field = fields[node.name]
    sql = fields.sql(node.name)
    if field.type == "date":
        sql = c.dialect.date_of(sql)
    picked = f"(SELECT {sql} FROM {table} WHERE {where} {_LATEST})"
    c.values.setdefault(c.text(node), picked)
    return picked, field.type


def _rows(c: _Compiler, function: str, collection: Collection) -> tuple[str, str] | None:
    """The table and WHERE clause of a collection's rows for the account ``a``; None if wrong."""
    if c.row_fields is not None:
        c.fail("a collection cannot be counted inside another's 'where'", collection.start)
        return None
    if collection.source.lower() in CONTACTS:
        return _contacts(c, function, collection)
    return _events(c, collection)


def _contacts(c: _Compiler, function: str, collection: Collection) -> tuple[str, str] | None:
    if function == "last":
        c.fail("last() takes an event kind (like nps_response); contacts have no order", collection.start)
        return None
    if collection.within is not None:
        c.fail("'within' counts events of the last days; contacts have no date", collection.within.start)
        return None
    assert c.fields.contacts is not None, "the account fields name the contact fields"
    where = "ct.account_id = a.id" + _filter(c, collection, c.fields.contacts, "contact field")
    return "contacts ct", where


def _events(c: _Compiler, collection: Collection) -> tuple[str, str]:
    kind = c.param(collection.source)
    where = f"e.account_id = a.id AND e.kind = {kind} AND e.occurred_at < {c.dialect.add_days(':today', 1)}"
    if collection.within is not None:
        days, type_ = c.value(collection.within)
        if type_ not in ("duration", "error"):
            c.fail(
                f"'within' needs a duration like 30d, found {c.describe(collection.within, type_)}",
                collection.within.start,
            )
        where += f" AND e.occurred_at >= {c.dialect.add_days(':today', f'-{days}')}"
    where += _filter(c, collection, event_fields(c.dialect), "event field")
    c.events.append(where)
    return "events e", where


def _filter(c: _Compiler, collection: Collection, fields: FieldSet, label: str) -> str:
    """`` AND (the where condition)`` over the row's fields, or ""."""
    if collection.filter is None:
        return ""
    saved = c.fields
    c.fields, c.row_fields = fields, label
    try:
        return f" AND {c.condition(collection.filter)}"
    finally:
        c.fields, c.row_fields = saved, None
