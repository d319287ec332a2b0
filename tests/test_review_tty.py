"""`csm review` in a real pseudo-terminal: approve, skip with a reason, quit."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from conftest import connect


def _read_until(fd: int, marker: bytes, seen: bytearray, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while marker not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"timed out waiting for {marker!r}; got {bytes(seen[-500:])!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            seen.extend(chunk)


def start_review(ws: Path, *, columns: int) -> tuple[int, subprocess.Popen[bytes]]:
    """`csm review` on ``ws`` in a real pseudo-terminal: its master end and the process."""
    master, slave = pty.openpty()
    env = {**os.environ, "CSM_WORKSPACE": str(ws), "COLUMNS": str(columns)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "csm", "review"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    return master, proc


def approve_one_skip_one(ws: Path, reason: str) -> bytes:
    """`csm review` in a terminal: approve the first draft, skip the second with ``reason``, quit;
    what the terminal showed."""
    master, proc = start_review(ws, columns=100)
    seen = bytearray()
    try:
        _read_until(master, b"[a]pprove", seen)
        os.write(master, b"a\n")
        _read_until(master, b"2/", seen)
        _read_until(master, b"[a]pprove", seen)
        os.write(master, b"s\n")
        _read_until(master, b"Reason", seen)
        os.write(master, reason.encode() + b"\n")
        _read_until(master, b"3/", seen)
        _read_until(master, b"[a]pprove", seen)
        os.write(master, b"q\n")
        _read_until(master, b"Reviewed 2 drafts.", seen)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        os.close(master)
    return bytes(seen)


def test_review_walks_the_drafts(demo: Path, invoke) -> None:
    invoke("-w", str(demo), "run", "--quiet")
    with connect(demo) as conn:
        first, second = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM outbox WHERE status = 'draft' AND owner = 'alex.morgan@northbeam.example'"
                " ORDER BY CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1"
                " WHEN 'normal' THEN 2 ELSE 3 END, id"
                " LIMIT 2"
            )
        ]
        seen = approve_one_skip_one(demo, "talked to them on Friday")
        states = dict(
            conn.execute("SELECT id, status FROM outbox WHERE id IN (?, ?)", (first, second)).fetchall()
        )
        (reason,) = conn.execute("SELECT reason FROM outbox WHERE id = ?", (second,)).fetchone()
    assert states == {first: "approved", second: "skipped"}
    assert reason == "talked to them on Friday"
    assert b"Why:" in seen
