"""The demo's past: a summer of health snapshots and weekly runs, a CSM working each list.

The replay draws from its own seeded ``random.Random``, so it is the same every time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from csm.data import store, timeline
from csm.data.importer import import_records
from csm.demo import replies
from csm.demo.cohorts import DEMO_TODAY, NOW
from csm.engine import tasks
from csm.mail import outbox

if TYPE_CHECKING:
    from csm.engine.drafting import Queued
    from csm.language.playbooks import Playbook
    from csm.workspace import Workspace

# Health snapshots: daily for three weeks (enough for `for: 14d`), weekly back to 17 weeks.
HEALTH_DAYS = tuple(
    DEMO_TODAY - dt.timedelta(days=t) for t in sorted({*range(21), *range(21, 120, 7)}, reverse=True)
)
# Past weekly runs of every playbook, all in Q3, so this quarter's steps still fire today.
HISTORY_RUNS = tuple(DEMO_TODAY - dt.timedelta(days=t) for t in range(119, 55, -7))
# The CRM export is first imported at the start of the usage history; renewals decided since are
# imported on the day they were decided, so the accounts' values have a history to backtest on.
HISTORY_START = DEMO_TODAY - dt.timedelta(days=180)
HOLDOUT_PLAYBOOK = "adoption-milestones"  # the demo measures its nudges against a 20% holdout
_SKIP_REASONS = ("already on a call this week", "champion on leave", "covered in the QBR")
REPLY_SEED = 20261125  # who answered the summer's emails: a stream of its own
LAST_WEEK_STEPS = {("renewal-ahead", "heads-up"), ("silent-account", "hello")}


def health_history(conn: sqlite3.Connection, root: Path, *, today_only: bool = False) -> None:
    """Snapshots as if `csm health` had run on each of :data:`HEALTH_DAYS` (or today), by the demo's model."""
    from csm import runtime, workspace
    from csm.health import model as health_model
    from csm.health import score as health

    fields = runtime.fields_for(conn)
    model = health_model.load(root / health_model.MODEL_FILE, fields)
    params = runtime.sql_params(workspace.load(explicit=root), DEMO_TODAY)
    health.snapshot(conn, model, fields, params, [DEMO_TODAY] if today_only else HEALTH_DAYS)


def playbook_history(
    conn: sqlite3.Connection, root: Path, rng: random.Random, decided: list[_Decided]
) -> None:
    """Replay weekly `csm run`s over the summer, and a CSM working each morning's list.

    Four in five drafts are sent the next day, the rest skipped with a reason;
    four in five tasks are done within two days, the rest weeks later; about a
    third of the emails sent get an answer within three days (their own random
    stream, :data:`REPLY_SEED`). This gives `csm report` its history. The
    accounts whose renewal was decided since stood active, before that renewal,
    until the day an import says it was decided. Last, last week's heads-ups and
    hellos (:func:`_last_week`), the sequences `csm today` follows up.
    """
    from csm import runtime, workspace
    from csm.engine import matching as engine
    from csm.engine.drafting import queue
    from csm.language.playbooks import load_selected
    from csm.templating.render import Templates

    _hold_out(root / "playbooks" / f"{HOLDOUT_PLAYBOOK}.yaml")
    ws = workspace.load(explicit=root)
    fields = runtime.fields_for(conn)
    templates = Templates(ws.templates_dir)
    playbooks = load_selected(
        ws.playbooks_dir, fields, (), templates.exists, internal_domains=ws.settings.internal_domains
    )
    answers = random.Random(REPLY_SEED)
    since = HISTORY_START
    for day in HISTORY_RUNS:
        _import_decided(conn, decided, since, day)
        since = day
        params = runtime.sql_params(ws, day)
        results = engine.evaluate(conn, playbooks, fields, params, day)
        added = queue(conn, ws, templates, fields, params, results, day, f"{day}T07:00:00+00:00").added
        sent = _work_the_list(conn, day, [*added, *_drafted_again(conn, added)], rng)
        answered = [draft for draft in sent if answers.random() < 0.35]
        replies.answer(conn, playbooks, answered, [answers.randint(0, 2) for _ in answered])
    _import_decided(conn, decided, since, DEMO_TODAY)
    _record_outcomes(conn, decided)
    _last_week(conn, ws, playbooks)


def _last_week(conn: sqlite3.Connection, ws: Workspace, playbooks: list[Playbook]) -> None:
    """Monday a week ago: every renewal heads-up due, and a hello to every third silent account,
    sent that morning; a third of the heads-ups and a quarter of the hellos answered since."""
    from csm import runtime
    from csm.engine import matching as engine
    from csm.engine.drafting import queue
    from csm.templating.render import Templates

    day, fields = replies.LAST_WEEK, runtime.fields_for(conn)
    params = runtime.sql_params(ws, day)
    results = [
        dataclasses.replace(r, matches=r.matches[:: 1 if r.step.id == "heads-up" else 3])
        for r in engine.evaluate(conn, playbooks, fields, params, day)
        if (r.playbook.id, r.step.id) in LAST_WEEK_STEPS
    ]
    added = queue(
        conn, ws, Templates(ws.templates_dir), fields, params, results, day, f"{day}T07:00:00+00:00"
    )
    sent = _send(conn, added.added, f"{day}T10:00:00+00:00", f"{day + dt.timedelta(days=1)}T16:00:00+00:00")
    steps = dict(
        conn.execute("SELECT id, step FROM outbox WHERE status = 'sent' AND sent_at >= ?", (str(day),))
    )
    answered = [
        draft
        for n, draft in enumerate(sent)
        if (steps[draft] == "heads-up" and n % 3 == 1) or (steps[draft] == "hello" and n % 4 == 2)
    ]
    replies.answer(conn, playbooks, answered, [1 + n % 3 for n in range(len(answered))])


def _send(conn: sqlite3.Connection, added: list[Queued], at: str, done_at: str) -> list[int]:
    """Send these drafts at ``at``, each with the Message-ID csm would give it, and do the tasks
    at ``done_at``; returns the drafts sent."""
    with store.transaction(conn):
        for item in added:
            if item.kind == "draft":
                _sent(conn, item, at)
            else:
                _done(conn, item, done_at)
    return [item.id for item in added if item.kind == "draft"]


def _done(conn: sqlite3.Connection, item: Queued, at: str) -> None:
    tasks.move(conn, item.id, "do", "done", done_at=at)
    timeline.record(conn, item.account_id, "task_done", f"task done: {item.summary}", at)


def _sent(conn: sqlite3.Connection, item: Queued, at: str) -> None:
    key, owner = conn.execute("SELECT dedupe_key, owner FROM outbox WHERE id = ?", (item.id,)).fetchone()
    outbox.move(conn, item.id, "approve", "approved", at)
    outbox.claim(conn, item.id, "csm demo", at)
    outbox.finish(conn, item.id, "sent", None, at, replies.sent_message_id(key, owner))
    summary = f"sent “{item.summary}” ({item.playbook} › {item.step})"
    timeline.record(conn, item.account_id, "email_sent", summary, at, ref=f"draft:{item.id}")


def _hold_out(path: Path) -> None:
    """Give the playbook at ``path`` a 20% holdout."""
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("\npriority:", "\nholdout: 20%\npriority:", 1), encoding="utf-8")


def _drafted_again(conn: sqlite3.Connection, added: list[Queued]) -> list[Queued]:
    """The drafts the touch budget let out again this run (deferred before, not in ``added``)."""
    from csm.engine.drafting import Queued

    new = {item.id for item in added if item.kind == "draft"}
    rows = conn.execute(
        "SELECT id, playbook, step, account_id, subject FROM outbox WHERE status = 'draft' ORDER BY id"
    )
    return [Queued("draft", r[0], r[1], r[2], r[3], "", r[4]) for r in rows if r[0] not in new]


def _work_the_list(
    conn: sqlite3.Connection, day: dt.date, added: list[Queued], rng: random.Random
) -> list[int]:
    """The CSM's days after the run on ``day``: each new draft sent or skipped, each new task done.

    Returns the drafts sent.
    """
    sent = []
    with store.transaction(conn):
        for item in added:
            at = f"{day + dt.timedelta(days=1 + (item.kind == 'task'))}T10:00:00+00:00"
            if item.kind == "draft" and rng.random() < 0.8:
                _sent(conn, item, at)
                sent.append(item.id)
            elif item.kind == "draft":
                outbox.move(conn, item.id, "skip", "skipped", at, reason=rng.choice(_SKIP_REASONS))
            else:
                if rng.random() >= 0.8:  # the CSM got to it late
                    at = f"{day + dt.timedelta(days=rng.randint(7, 30))}T16:00:00+00:00"
                _done(conn, item, at)
    return sent


@dataclass(frozen=True)
class _Decided:
    """An account whose renewal was decided this year: what it looked like before."""

    id: str
    name: str
    outcome: str
    renewal: str  # the renewal it decided
    renewal_after: str  # its renewal date now

    def on(self, day: dt.date) -> dict[str, object]:
        """Its row's status and renewal date as they stood on ``day``."""
        before = day.isoformat() < self.renewal
        status, renewal = ("active", self.renewal) if before else (self.outcome, self.renewal_after)
        return {"id": self.id, "name": self.name, "status": status, "renewal_date": renewal}


def decided_renewals(accounts: list[dict[str, object]]) -> list[_Decided]:
    """The renewed and churned accounts, each with the renewal it decided.

    A renewed account's decided renewal is a year before its next one.
    """
    return [
        _Decided(
            str(row["id"]),
            str(row["name"]),
            str(row["status"]),
            str(row["renewal_date"])
            if row["status"] == "churned"
            else _a_year_before(str(row["renewal_date"])),
            str(row["renewal_date"]),
        )
        for row in sorted(accounts, key=lambda r: str(r["id"]))
        if row["status"] in ("renewed", "churned")
    ]


def accounts_on(accounts: list[dict[str, object]], decided: list[_Decided], day: dt.date) -> list[dict]:
    """The CRM export as it stood on ``day``: the decided renewals not decided yet."""
    then = {d.id: d.on(day) for d in decided}
    return [{**row, **then.get(str(row["id"]), {})} for row in accounts]


def _import_decided(conn: sqlite3.Connection, decided: list[_Decided], since: dt.date, day: dt.date) -> None:
    """The renewals decided after ``since`` up to ``day``, each imported on the day it was decided."""
    due: dict[str, list[_Decided]] = {}
    for d in decided:
        if since.isoformat() < d.renewal <= day.isoformat():
            due.setdefault(d.renewal, []).append(d)
    for renewal, group in sorted(due.items()):
        on = dt.date.fromisoformat(renewal)
        records = ((f"CRM export record {n}", d.on(on)) for n, d in enumerate(group, 1))
        import_records(conn, "accounts", records, source="demo CRM export", now=f"{renewal}T06:00:00+00:00")


def _record_outcomes(conn: sqlite3.Connection, decided: list[_Decided]) -> None:
    """One outcome per decided renewal, dated on the renewal it decided (as `csm outcome` would)."""
    with store.transaction(conn):
        conn.execute("DELETE FROM outcomes")
        conn.executemany(
            "INSERT INTO outcomes (account_id, date, outcome, source, recorded_at)"
            " VALUES (?, ?, ?, 'import', ?)",
            ((d.id, d.renewal, d.outcome, NOW) for d in decided),
        )


def _a_year_before(iso_day: str) -> str:
    day = dt.date.fromisoformat(iso_day)
    return day.replace(year=day.year - 1, day=min(day.day, 28) if day.month == 2 else day.day).isoformat()
