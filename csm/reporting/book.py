"""The book's health over time: accounts in each band week by week, and who moved most.

Both read the stored snapshots (``health_history``) and the derived fields
(``health``, ``health_change_30d``), never a score computed again here.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

from csm.data.backend import Dialect, dialect_of
from csm.health.score import BANDS
from csm.language.fields import FieldSet

WEEKS = 13  # a quarter
MOVERS = 5  # of each kind: the biggest falls and the biggest rises


def _weekly(d: Dialect) -> str:
    """Each account once a week, in the band of its last snapshot that week (weeks start Monday)."""
    return f"""
WITH snap AS (
    SELECT account_id, band, date, {d.week_start("date")} AS week
    FROM health_history WHERE date > :since AND date <= :today AND band IS NOT NULL
), last AS (
    SELECT week, band, row_number() OVER (PARTITION BY week, account_id ORDER BY date DESC) AS n FROM snap
)
SELECT week, band, count(*) AS accounts FROM last WHERE n = 1 GROUP BY week, band ORDER BY week
"""


@dataclass(frozen=True)
class Week:
    week: str  # its Monday
    bands: dict[str, int]  # red, yellow, green: accounts in each

    @property
    def accounts(self) -> int:
        return sum(self.bands.values())


@dataclass(frozen=True)
class Mover:
    account: str
    name: str
    health: float
    band: str
    change: float  # health_change_30d


@dataclass(frozen=True)
class Book:
    today: dt.date
    weeks: list[Week]
    movers: list[Mover]  # the biggest falls, then the biggest rises

    def as_json(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "weeks": [{"week": w.week, "bands": w.bands} for w in self.weeks],
            "movers": [asdict(m) for m in self.movers],
        }


def book(conn: sqlite3.Connection, fields: FieldSet, params: dict[str, Any], today: dt.date) -> Book:
    return Book(today, weekly_bands(conn, today), movers(conn, fields, params))


def weekly_bands(conn: sqlite3.Connection, today: dt.date, weeks: int = WEEKS) -> list[Week]:
    """The last ``weeks`` weeks up to ``today``, oldest first; weeks with no snapshot are left out."""
    since = today - dt.timedelta(days=today.weekday() + 7 * (weeks - 1) + 1)
    found: dict[str, dict[str, int]] = {}
    for row in conn.execute(
        _weekly(dialect_of(conn)), {"since": since.isoformat(), "today": today.isoformat()}
    ):
        found.setdefault(row["week"], dict.fromkeys(BANDS, 0))[row["band"]] = row["accounts"]
    return [Week(week, bands) for week, bands in found.items()]


def movers(
    conn: sqlite3.Connection, fields: FieldSet, params: dict[str, Any], limit: int = MOVERS
) -> list[Mover]:
    """Active accounts whose health moved most in 30 days: the falls (biggest first), then the rises."""
    change = fields.sql("health_change_30d")
    select = (
        f"SELECT a.id, a.name, ({fields.sql('health')}) AS health, ({fields.sql('health_band')}) AS band,"
        f" ({change}) AS change FROM accounts a WHERE a.status = 'active' AND ({change}) {{test}}"
        " ORDER BY {order}, a.id LIMIT :limit"
    )
    found = []
    for test, order in (("< 0", "change"), ("> 0", "change DESC")):
        for row in conn.execute(select.format(test=test, order=order), {**params, "limit": limit}):
            found.append(Mover(row["id"], row["name"], row["health"], row["band"], row["change"]))
    return found
