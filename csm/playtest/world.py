"""A test case's world: a private in-memory database holding its given, built the way real data arrives.

Accounts, contacts and usage go through the importer (so a bad value is
reported as `csm import` reports it, and the import keeps its history),
snoozes through :func:`csm.engine.tasks.snooze_account`, timeline entries
through :func:`csm.data.timeline.record`. Nothing of the workspace is read or
written: not its csm.toml, not its csm.db.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from csm.data import store, timeline
from csm.data.importer import import_records
from csm.engine.tasks import snooze_account
from csm.playtest.cases import Case

_IMPORTED_AT = "06:00:00+00:00"  # before the morning's run


def stamp(day: dt.date, time: str = _IMPORTED_AT) -> str:
    return f"{day.isoformat()}T{time}"


def build(case: Case) -> sqlite3.Connection:
    """A new in-memory database holding everything the case is given, imported on its first day."""
    conn = store.connect(Path(":memory:"), create=True)
    given = case.given
    first = min((case.today, *given.runs))
    now = stamp(first)
    kinds = ("accounts", "contacts", "usage", "events")
    for kind, rows in ((kind, getattr(given, kind)) for kind in kinds):
        if rows:
            records = (
                (f"{case.path}: case '{case.name}', {kind[:-1]} {n}", row) for n, row in enumerate(rows, 1)
            )
            import_records(conn, kind, records, source=case.path.name, now=now)
    with store.transaction(conn):
        for entry in given.timeline:
            at = str(entry["at"])
            at = at if "T" in at else stamp(dt.date.fromisoformat(at), "12:00:00+00:00")
            kind = str(entry.get("kind", "note"))
            timeline.record(conn, str(entry["account"]), kind, str(entry.get("summary", kind)), at)
        conn.executemany(
            "INSERT INTO health_history (account_id, date, score, band) VALUES (?, ?, ?, ?)",
            [(h["account"], h["date"], h["score"], h.get("band")) for h in given.health],
        )
    for snooze in given.snoozes:
        snooze_account(
            conn,
            str(snooze["account"]),
            dt.date.fromisoformat(str(snooze["until"])),
            str(snooze.get("reason", "snoozed in the test")),
            first,
            now,
            snooze.get("playbook"),
        )
    return conn


def has_health(case: Case, day: dt.date) -> bool:
    """The case gives a health snapshot for ``day``: it stands, and none is taken."""
    return any(h["date"] == day.isoformat() for h in case.given.health)
