"""The recursive-descent parser of the condition language (its tokens: :mod:`csm.language.tokens`).

The tree keeps every node's character offsets so errors can point at the
exact place in a playbook. Grammar, loosest first::

    or    := and ('or' and)*
    and   := not ('and' not)*
    not   := 'not' not | pred
    pred  := sum [cmp sum | ['not'] 'in' '(' sum (',' sum)* ')'
                 | ['not'] 'between' sum 'and' sum | 'is' ['not'] 'null']
    sum   := prod (('+' | '-') prod)*
    prod  := unary (('*' | '/') unary)*
    unary := '-' unary | post
    post  := atom ['.' name]
    atom  := number [day | days | week | weeks] | duration | string | true | false | null
           | field | call | '(' or ')'
    call  := name '(' (collection | or (',' or)*) ')'      -- days_since(x), usage.m.avg(30d)
    collection := name ['within' sum] ['where' or]         -- count(...), any, no, last

A duration is a whole number of days or weeks: ``30d``, ``2w``, ``45 days``,
``1 week``. Only ``count``, ``any``, ``no`` and ``last`` take a collection:
``count(ticket where severity = 'P1' and open)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from csm.errors import ConditionError, did_you_mean
from csm.language.tokens import KEYWORDS, Token, tokenize

COLLECTION_FUNCTIONS = frozenset({"count", "any", "no", "last"})
_DURATION_WORDS = {"day": 1, "days": 1, "week": 7, "weeks": 7}
_COMPARISONS = frozenset({"=", "==", "!=", "<>", "<", "<=", ">", ">="})
# Levels of parentheses, 'not' and unary '-' one inside another. Each level
# nests the SQL deeper, and SQLite's parser gives up ("parser stack overflow")
# at about ten levels around the deepest derived field; real conditions use
# two or three.
MAX_DEPTH = 8


def parse(source: str) -> Node:
    """The tree of one condition; a syntax error raises ConditionError."""
    return _Parser(source).parse()


# -- the tree ------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A node of a condition's tree, spanning ``start`` to ``end`` of its source."""

    start: int
    end: int


@dataclass(frozen=True)
class Literal(Node):
    """A number, duration, string, boolean or null as written."""

    kind: str  # number, duration (in days), string, bool, null
    value: object


@dataclass(frozen=True)
class FieldRef(Node):
    """An account field named in the condition."""

    name: str


@dataclass(frozen=True)
class Collection(Node):
    """What ``count``, ``any``, ``no`` and ``last`` range over: contacts, or events of a kind."""

    source: str  # contact, or an event kind
    within: Node | None  # a duration: only events of the last N days
    filter: Node | None  # a condition over each row


@dataclass(frozen=True)
class Call(Node):
    """A function called with its arguments: ``days_since(...)``, ``count(...)``."""

    name: str  # days_since, count, usage.logins.avg, ...
    args: tuple[Node, ...]  # a Collection for count, any, no and last


@dataclass(frozen=True)
class Attr(Node):
    """``last(nps_response).score``: one field of the row a call picked."""

    operand: Node
    name: str
    name_start: int


@dataclass(frozen=True)
class Unary(Node):
    """``-x`` or ``not x``."""

    op: str  # "-" or "not"
    operand: Node


@dataclass(frozen=True)
class Compare(Node):
    """``left op right``, one comparison."""

    op: str  # as written
    op_start: int
    left: Node
    right: Node


@dataclass(frozen=True)
class Arith(Node):
    """``a + b - c`` or ``a * b / c``: chains stay flat, so long ones nest nothing."""

    items: tuple[Node, ...]
    ops: tuple[str, ...]  # ops[i] sits between items[i] and items[i + 1]


@dataclass(frozen=True)
class Logical(Node):
    """Terms joined by one AND or OR: a chain (``a and b and c``) is one node, a group its own."""

    op: str  # AND, OR
    items: tuple[Node, ...]


@dataclass(frozen=True)
class In(Node):
    """``x [not] in (a, b, ...)``."""

    operand: Node
    items: tuple[Node, ...]
    negated: bool


@dataclass(frozen=True)
class Between(Node):
    """``x [not] between low and high``."""

    op_start: int
    operand: Node
    low: Node
    high: Node
    negated: bool


@dataclass(frozen=True)
class IsNull(Node):
    """``x is [not] null``."""

    operand: Node
    negated: bool


# -- parsing -------------------------------------------------------------------


def _suggestion(token: Token) -> str:
    """Did a misspelt keyword end up as a field name?"""
    return did_you_mean(token.text.lower(), KEYWORDS) if token.kind == "name" else ""


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.pos = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
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

    def parse(self) -> Node:
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

    def chain(self, ops: tuple[str, ...], operand: Callable[[], Node]) -> tuple[list[Node], list[str]]:
        items = [operand()]
        found = []
        while self.at(*ops):
            found.append(str(self.advance().value))
            items.append(operand())
        return items, found

    def disjunction(self) -> Node:
        return self.logical("or", self.conjunction)

    def conjunction(self) -> Node:
        return self.logical("and", self.negation)

    def logical(self, word: str, operand: Callable[[], Node]) -> Node:
        items, _ = self.chain((word,), operand)
        if len(items) == 1:
            return items[0]
        return Logical(items[0].start, items[-1].end, word.upper(), tuple(items))

    def negation(self) -> Node:
        if not self.at("not"):
            return self.predicate()
        self.descend()
        start = self.advance().start
        operand = self.negation()
        self.depth -= 1
        return Unary(start, operand.end, "not", operand)

    def predicate(self) -> Node:
        left = self.sum()
        if self.tok.kind == "op" and self.tok.value in _COMPARISONS:
            op = self.advance()
            right = self.sum()
            return Compare(left.start, right.end, op.text, op.start, left, right)
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
            return Between(left.start, high.end, op_start, left, low, high, negated)
        if self.at("is"):
            self.advance()
            negated = self.at("not")
            if negated:
                self.advance()
            if not self.at("null"):
                raise self.expected("'null' after 'is not'" if negated else "'null' or 'not null' after 'is'")
            return IsNull(left.start, self.advance().end, left, negated)
        return left

    def in_list(self, operand: Node, negated: bool) -> Node:
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
        return In(operand.start, self.advance().end, operand, tuple(items), negated)

    def sum(self) -> Node:
        return self.arithmetic(("+", "-"), self.product)

    def product(self) -> Node:
        return self.arithmetic(("*", "/"), self.unary)

    def arithmetic(self, ops: tuple[str, ...], operand: Callable[[], Node]) -> Node:
        items, found = self.chain(ops, operand)
        if len(items) == 1:
            return items[0]
        return Arith(items[0].start, items[-1].end, tuple(items), tuple(found))

    def unary(self) -> Node:
        if not self.at("-"):
            return self.postfix()
        self.descend()
        start = self.advance().start
        operand = self.unary()
        self.depth -= 1
        if isinstance(operand, Literal) and operand.kind == "number":
            assert isinstance(operand.value, int | float)
            return Literal(start, operand.end, "number", -operand.value)
        return Unary(start, operand.end, "-", operand)

    def postfix(self) -> Node:
        node = self.primary()
        if not self.at("."):
            return node
        self.advance()
        name = self.tok
        if name.kind != "name" or "." in name.text:
            raise self.expected("a field name after '.'")
        self.advance()
        return Attr(node.start, name.end, node, name.text, name.start)

    def primary(self) -> Node:
        token = self.tok
        if token.kind == "number":
            self.advance()
            unit = self.tok
            if unit.kind == "name" and unit.text.lower() in _DURATION_WORDS:
                return self.duration(token, unit)
            return Literal(token.start, token.end, token.kind, token.value)
        if token.kind in ("duration", "string"):
            self.advance()
            return Literal(token.start, token.end, token.kind, token.value)
        if self.at("true", "false"):
            self.advance()
            return Literal(token.start, token.end, "bool", token.value == "true")
        if self.at("null"):
            self.advance()
            return Literal(token.start, token.end, "null", None)
        if token.kind == "name":
            self.advance()
            if self.at("("):
                return self.call(token)
            return FieldRef(token.start, token.end, token.text)
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

    def duration(self, number: Token, unit: Token) -> Node:
        """``45 days``, ``2 weeks``: a whole number before the word."""
        if type(number.value) is not int:
            message = f"'{number.text} {unit.text}' is not a whole number of days or weeks"
            raise ConditionError(message, number.start, self.source)
        self.advance()
        days = number.value * _DURATION_WORDS[unit.text.lower()]
        return Literal(number.start, unit.end, "duration", days)

    def call(self, name: Token) -> Node:
        self.descend()
        self.advance()  # (
        if name.text.lower() in COLLECTION_FUNCTIONS:
            args: list[Node] = [self.collection()]
        else:
            args = [self.disjunction()]
            while self.at(","):
                self.advance()
                args.append(self.disjunction())
        if not self.at(")"):
            raise self.expected("')' to close " + f"{name.text}(")
        self.depth -= 1
        return Call(name.start, self.advance().end, name.text.lower(), tuple(args))

    def collection(self) -> Node:
        source = self.tok
        if source.kind != "name" or "." in source.text:
            raise self.expected("contact or an event kind (like ticket)")
        self.advance()
        within = filter_ = None
        if self.at("within"):
            self.advance()
            within = self.sum()
        if self.at("where"):
            self.advance()
            filter_ = self.disjunction()
        last = filter_ or within
        end = last.end if last is not None else source.end
        return Collection(source.start, end, source.text, within, filter_)
