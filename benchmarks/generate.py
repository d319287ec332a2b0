"""Deterministic benchmark data: N accounts with two contacts each, 90 days of usage, and events.

    python benchmarks/generate.py --size 100k            # CSVs and a ready workspace
    python benchmarks/generate.py --size 1m --usage-every 7

Writes ``benchmarks/data/<size>/`` (git-ignored): ``accounts.csv``,
``contacts.csv``, ``usage.csv``, ``events.csv`` and ``ws/`` (a csm workspace
whose database already holds them all, bulk-loaded with sqlite3 so that building 1M accounts
stays practical). The same size and seed always give the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

DATA = Path(__file__).parent / "data"
TODAY = dt.date(2026, 11, 23)
OWNERS = [f"csm{i}@vendor.example" for i in range(1, 21)]
PLANS = ["starter", "team", "business", "enterprise"]
ACCOUNT_COLUMNS = [
    "id", "name", "owner", "plan", "arr", "seats_licensed", "seats_used", "start_date",
    "renewal_date", "status", "nps", "open_tickets", "last_login_at",
]  # fmt: skip
CONTACT_COLUMNS = ["account_id", "email", "name", "role", "is_primary", "left_at"]
USAGE_COLUMNS = ["account_id", "metric", "date", "value"]
EVENT_COLUMNS = ["id", "account_id", "kind", "contact", "occurred_at", "closed_at", "attributes"]
SIZES = {"tiny": 200, "10k": 10_000, "100k": 100_000, "1m": 1_000_000}


def parse_size(text: str) -> int:
    return SIZES.get(text.lower()) or int(text.replace("_", ""))


def accounts(n: int, seed: int = 7) -> Iterator[list[object]]:
    rng = random.Random(seed)
    for i in range(n):
        start = TODAY - dt.timedelta(days=rng.randint(1, 1400))
        renewal = start + dt.timedelta(days=365 * (1 + (TODAY - start).days // 365))
        seats = rng.choice([5, 10, 25, 50, 100, 250, 500])
        yield [
            f"A{i:07d}",
            f"Company {i}",
            OWNERS[i % len(OWNERS)],
            PLANS[i % len(PLANS)],
            seats * rng.choice([180, 240, 300]),
            seats,
            rng.randint(0, seats),
            start.isoformat(),
            renewal.isoformat(),
            "active" if rng.random() < 0.95 else "churned",
            rng.randint(0, 10) if rng.random() < 0.6 else "",
            rng.randint(0, 12),
            (TODAY - dt.timedelta(days=rng.randint(0, 60))).isoformat(),
        ]


def contacts(n: int) -> Iterator[list[object]]:
    for i in range(n):
        yield [f"A{i:07d}", f"champion{i}@c{i}.example", f"Casey Champion{i}", "champion", 1, None]
        yield [f"A{i:07d}", f"buyer{i}@c{i}.example", f"Blake Buyer{i}", "economic_buyer", 0, None]
        if i % 97 == 0:  # 1% had a champion before this one, who left
            left = (TODAY - dt.timedelta(days=30 + i % 60)).isoformat()
            yield [f"A{i:07d}", f"former{i}@c{i}.example", f"Finley Former{i}", "champion", 0, left]


def events(n: int, seed: int = 13) -> Iterator[list[object]]:
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
    rng = random.Random(seed)
    days = [(TODAY - dt.timedelta(days=d)).isoformat() for d in range(0, 90, every)]
    for i in range(n):
        level, trend = rng.randint(1, 200), rng.uniform(-0.01, 0.01)
        for age, day in enumerate(days):
            yield [f"A{i:07d}", "active_users", day, max(0, round(level * (1 - trend * age * every)))]
            if age * every < 60:  # a second metric, over the last 60 days: the usage-drop step reads it
                yield [f"A{i:07d}", "exports", day, max(0, round(level / 4 * (1 - 2 * trend * age * every)))]


def write_csv(path: Path, header: list[str], rows: Iterator[list[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


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
    conn = sqlite3.connect(ws / "csm.db", isolation_level=None)
    conn.execute("BEGIN")
    marks = ", ".join("?" for _ in ACCOUNT_COLUMNS)
    conn.executemany(
        f"INSERT INTO accounts ({', '.join(ACCOUNT_COLUMNS)}) VALUES ({marks})",
        ([None if v == "" else v for v in row] for row in accounts(size)),
    )
    conn.executemany(
        f"INSERT INTO contacts ({', '.join(CONTACT_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)", contacts(size)
    )
    conn.executemany(
        f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)", events(size)
    )
    conn.executemany(
        "INSERT INTO usage (account_id, metric, date, value) VALUES (?, ?, ?, ?)", usage(size, every)
    )
    conn.execute("COMMIT")
    conn.close()
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="10k", help="tiny, 10k, 100k, 1m or a number of accounts")
    parser.add_argument("--usage-every", type=int, default=1, help="days between usage points (default 1)")
    args = parser.parse_args()
    print(build(parse_size(args.size), args.usage_every))


if __name__ == "__main__":
    main()
