"""Crash and concurrency: real `csm send` processes, killed at random or racing each other."""

from __future__ import annotations

import asyncio
import collections
import email
import email.policy
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import build_file_tree, connect, database_of

from csm.data import store
from csm.data.importer import import_records
from csm.templating.filters import plural

NOW = "2026-11-23T07:00:00+00:00"


def bulk_files(ws: Path) -> None:
    """The bulk playbook (one short note to every paying account's champion) and its template."""
    build_file_tree(
        ws,
        {
            "playbooks/bulk.yaml": """
                playbook: bulk
                title: Bulk hello
                description: One short note to every paying account.
                audience: status = 'active'
                steps:
                  - id: hello
                    when: arr > 0
                    email:
                      template: bulk/hello.md.j2
                      to: [champion]
            """,
            "templates/bulk/hello.md.j2": """
                ---
                subject: "Hello {{ contact.first_name }}, a note for {{ account.name }}"
                ---
                Hi {{ contact.first_name }},

                A short note from your CSM.
            """,
        },
    )


def bulk_workspace(ws: Path, invoke: Any, accounts: int) -> Path:
    """A workspace with one simple playbook and ``accounts`` approved drafts."""
    bulk_files(ws)
    conn = store.connect(database_of(ws))
    rows = [
        {"id": f"A{i:04}", "name": f"Account {i}", "owner": "dana@northwind-cs.example", "arr": 1000 + i}
        for i in range(accounts)
    ]
    contacts = [
        {"account_id": f"A{i:04}", "email": f"casey{i}@a{i}.example", "name": "Casey Doe", "role": "champion"}
        for i in range(accounts)
    ]
    import_records(conn, "accounts", ((f"record {i}", r) for i, r in enumerate(rows)), source="test", now=NOW)
    import_records(
        conn, "contacts", ((f"record {i}", r) for i, r in enumerate(contacts)), source="test", now=NOW
    )
    conn.close()
    assert invoke("-w", str(ws), "run", "bulk", "--quiet").exit_code == 0
    approved = invoke("-w", str(ws), "approve", "--playbook", "bulk").stdout
    assert f"Approved {plural(accounts, 'draft')}." in approved
    return ws


def set_send(ws: Path, body: str) -> None:
    path = ws / "csm.toml"
    text = path.read_text(encoding="utf-8")
    start = text.index("[send]")
    path.write_text(text[:start] + "[send]\n" + body + "\n", encoding="utf-8")


def csm(ws: Path, *args: str) -> subprocess.Popen[str]:
    """Start `csm -w WS ARGS...`; its output goes to a file beside the workspace."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSM_")}
    env["NO_COLOR"] = "1"
    with open(ws.parent / "csm-output.log", "a", encoding="utf-8") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "csm", "-w", str(ws), *args], env=env, stdout=log, stderr=log, text=True
        )


def output(ws: Path) -> str:
    return (ws.parent / "csm-output.log").read_text(encoding="utf-8")


def statuses(ws: Path) -> dict[str, int]:
    with connect(ws) as conn:
        return dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())


class SlowRecorder:
    """An SMTP server that takes its time over DATA and counts each Message-ID it accepted."""

    def __init__(self) -> None:
        self.received: collections.Counter[str] = collections.Counter()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.03)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received[message["Message-ID"]] += 1
        return "250 OK"


def test_killing_send_at_random_never_sends_twice_nor_loses_a_draft(
    workspace: Path, invoke: Any, smtp_server: Any
) -> None:
    ws = bulk_workspace(workspace, invoke, 200)
    handler = SlowRecorder()
    server = smtp_server(handler)
    set_send(
        ws, f'transport = "smtp"\nhost = "127.0.0.1"\nport = {server.port}\nsecurity = "none"\ntimeout = 5'
    )
    rng = random.Random(20261123)
    interrupted = 0
    for _ in range(8):
        before = statuses(ws).get("approved", 0)
        # The kill lands after a random number of this round's deliveries, however slowly csm starts.
        enough = sum(handler.received.values()) + rng.randint(1, 15)
        process = csm(ws, "send")
        deadline = time.monotonic() + 60
        while (
            sum(handler.received.values()) < enough and process.poll() is None and time.monotonic() < deadline
        ):
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.03))
        process.send_signal(signal.SIGKILL)
        process.wait()
        interrupted += 0 < statuses(ws).get("approved", 0) < before
    assert interrupted >= 3, "the kills should land mid-batch"
    cut_off = statuses(ws).get("sending", 0)  # the last kill's draft, if it landed mid-send
    final = csm(ws, "send")
    # A draft found cut off is counted unknown and makes the run exit 3, never 0.
    assert final.wait(timeout=60) == (3 if cut_off else 0), output(ws)
    summary = [line for line in output(ws).splitlines() if line.startswith("Sent ")][-1]
    assert f", {cut_off} unknown," in summary, output(ws)
    time.sleep(0.2)  # a message a killed client left mid-DATA finishes arriving
    with connect(ws) as conn:
        drafts = conn.execute("SELECT status, message_id, dedupe_key FROM outbox").fetchall()
    from csm.mail.message import message_id

    assert len(drafts) == 200
    assert max(handler.received.values()) == 1, "a message arrived twice"
    by_status = collections.Counter(status for status, _, _ in drafts)
    assert set(by_status) <= {"sent", "unknown"}, by_status
    assert by_status["sent"] >= 1
    for status, _, key in drafts:
        delivered = handler.received[message_id(key, "northwind-cs.example")]
        assert delivered == (1 if status == "sent" else delivered), (status, key)
        assert delivered <= 1


def test_two_senders_over_1000_drafts_deliver_exactly_1000(workspace: Path, invoke: Any) -> None:
    ws = bulk_workspace(workspace, invoke, 1000)
    set_send(ws, 'transport = "eml"\nmaildir = "mail"')
    first, second = csm(ws, "send"), csm(ws, "send")
    assert first.wait(timeout=120) == 0, output(ws)
    assert second.wait(timeout=120) == 0, output(ws)
    delivered = list((ws / "mail" / "cur").iterdir())
    ids = collections.Counter(
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["Message-ID"] for p in delivered
    )
    assert len(delivered) == 1000 and len(ids) == 1000
    assert statuses(ws) == {"sent": 1000}


def wait_for(check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_a_kill_mid_draft_is_unknown_with_who_got_it_and_the_next_send_exits_3(
    workspace: Path, invoke: Any, smtp_server: Any
) -> None:
    from loopback import Collect, StallFor

    ws = bulk_workspace(workspace, invoke, 1)
    first, second = "casey0@a0.example", "robin@a0.example"
    with connect(ws) as conn:
        conn.execute("UPDATE outbox SET cc = ?", (f'["{second}"]',))
    stalling = smtp_server(StallFor(second))
    set_send(
        ws, f'transport = "smtp"\nhost = "127.0.0.1"\nport = {stalling.port}\nsecurity = "none"\ntimeout = 30'
    )

    def copies() -> dict[str, str]:
        with connect(ws) as conn:
            return dict(conn.execute("SELECT address, status FROM deliveries").fetchall())

    process = csm(ws, "send")
    wait_for(lambda: copies() == {first: "sent", second: "sending"})  # the second copy is mid-DATA
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert statuses(ws) == {"sending": 1}

    digest = invoke("-w", str(ws), "notify", "--dry-run")
    assert "1 send to settle" in digest.stdout, digest.stdout

    after = csm(ws, "send")
    assert after.wait(timeout=60) == 3, output(ws)
    assert "Found #1 cut off mid-send earlier: marked unknown" in output(ws)
    summary = [line for line in output(ws).splitlines() if line.startswith("Sent ")][-1]
    assert summary == "Sent 0 via smtp; 0 skipped, 0 failed, 1 unknown, 0 left approved."
    assert copies() == {first: "sent", second: "unknown"}
    with connect(ws) as conn:
        [(status, reason)] = conn.execute("SELECT status, reason FROM outbox").fetchall()
    assert status == "unknown"
    assert reason == (
        "the sending process stopped mid-send; it may have arrived (sent to casey0@a0.example;"
        " robin@a0.example may have got it: the sending process stopped while handing it over)"
    )

    settled = invoke("-w", str(ws), "resolve", "1", "--retry")
    assert settled.stdout == f"Draft #1 is approved again; `csm send` will send it to {second} only.\n"
    handler = Collect()
    set_send(
        ws, f'transport = "smtp"\nhost = "127.0.0.1"\nport = {smtp_server(handler).port}\nsecurity = "none"'
    )
    done = invoke("-w", str(ws), "send")
    assert done.exit_code == 0, done.output
    assert [e.rcpt_tos for e in handler.envelopes] == [[second]]  # the first recipient is not sent it again
    assert statuses(ws) == {"sent": 1} and copies() == {first: "sent", second: "sent"}
