"""A test case's world: a private in-memory database holding its given, built the way real data arrives.

Accounts, contacts and usage go through the importer (so a bad value is
reported as `csm import` reports it, and the import keeps its history),
snoozes through :func:`csm.engine.tasks.snooze_account`, timeline entries
through :func:`csm.data.timeline.record`. Nothing of the workspace is read or
written: not its csm.toml, not its csm.db.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from csm.data import store, timeline
from csm.data.importer import import_records
from csm.engine.tasks import snooze_account
from csm.errors import DataImportError
from csm.mail import outbox
from csm.mail.inbox import Reply, record_reply
from csm.playtest.cases import Case

_IMPORTED_AT = "06:00:00+00:00"  # before the morning's run


def stamp(day: dt.date, time: str = _IMPORTED_AT) -> str:
    return f"{day.isoformat()}T{time}"


@contextmanager
def build(case: Case) -> Iterator[sqlite3.Connection]:
    """``with build(case) as conn``: a new in-memory database holding everything the case is given,
    imported on its first day; closed when the block ends (or the case's data is refused)."""
    with closing(store.connect(Path(":memory:"), create=True)) as conn:
        _fill(conn, case)
        yield conn


def _fill(conn: sqlite3.Connection, case: Case) -> None:
    given = case.given
    first = min((case.today, *run_days(case)))
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
    with store.transaction(conn):
        for reply in given.replies:
            _reply(conn, reply)


def run_days(case: Case) -> list[dt.date]:
    """The earlier days `csm run` ran on: the case's ``runs`` and each day a ``sent`` email went out."""
    return sorted({*case.given.runs, *(email["on"] for email in case.given.sent)})


def send(conn: sqlite3.Connection, case: Case, day: dt.date) -> None:
    """Send the drafts of ``day``'s run that the case says went out, moved as `csm send` moves them.

    Raises DataImportError when the step drafted no such email that day.
    """
    at = stamp(day, "09:00:00+00:00")
    with store.transaction(conn):
        for email in (e for e in case.given.sent if e["on"] == day):
            account, step, to = str(email["account"]), str(email["step"]), str(email["to"])
            row = conn.execute(
                "SELECT id, to_addrs FROM outbox WHERE playbook = ? AND step = ? AND account_id = ?"
                " AND status = 'draft' ORDER BY id DESC LIMIT 1",
                (case.playbook, step, account),
            ).fetchone()
            addresses = [a for _name, a in json.loads(row["to_addrs"])] if row else []
            if to not in addresses:
                drafted = f"a draft to {', '.join(addresses)}" if row else "no draft"
                raise DataImportError(
                    f"sent {step} to {to} on {day}, but that day's run made {drafted} of {step}"
                    f" for {account}: check the sent email's day, step and address"
                )
            outbox.move(conn, row["id"], "approve", "approved", at)
            outbox.claim(conn, row["id"], "csm-test", at)
            outbox.finish(conn, row["id"], "sent", None, at, message_id=f"<{row['id']}@csm.test>")
            summary = f"sent to {to} ({case.playbook} › {step})"
            timeline.record(conn, account, "email_sent", summary, at, f"draft:{row['id']}")


def _reply(conn: sqlite3.Connection, reply: dict) -> None:
    """Mail from the account, as `csm inbox` records it (the replies table and the timeline)."""
    account, sender = str(reply["account"]), str(reply["from"])
    at = stamp(reply["on"], "10:00:00+00:00")
    given = Reply(f"given:{account}:{at}", account, None, sender, sender, at, "Re", "sender")
    record_reply(conn, given, "", at)


def has_health(case: Case, day: dt.date) -> bool:
    """The case gives a health snapshot for ``day``: it stands, and none is taken."""
    return any(h["date"] == day.isoformat() for h in case.given.health)
