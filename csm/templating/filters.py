"""Jinja filters for email templates (and the CLI): dates, money, percentages, counts, names.

Each filter refuses an empty (None) or nonsensical value with a
:class:`FilterError` naming the filter, so a template never prints "None" or
a half-formatted number; the renderer adds the template's file and line.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Any


class FilterError(ValueError):
    """A filter was given a value it cannot format."""


def _require(filter_name: str, value: Any) -> None:
    if value is None:
        raise FilterError(
            f"{filter_name}: the value is empty (None); guard it with "
            "{% if ... is not none %} so the email reads well without it"
        )


def _to_number(filter_name: str, value: Any) -> float:
    _require(filter_name, value)
    if isinstance(value, bool):
        raise FilterError(f"{filter_name}: expected a number, got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().replace(",", ""))
        except ValueError:
            raise FilterError(f"{filter_name}: expected a number, got {value!r}") from None
    else:
        raise FilterError(f"{filter_name}: expected a number, got {value!r}")
    if not math.isfinite(number):
        raise FilterError(f"{filter_name}: expected a finite number, got {value!r}")
    return number


def _to_date(value: Any) -> dt.date:
    _require("date", value)
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            try:
                return dt.datetime.fromisoformat(text).date()
            except ValueError:
                pass
    raise FilterError(f"date: expected a date like 2027-03-14, got {value!r}")


def date(value: Any, format: str | None = None) -> str:
    """``2027-03-14`` -> ``14 March 2027``; ``format`` is a strftime pattern."""
    day = _to_date(value)
    if format is None:
        return f"{day.day} {day:%B %Y}"
    return day.strftime(format)


def number(value: Any, digits: int = 0) -> str:
    """``12345`` -> ``12,345``; ``digits`` decimal places."""
    return f"{_to_number('number', value):,.{digits}f}"


def money(value: Any, symbol: str = "$") -> str:
    """``48000`` -> ``$48,000``; cents only when there are any."""
    amount = _to_number("money", value)
    digits = 0 if round(amount, 2).is_integer() else 2
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{abs(amount):,.{digits}f}"


def pct(value: Any, digits: int = 0) -> str:
    """A fraction as a percentage: ``0.823`` -> ``82%``."""
    return f"{_to_number('pct', value) * 100:,.{digits}f}%"


def days(value: Any) -> str:
    """A count of days without its sign: ``-3`` -> ``3 days``, ``1`` -> ``1 day``."""
    count = abs(round(_to_number("days", value)))
    return f"{count:,} day" if count == 1 else f"{count:,} days"


def _plural_of(word: str) -> str:
    """``ticket`` -> ``tickets``, ``company`` -> ``companies``, ``box`` -> ``boxes``: the last word."""
    head, _, last = word.rpartition(" ")
    if last.endswith("y") and last[-2:-1] not in tuple("aeiou"):
        last = last[:-1] + "ies"
    elif last.endswith(("s", "x", "z", "ch", "sh")):
        last += "es"
    else:
        last += "s"
    return f"{head} {last}" if head else last


def plural(value: Any, singular: str, plural: str | None = None, with_count: bool = True) -> str:
    """A count with its noun: ``1 | plural("seat")`` -> ``1 seat``, ``3`` -> ``3 seats``.

    ``plural`` names an irregular form (``plural("person", "people")``); ``with_count=false``
    gives the word alone, for pronouns and verbs (``plural("it", "them", with_count=false)``).
    """
    amount = _to_number("plural", value)
    word = singular if amount == 1 else (plural or _plural_of(singular))
    if not with_count:
        return word
    shown = f"{int(amount):,}" if amount.is_integer() else f"{amount:,}"
    return f"{shown} {word}"


def first_name(value: Any) -> str:
    """The first name in ``Priya Shah``, ``Shah, Priya`` or ``priya.shah@example.com``."""
    _require("first_name", value)
    if not isinstance(value, str) or not value.strip():
        raise FilterError(f"first_name: expected a person's name, got {value!r}")
    text = value.strip()
    if "@" in text:
        return re.split(r"[._+-]", text.split("@")[0])[0].capitalize()
    if "," in text:
        text = text.split(",", 1)[1].strip() or text
    return text.split()[0]


def as_list(value: Any) -> list[str]:
    """A list field (``goals``: one item a line) as its items; empty (None) is no items."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    if not isinstance(value, str):
        raise FilterError(f"as_list: expected text or a list, got {value!r}")
    return [line.strip() for line in value.splitlines() if line.strip()]


def join_and(value: Any, word: str = "and", quote: bool = False) -> str:
    """``["Slack", "Jira", "Asana"]`` → ``Slack, Jira and Asana``; one item alone; ``word`` may be "or".

    ``quote=true`` puts each item in quotation marks: a customer's own words, quoted back.
    """
    items = [f"“{item}”" if quote else item for item in as_list(value)]
    if not items:
        raise FilterError("join_and: the list is empty; guard it with {% if ... %}")
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


FILTERS: dict[str, Callable[..., Any]] = {
    "date": date,
    "money": money,
    "pct": pct,
    "number": number,
    "days": days,
    "plural": plural,
    "first_name": first_name,
    "as_list": as_list,
    "join_and": join_and,
}
