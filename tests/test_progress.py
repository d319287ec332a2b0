"""Progress on stderr: done of a total and the time left, in a real terminal only.

`csm import` counts the file's bytes, `csm send` the approved drafts, `csm sync` pages
(their total is not known, so no time left is guessed). With stderr in a pipe nothing is drawn.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import connect
from rich.progress import Progress, Task

from csm.cli.bars import _Count, _Left

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def in_terminal(args: list[str], cwd: Path) -> str:
    """Run `csm ARGS` with stdout and stderr on a pseudo-terminal; all it drew, escapes removed."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "csm", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
        env=env,
    )
    os.close(slave)
    seen = bytearray()
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        assert ready, f"csm {' '.join(args)} went quiet: {bytes(seen[-400:])!r}"
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen.extend(chunk)
    assert proc.wait(timeout=60) in (0, 3), bytes(seen[-800:])
    os.close(master)
    return ANSI.sub(b"", bytes(seen)).decode("utf-8", "replace")


def _accounts_csv(path: Path, rows: int) -> Path:
    lines = ["id,name,owner,arr,status"]
    lines += [f"B{n:06},Company {n},dana@northwind-cs.example,{n},active" for n in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_an_import_counts_the_files_bytes_with_the_time_left(workspace: Path, tmp_path: Path) -> None:
    csv = _accounts_csv(tmp_path / "accounts.csv", 30_000)
    size = (
        f"{csv.stat().st_size / 1000:.1f} kB"
        if csv.stat().st_size < 1e6
        else f"{csv.stat().st_size / 1e6:.1f} MB"
    )
    drawn = in_terminal(["import", "accounts", str(csv)], workspace)
    assert re.search(r"Importing accounts.csv: [\d,]+ rows", drawn), drawn
    assert f"/{size}" in drawn, drawn  # done of the file's size
    assert "eta " in drawn
    assert "Imported" in drawn, drawn


def test_a_send_counts_the_approved_drafts(demo: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "csm", "-w", str(demo), "run", "--quiet"], check=True, capture_output=True
    )
    with connect(demo) as conn:
        ids = [
            str(r[0])
            for r in conn.execute("SELECT id FROM outbox WHERE status = 'draft' ORDER BY id LIMIT 5")
        ]
    subprocess.run(
        [sys.executable, "-m", "csm", "-w", str(demo), "approve", *ids], check=True, capture_output=True
    )
    drawn = in_terminal(["send"], demo)
    assert re.search(r"Sending .*/5 drafts eta ", drawn), drawn[-600:]


def test_nothing_is_drawn_when_stderr_is_not_a_terminal(workspace: Path, tmp_path: Path) -> None:
    csv = _accounts_csv(tmp_path / "accounts.csv", 2_000)
    result = subprocess.run(
        [sys.executable, "-m", "csm", "import", "accounts", str(csv)],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stderr == ""
    assert result.stdout.startswith(f"Imported {csv}: 2000 new")


@pytest.mark.parametrize(
    ("unit", "total", "completed", "count", "left"),
    [
        ("pages", None, 7, "7 pages", ""),  # a sync: pages as they come, no total, no time left
        ("drafts", 200, 40, "40/200 drafts", "eta "),
        ("bytes", 12_000_000, 3_100_000, "3.1 MB/12.0 MB", "eta "),
        ("", None, 0, "0", ""),
    ],
)
def test_the_columns_say_how_much_of_how_much(
    unit: str, total: float | None, completed: float, count: str, left: str
) -> None:
    bar = Progress()
    task_id = bar.add_task("x", total=total, unit=unit, completed=completed)
    task: Task = bar.tasks[task_id]
    assert _Count().render(task).plain == count
    assert _Left().render(task).plain.startswith(left) and (left or not _Left().render(task).plain)
