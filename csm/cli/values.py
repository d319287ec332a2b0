"""How field values read in a terminal: 82% for shares, $1,700 for money, — for nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from csm.language.fields import DERIVED
from csm.templating.filters import money

_FRACTIONS = frozenset(f.name for f in DERIVED if f.fraction)
_MONEY = frozenset({"arr"})


def _fraction(name: str) -> bool:
    """A share or a change: the derived ones, and a usage window's change (usage.logins.change(14d))."""
    return name in _FRACTIONS or (name.startswith("usage.") and ".change(" in name)


def show(name: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):  # before numbers: a bool is an int too
        return "true" if value else "false"
    if _fraction(name) and isinstance(value, int | float):
        return f"{value:+.0%}" if "change" in name else f"{value:.0%}"
    if name in _MONEY and isinstance(value, int | float):
        return money(value)
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return str(value)


def why(values: Mapping[str, Any]) -> str:
    """`days_to_renewal=101, nps=8`: the values that made a step match."""
    return ", ".join(f"{k}={show(k, v)}" for k, v in values.items())


def same_person(others: list[Mapping[str, Any]]) -> str:
    """`Also to the same person: #62 Globex (A1002, draft, jo@globex.example)`: other pending drafts."""
    named = "; ".join(
        f"#{o['id']} {o['account_name'] or o['account']} ({o['account']}, {o['status']}, "
        + ", ".join(o["emails"])
        + ")"
        for o in others
    )
    return f"Also to the same person: {named}"
