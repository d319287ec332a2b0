"""Does a change leave the first run of the day exactly as it was? `csm today` on two copies of a
workspace, one with each source tree, then the rows it wrote and what it printed, compared.

    python benchmarks/same_run.py --before /work/main --after . --ws /work/benchdata/100000/ws

Each tree runs `python -m csm -w COPY today` on its own fresh copy (under ``--tmp``). Compared:
every row of the outbox, the tasks, the matches and the timeline (the run's timestamps, which
are the clock's, read as ``<run>``), and the morning's output. Exit 1 on any difference.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

TABLES = {"outbox": "id", "tasks": "id", "matches": "playbook, step, account_id", "timeline": "id"}
_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")


def _run(tree: Path, ws: Path, copy: Path) -> str:
    """`csm today` as ``tree``'s code runs it on a fresh copy of ``ws``: what it printed."""
    shutil.copytree(ws, copy)
    env = {**os.environ, "PYTHONPATH": str(tree.resolve()), "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-m", "csm", "-w", str(copy), "today"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return f"exit {done.returncode}\n{done.stdout}{done.stderr}"


def _rows(db: Path, table: str, stamps: set[str]) -> list[tuple[object, ...]]:
    """The table's rows in order, each timestamp the run wrote (one in ``stamps``) as ``<run>``."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(f"SELECT * FROM {table} ORDER BY {TABLES[table]}").fetchall()
    finally:
        conn.close()
    return [tuple("<run>" if v in stamps else v for v in row) for row in rows]


def _stamps(db: Path) -> set[str]:
    """Every timestamp the tables compared hold."""
    conn = sqlite3.connect(db)
    try:
        return {
            v
            for table in TABLES
            for row in conn.execute(f"SELECT * FROM {table}")
            for v in row
            if isinstance(v, str) and _STAMP.match(v)
        }
    finally:
        conn.close()


def compare(before: Path, after: Path, ws: Path, tmp: Path) -> list[str]:
    """The differences between the two trees' runs (none: the same)."""
    printed, tables = {}, {}
    held = _stamps(ws / "csm.db")
    for name, tree in (("before", before), ("after", after)):
        copy = tmp / name
        printed[name] = _run(tree, ws, copy)
        db = copy / "csm.db"
        tables[name] = {t: _rows(db, t, _stamps(db) - held) for t in TABLES}  # the run's own
        shutil.rmtree(copy)
    same_output = printed["before"] == printed["after"]
    print(
        f"output: {len(printed['before'].splitlines()):,} lines, {'the same' if same_output else 'different'}"
    )
    problems = [] if same_output else ["the output differs"]
    for table in TABLES:
        one, two = tables["before"][table], tables["after"][table]
        digest = hashlib.sha256(repr(one).encode()).hexdigest()[:12]
        if one == two:
            print(f"{table}: {len(one):,} rows, the same (sha256 {digest})")
            continue
        first = next(
            (i for i, (a, b) in enumerate(zip(one, two, strict=False)) if a != b), min(len(one), len(two))
        )
        problems.append(
            f"{table}: {len(one):,} rows before, {len(two):,} after; first difference at row {first}"
        )
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the source tree before the change")
    parser.add_argument("--after", type=Path, required=True, help="the source tree after it")
    parser.add_argument("--ws", type=Path, required=True, help="the workspace to copy (never changed)")
    parser.add_argument(
        "--tmp", type=Path, default=None, help="where the copies go (default: a temporary folder)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        problems = compare(args.before, args.after, args.ws, Path(tmp))
    for problem in problems:
        print(problem)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
