"""`csm run`, `csm run --dry-run` and `csm today` run nothing while `csm check` fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from csm.templating.render import Templates
from tests.conftest import db_dump

HEADS_UP = "templates/renewal/heads-up.md.j2"  # an email of the renewal-ahead playbook
GATE_HINT = "Nothing was run or written. Fix the above (`csm check` lists every problem) and run again."


def _break(demo: Path, old: str, new: str, name: str = HEADS_UP) -> str:
    path = demo / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return text


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "{{ contact.first_name }}",
            "{{ acount.name }}",
            f"Error: {HEADS_UP}:4:7: 'acount' is undefined (did you mean 'account'?);"
            " a field that may be missing needs {% if ... is defined %}\n"
            "    Hi {{ acount.name }},\n"
            "          ^\n",
        ),
        (
            "{{ contact.first_name }}",
            "{{ contact.first_name }",
            f"Error: {HEADS_UP}:4:1: Jinja syntax: unexpected '}}'\n",
        ),
        (
            "{{ contact.first_name }}",
            "{{ account.seats_usd | number }}",
            f"Error: {HEADS_UP}:4:15: no field 'seats_usd' here (did you mean 'seats_used'?);",
        ),
    ],
    ids=["undefined name", "syntax error", "undefined field behind a filter"],
)
def test_a_template_that_fails_check_stops_run_dry_run_and_today(
    invoke, demo: Path, old: str, new: str, expected: str
) -> None:
    original = _break(demo, old, new)
    check = invoke("-w", str(demo), "check")
    assert check.exit_code == 1
    assert expected.removeprefix("Error: ") in check.stderr
    before = db_dump(demo)
    # --today the next day: `today` and `run` would take a health snapshot before drafting.
    for args in (["run"], ["run", "--dry-run"], ["run", "--json"], ["today"], ["run", "renewal-ahead"]):
        result = invoke("-w", str(demo), "--today", "2026-11-24", *args)
        assert result.exit_code == 1, args
        assert result.stderr.startswith(expected), (args, result.stderr)
        assert result.stderr.endswith(GATE_HINT + "\n")
        assert "Not drafted" not in result.stderr and result.stdout == ""
    assert db_dump(demo) == before
    (demo / HEADS_UP).write_text(original, encoding="utf-8")
    fixed = invoke("-w", str(demo), "--today", "2026-11-24", "run")
    assert fixed.exit_code == 0, fixed.stderr
    assert "Added " in fixed.stdout and db_dump(demo) != before


def test_a_playbook_that_fails_check_stops_today_before_the_health_snapshot(invoke, demo: Path) -> None:
    _break(
        demo,
        "when: days_to_renewal between 91",
        "when: days_to_renwal between 91",
        "playbooks/renewal-ahead.yaml",
    )
    before = db_dump(demo)
    result = invoke("-w", str(demo), "--today", "2026-11-24", "today")
    assert result.exit_code == 1
    assert "unknown field 'days_to_renwal' (did you mean 'days_to_renewal'?)" in result.stderr
    assert result.stderr.endswith(GATE_HINT + "\n")
    assert db_dump(demo) == before


def test_only_the_templates_of_the_playbooks_run_are_checked(invoke, demo: Path) -> None:
    _break(demo, "{{ contact.first_name }}", "{{ acount.name }}", "templates/expansion/seats.md.j2")
    assert invoke("-w", str(demo), "run", "renewal-ahead", "--dry-run").exit_code == 0
    refused = invoke("-w", str(demo), "run", "expansion", "--dry-run")
    assert refused.exit_code == 1 and "templates/expansion/seats.md.j2:" in refused.stderr


def test_the_check_compiles_each_template_once_whatever_the_accounts(
    invoke, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled: list[str] = []
    checked: list[str] = []
    compile_, check = Templates._compile, Templates.check
    monkeypatch.setattr(
        Templates, "_compile", lambda self, name: compiled.append(name) or compile_(self, name)
    )
    monkeypatch.setattr(
        Templates, "check", lambda self, name, ctx: checked.append(name) or check(self, name, ctx)
    )
    result = invoke("-w", str(demo), "run")
    assert result.exit_code == 0, result.stderr
    assert int(result.stdout.split("Added ")[1].split(" draft")[0]) > 50
    assert sorted(checked) == sorted(set(checked)) and len(checked) >= 5
    assert sorted(compiled) == sorted(checked)
