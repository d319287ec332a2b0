"""The backtest figure: `csm backtest` over 90 days of a 10k-account workspace with value history.

Imported by run.py, which prints it with the others; alone:

    python benchmarks/backtest.py --size 10k
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
from pathlib import Path

from run import DATA, Row, csm, ensure, medians, parse_size, run, script, show

DAYS = 90
END = dt.date(2026, 11, 22)
START = END - dt.timedelta(days=DAYS - 1)


def with_history(source: Path, tmp: Path) -> Path:
    """A copy of the workspace where one account in ten changed plan, seats and NPS in October."""
    ws = Path(shutil.copytree(source, tmp / "backtest"))
    run(
        script(f"""
        from csm.data import store
        from csm.data.importer import import_records
        conn = store.connect(__import__("pathlib").Path({str(ws / "csm.db")!r}))
        rows = conn.execute("SELECT id, name, seats_used, nps FROM accounts WHERE rowid % 10 = 0").fetchall()
        changed = [{{"id": r[0], "name": r[1], "seats_used": (r[2] or 0) + 3, "nps": ((r[3] or 5) + 4) % 11}}
                   for r in rows]
        records = ((f"row {{n}}", row) for n, row in enumerate(changed, 1))
        import_records(conn, "accounts", records, source="october export", now="2026-10-01T06:00:00+00:00")
        """)
    )
    return ws


def backtest_time(data: Path, tmp: Path, size: int, repeat: int) -> Row:
    ws = with_history(data / "ws", tmp)
    span = ("--from", START.isoformat(), "--to", END.isoformat())

    def ours() -> float:
        return run(csm("-w", str(ws), "backtest", *span))[0]

    def one_dry_run() -> float:
        return run(csm("-w", str(ws), "--today", END.isoformat(), "run", "--dry-run"))[0]

    ours_s, dry_s = medians(repeat, ours, one_dry_run)
    ratio = ours_s / (dry_s * DAYS)
    return Row(
        f"`csm backtest` {DAYS} days, {size:,} accounts",
        f"{ours_s:.2f} s ({ours_s / DAYS * 1000:.0f} ms a day)",
        f"{DAYS} x `run --dry-run` {dry_s * DAYS:.1f} s",
        ratio,
        "under 30 s at 10k",
        ours_s < 30 if size == 10_000 else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="10k")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    size = parse_size(args.size)
    data = ensure(size, 1, args.data)
    with tempfile.TemporaryDirectory() as name:
        show([backtest_time(data, Path(name), size, args.repeat)], size)


if __name__ == "__main__":
    main()
