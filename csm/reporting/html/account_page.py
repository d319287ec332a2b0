"""`csm account ID --html`: one account before a call, its trends with the days it was touched."""

from __future__ import annotations

from csm.data import timeline
from csm.reporting import charts
from csm.reporting.account import History, account_view, history
from csm.reporting.html.page import render
from csm.runtime import Runtime

TIMELINE = 100  # the newest events shown


def account_html(rt: Runtime, account_id: str, source: str) -> str:
    view = account_view(rt, account_id)
    past = history(rt, account_id)
    return render(
        "account.html.j2",
        a=view.account,
        view=view,
        past=past,
        touched=_touched(past),
        events=timeline.recent(rt.conn, account_id, TIMELINE),
        today=rt.today.isoformat(),
        source=source,
        charts=_charts(view.account["name"], past),
    )


def _touched(past: History) -> dict[str, str]:
    """What happened on each touched day, in words: "email sent, task done"."""
    days: dict[str, list[str]] = {}
    for day, kind in past.touches:
        days.setdefault(day, []).append(kind)
    return {day: ", ".join(kinds) for day, kinds in days.items()}


def _charts(name: str, past: History) -> dict[str, str]:
    marks = [charts.Mark(day, kind) for day, kind in past.touches]
    emails = sum(kind == "email sent" for _day, kind in past.touches)
    tasks = len(past.touches) - emails
    touched = f"emails sent on {emails} days and tasks done on {tasks} days are marked"
    found = {"health": "", "usage": ""}
    lines = (("health", "Health", past.health, (0.0, 100.0)), ("usage", past.metric, past.usage, None))
    for key, label, points, scale in lines:
        if points:
            found[key] = charts.trend(
                f"chart-{key}",
                f"{name}: {label} from {past.start} to {past.end}",
                f"{label} went from {points[0][1]:g} on {points[0][0]} to {points[-1][1]:g} on"
                f" {points[-1][0]}; {touched}.",
                points,
                marks,
                (past.start, past.end),
                scale,
            )
    return found
