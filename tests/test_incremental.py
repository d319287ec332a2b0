"""A run over unchanged inputs is skipped; a change to any input makes it run again."""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TODAY, db_dump, open_workspace, rows

from csm.builtins import builtin_path
from csm.data import timeline
from csm.data.store import transaction
from csm.engine import incremental, matching
from csm.engine.drafting import QueueReport

SKIPPED = "Nothing changed since the last run as of"


def _first_account(demo: Path) -> str:
    return rows(demo, "SELECT min(id) FROM accounts")[0][0]


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_an_unchanged_second_run_writes_nothing(invoke, demo: Path) -> None:
    assert invoke("-w", str(demo), "run", "--quiet").exit_code == 0
    before = db_dump(demo)
    again = invoke("-w", str(demo), "run")
    assert SKIPPED in again.stdout
    morning = invoke("-w", str(demo), "today")
    assert morning.exit_code == 0 and "Good morning." in morning.stdout
    assert db_dump(demo) == before


# Each input a run reads, and a change to it as a CSM (or an editor) makes it.
CHANGES: dict[str, Callable[[Callable[..., object], Path], object]] = {
    "an import": lambda invoke, demo: (
        (demo / "new.csv").write_text("id,name\nZZ-1,New Co\n", encoding="utf-8"),
        invoke("-w", str(demo), "import", "accounts", str(demo / "new.csv")),
    ),
    "a touch on the timeline": lambda invoke, demo: invoke(
        "-w", str(demo), "log", _first_account(demo), "Call: all good"
    ),
    "a snooze": lambda invoke, demo: invoke(
        "-w", str(demo), "snooze", _first_account(demo), "--until", "2027-01-01", "--reason", "on leave"
    ),
    "an unsubscribe": lambda invoke, demo: invoke("-w", str(demo), "unsubscribe", "someone@else.example"),
    "a playbook file": lambda invoke, demo: _append(demo / "playbooks" / "onboarding.yaml", "# tuned\n"),
    "a template": lambda invoke, demo: _append(next((demo / "templates").rglob("*.md.j2")), "{# tuned #}\n"),
    "the health model": lambda invoke, demo: (demo / "health.yaml").write_text(
        builtin_path("health.yaml").read_text(encoding="utf-8") + "# tuned\n", encoding="utf-8"
    ),
    "the settings": lambda invoke, demo: _append(demo / "csm.toml", "# tuned\n"),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_to_any_input_runs_again(invoke, demo: Path, change: str) -> None:
    assert invoke("-w", str(demo), "run", "--quiet").exit_code == 0
    assert SKIPPED in invoke("-w", str(demo), "run").stdout
    result = CHANGES[change](invoke, demo)
    assert getattr(result, "exit_code", 0) == 0, getattr(result, "stdout", "")
    again = invoke("-w", str(demo), "run")
    assert again.exit_code == 0, again.stdout
    assert SKIPPED not in again.stdout and "as of 2026-11-23." in again.stdout
    assert SKIPPED in invoke("-w", str(demo), "run").stdout  # and then it is current again


def test_another_day_runs_again(invoke, demo: Path) -> None:
    assert invoke("-w", str(demo), "run", "--quiet").exit_code == 0
    next_day = invoke("-w", str(demo), "--today", "2026-11-24", "run")
    assert SKIPPED not in next_day.stdout and "as of 2026-11-24." in next_day.stdout
    assert SKIPPED not in invoke("-w", str(demo), "run").stdout  # back to the 23rd: not the last run


def test_another_selection_runs_again(invoke, demo: Path) -> None:
    assert invoke("-w", str(demo), "run", "--quiet", "onboarding").exit_code == 0
    assert SKIPPED in invoke("-w", str(demo), "run", "onboarding").stdout
    assert SKIPPED not in invoke("-w", str(demo), "run").stdout
    assert SKIPPED not in invoke("-w", str(demo), "run", "--owner", "nobody@example.com").stdout


def test_a_write_from_elsewhere_during_a_run_makes_the_next_run_look_again(demo: Path) -> None:
    with open_workspace(demo, dt.date.fromisoformat(TODAY)) as rt:
        before = incremental._run_inputs(rt, (), None)
        with transaction(rt.conn):  # another process's import lands while the run evaluates
            timeline.record(rt.conn, None, "import", "imported elsewhere", "2026-11-23T08:00:00+00:00")
        after = incremental._run_inputs(rt, (), None)
        incremental.remember(rt.conn, before, after)
        assert not incremental.unchanged(rt.conn, after)


def test_the_runs_own_exits_are_taken_in(demo: Path) -> None:
    with open_workspace(demo, dt.date.fromisoformat(TODAY)) as rt:
        before = incremental._run_inputs(rt, (), None)
        with transaction(rt.conn):  # what an `until:` exit leaves on the timeline
            timeline.record(rt.conn, _first_account(demo), "exit", "until met", "2026-11-23T08:00:00+00:00")
        after = incremental._run_inputs(rt, (), None)
        incremental.remember(rt.conn, before, after)
        assert incremental.unchanged(rt.conn, after)


def test_a_run_that_could_not_draft_everything_runs_again(demo: Path, monkeypatch) -> None:
    from csm.engine import drafting

    failed = QueueReport(not_drafted=[("k", "A1", "the template failed")])
    monkeypatch.setattr(drafting, "queue", lambda *args: failed)
    with open_workspace(demo, dt.date.fromisoformat(TODAY)) as rt:
        assert incremental.run(rt).report is failed
        assert incremental.run(rt).report is failed  # not skipped: the next run tries again


def test_a_run_that_held_a_step_back_on_stale_data_runs_again(demo: Path, monkeypatch) -> None:

    monkeypatch.setattr(matching, "held_back", lambda results: ["at-risk › escalation"])
    with open_workspace(demo, dt.date.fromisoformat(TODAY)) as rt:
        first = incremental.run(rt)
        assert first.report is not None and first.held_back == ["at-risk › escalation"]
        again = incremental.run(rt)
        assert again.report is not None  # not skipped: stale data is reported again, every run
        assert again.held_back == ["at-risk › escalation"]


def _queued(demo: Path) -> dict[str, list[tuple[object, ...]]]:
    """What runs leave behind, without the time of day each row was written."""
    return {
        "outbox": rows(demo, "SELECT dedupe_key, status, subject, why FROM outbox ORDER BY dedupe_key"),
        "tasks": rows(demo, "SELECT dedupe_key, status, title, why FROM tasks ORDER BY dedupe_key"),
        "matches": rows(demo, "SELECT * FROM matches ORDER BY playbook, step, account_id"),
    }


def test_leaving_settled_matches_out_of_a_run_changes_nothing_it_writes(
    demo: Path, monkeypatch, copy_workspace
) -> None:
    """A match whose draft and task exist (as the step's query tells) is not carried through
    the run; another missing either is, and every match is still recorded for the report. The
    same as a run that carries every match through and reads every key to tell what is new."""
    from csm.engine import drafting

    with open_workspace(demo, dt.date.fromisoformat(TODAY)) as rt:
        assert incremental.run(rt).report is not None
        with transaction(rt.conn):
            # One step's task gone (its draft kept), another's draft gone (its task kept).
            rt.conn.execute(
                "DELETE FROM tasks WHERE id ="
                " (SELECT min(t.id) FROM tasks t JOIN outbox o USING (dedupe_key))"
            )
            rt.conn.execute(
                "DELETE FROM outbox WHERE id ="
                " (SELECT max(o.id) FROM outbox o JOIN tasks t USING (dedupe_key))"
            )
    unskipped = copy_workspace(demo, demo.parent / "unskipped")
    next_day = dt.date.fromisoformat(TODAY) + dt.timedelta(days=1)
    with open_workspace(demo, next_day) as rt:
        settled = incremental.run(rt)
    evaluate = matching.evaluate
    monkeypatch.setattr(matching, "evaluate", lambda *a, **kw: evaluate(*a, **{**kw, "settle": False}))
    with open_workspace(unskipped, next_day) as rt:
        every_key = drafting.existing_keys
        every_keys = staticmethod(lambda results: every_key(rt.conn, {r.playbook.id for r in results}))
        monkeypatch.setattr(drafting.Existing, "of", every_keys)
        every = incremental.run(rt)
    assert settled.report is not None and every.report is not None
    assert [q.summary for q in settled.report.added] == [q.summary for q in every.report.added]
    assert _queued(demo) == _queued(unskipped)
    recorded = rows(demo, "SELECT count(*) FROM matches WHERE last_matched = ?", next_day.isoformat())
    assert recorded[0][0] > len(settled.report.added)  # the settled ones are recorded too


_EXPORTS_WATCH = """playbook: exports-watch
title: Exports watch
audience: status = 'active'
steps:
  - id: exports-fell
    title: Exports fell
    when: usage.exports.change(30d) <= -50% and usage.integrations = 0
    task: { title: "Look at their exports", due_in: 3d, type: review }
"""


def test_a_run_rolls_up_the_metrics_two_conditions_read(demo: Path) -> None:
    """The built-ins read exports' windows and the latest integrations once each: left to them.
    A second playbook reading them too: the day's run rolls them up."""
    with open_workspace(demo, dt.date.fromisoformat(TODAY), {"exports-watch.yaml": _EXPORTS_WATCH}) as rt:
        playbooks = rt.checked_playbooks(())
        builtins = [p for p in playbooks if p.id != "exports-watch"]
        wanted = {("exports", "windows"), ("integrations", "latest")}
        assert not wanted & incremental.rolled_parts(builtins)
        assert wanted <= incremental.rolled_parts(playbooks)
        assert incremental.run(rt).report is not None
    covered = {(m, part) for m, part in rows(demo, "SELECT metric, part FROM usage_rollup_covers")}
    assert covered == incremental.rolled_parts(playbooks)
    assert rows(demo, "SELECT count(*) FROM usage_rollup_metric WHERE metric = 'exports'")[0][0] > 0


@pytest.mark.parametrize("command", ["run", "today"])
def test_a_run_goes_with_the_cyclic_collector_paused(
    invoke, demo: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    seen: list[bool] = []
    real = incremental.run

    def watched(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(incremental, "run", watched)
    assert invoke("-w", str(demo), command).exit_code == 0
    assert seen == [False]
    assert gc.isenabled()  # and resumed after


def test_a_run_of_a_book_leaves_no_cycles_behind(demo: Path) -> None:
    """The collector is paused for a whole run (the checks, the rollup and the health snapshot,
    evaluating and drafting), safe only while it makes no cycles: each object it makes must go by
    its reference count."""
    with open_workspace(demo, dt.date.fromisoformat(TODAY)) as rt:
        from csm.engine import drafting  # noqa: F401  (a module's own objects are not the run's)
        from csm.health import score  # noqa: F401

        gc.collect()
        gc.disable()  # as `csm run` pauses it, and so that nothing is collected unseen
        try:
            outcome = incremental.run(rt)
            cycles = gc.collect()
        finally:
            gc.enable()
    assert outcome.report is not None and len(outcome.report.added) > 50
    assert cycles == 0
