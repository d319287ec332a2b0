"""`csm report --html`: the book's health by week, the biggest movers, each step's work and the lift.

The figures come from csm.reporting.report (activity, holdouts and their
intervals) and csm.reporting.book (snapshots by week, movers); this module only
lays them out.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

from csm.health.score import BANDS
from csm.reporting import charts
from csm.reporting.book import Book, book
from csm.reporting.html.page import render
from csm.reporting.report import Report, build
from csm.runtime import Runtime

# (StepReport attribute, column and series name) in pipeline order; replies join when there are any.
_COLUMNS = (("matched", "matched"), ("drafted", "drafted"), ("sent", "sent"), ("tasks_done", "tasks done"))
_REPLIES = ("replies", "replies")

# A sent email counts as replied when a reply reaches its account before the account's next email.
_REPLIES_SQL = """
WITH sent AS (
    SELECT playbook, step, account_id, sent_at,
           lead(sent_at) OVER (PARTITION BY account_id ORDER BY sent_at, id) AS next_sent
    FROM outbox WHERE status = 'sent' AND sent_at IS NOT NULL AND created_at >= :since
)
SELECT playbook, step, count(*) AS replies FROM sent s
WHERE EXISTS (SELECT 1 FROM timeline t WHERE t.account_id = s.account_id AND t.kind = 'reply'
              AND t.at >= s.sent_at AND (s.next_sent IS NULL OR t.at < s.next_sent))
GROUP BY playbook, step
"""


@dataclass(frozen=True)
class StepRow:
    playbook: str
    step: str
    figures: dict[str, int]


def replies_by_step(conn: sqlite3.Connection, since: dt.date | None) -> dict[tuple[str, str], int] | None:
    """Replies per step, or None while no reply has ever been recorded (the column is left out)."""
    if conn.execute("SELECT 1 FROM timeline WHERE kind = 'reply' LIMIT 1").fetchone() is None:
        return None
    params = {"since": "" if since is None else since.isoformat()}
    return {(r["playbook"], r["step"]): r["replies"] for r in conn.execute(_REPLIES_SQL, params)}


def report_html(rt: Runtime, since: dt.date | None, source: str) -> str:
    report = build(rt.conn, rt.today, since)
    the_book = book(rt.conn, rt.fields, rt.params, rt.today)
    replies = replies_by_step(rt.conn, since)
    columns = _COLUMNS[:3] + ((_REPLIES,) if replies is not None else ()) + _COLUMNS[3:]
    rows = [
        StepRow(
            s.playbook,
            s.step,
            {
                key: (replies or {}).get((s.playbook, s.step), 0) if key == "replies" else getattr(s, key)
                for key, _name in columns
            },
        )
        for s in report.steps
    ]
    return render(
        "report.html.j2",
        today=rt.today.isoformat(),
        since=None if since is None else since.isoformat(),
        source=source,
        bands=BANDS,
        weeks=the_book.weeks,
        movers=the_book.movers,
        steps=rows,
        columns=columns,
        show_replies=replies is not None,
        holdouts=report.holdouts,
        charts=_charts(the_book, report, rows, columns),
    )


def _charts(
    the_book: Book, report: Report, rows: list[StepRow], columns: tuple[tuple[str, str], ...]
) -> dict[str, str]:
    found = {"book": "", "movers": "", "steps": "", "lift": ""}
    weeks = the_book.weeks
    if weeks:
        found["book"] = charts.stacked_columns(
            "chart-book",
            "Accounts by health band, week by week",
            f"{len(weeks)} weeks from {weeks[0].week} to {weeks[-1].week}; latest week: "
            + ", ".join(f"{b} {weeks[-1].bands[b]}" for b in BANDS)
            + ".",
            [w.week for w in weeks],
            [charts.Series(b, [w.bands[b] for w in weeks], f"band-{b}") for b in BANDS],
            "accounts",
        )
    if the_book.movers:
        found["movers"] = charts.bar_rows(
            "chart-movers",
            "Biggest health moves in 30 days",
            "; ".join(f"{m.name} {m.change:+.1f}" for m in the_book.movers) + ".",
            [charts.BarRow(m.name, [m.change]) for m in the_book.movers],
            [("change in points", "s-change")],
            "points",
        )
    if rows:
        found["steps"] = charts.bar_rows(
            "chart-steps",
            "What each playbook step did",
            f"{len(rows)} steps; bars for " + ", ".join(name for _k, name in columns) + ".",
            [charts.BarRow(r.step, [r.figures[k] for k, _n in columns], r.playbook) for r in rows],
            [(name, f"s-{key}") for key, name in columns],
            "",
        )
    lifts = [
        charts.IntervalRow(h.playbook, *(round(v * 100, 1) for v in (lift.estimate, lift.low, lift.high)))
        for h in report.holdouts
        if (lift := h.renewal_lift) is not None
    ]
    if lifts:
        found["lift"] = charts.intervals(
            "chart-lift",
            "Renewal lift of touched over held-out accounts, percentage points, 95% interval",
            "; ".join(f"{r.label} {r.estimate:+g} pp ({r.low:+g} to {r.high:+g})" for r in lifts) + ".",
            lifts,
            "pp",
        )
    return found
