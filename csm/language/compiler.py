"""The condition language of playbooks' ``audience:`` and ``when:``.

    days_to_renewal between 91 and 120
    status = 'active' and seat_utilization >= 90%
    plan in ('starter', 'team') and not (nps is null or nps < 7)
    count(ticket where severity = 'P1' and open) > 0 and usage.logins.change(14d) <= -30%

The parser (:mod:`csm.language.parser`) builds a small tree that keeps every
node's character offsets; the checker here resolves names and types
against a ``FieldSet`` and compiles the tree to a parameterised boolean SQL
expression over the accounts row ``a``, in the SQL of the fields' dialect
(SQLite or PostgreSQL: :mod:`csm.language.dialect`). Literal values go into ``params``
(``:c0``, ``:c1``, ...), never into the SQL text. Evaluation is SQL's
three-valued logic: a comparison with a missing value is unknown, and a WHERE
keeps only the accounts for which the condition is true. Dates and durations
are :mod:`csm.language.dates`; calls (day counts, usage windows, collections
of contacts and events) are :mod:`csm.language.calls`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from csm.errors import ConditionError, did_you_mean
from csm.language import calls, dates
from csm.language.fields import TODAY, USAGE_PREFIX, FieldSet
from csm.language.parser import (
    MAX_DEPTH,
    Arith,
    Attr,
    Between,
    Call,
    Compare,
    FieldRef,
    In,
    IsNull,
    Literal,
    Logical,
    Node,
    Unary,
    parse,
)
from csm.language.tokens import DIGITS, KEYWORDS

__all__ = [
    "KEYWORDS",
    "MAX_DEPTH",
    "Condition",
    "check_condition",
    "check_value",
    "compile_condition",
    "compile_part",
    "compile_value",
]

_SQL_SPELLING = {"==": "=", "!=": "<>"}
_NULL_FIXES = {"=": "is null", "==": "is null", "!=": "is not null", "<>": "is not null"}
_EQUALITY = frozenset({"=", "==", "!=", "<>", "in", "not in"})
_TYPE_NAMES = {
    "number": "a number",
    "text": "text",
    "string": "text",
    "date": "a date",
    "bool": "true/false",
    "null": "no value",
    "duration": "a duration",
    "any": "an event attribute",
}
_USAGE_FORMS = f"{USAGE_PREFIX}<metric> (its latest value), or a window like {USAGE_PREFIX}<metric>.avg(30d)"


@dataclass(frozen=True)
class Condition:
    """A condition compiled to SQL, with its parameters and the fields it reads."""

    source: str
    sql: str  # a boolean SQL expression, e.g. "((a.nps) < :c0)"
    params: dict[str, object]  # {"c0": 7}
    fields: tuple[str, ...]  # field names referenced, in order of first appearance
    # The WHERE clause (over events ``e`` of the account ``a``) of each event collection it
    # tests: whose latest event's contact is the step's `respondent`.
    events: tuple[str, ...] = ()
    # What the collections it counts hold, for the why: (the call as written, its SQL over
    # ``a``, with ``params``), e.g. ("count(ticket where open)", "(SELECT count(*) ...)").
    values: tuple[tuple[str, str], ...] = ()
    # What its top-level AND joins, nested ANDs flattened (() when there is no AND): see ``terms``.
    conjuncts: tuple[str, ...] = ()

    @property
    def terms(self) -> tuple[str, ...]:
        """The terms ``" AND ".join(terms)`` of which holds exactly when ``sql`` does, plain ones
        first: a query over several steps orders them across the steps (csm.engine.audience)."""
        return self.conjuncts or (self.sql,)


def subqueries(sql: str) -> int:
    """How many subqueries a compiled term holds: SQLite tries a WHERE's terms in the order
    written, so terms are ordered by it, plain columns first (usage, touches, collections last)."""
    return sql.count("SELECT")


def compile_condition(source: str, fields: FieldSet, *, prefix: str = "c") -> Condition:
    """Compile ``source`` to SQL; raise the first ``ConditionError`` if it is wrong.

    Parameters are named ``prefix`` + a counter, so several conditions can
    share one query.
    """
    return _compile(source, fields, prefix, value=False)


def compile_value(source: str, fields: FieldSet, *, prefix: str = "v") -> Condition:
    """Compile a number-valued expression (``usage_change_30d * 100``, ``nps``) to SQL.

    The health model's measures use this *value* form of the language; the
    result's ``sql`` is a number (or NULL when a field it needs is missing).
    """
    return _compile(source, fields, prefix, value=True)


@dataclass(frozen=True)
class Part:
    """One sub-expression of a condition, compiled on its own: ``csm explain`` evaluates each."""

    source: str  # the sub-expression as written
    sql: str
    params: dict[str, object]
    type: str  # number, text, date, bool, string (a text literal), null


def compile_part(node: Node, source: str, fields: FieldSet, *, prefix: str = "x") -> Part:
    """Compile one node of ``parse(source)``'s tree, as the whole condition compiles it.

    The same code path as :func:`compile_condition`, so any node the compiler
    knows compiles here too. A node of a condition that checked compiles cleanly.
    """
    compiler = _Compiler(source, fields, prefix)
    sql, type_ = compiler.value(node)
    if compiler.errors:
        raise compiler.first_errors()[0]
    return Part(source[node.start : node.end], sql, compiler.params, type_)


def check_condition(source: str, fields: FieldSet) -> list[ConditionError]:
    """Every problem in ``source``: its syntax error, or all its name and type errors."""
    return _check(source, fields, value=False)


def check_value(source: str, fields: FieldSet) -> list[ConditionError]:
    """Every problem in a number-valued expression, as :func:`check_condition` does for conditions."""
    return _check(source, fields, value=True)


def _compile(source: str, fields: FieldSet, prefix: str, *, value: bool) -> Condition:
    if not (prefix.isascii() and prefix.isidentifier()):
        raise ValueError(f"not a parameter prefix: {prefix!r}")
    compiler = _Compiler(source, fields, prefix)
    tree = parse(source)
    sql = compiler.top(tree, value=value)
    if compiler.errors:
        raise compiler.first_errors()[0]
    values = tuple(compiler.values.items())
    terms = tuple(compiler.conjuncts.get(id(tree), ()))
    return Condition(
        source, sql, compiler.params, tuple(compiler.used), tuple(compiler.events), values, terms
    )


def _check(source: str, fields: FieldSet, *, value: bool) -> list[ConditionError]:
    try:
        tree = parse(source)
    except ConditionError as error:
        return [error]
    compiler = _Compiler(source, fields, "c")
    compiler.top(tree, value=value)
    return compiler.first_errors()


# -- checking and compiling ------------------------------------------------------


def _is_iso_date(text: str) -> bool:
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        return False
    if not all(c in DIGITS for c in text[:4] + text[5:7] + text[8:]):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


class _Compiler:
    """Walks the tree in source order: SQL out, params numbered, errors collected.

    Types are number, text, date, bool, duration, "string" (a string literal:
    text, or a date when compared with one), "null", "any" (an event's
    attribute: known only at run time, so it goes with every type), and
    "error" (already reported: nothing built on it is reported again).
    """

    def __init__(self, source: str, fields: FieldSet, prefix: str) -> None:
        self.source = source
        self.fields = fields
        self.dialect = fields.dialect  # kept: inside a collection's where, fields are the row's
        self.prefix = prefix
        self.params: dict[str, object] = {}
        self.used: dict[str, None] = {}  # an ordered set
        self.errors: dict[tuple[int, str], ConditionError] = {}  # each problem once
        self.events: list[str] = []  # the WHERE clause of each event collection (see Condition)
        self.values: dict[str, str] = {}  # a collection call as written -> its value's SQL
        self.row_fields: str | None = None  # inside a collection's where: "contact field", ...
        self._literals: dict[tuple[int, int], str] = {}  # a literal's place -> its parameter
        self.conjuncts: dict[int, list[str]] = {}  # an AND node (its id) -> its terms, flattened

    def param(self, value: object) -> str:
        """A new parameter holding ``value``; its SQL."""
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def literal_sql(self, node: Literal) -> str:
        """The parameter of a literal compiled already."""
        return self._literals[node.start, node.end]

    def fail(self, message: str, offset: int) -> None:
        self.errors.setdefault((offset, message), ConditionError(message, offset, self.source))

    def first_errors(self) -> list[ConditionError]:
        return sorted(self.errors.values(), key=lambda e: e.offset)

    def text(self, node: Node) -> str:
        return self.source[node.start : node.end]

    def describe(self, node: Node, type_: str) -> str:
        text = self.text(node)
        if not (isinstance(node, Literal) and node.kind == "string"):
            text = f"'{text}'"
        return f"{text} ({_TYPE_NAMES[type_]})"

    def top(self, node: Node, *, value: bool) -> str:
        """The whole expression: a condition, or (``value``) a number."""
        if not value:
            return self.condition(node)
        sql, type_ = self.value(node)
        if type_ not in ("number", "error"):
            self.fail(f"expected a number, found {self.describe(node, type_)}", node.start)
        return sql

    def condition(self, node: Node) -> str:
        sql, type_ = self.value(node)
        if type_ not in ("bool", "any", "error"):
            self.fail(f"expected a condition, found {self.describe(node, type_)}", node.start)
        return self.typed(sql, type_, "bool")

    def typed(self, sql: str, type_: str, wanted: str) -> str:
        """An event attribute's SQL (``any``: typed only at run time) as a ``wanted``; others as they are."""
        if type_ != "any" or wanted in ("any", "null", "error"):
            return sql
        return self.dialect.typed(sql, "text" if wanted == "string" else wanted)

    def number(self, node: Node, op: str) -> tuple[str, str]:
        return self.as_number(node, op, *self.value(node))

    def as_number(self, node: Node, op: str, sql: str, type_: str) -> tuple[str, str]:
        if type_ not in ("number", "any", "error"):
            self.fail(f"'{op}' needs numbers, found {self.describe(node, type_)}", node.start)
            return sql, "error"
        return self.typed(sql, type_, "number"), type_

    def value(self, node: Node) -> tuple[str, str]:
        """The node's SQL and type."""
        if isinstance(node, Literal):
            if node.kind == "null":
                return "NULL", "null"
            sql = self._literals[node.start, node.end] = self.param(node.value)
            return sql, node.kind
        if isinstance(node, FieldRef):
            return (":today", "date") if node.name == TODAY else self.field(node)
        if isinstance(node, Call):
            return calls.call(self, node)
        if isinstance(node, Attr):
            return calls.attribute(self, node)
        if isinstance(node, Unary):
            if node.op == "not":
                return f"(NOT {self.condition(node.operand)})", "bool"
            sql, type_ = self.number(node.operand, "-")
            return f"(- {sql})", type_
        if isinstance(node, Compare):
            return self.comparison(node)
        if isinstance(node, Arith):
            return self.arithmetic(node)
        if isinstance(node, Logical):
            items = [self.condition(item) for item in node.items]
            if node.op == "AND":
                flattened = [
                    term
                    for item, sql in zip(node.items, items, strict=True)
                    for term in self.conjuncts.get(id(item), [sql])
                ]
                self.conjuncts[id(node)] = sorted(flattened, key=subqueries)
            # AND and OR commute, and SQLite tries terms in the order written:
            # plain columns first, subqueries (usage, touches) last.
            items.sort(key=subqueries)
            return "(" + f" {node.op} ".join(items) + ")", "bool"
        if isinstance(node, In):
            return self.in_list(node)
        if isinstance(node, Between):
            return self.between(node)
        assert isinstance(node, IsNull)
        sql, _ = self.value(node.operand)
        return f"({sql} IS {'NOT ' if node.negated else ''}NULL)", "bool"

    def field(self, node: FieldRef) -> tuple[str, str]:
        name = node.name
        if name not in self.fields:
            if name.startswith(USAGE_PREFIX) and self.row_fields is None:
                hint = f"; write a usage metric as {_USAGE_FORMS}"
            else:
                hint = did_you_mean(name, self.fields) or did_you_mean(name.lower(), self.fields)
            self.fail(f"unknown {self.row_fields or 'field'} '{name}'{hint}", node.start)
            return "NULL", "error"
        return self.named_field(name, node)

    def named_field(self, name: str, node: Node) -> tuple[str, str]:
        """A field known to be there: its SQL and type (a made-on-demand one too, by its name)."""
        if self.row_fields is None:  # a contact's or an event's fields are no account field
            self.used[name] = None
        type_ = self.fields[name].type
        sql = f"({self.fields.sql(name)})"
        # Compare dates by day, whatever time of day a column holds.
        return (self.dialect.date_of(sql) if type_ == "date" else sql), type_

    def arithmetic(self, node: Arith) -> tuple[str, str]:
        items = [self.value(item) for item in node.items]
        if any(type_ in ("date", "duration") for _, type_ in items):
            return dates.arithmetic(self, node, items)
        sql, type_ = self.as_number(node.items[0], node.ops[0], *items[0])
        for op, item, compiled in zip(node.ops, node.items[1:], items[1:], strict=True):
            item_sql, item_type = self.as_number(item, op, *compiled)
            sql = self.dialect.divide(sql, item_sql) if op == "/" else f"{sql} {op} {item_sql}"
            type_ = "error" if "error" in (type_, item_type) else type_
        return f"({sql})", type_

    def comparison(self, node: Compare) -> tuple[str, str]:
        left, left_type = self.value(node.left)
        right, right_type = self.value(node.right)
        self.comparable(node.op, node.op_start, (node.left, left_type), (node.right, right_type))
        left, right = self.typed(left, left_type, right_type), self.typed(right, right_type, left_type)
        op = _SQL_SPELLING.get(node.op, node.op)
        on_column = dates.on_column(self, node.left, op, node.right, right) or dates.on_column(
            self, node.right, dates.MIRRORED[op], node.left, left
        )
        return on_column or f"({left} {op} {right})", "bool"

    def in_list(self, node: In) -> tuple[str, str]:
        operand = self.value(node.operand)
        op = "not in" if node.negated else "in"
        items, types = [], []
        for item in node.items:
            sql, type_ = self.value(item)
            self.comparable(op, node.start, (node.operand, operand[1]), (item, type_))
            items.append(self.typed(sql, type_, operand[1]))
            types.append(type_)
        known = next((t for t in types if t not in ("any", "null")), "any")
        subject = self.typed(operand[0], operand[1], known)
        return f"({subject} {op.upper()} ({', '.join(items)}))", "bool"

    def between(self, node: Between) -> tuple[str, str]:
        operand = self.value(node.operand)
        low, low_type = self.value(node.low)
        high, high_type = self.value(node.high)
        op = "not between" if node.negated else "between"
        for bound in ((node.low, low_type), (node.high, high_type)):
            self.comparable(op, node.op_start, (node.operand, operand[1]), bound)
        counted = dates.counted_day(self, node.operand, node.low, node.high)
        if counted is not None:  # as in dates.on_column(): the date between two dates
            day, sign, offset, timed = counted
            if sign < 0:
                low, high = f"- {high}", f"- {low}"
            shift = f" - (0{offset})" if offset else ""
            bounds = [dates.days_from_today(self, f"{bound}{shift}") for bound in (low, high)]
            return dates.between_test(self, day, timed, node.negated, *bounds), "bool"
        subject = self.typed(operand[0], operand[1], low_type if low_type != "any" else high_type)
        low, high = self.typed(low, low_type, operand[1]), self.typed(high, high_type, operand[1])
        return f"({subject} {op.upper()} {low} AND {high})", "bool"

    def comparable(self, op: str, op_start: int, left: tuple[Node, str], right: tuple[Node, str]) -> None:
        """Report why ``left op right`` makes no sense, if it does not."""
        (left_node, left_type), (right_node, right_type) = left, right
        if "error" in (left_type, right_type) or "any" in (left_type, right_type):
            return
        if "null" in (left_type, right_type):
            null, other = (right_node, left_node) if right_type == "null" else (left_node, right_node)
            text = self.text(other)
            fix = _NULL_FIXES.get(op)
            advice = f"'{text} {fix}'" if fix else f"'{text} is null' or '{text} is not null'"
            self.fail(f"cannot compare with null using '{op}'; write {advice}", null.start)
            return
        if {left_type, right_type} == {"date", "string"}:
            literal = left_node if left_type == "string" else right_node
            assert isinstance(literal, Literal) and isinstance(literal.value, str)
            if not _is_iso_date(literal.value):
                text = self.text(literal)
                self.fail(f"{text} is not a date; write dates as 'YYYY-MM-DD'", literal.start)
            return
        if left_type.replace("string", "text") != right_type.replace("string", "text"):
            message = (
                f"cannot compare {self.describe(left_node, left_type)}"
                f" with {self.describe(right_node, right_type)}"
            )
            self.fail(message, right_node.start)
        elif left_type == "bool" and op not in _EQUALITY:
            self.fail(f"cannot use '{op}' on true/false values; use '=' or '!='", op_start)
