"""Deterministic benchmark data: a book of N accounts shaped like a real B2B SaaS book, with events.

    python benchmarks/generate.py --size 100k            # CSVs and a ready workspace
    python benchmarks/generate.py --size 1m --usage-every 7

Writes ``benchmarks/data/<size>/`` (git-ignored): ``accounts.csv``,
``contacts.csv``, ``usage.csv``, ``events.csv`` and ``ws/``, a csm workspace as
it stands on the morning of ``TODAY`` before its CSMs type anything: the four
tables bulk-loaded with sqlite3 (so that building 1M accounts stays practical), a
timeline of touches, health snapshots taken by csm itself 31, 30 and 2 days
ago, and yesterday's `csm run` done and worked (its snapshot taken, its drafts
sent and its tasks done). So a benchmark's `csm today` is an ordinary morning: what is new since
yesterday, not a first run over years of backlog. The same size and seed
always give the same bytes.

The shares (see ``benchmarks/RESULTS.md`` for where they come from): a growing
book (about 9% of accounts in their first 90 days), 8% churned, annual
contracts renewing on their anniversary, 60% of accounts with an NPS answer
(45% promoters, 33% passives, 22% detractors), seat use around 70% (10% below
40%), 12% of accounts with usage falling, 8% growing, touches every 10-30 days
by plan (about 6% of established accounts silent for 60 days), 3% with five or
more open tickets, contacts by role (champion 95%, economic buyer 85%, admin
70%).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
import random
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

DATA = Path(__file__).parent / "data"
TODAY = dt.date(2026, 11, 23)
OWNERS = [f"csm{i}@vendor.example" for i in range(1, 21)]
# plan: (share of accounts, seat counts, price per seat a year, mean days between touches)
PLANS = {
    "starter": (0.40, [5, 10], 180, 30),
    "team": (0.30, [10, 25, 50], 240, 25),
    "business": (0.20, [50, 100, 250], 300, 18),
    "enterprise": (0.10, [250, 500, 1000], 420, 10),
}
ACCOUNT_COLUMNS = [
    "id", "name", "owner", "plan", "arr", "seats_licensed", "seats_used", "start_date",
    "renewal_date", "status", "nps", "open_tickets", "last_login_at",
]  # fmt: skip
CONTACT_COLUMNS = ["account_id", "email", "name", "role", "is_primary", "left_at"]
USAGE_COLUMNS = ["account_id", "metric", "date", "value"]
EVENT_COLUMNS = ["id", "account_id", "kind", "contact", "occurred_at", "closed_at", "attributes"]
TIMELINE_COLUMNS = ["account_id", "at", "kind", "touch", "summary"]
SIZES = {"tiny": 200, "10k": 10_000, "100k": 100_000, "1m": 1_000_000}
GROWTH = 1.25  # the book grows 25% a year: more young accounts than old ones
HISTORY_DAYS = 1460  # the oldest account started four years ago
TOUCH_KINDS = ["email_sent", "call", "meeting", "note"]


def parse_size(text: str) -> int:
    return SIZES.get(text.lower()) or int(text.replace("_", ""))


def _pick(rng: random.Random, shares: dict[str, float]) -> str:
    x, total = rng.random(), 0.0
    for name, share in shares.items():
        total += share
        if x < total:
            return name
    return name


def _start_age(rng: random.Random) -> int:
    """Days since the account started, from a book growing ``GROWTH`` a year."""
    span = 1 - GROWTH ** (-HISTORY_DAYS / 365)
    return max(1, round(-365 * math.log(1 - rng.random() * span) / math.log(GROWTH)))


def _nps(rng: random.Random) -> int | str:
    if rng.random() >= 0.6:
        return ""
    x = rng.random()
    return rng.randint(9, 10) if x < 0.45 else rng.randint(7, 8) if x < 0.78 else rng.randint(0, 6)


def _tickets(rng: random.Random) -> int:
    x = rng.random()
    for limit, count in ((0.55, 0), (0.75, 1), (0.87, 2), (0.93, 3), (0.97, 4)):
        if x < limit:
            return count
    return rng.randint(5, 12)


def _login_age(rng: random.Random) -> int:
    x = rng.random()
    return rng.randint(0, 6) if x < 0.85 else rng.randint(7, 20) if x < 0.95 else rng.randint(21, 60)


class Account:
    """One generated account: its row and what its usage, contacts and timeline derive from."""

    def __init__(self, i: int, rng: random.Random) -> None:
        self.id = f"A{i:07d}"
        self.plan = _pick(rng, {name: spec[0] for name, spec in PLANS.items()})
        _, seat_choices, price, self.touch_gap = PLANS[self.plan]
        self.seats = rng.choice(seat_choices)
        self.start_age = _start_age(rng)
        start = TODAY - dt.timedelta(days=self.start_age)
        renewal = start + dt.timedelta(days=365 * (1 + self.start_age // 365))
        utilization = rng.triangular(0.2, 1.0, 0.7)
        self.seats_used = max(1, round(self.seats * utilization))
        x = rng.random()
        # Daily usage trend: 80% steady, 12% falling (15-45% a month), 8% growing.
        self.trend = (
            rng.uniform(-0.001, 0.001)
            if x < 0.8
            else rng.uniform(-0.015, -0.005)
            if x < 0.92
            else rng.uniform(0.005, 0.012)
        )
        self.level = self.seats_used * rng.uniform(0.35, 0.8)
        self.integrations = 0 if rng.random() < 0.25 else rng.randint(1, 5)
        self.row: list[object] = [
            self.id,
            f"Company {i}",
            OWNERS[i % len(OWNERS)],
            self.plan,
            self.seats * price,
            self.seats,
            self.seats_used,
            start.isoformat(),
            renewal.isoformat(),
            "active" if rng.random() >= 0.08 else "churned",
            _nps(rng),
            _tickets(rng),
            (TODAY - dt.timedelta(days=_login_age(rng))).isoformat(),
        ]


def book(n: int, seed: int = 7) -> Iterator[Account]:
    rng = random.Random(seed)
    for i in range(n):
        yield Account(i, rng)


def accounts(n: int) -> Iterator[list[object]]:
    for a in book(n):
        yield a.row


def contacts(n: int, seed: int = 13) -> Iterator[list[object]]:
    """A champion (95% of accounts), an economic buyer (85%), an admin (70%) and 0-2 users;
    1% of accounts also had a champion before this one, who left."""
    rng = random.Random(seed)
    for i in range(n):
        account = f"A{i:07d}"
        people = [
            (role, first, local)
            for role, first, local, share in (
                ("champion", "Casey", "champion", 0.95),
                ("economic_buyer", "Blake", "buyer", 0.85),
                ("admin", "Alex", "admin", 0.70),
            )
            if rng.random() < share
        ]
        people += [("user", "Jordan", f"user{k}.") for k in range(rng.randint(0, 2))]
        for k, (role, first, local) in enumerate(people):
            name = f"{first} {role.title().replace('_', '')}{i}"
            yield [account, f"{local}{i}@c{i}.example", name, role, int(k == 0), None]
        if i % 97 == 0:
            left = (TODAY - dt.timedelta(days=30 + i % 60)).isoformat()
            yield [account, f"former{i}@c{i}.example", f"Finley Former{i}", "champion", 0, left]


def events(n: int, seed: int = 19) -> Iterator[list[object]]:
    """An NPS answer for 60% of accounts (some this week), and up to three tickets, some open."""
    rng = random.Random(seed)
    for i in range(n):
        account = f"A{i:07d}"
        if rng.random() < 0.6:
            day = TODAY - dt.timedelta(days=rng.randint(0, 120))
            score = rng.randint(0, 10)
            yield [f"nps-{i}", account, "nps_response", f"buyer{i}@c{i}.example", f"{day}T10:00:00", None,
                   f'{{"score": {score}}}']  # fmt: skip
        for t in range(rng.randint(0, 3)):
            opened = TODAY - dt.timedelta(days=rng.randint(0, 90))
            closed = (
                None if rng.random() < 0.3 else f"{opened + dt.timedelta(days=rng.randint(0, 9))}T12:00:00"
            )
            severity = rng.choice(["P1", "P2", "P3", "P3"])
            yield [f"t-{i}-{t}", account, "ticket", f"champion{i}@c{i}.example", f"{opened}T09:00:00", closed,
                   f'{{"severity": "{severity}"}}']  # fmt: skip


def usage(n: int, every: int, seed: int = 11) -> Iterator[list[object]]:
    """Daily active users over the last 90 days (from the start date), and an integration count.

    Each day's value is the account's trend line times up to 5% of day-to-day noise.
    """
    rng = random.Random(seed)
    days = [(d, (TODAY - dt.timedelta(days=d)).isoformat()) for d in range(0, 90, every)]
    for a in book(n):
        for age, day in days:
            if age > a.start_age:
                break
            value = a.level * (1 - a.trend * age) * (0.95 + rng.random() * 0.1)
            yield [a.id, "active_users", day, max(0, round(value))]
            if age < 60:  # a second metric, over the last 60 days: the usage-drop step reads it
                yield [a.id, "exports", day, max(0, round(value / 4 * (1 - a.trend * age)))]
        day = TODAY - dt.timedelta(days=min(a.start_age, 7))
        yield [a.id, "integrations", day.isoformat(), a.integrations]


def timeline(n: int, seed: int = 17) -> Iterator[list[object]]:
    """The last three touches of each account, gaps drawn around its plan's touch rhythm."""
    rng = random.Random(seed)
    for a in book(n):
        age = 0.0
        for _ in range(3):
            age += rng.expovariate(1 / a.touch_gap)
            if age >= a.start_age:
                break
            at = dt.datetime.combine(TODAY - dt.timedelta(days=int(age) + 1), dt.time(15, 0), dt.UTC)
            kind = rng.choice(TOUCH_KINDS)
            yield [a.id, at.isoformat(), kind, 1, f"{kind.replace('_', ' ')} (generated)"]


def write_csv(path: Path, header: list[str], rows: Iterator[list[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _insert(conn: sqlite3.Connection, table: str, columns: list[str], rows: Iterator[list[object]]) -> None:
    marks = ", ".join("?" for _ in columns)
    conn.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
        ([None if v == "" else v for v in row] for row in rows),
    )


def _load(ws: Path, size: int, every: int) -> None:
    conn = sqlite3.connect(ws / "csm.db", isolation_level=None)
    conn.execute("BEGIN")
    _insert(conn, "accounts", ACCOUNT_COLUMNS, accounts(size))
    _insert(conn, "contacts", CONTACT_COLUMNS, contacts(size))
    _insert(conn, "usage", USAGE_COLUMNS, usage(size, every))
    _insert(conn, "events", EVENT_COLUMNS, events(size))
    _insert(conn, "timeline", TIMELINE_COLUMNS, timeline(size))
    conn.execute("COMMIT")
    conn.close()


def _history(ws: Path) -> None:
    """Health snapshots 31, 30 and 2 days ago, scored by csm itself from the usage of those days.

    With yesterday's run (which takes yesterday's), ``health_change_30d`` and the red band's
    three days have the snapshots they compare, today and yesterday.
    """
    from csm.health import score
    from csm.runtime import open_runtime
    from csm.workspace import load

    rt = open_runtime(load(explicit=ws))
    days = [TODAY - dt.timedelta(days=d) for d in (31, 30, 2)]
    score.snapshot(rt.conn, rt.health_model, rt.fields, rt.params, days)
    rt.conn.close()


def build(size: int, every: int = 1, *, root: Path = DATA) -> Path:
    """Write the CSVs and the ready workspace for ``size`` accounts; returns the folder."""
    from csm.init import create

    folder = root / str(size)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    write_csv(folder / "accounts.csv", ACCOUNT_COLUMNS, accounts(size))
    write_csv(folder / "contacts.csv", CONTACT_COLUMNS, contacts(size))
    write_csv(folder / "usage.csv", USAGE_COLUMNS, usage(size, every))
    write_csv(folder / "events.csv", EVENT_COLUMNS, events(size))
    ws = create(folder / "ws", me=OWNERS[0], name="Casey Morgan")
    settings = ws / "csm.toml"
    settings.write_text(
        settings.read_text(encoding="utf-8").replace('# today = "2026-11-25"', f'today = "{TODAY}"'),
        encoding="utf-8",
    )
    _load(ws, size, every)
    _history(ws)
    yesterday = TODAY - dt.timedelta(days=1)
    subprocess.run(
        [sys.executable, "-m", "csm", "-w", str(ws), "--today", yesterday.isoformat(), "run", "--quiet"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    _settle(ws, yesterday)
    return folder


def _settle(ws: Path, day: dt.date) -> None:
    """Yesterday's work done: its drafts sent and its tasks done, each a touch on the timeline.

    Written in bulk as csm's outbox and task moves would leave them (a sent draft's
    ``email_sent`` row, a done task's ``task_done``), so this morning's queue holds
    only this morning's drafts, as a team that works its list each day sees it.
    """
    at = dt.datetime.combine(day, dt.time(16, 0), dt.UTC).isoformat()
    conn = sqlite3.connect(ws / "csm.db", isolation_level=None)
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO timeline (account_id, at, kind, touch, summary, ref)"
        " SELECT account_id, ?, 'email_sent', 1, 'sent “' || subject || '”', 'draft:' || id"
        " FROM outbox WHERE status = 'draft'",
        (at,),
    )
    conn.execute(
        "UPDATE outbox SET status = 'sent', sent_at = ?1, updated_at = ?1 WHERE status = 'draft'", (at,)
    )
    conn.execute(
        "INSERT INTO timeline (account_id, at, kind, touch, summary, ref)"
        " SELECT account_id, ?, 'task_done', 1, 'task done: ' || title, 'task:' || id"
        " FROM tasks WHERE status = 'open'",
        (at,),
    )
    conn.execute("UPDATE tasks SET status = 'done', done_at = ? WHERE status = 'open'", (at,))
    conn.execute("COMMIT")
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="10k", help="tiny, 10k, 100k, 1m or a number of accounts")
    parser.add_argument("--usage-every", type=int, default=1, help="days between usage points (default 1)")
    args = parser.parse_args()
    print(build(parse_size(args.size), args.usage_every))


if __name__ == "__main__":
    main()
