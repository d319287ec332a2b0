"""Fresh data or no firing: how old each kind of data is, and which steps must wait for new data.

Each import records ``import:<kind>`` and each sync ``sync:<source>`` in the
timeline's ``ref`` (see :mod:`csm.data.importer` and :mod:`csm.data.sync`). A
kind's age is the days since its last import, or since the last sync of a
source that has an endpoint of that kind; a source's age, the days since its
last sync. csm.toml's ``[freshness]`` gives the limits, off unless set::

    [freshness]
    accounts = "2d"
    usage = "3d"
    [freshness.sources]
    crm = "1d"

A kind past its limit, never loaded, or supplied by a source past its limit
is stale, and a step whose compiled condition reads that kind's table does not
fire (:func:`kinds_read`, used by :func:`csm.engine.matching.evaluate`).
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

# The tables a condition's SQL may read, and the kinds of data they hold. Health snapshots
# are scored from accounts and usage, so they are as fresh as those.
_TABLES = {
    "usage": ("usage",),
    "contacts": ("contacts",),
    "events": ("events",),
    "health_history": ("accounts", "usage"),
}
_FROM = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)", re.IGNORECASE)
_ACCOUNT_COLUMN = re.compile(r'\ba\.(?!id\b|"id")("?\w)')


@dataclass(frozen=True)
class Stale:
    """One kind (or source) past its limit: what, since when, and the limit."""

    data: str  # the kind ("usage") or the sync source ("source:crm")
    limit_days: int
    loaded_at: str | None  # the last import or sync; None: never
    age_days: int | None

    @property
    def label(self) -> str:
        return f"sync source '{self.data[7:]}'" if self.data.startswith("source:") else self.data

    def __str__(self) -> str:
        verb = "synced" if self.data.startswith("source:") else "loaded"
        if self.loaded_at is None:
            return f"{self.label}: never {verb} (the limit is {self.limit_days}d)"
        days = f"{self.age_days} day{'' if self.age_days == 1 else 's'}"
        return (
            f"{self.label}: last {verb} {self.loaded_at[:10]}, {days} ago (the limit is {self.limit_days}d)"
        )

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def import_ref(kind: str) -> str:
    return f"import:{kind}"


def sync_ref(source: str) -> str:
    return f"sync:{source}"


def last_loads(conn: sqlite3.Connection, as_of: dt.date | None = None) -> dict[str, str]:
    """The last time each ``import:<kind>`` and ``sync:<source>`` was recorded (by the end of ``as_of``)."""
    until = "" if as_of is None else " AND at < :next_day"
    rows = conn.execute(
        "SELECT ref, max(at) FROM timeline WHERE account_id IS NULL"
        f" AND (ref LIKE 'import:%' OR ref LIKE 'sync:%'){until} GROUP BY ref",
        {"next_day": None if as_of is None else (as_of + dt.timedelta(days=1)).isoformat()},
    )
    return dict(rows.fetchall())


def _age(loaded_at: str | None, today: dt.date) -> int | None:
    return None if loaded_at is None else (today - dt.date.fromisoformat(loaded_at[:10])).days


def stale_data(
    conn: sqlite3.Connection,
    limits: Mapping[str, int],
    source_kinds: Mapping[str, Iterable[str]],
    today: dt.date,
    *,
    past: bool = False,
) -> dict[str, list[Stale]]:
    """Each stale kind of data and why (its own age, or a source's): empty when all is fresh.

    ``limits``: kind or ``source:NAME`` -> max age in days; ``source_kinds``: the
    kinds each sync source supplies. ``past``: ``today`` is a past day (``csm
    backtest``): only the loads made by its end count.
    """
    if not limits:
        return {}
    loads = last_loads(conn, today if past else None)
    supplies = {name: tuple(kinds) for name, kinds in source_kinds.items()}
    stale: dict[str, list[Stale]] = {}
    for what, limit in limits.items():
        if what.startswith("source:"):
            name = what[7:]
            loaded_at = loads.get(sync_ref(name))
            kinds = supplies.get(name, ())
        else:
            feeds = [sync_ref(name) for name, kinds in supplies.items() if what in kinds]
            loaded_at = max(filter(None, [loads.get(import_ref(what)), *map(loads.get, feeds)]), default=None)
            kinds = (what,)
        age = _age(loaded_at, today)
        if age is None or age > limit:
            for kind in kinds:
                stale.setdefault(kind, []).append(Stale(what, limit, loaded_at, age))
    return stale


def kinds_read(sql: str) -> frozenset[str]:
    """The kinds of data a compiled condition reads: the tables it selects from, and
    ``accounts`` when it reads an account column (``a.id`` alone does not count)."""
    kinds = {kind for table in _FROM.findall(sql) for kind in _TABLES.get(table.lower(), ())}
    if _ACCOUNT_COLUMN.search(sql):
        kinds.add("accounts")
    return frozenset(kinds)
