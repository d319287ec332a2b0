"""A batch of values, a column at a time, as the text PostgreSQL's COPY reads (its text format).

The same text psycopg's ``Copy.write_row`` sends for the same rows, built a column at a
time instead of a value at a time: a column of text is passed as it is unless it holds a
character COPY escapes, a column of numbers is spelt once per distinct value, and the rows
are joined once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NUMBERS = {int, float}


def copy_text(columns: Sequence[Sequence[Any]], booleans: Sequence[bool]) -> str:
    """``columns`` (each a column's values, row by row) as COPY's text: a line a row.

    ``booleans``: which columns are BOOLEAN (a value stored as true or false by its truth).
    A value is text, a number, a bool or None; anything else is a TypeError.
    """
    texts = [_column(values, boolean) for values, boolean in zip(columns, booleans, strict=True)]
    if not texts or not texts[0]:
        return ""
    return "\n".join(map("\t".join, zip(*texts, strict=True))) + "\n"


def _column(values: Sequence[Any], boolean: bool) -> Sequence[str]:
    if boolean:
        return [NULL if v is None else "t" if v else "f" for v in values]
    try:
        joined = "".join(values)
    except TypeError:  # not text, every one
        return _spelt(values)
    if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
        return [v.translate(_ESCAPES) for v in values]
    return values


def _spelt(values: Sequence[Any]) -> list[str]:
    """Numbers (and None) as text, each distinct value spelt once: a column's numbers repeat.

    Only where equal values are spelt alike: whole numbers, or floats with no zero (0.0 and
    -0.0 are equal, and one key in a dict; 1 and 1.0 too, so not both kinds at once).
    """
    kinds = set(map(type, values)) - {type(None)}  # of the values: a set of them keeps 1 for 1.0
    distinct = set(values)
    if kinds <= {int} or (kinds == {float} and 0.0 not in distinct):
        spelt = {v: _value(v) for v in distinct}
        return list(map(spelt.__getitem__, values))
    return list(map(_value, values))


def _value(value: Any) -> str:
    if value is None:
        return NULL
    if type(value) is str:
        return value.translate(_ESCAPES)
    if type(value) is bool:
        return "t" if value else "f"
    if type(value) in _NUMBERS:
        return str(value)
    raise TypeError(f"COPY text of a {type(value).__name__}")
