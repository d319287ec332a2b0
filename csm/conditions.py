"""The condition language of playbooks' ``audience:`` and ``when:``.

    days_to_renewal between 91 and 120
    status = 'active' and seat_utilization >= 90%
    plan in ('starter', 'team') and not (nps is null or nps < 7)

A hand-written tokenizer and recursive-descent parser build a small tree that
keeps every node's character offsets; a checker resolves names and types
against a ``FieldSet`` and compiles the tree to a parameterised SQLite boolean
expression over the accounts row ``a``. Literal values go into ``params``
(``:c0``, ``:c1``, ...), never into the SQL text. Evaluation is SQL's
three-valued logic: a comparison with a missing value is unknown, and a WHERE
keeps only the accounts for which the condition is true.

Grammar, loosest first::

    or    := and ('or' and)*
    and   := not ('and' not)*
    not   := 'not' not | pred
    pred  := sum [cmp sum | ['not'] 'in' '(' sum (',' sum)* ')'
                 | ['not'] 'between' sum 'and' sum | 'is' ['not'] 'null']
    sum   := prod (('+' | '-') prod)*
    prod  := unary (('*' | '/') unary)*
    unary := '-' unary | number | string | true | false | null | field | '(' or ')'
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal

from csm.errors import ConditionError, did_you_mean
from csm.fields import USAGE_PREFIX, FieldSet

KEYWORDS = frozenset({"and", "or", "not", "in", "between", "is", "null", "true", "false"})
_OPERATORS = ("==", "!=", "<>", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "(", ")", ",")
_COMPARISONS = frozenset({"=", "==", "!=", "<>", "<", "<=", ">", ">="})
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
}
_DIGITS = frozenset(string.digits)
_NAME_START = frozenset(string.ascii_letters + "_")
_NAME_CHARS = _NAME_START | _DIGITS
_CHAR_HINTS = {"&": "and", "|": "or", "!": "not"}
_MAX_INT_DIGITS = 18  # below 2**63, so every integer binds as an SQLite INTEGER
# Levels of parentheses, 'not' and unary '-' one inside another. Each level
# nests the SQL deeper, and SQLite's parser gives up ("parser stack overflow")
# at about ten levels around the deepest derived field; real conditions use
# two or three.
MAX_DEPTH = 8


@dataclass(frozen=True)
class Condition:
    source: str
    sql: str  # a boolean SQL expression, e.g. "((a.nps) < :c0)"
    params: dict[str, object]  # {"c0": 7}
    fields: tuple[str, ...]  # field names referenced, in order of first appearance


def compile_condition(source: str, fields: FieldSet, *, prefix: str = "c") -> Condition:
    """Compile ``source`` to SQL; raise the first ``ConditionError`` if it is wrong.

    Parameters are named ``prefix`` + a counter, so several conditions can
    share one query.
    """
    if not (prefix.isascii() and prefix.isidentifier()):
        raise ValueError(f"not a parameter prefix: {prefix!r}")
    compiler = _Compiler(source, fields, prefix)
    sql = compiler.condition(_Parser(source).parse())
    if compiler.errors:
        raise compiler.first_errors()[0]
    return Condition(source, sql, compiler.params, tuple(compiler.used))


def check_condition(source: str, fields: FieldSet) -> list[ConditionError]:
    """Every problem in ``source``: its syntax error, or all its name and type errors."""
    try:
        tree = _Parser(source).parse()
    except ConditionError as error:
        return [error]
    compiler = _Compiler(source, fields, "c")
    compiler.condition(tree)
    return compiler.first_errors()


# -- tokens ------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, name, keyword, op, end
    text: str  # as written
    value: object  # the number, the string's content, the lower-cased keyword, the operator
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    def describe(self) -> str:
        if self.kind == "end":
            return "end of condition"
        return self.text if self.kind == "string" else f"'{self.text}'"


def _char(source: str, i: int) -> str:
    return source[i] if i < len(source) else ""


def _skip(source: str, i: int, chars: frozenset[str]) -> int:
    while _char(source, i) in chars:
        i += 1
    return i


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while True:
        while _char(source, i).isspace():
            i += 1
        if i == len(source):
            tokens.append(_Token("end", "", None, i))
            return tokens
        ch = source[i]
        if ch in _DIGITS:
            token = _number(source, i)
        elif ch in "'\"":
            token = _string(source, i)
        elif ch in _NAME_START:
            token = _name(source, i)
        else:
            token = _operator(source, i)
        tokens.append(token)
        i = token.end


def _number(source: str, start: int) -> _Token:
    i = _skip(source, start, _DIGITS)
    integer_digits = i - start
    if _char(source, i) == "." and _char(source, i + 1) in _DIGITS:
        i = _skip(source, i + 1, _DIGITS)
    if _char(source, i) == "%":
        i += 1
    if _char(source, i) in _NAME_CHARS | {".", "%"}:
        end = _skip(source, i, _NAME_CHARS | {".", "%"})
        raise ConditionError(f"'{source[start:end]}' is not a number", start, source)
    text = source[start:i]
    if integer_digits > _MAX_INT_DIGITS:
        raise ConditionError(f"the number {text} is too large", start, source)
    digits = text.removesuffix("%")
    value: int | float
    if text.endswith("%"):
        value = float(Decimal(digits) / 100)
    elif "." in digits:
        value = float(digits)
    else:
        value = int(digits)
    return _Token("number", text, value, start)


def _string(source: str, start: int) -> _Token:
    """A quoted string; a quote inside is doubled or backslashed, ``\\\\`` is a backslash."""
    quote = source[start]
    chars: list[str] = []
    i = start + 1
    while i < len(source):
        ch, after = source[i], _char(source, i + 1)
        if ch == "\\" and after in ("'", '"', "\\"):
            chars.append(after)
            i += 2
        elif ch == quote and after == quote:
            chars.append(quote)
            i += 2
        elif ch == quote:
            return _Token("string", source[start : i + 1], "".join(chars), start)
        else:
            chars.append(ch)
            i += 1
    raise ConditionError(f"unterminated string; close it with {quote}", start, source)


def _name(source: str, start: int) -> _Token:
    i = _skip(source, start, _NAME_CHARS)
    while _char(source, i) == ".":  # usage.<metric>
        i = _skip(source, i + 1, _NAME_CHARS)
    text = source[start:i]
    if text.lower() in KEYWORDS:
        return _Token("keyword", text, text.lower(), start)
    return _Token("name", text, text, start)


def _operator(source: str, start: int) -> _Token:
    for op in _OPERATORS:
        if source.startswith(op, start):
            return _Token("op", op, op, start)
    ch = source[start]
    hint = f"; write '{_CHAR_HINTS[ch]}'" if ch in _CHAR_HINTS else ""
    raise ConditionError(f"unexpected character '{ch}'{hint}", start, source)


# -- the tree ------------------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    start: int
    end: int


@dataclass(frozen=True)
class _Literal(_Node):
    kind: str  # number, string, bool, null
    value: object


@dataclass(frozen=True)
class _Field(_Node):
    name: str


@dataclass(frozen=True)
class _Unary(_Node):
    op: str  # "-" or "not"
    operand: _Node


@dataclass(frozen=True)
class _Compare(_Node):
    op: str  # as written
    op_start: int
    left: _Node
    right: _Node


@dataclass(frozen=True)
class _Arith(_Node):
    """``a + b - c`` or ``a * b / c``: chains stay flat, so long ones nest nothing."""

    items: tuple[_Node, ...]
    ops: tuple[str, ...]  # ops[i] sits between items[i] and items[i + 1]


@dataclass(frozen=True)
class _Logical(_Node):
    op: str  # AND, OR
    items: tuple[_Node, ...]


@dataclass(frozen=True)
class _In(_Node):
    operand: _Node
    items: tuple[_Node, ...]
    negated: bool


@dataclass(frozen=True)
class _Between(_Node):
    op_start: int
    operand: _Node
    low: _Node
    high: _Node
    negated: bool


@dataclass(frozen=True)
class _IsNull(_Node):
    operand: _Node
    negated: bool


# -- parsing -------------------------------------------------------------------


def _suggestion(token: _Token) -> str:
    """Did a misspelt keyword end up as a field name?"""
    return did_you_mean(token.text.lower(), KEYWORDS) if token.kind == "name" else ""


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.pos = 0
        self.depth = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.pos]

    def advance(self) -> _Token:
        token = self.tok
        if token.kind != "end":
            self.pos += 1
        return token

    def at(self, *values: str) -> bool:
        """Is the current token one of these keywords or operators?"""
        return self.tok.kind in ("keyword", "op") and self.tok.value in values

    def error(self, message: str) -> ConditionError:
        return ConditionError(message, self.tok.start, self.source)

    def expected(self, what: str) -> ConditionError:
        return self.error(f"expected {what}, found {self.tok.describe()}{_suggestion(self.tok)}")

    def descend(self) -> None:
        """Enter '(', 'not' or '-' (the current token)."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                f"the condition is nested too deeply (more than {MAX_DEPTH} levels of"
                " parentheses, 'not' and '-'); simplify it"
            )

    def parse(self) -> _Node:
        if self.tok.kind == "end":
            raise self.error("the condition is empty")
        node = self.disjunction()
        token = self.tok
        if token.kind != "end":
            hint = _suggestion(token)
            if not hint and (token.kind in ("name", "number", "string") or self.at("true", "false")):
                hint = "; join conditions with 'and' or 'or'"
            raise self.error(f"unexpected {token.describe()}{hint}")
        return node

    def chain(self, ops: tuple[str, ...], operand: Callable[[], _Node]) -> tuple[list[_Node], list[str]]:
        items = [operand()]
        found = []
        while self.at(*ops):
            found.append(str(self.advance().value))
            items.append(operand())
        return items, found

    def disjunction(self) -> _Node:
        return self.logical("or", self.conjunction)

    def conjunction(self) -> _Node:
        return self.logical("and", self.negation)

    def logical(self, word: str, operand: Callable[[], _Node]) -> _Node:
        items, _ = self.chain((word,), operand)
        if len(items) == 1:
            return items[0]
        return _Logical(items[0].start, items[-1].end, word.upper(), tuple(items))

    def negation(self) -> _Node:
        if not self.at("not"):
            return self.predicate()
        self.descend()
        start = self.advance().start
        operand = self.negation()
        self.depth -= 1
        return _Unary(start, operand.end, "not", operand)

    def predicate(self) -> _Node:
        left = self.sum()
        if self.tok.kind == "op" and self.tok.value in _COMPARISONS:
            op = self.advance()
            right = self.sum()
            return _Compare(left.start, right.end, op.text, op.start, left, right)
        negated = self.at("not")
        if negated:
            self.advance()
            if not self.at("in", "between"):
                raise self.expected("'in' or 'between' after 'not'")
        if self.at("in"):
            return self.in_list(left, negated)
        if self.at("between"):
            op_start = self.advance().start
            low = self.sum()
            if not self.at("and"):
                raise self.expected("'and' to finish 'between'")
            self.advance()
            high = self.sum()
            return _Between(left.start, high.end, op_start, left, low, high, negated)
        if self.at("is"):
            self.advance()
            negated = self.at("not")
            if negated:
                self.advance()
            if not self.at("null"):
                raise self.expected("'null' after 'is not'" if negated else "'null' or 'not null' after 'is'")
            return _IsNull(left.start, self.advance().end, left, negated)
        return left

    def in_list(self, operand: _Node, negated: bool) -> _Node:
        self.advance()
        if not self.at("("):
            raise self.expected("'(' after 'in'")
        self.advance()
        items = [self.sum()]
        while self.at(","):
            self.advance()
            items.append(self.sum())
        if not self.at(")"):
            raise self.expected("',' or ')' to finish the list")
        return _In(operand.start, self.advance().end, operand, tuple(items), negated)

    def sum(self) -> _Node:
        return self.arithmetic(("+", "-"), self.product)

    def product(self) -> _Node:
        return self.arithmetic(("*", "/"), self.unary)

    def arithmetic(self, ops: tuple[str, ...], operand: Callable[[], _Node]) -> _Node:
        items, found = self.chain(ops, operand)
        if len(items) == 1:
            return items[0]
        return _Arith(items[0].start, items[-1].end, tuple(items), tuple(found))

    def unary(self) -> _Node:
        if not self.at("-"):
            return self.primary()
        self.descend()
        start = self.advance().start
        operand = self.unary()
        self.depth -= 1
        if isinstance(operand, _Literal) and operand.kind == "number":
            assert isinstance(operand.value, int | float)
            return _Literal(start, operand.end, "number", -operand.value)
        return _Unary(start, operand.end, "-", operand)

    def primary(self) -> _Node:
        token = self.tok
        if token.kind in ("number", "string"):
            self.advance()
            return _Literal(token.start, token.end, token.kind, token.value)
        if self.at("true", "false"):
            self.advance()
            return _Literal(token.start, token.end, "bool", token.value == "true")
        if self.at("null"):
            self.advance()
            return _Literal(token.start, token.end, "null", None)
        if token.kind == "name":
            self.advance()
            return _Field(token.start, token.end, token.text)
        if self.at("("):
            self.descend()
            self.advance()
            inner = self.disjunction()
            if not self.at(")"):
                raise self.expected("')'")
            self.depth -= 1
            return replace(inner, start=token.start, end=self.advance().end)
        after = f" after {self.tokens[self.pos - 1].describe()}" if self.pos else ""
        raise self.error(f"expected a value{after}, found {token.describe()}")


# -- checking and compiling ------------------------------------------------------


def _is_iso_date(text: str) -> bool:
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        return False
    if not all(c in _DIGITS for c in text[:4] + text[5:7] + text[8:]):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


class _Compiler:
    """Walks the tree in source order: SQL out, params numbered, errors collected.

    Types are number, text, date, bool, "string" (a string literal: text, or
    a date when compared with one), "null", and "error" (already reported:
    nothing built on it is reported again).
    """

    def __init__(self, source: str, fields: FieldSet, prefix: str) -> None:
        self.source = source
        self.fields = fields
        self.prefix = prefix
        self.params: dict[str, object] = {}
        self.used: dict[str, None] = {}  # an ordered set
        self.errors: dict[tuple[int, str], ConditionError] = {}  # each problem once

    def fail(self, message: str, offset: int) -> None:
        self.errors.setdefault((offset, message), ConditionError(message, offset, self.source))

    def first_errors(self) -> list[ConditionError]:
        return sorted(self.errors.values(), key=lambda e: e.offset)

    def text(self, node: _Node) -> str:
        return self.source[node.start : node.end]

    def describe(self, node: _Node, type_: str) -> str:
        text = self.text(node)
        if not (isinstance(node, _Literal) and node.kind == "string"):
            text = f"'{text}'"
        return f"{text} ({_TYPE_NAMES[type_]})"

    def condition(self, node: _Node) -> str:
        sql, type_ = self.value(node)
        if type_ not in ("bool", "error"):
            self.fail(f"expected a condition, found {self.describe(node, type_)}", node.start)
        return sql

    def number(self, node: _Node, op: str) -> tuple[str, str]:
        sql, type_ = self.value(node)
        if type_ not in ("number", "error"):
            self.fail(f"'{op}' needs numbers, found {self.describe(node, type_)}", node.start)
            return sql, "error"
        return sql, type_

    def value(self, node: _Node) -> tuple[str, str]:
        """The node's SQL and type."""
        if isinstance(node, _Literal):
            if node.kind == "null":
                return "NULL", "null"
            name = f"{self.prefix}{len(self.params)}"
            self.params[name] = node.value
            return f":{name}", node.kind
        if isinstance(node, _Field):
            return self.field(node)
        if isinstance(node, _Unary):
            if node.op == "not":
                return f"(NOT {self.condition(node.operand)})", "bool"
            sql, type_ = self.number(node.operand, "-")
            return f"(- {sql})", type_
        if isinstance(node, _Compare):
            return self.comparison(node)
        if isinstance(node, _Arith):
            return self.arithmetic(node)
        if isinstance(node, _Logical):
            items = [self.condition(item) for item in node.items]
            # AND and OR commute, and SQLite tries terms in the order written:
            # plain columns first, subqueries (usage, touches) last.
            items.sort(key=lambda sql: sql.count("SELECT"))
            return "(" + f" {node.op} ".join(items) + ")", "bool"
        if isinstance(node, _In):
            return self.in_list(node)
        if isinstance(node, _Between):
            return self.between(node)
        assert isinstance(node, _IsNull)
        sql, _ = self.value(node.operand)
        return f"({sql} IS {'NOT ' if node.negated else ''}NULL)", "bool"

    def field(self, node: _Field) -> tuple[str, str]:
        name = node.name
        if name not in self.fields:
            if name.startswith(USAGE_PREFIX):
                hint = f"; write a usage metric as {USAGE_PREFIX}<metric>"
            else:
                hint = did_you_mean(name, self.fields) or did_you_mean(name.lower(), self.fields)
            self.fail(f"unknown field '{name}'{hint}", node.start)
            return "NULL", "error"
        self.used[name] = None
        type_ = self.fields[name].type
        sql = f"({self.fields.sql(name)})"
        # Compare dates by day, whatever time of day a column holds.
        return (f"date({sql})" if type_ == "date" else sql), type_

    def arithmetic(self, node: _Arith) -> tuple[str, str]:
        sql, type_ = self.number(node.items[0], node.ops[0])
        for op, item in zip(node.ops, node.items[1:], strict=True):
            item_sql, item_type = self.number(item, op)
            # SQLite divides integers as integers (7 / 2 = 3): make the dividend real.
            sql += f" * 1.0 / {item_sql}" if op == "/" else f" {op} {item_sql}"
            type_ = "error" if "error" in (type_, item_type) else type_
        return f"({sql})", type_

    def comparison(self, node: _Compare) -> tuple[str, str]:
        left, left_type = self.value(node.left)
        right, right_type = self.value(node.right)
        self.comparable(node.op, node.op_start, (node.left, left_type), (node.right, right_type))
        return f"({left} {_SQL_SPELLING.get(node.op, node.op)} {right})", "bool"

    def in_list(self, node: _In) -> tuple[str, str]:
        operand = self.value(node.operand)
        op = "not in" if node.negated else "in"
        items = []
        for item in node.items:
            sql, type_ = self.value(item)
            self.comparable(op, node.start, (node.operand, operand[1]), (item, type_))
            items.append(sql)
        return f"({operand[0]} {op.upper()} ({', '.join(items)}))", "bool"

    def between(self, node: _Between) -> tuple[str, str]:
        operand = self.value(node.operand)
        low, low_type = self.value(node.low)
        high, high_type = self.value(node.high)
        op = "not between" if node.negated else "between"
        for bound in ((node.low, low_type), (node.high, high_type)):
            self.comparable(op, node.op_start, (node.operand, operand[1]), bound)
        return f"({operand[0]} {op.upper()} {low} AND {high})", "bool"

    def comparable(self, op: str, op_start: int, left: tuple[_Node, str], right: tuple[_Node, str]) -> None:
        """Report why ``left op right`` makes no sense, if it does not."""
        (left_node, left_type), (right_node, right_type) = left, right
        if "error" in (left_type, right_type):
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
            assert isinstance(literal, _Literal) and isinstance(literal.value, str)
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
