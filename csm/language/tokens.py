"""The condition language's tokens: numbers, durations, strings, names, keywords, operators.

Each token keeps its offset in the condition, so an error can point at it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from csm.errors import ConditionError

KEYWORDS = frozenset({"and", "or", "not", "in", "between", "is", "null", "true", "false", "where", "within"})
_OPERATORS = ("==", "!=", "<>", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "(", ")", ",", ".")
_DURATION_UNITS = {"d": 1, "w": 7}
DIGITS = frozenset(string.digits)
_NAME_START = frozenset(string.ascii_letters + "_")
_NAME_CHARS = _NAME_START | DIGITS
_CHAR_HINTS = {"&": "and", "|": "or", "!": "not"}
_MAX_INT_DIGITS = 18  # below 2**63, so every integer binds as an SQLite INTEGER


@dataclass(frozen=True)
class Token:
    """One token of a condition, at its offset."""

    kind: str  # number, duration, string, name, keyword, op, end
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


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while True:
        while _char(source, i).isspace():
            i += 1
        if i == len(source):
            tokens.append(Token("end", "", None, i))
            return tokens
        ch = source[i]
        if ch in DIGITS:  # a number or a duration
            token = _number(source, i)
        elif ch in "'\"":
            token = _string(source, i)
        elif ch in _NAME_START:
            token = _name(source, i)
        else:
            token = _operator(source, i)
        tokens.append(token)
        i = token.end


def _number(source: str, start: int) -> Token:
    i = _skip(source, start, DIGITS)
    integer_digits = i - start
    if _char(source, i) == "." and _char(source, i + 1) in DIGITS:
        i = _skip(source, i + 1, DIGITS)
    if _char(source, i) == "%":
        i += 1
    unit = _char(source, i)
    if unit in _DURATION_UNITS and _char(source, i + 1) not in _NAME_CHARS | {".", "%"} and i > start:
        if i - start == integer_digits and integer_digits <= _MAX_INT_DIGITS:  # 30d, 2w
            text = source[start : i + 1]
            return Token("duration", text, int(source[start:i]) * _DURATION_UNITS[unit], start)
        message = f"'{source[start : i + 1]}' is not a whole number of days or weeks"
        raise ConditionError(message, start, source)
    if _char(source, i) in _NAME_CHARS | {".", "%"}:
        end = _skip(source, i, _NAME_CHARS | {".", "%"})
        raise ConditionError(f"'{source[start:end]}' is not a number", start, source)
    text = source[start:i]
    if integer_digits > _MAX_INT_DIGITS:
        raise ConditionError(f"the number {text} is too large", start, source)
    digits = text.removesuffix("%")
    value: int | float
    if text.endswith("%"):
        # the float nearest the exact hundredth (float() rounds its text once), without decimal's import
        value = float(f"{digits}e-2")
    elif "." in digits:
        value = float(digits)
    else:
        value = int(digits)
    return Token("number", text, value, start)


def _string(source: str, start: int) -> Token:
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
            return Token("string", source[start : i + 1], "".join(chars), start)
        else:
            chars.append(ch)
            i += 1
    raise ConditionError(f"unterminated string; close it with {quote}", start, source)


def _name(source: str, start: int) -> Token:
    i = _skip(source, start, _NAME_CHARS)
    while _char(source, i) == ".":  # usage.<metric>
        i = _skip(source, i + 1, _NAME_CHARS)
    text = source[start:i]
    if text.lower() in KEYWORDS:
        return Token("keyword", text, text.lower(), start)
    return Token("name", text, text, start)


def _operator(source: str, start: int) -> Token:
    for op in _OPERATORS:
        if source.startswith(op, start):
            return Token("op", op, op, start)
    ch = source[start]
    hint = f"; write '{_CHAR_HINTS[ch]}'" if ch in _CHAR_HINTS else ""
    raise ConditionError(f"unexpected character '{ch}'{hint}", start, source)
