"""A team on one PostgreSQL database: ten `csm send` processes at once, kill -9 mid-send,
and several `csm run`s racing, each draft made once and delivered once."""

from __future__ import annotations

import asyncio
import collections
import email
import email.policy
import json
import random
import signal
import time
from pathlib import Path
from typing import Any

from test_send_crash import bulk_files, csm, output, set_send, wait_for

from csm.data import store
from csm.data.store import transaction
from csm.mail import outbox
from csm.mail.message import message_id

NOW = "2026-11-23T07:00:00+00:00"


class Recorder:
    """An SMTP server counting each Message-ID it accepted (``pause``: seconds spent over DATA)."""

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause
        self.received: collections.Counter[str] = collections.Counter()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if self.pause:
            await asyncio.sleep(self.pause)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received[message["Message-ID"]] += 1
        return "250 OK"


def team_workspace(ws: Path, invoke: Any, url: str, accounts: int) -> Path:
    """A workspace on PostgreSQL with ``accounts`` accounts, each with one approved draft."""
    assert invoke("init", str(ws), "--database", url).exit_code == 0
    bulk_files(ws)
    conn = store.connect(url)
    with transaction(conn):
        conn.executemany(
            "INSERT INTO accounts (id, name, owner, arr, status) VALUES (?, ?, ?, ?, 'active')",
            [(f"A{i:04}", f"Account {i}", "dana@northwind-cs.example", 1000 + i) for i in range(accounts)],
        )
        conn.executemany(
            "INSERT INTO contacts (account_id, email, name, role) VALUES (?, ?, 'Casey Doe', 'champion')",
            [(f"A{i:04}", f"casey{i}@a{i}.example") for i in range(accounts)],
        )
        outbox.add(conn, {f"bulk:hello:A{i:04}": _draft(i) for i in range(accounts)}, "draft", NOW)
    outbox.approve_playbook(conn, "bulk", NOW)
    conn.close()
    return ws


def _draft(i: int) -> outbox.NewRow:
    return outbox.NewRow(
        **{
            "dedupe_key": f"bulk:hello:A{i:04}",
            "playbook": "bulk",
            "step": "hello",
            "account_id": f"A{i:04}",
            "owner": "dana@northwind-cs.example",
            "to_addrs": json.dumps([["Casey Doe", f"casey{i}@a{i}.example"]]),
            "cc": "[]",
            "reply_to": None,
            "subject": f"Hello Casey, a note for Account {i}",
            "body": "Hi Casey,\n\nA short note from your CSM.\n",
            "template": "bulk/hello.md.j2",
            "why": "{}",
            "priority": "normal",
            "reason": None,
        }
    )


def statuses(url: str) -> dict[str, int]:
    conn = store.connect(url)
    try:
        return dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
    finally:
        conn.close()


def smtp(ws: Path, port: int) -> None:
    set_send(ws, f'transport = "smtp"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\ntimeout = 5')


def test_ten_senders_over_1000_drafts_on_postgresql_deliver_exactly_1000(
    pg_cluster: Any, tmp_path: Path, invoke: Any, smtp_server: Any
) -> None:
    url = pg_cluster.new_database()
    ws = team_workspace(tmp_path / "team", invoke, url, 1000)
    handler = Recorder()
    smtp(ws, smtp_server(handler).port)
    senders = [csm(ws, "send") for _ in range(10)]
    assert [p.wait(timeout=120) for p in senders] == [0] * 10, output(ws)
    assert statuses(url) == {"sent": 1000}
    assert len(handler.received) == 1000 and set(handler.received.values()) == {1}, "a draft went twice"
    sent_by = [line for line in output(ws).splitlines() if line.startswith("Sent ")]
    assert len(sent_by) == 10 and sum(int(line.split()[1]) for line in sent_by) == 1000


def test_killing_senders_on_postgresql_never_sends_twice_nor_loses_a_draft(
    pg_cluster: Any, tmp_path: Path, invoke: Any, smtp_server: Any
) -> None:
    url = pg_cluster.new_database()
    ws = team_workspace(tmp_path / "team", invoke, url, 120)
    handler = Recorder(pause=0.03)
    smtp(ws, smtp_server(handler).port)
    rng = random.Random(20261207)
    interrupted = 0
    for _ in range(4):
        before = statuses(url).get("approved", 0)
        pair = [csm(ws, "send"), csm(ws, "send")]
        wait_for(lambda left=before: statuses(url).get("approved", 0) < left, timeout=30)  # they have begun
        time.sleep(rng.uniform(0.05, 0.5))
        for process in pair:
            process.send_signal(signal.SIGKILL)
            process.wait()
        interrupted += 0 < statuses(url).get("approved", 0) < before
    assert interrupted >= 2, "the kills should land mid-batch"
    cut_off = statuses(url).get("sending", 0)  # the drafts the last kills landed on mid-send
    final = csm(ws, "send")
    assert final.wait(timeout=60) == (3 if cut_off else 0), output(ws)
    summary = [line for line in output(ws).splitlines() if line.startswith("Sent ")][-1]
    assert f", {cut_off} unknown," in summary, output(ws)
    time.sleep(0.2)  # a message a killed client left mid-DATA finishes arriving
    conn = store.connect(url)
    drafts = conn.execute("SELECT status, dedupe_key FROM outbox").fetchall()
    conn.close()
    assert len(drafts) == 120
    assert max(handler.received.values()) == 1, "a message arrived twice"
    by_status = collections.Counter(status for status, _ in drafts)
    assert set(by_status) <= {"sent", "unknown"}, by_status
    for status, key in drafts:
        delivered = handler.received[message_id(key, "northwind-cs.example")]
        assert delivered == 1 if status == "sent" else delivered <= 1, (status, key)


ADD_DRAFTS = """
import random
import sys
from csm.data import store
from csm.data.store import transaction
from csm.mail import outbox
from test_team_send import NOW, _draft

conn = store.connect(sys.argv[1])
keys = list(range(300))
random.Random(int(sys.argv[2])).shuffle(keys)  # each run meets the others' keys in its own order
print("ready", flush=True)
sys.stdin.readline()  # the start gate: every run begins at once
added = 0
for start in range(0, 300, 20):
    with transaction(conn):
        batch = {f"bulk:hello:A{i:04}": _draft(i) for i in keys[start : start + 20]}
        added += len(outbox.add(conn, batch, "draft", NOW))
print(added, flush=True)
"""


def test_runs_racing_on_postgresql_add_each_draft_once(pg_cluster: Any, tmp_path: Path) -> None:
    """Five runs adding the same 300 keys at once, in different orders: the transaction's lock on
    the keys makes each check-then-insert whole, so no run meets another's duplicate key (every
    run exits 0) and each key is counted new by exactly one of them."""
    import subprocess
    import sys

    url = pg_cluster.new_database()
    store.connect(url).close()
    here = Path(__file__).parent  # the tests' helpers, and this checkout's csm (not an installed one)
    env = {"PYTHONPATH": f"{here}:{here.parent}", "PATH": "/usr/bin:/bin"}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", ADD_DRAFTS, url, str(seed)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(5)
    ]
    for run in runs:
        assert run.stdout.readline() == "ready\n", run.stderr.read()
    for run in runs:
        run.stdin.write("go\n")
        run.stdin.flush()
    results = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0] * 5, [err[-300:] for _, err in results]
    assert sum(int(out) for out, _ in results) == 300, "a key was counted new by two runs"
    conn = store.connect(url)
    [(rows, keys)] = conn.execute("SELECT count(*), count(DISTINCT dedupe_key) FROM outbox").fetchall()
    conn.close()
    assert rows == keys == 300
