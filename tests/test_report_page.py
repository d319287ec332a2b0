"""`csm report --html` opened in a real headless Chromium: it renders cleanly and its charts hold
the report's numbers (read back from the SVG in the DOM, sizes included)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import chromium
from conftest import connect

JS_MARKS = """
return [...document.querySelectorAll(arguments[0])].map(m => ({
    category: m.dataset.category, series: m.dataset.series, value: +m.dataset.value,
    low: +m.dataset.low, high: +m.dataset.high,
    width: m.getBBox().width, height: m.getBBox().height, title: m.querySelector('title').textContent,
}));
"""


@pytest.fixture(scope="module")
def browser() -> Iterator:  # type: ignore[type-arg]
    with chromium() as driver:
        yield driver


@pytest.fixture
def page(demo: Path, invoke, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path / "report.html"
    result = invoke("-w", str(demo), "report", "--html", str(out))
    assert result.exit_code == 0, result.output
    return out


def _open(browser, page: Path, tmp_path: Path, name: str):  # type: ignore[no-untyped-def]
    browser.get(page.as_uri())
    shot = tmp_path / f"{name}.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    return browser


def test_renders_without_console_errors_or_any_network(browser, page: Path, tmp_path: Path) -> None:
    b = _open(browser, page, tmp_path, "report")
    errors = [e for e in b.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    assert b.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert b.title == "Playbook report, 2026-11-23"
    assert (tmp_path / "report.png").stat().st_size > 10_000
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html and "src=" not in html and "<link" not in html


def test_every_chart_is_a_named_image_with_a_table_beside_it(browser, page: Path, tmp_path: Path) -> None:
    b = _open(browser, page, tmp_path, "report")
    charts = b.execute_script(
        "return [...document.querySelectorAll('main svg[role=img]')].map(s => [s.id,"
        " s.getAttribute('aria-labelledby').split(' ').map(i => document.getElementById(i).textContent),"
        " s.closest('section').querySelectorAll('table').length])"
    )
    assert [c[0] for c in charts] == ["chart-book", "chart-movers", "chart-steps", "chart-lift"]
    for _id, (title, desc), tables in charts:
        assert title and desc and tables == 1


def test_the_book_chart_holds_each_weeks_bands(browser, page: Path, demo: Path, tmp_path: Path) -> None:
    b = _open(browser, page, tmp_path, "report")
    marks = b.execute_script(JS_MARKS, "#chart-book rect.mark")
    drawn = {(m["category"], m["series"]): m["value"] for m in marks}
    with connect(demo) as db:
        # The last week: each account's latest snapshot from Monday 2026-11-23 on, by band.
        latest = dict(
            db.execute(
                "SELECT band, count(*) FROM health_history h WHERE date = (SELECT max(date)"
                " FROM health_history WHERE account_id = h.account_id AND date >= '2026-11-23') GROUP BY band"
            ).fetchall()
        )
    assert {band: drawn["2026-11-23", band] for band in latest} == latest
    assert len({m["category"] for m in marks}) == 13
    # Heights are to scale: pixels per account the same for every mark.
    scales = {round(m["height"] / m["value"], 3) for m in marks if m["value"]}
    assert max(scales) - min(scales) < 0.01
    fills = b.execute_script(
        "return [...document.querySelectorAll('#chart-book rect.mark')].map(r => getComputedStyle(r).fill)"
    )
    # Each band is a texture as well as a colour: it reads in black and white.
    assert {re.search(r"#(fill-\w+)", f)[1] for f in fills} == {"fill-red", "fill-yellow", "fill-green"}


def test_the_steps_and_lift_charts_hold_the_reports_figures(
    browser, page: Path, demo: Path, invoke, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    report = json.loads(invoke("-w", str(demo), "report", "--json").output)
    b = _open(browser, page, tmp_path, "report")
    drawn = {(m["category"], m["series"]): m for m in b.execute_script(JS_MARKS, "#chart-steps rect.mark")}
    for s in report["steps"]:
        name = f"{s['playbook']} › {s['step']}"
        for key, series in (
            ("matched", "matched"),
            ("drafted", "drafted"),
            ("sent", "sent"),
            ("replied", "replies"),  # the demo's customers answer about a third of its emails
            ("tasks_done", "tasks done"),
        ):
            assert drawn[name, series]["value"] == s[key], (name, series)
    widths = {round(m["width"] / m["value"], 3) for m in drawn.values() if m["value"]}
    assert max(widths) - min(widths) < 0.01
    (lift,) = b.execute_script(JS_MARKS, "#chart-lift g.mark")
    (holdout,) = report["holdouts"]
    assert lift["category"] == holdout["playbook"]
    for key, figure in (("value", "estimate"), ("low", "low"), ("high", "high")):
        assert lift[key] == pytest.approx(holdout["renewal_lift"][figure] * 100, abs=0.05)
    assert "95% CI" in lift["title"]


def test_replies_show_once_there_are_any_as_the_report_counts_them(demo: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    out = demo / "report.html"
    report = json.loads(invoke("-w", str(demo), "report", "--json").output)
    answered = next(s for s in report["steps"] if s["replied"])
    assert invoke("-w", str(demo), "report", "--html", str(out)).exit_code == 0
    name = f"{answered['playbook']} › {answered['step']}"
    html = out.read_text(encoding="utf-8")
    assert f'data-category="{name}" data-series="replies" data-value="{answered["replied"]}"' in html
    with connect(demo) as db:
        db.execute("DELETE FROM replies")
    assert invoke("-w", str(demo), "report", "--html", str(out)).exit_code == 0
    assert 'data-series="replies"' not in out.read_text(encoding="utf-8")


def test_an_unwritable_file_is_an_error_and_leaves_nothing_behind(demo: Path, invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = invoke("-w", str(demo), "report", "--html", str(tmp_path / "nowhere" / "report.html"))
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: cannot write {tmp_path / 'nowhere' / 'report.html'}: ")
    assert not (tmp_path / "nowhere").exists()


def test_account_data_is_escaped_on_the_page(demo: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    with connect(demo) as db:
        db.execute("UPDATE accounts SET name = '<script>alert(1)</script> & Co' WHERE id = 'A1103'")
    out = demo / "report.html"
    assert invoke("-w", str(demo), "report", "--html", str(out)).exit_code == 0
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html


def test_printed_the_charts_and_tables_stack_in_one_column(browser, page: Path, tmp_path: Path) -> None:
    b = _open(browser, page, tmp_path, "report")
    on_screen = b.execute_script(
        "return getComputedStyle(document.querySelector('.pair')).gridTemplateColumns"
    )
    b.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        printed = b.execute_script(
            "return getComputedStyle(document.querySelector('.pair')).gridTemplateColumns"
        )
        breaks = b.execute_script(
            "return [...document.querySelectorAll('section')].map(s => getComputedStyle(s).breakInside)"
        )
    finally:
        b.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    assert len(on_screen.split()) == 2 and len(printed.split()) == 1
    assert set(breaks) == {"avoid-page"}


def test_an_empty_book_still_makes_a_page(workspace: Path, invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "empty.html"
    assert invoke("-w", str(workspace), "report", "--html", str(out)).exit_code == 0
    html = out.read_text(encoding="utf-8")
    assert "No health snapshots yet" in html and "Nothing yet: `csm run`" in html
    assert "<svg" in html and 'role="img"' not in html  # only the shared fills, no empty charts


def test_an_unknown_account_is_an_error(demo: Path, invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = invoke("-w", str(demo), "account", "NOPE", "--html", str(tmp_path / "a.html"))
    assert result.exit_code == 1 and result.output.startswith("Error: no account 'NOPE'")
    assert not (tmp_path / "a.html").exists()


def test_without_chromium_the_browser_tests_skip_here_and_fail_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import browser as helper

    monkeypatch.setattr(helper.shutil, "which", lambda _name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        helper.require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium chromium-driver"):
        helper.require_chromium()
