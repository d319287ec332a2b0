"""`csm account ID --html` in a real headless Chromium: the trend lines hold the account's snapshots
and usage, and the days an email was sent or a task done are marked on them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import chromium
from conftest import rows

ACCOUNT = "A1329"  # a demo account with emails sent and tasks done in the last 90 days
JS_POINTS = """
return [...document.querySelectorAll(arguments[0])].map(p => [p.dataset.day, +p.dataset.value]);
"""
JS_EVENTS = """
return [...document.querySelectorAll(arguments[0] + ' g.event')].map(e => [e.dataset.day, e.dataset.kind]);
"""


@pytest.fixture(scope="module")
def browser() -> Iterator:  # type: ignore[type-arg]
    with chromium() as driver:
        yield driver


@pytest.fixture
def opened(browser, demo: Path, invoke, tmp_path: Path):  # type: ignore[no-untyped-def]
    out = tmp_path / "account.html"
    result = invoke("-w", str(demo), "account", ACCOUNT, "--html", str(out))
    assert result.exit_code == 0, result.output
    browser.get(out.as_uri())
    shot = tmp_path / "account.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    return browser


def test_renders_without_console_errors(opened) -> None:  # type: ignore[no-untyped-def]
    assert [e for e in opened.get_log("browser") if e["level"] in ("SEVERE", "WARNING")] == []
    assert opened.title.startswith("Sable Biotech (A1329)")


def test_the_health_and_usage_lines_hold_the_accounts_numbers(opened, demo: Path) -> None:  # type: ignore[no-untyped-def]
    health = rows(
        demo, "SELECT date, score FROM health_history WHERE account_id = ? AND date > '2026-08-25'", ACCOUNT
    )
    usage = rows(
        demo,
        "SELECT date, value FROM usage WHERE account_id = ? AND metric = 'active_users'"
        " AND date > '2026-08-25'",
        ACCOUNT,
    )
    assert [tuple(p) for p in opened.execute_script(JS_POINTS, "#chart-health circle.point")] == health
    assert [tuple(p) for p in opened.execute_script(JS_POINTS, "#chart-usage circle.point")] == usage
    # Drawn to scale: a higher score sits higher.
    ys = opened.execute_script(
        "return [...document.querySelectorAll('#chart-health circle.point')].map(p => +p.getAttribute('cy'))"
    )
    by_score = [y for _score, y in sorted(zip([s for _d, s in health], ys, strict=True))]
    assert by_score == sorted(by_score, reverse=True)


def test_touched_days_are_marked_on_both_lines(opened, demo: Path) -> None:  # type: ignore[no-untyped-def]
    touched = rows(
        demo,
        "SELECT DISTINCT date(at), CASE kind WHEN 'email_sent' THEN 'email sent' ELSE 'task done' END"
        " FROM timeline WHERE account_id = ? AND kind IN ('email_sent', 'task_done')"
        " AND date(at) > '2026-08-25'"
        " ORDER BY 1, 2",
        ACCOUNT,
    )
    assert {kind for _day, kind in touched} == {"email sent", "task done"}
    for chart in ("#chart-health", "#chart-usage"):
        assert [tuple(e) for e in opened.execute_script(JS_EVENTS, chart)] == touched
    listed = opened.execute_script(
        "return [...document.querySelectorAll('#touches-table tbody tr')].map(r => r.textContent)"
    )
    assert len(listed) == len({day for day, _kind in touched})


def test_the_timeline_lists_the_newest_events(opened, demo: Path) -> None:  # type: ignore[no-untyped-def]
    newest = rows(
        demo, "SELECT summary FROM timeline WHERE account_id = ? ORDER BY at DESC, id DESC LIMIT 100", ACCOUNT
    )
    shown = opened.execute_script(
        "return [...document.querySelectorAll('#timeline-table tbody tr td:last-child')]"
        ".map(c => c.textContent)"
    )
    assert shown == [s for (s,) in newest]
