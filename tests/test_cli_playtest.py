"""`csm test`: the built-ins' tests pass, a wrong expectation fails with a diff, a bad file exits 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import build_file_tree, db_dump

from csm.language.fields import standard_fields
from csm.language.playbooks import load_all
from csm.playtest.runner import run_suite

REPO = Path(__file__).resolve().parent.parent
BUILTIN_TESTS = REPO / "playbooks" / "tests"


def test_the_built_in_playbooks_tests_pass_in_process(invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every built-in case passes, and none starts a process (a case costs milliseconds: its speed
    is measured by `benchmarks/run.py --only playtest`, not here)."""
    result = invoke("test", str(BUILTIN_TESTS), "--json")
    report = json.loads(result.output)
    assert result.exit_code == 0, [c for c in report["cases"] if not c["passed"]]
    assert report["failed"] == 0 and report["passed"] >= 30

    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a playbook test started a process: {args}")

    monkeypatch.setattr("subprocess.Popen.__init__", no_process)
    suite = run_suite(REPO, [BUILTIN_TESTS])
    assert suite.cases and all(c.passed for c in suite.cases)


@pytest.mark.parametrize("playbook", sorted(p.stem for p in (REPO / "playbooks").glob("*.yaml")))
def test_every_built_in_step_has_a_match_test_and_each_file_a_suppression(playbook: str) -> None:
    path = BUILTIN_TESTS / f"{playbook}.yaml"
    assert path.is_file(), f"{playbook} ships no tests"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    playbooks, problems = load_all(REPO / "playbooks", standard_fields())
    assert not problems
    steps = {s.id for p in playbooks if p.id == playbook for s in p.steps}
    matched = {
        step
        for case in doc["cases"]
        for step, accounts in case["expect"].get("matches", {}).items()
        if accounts
    }
    assert steps <= matched, f"steps no case shows matching: {sorted(steps - matched)}"
    assert any(case["expect"].get("suppressed") for case in doc["cases"])


def test_init_copies_the_tests_and_they_pass_there(workspace: Path, invoke) -> None:
    assert (workspace / "playbooks" / "tests" / "renewal-ahead.yaml").is_file()
    assert (workspace / "playbooks" / "tests" / "golden" / "renewal-ahead-heads-up.md").is_file()
    before = db_dump(workspace)
    result = invoke("--workspace", str(workspace), "test")
    assert result.exit_code == 0, result.output
    assert db_dump(workspace) == before, "a test never touches the workspace's data"


def test_a_playbook_off_by_one_day_fails_its_boundary_test(workspace: Path, invoke) -> None:
    playbook = workspace / "playbooks" / "renewal-ahead.yaml"
    playbook.write_text(
        playbook.read_text(encoding="utf-8").replace("between 91 and 120", "between 92 and 120"),
        encoding="utf-8",
    )
    result = invoke("--workspace", str(workspace), "test", "-k", "renewal-ahead::heads-up matches")
    assert result.exit_code == 1
    assert "✗ heads-up matches 91 to 120 days out, not 90 or 121" in result.output
    assert "accounts heads-up matches\n        expected: D091, D120\n        actual:   D120" in result.output
    assert "0 passed, 1 failed" in result.output


_CASE = """\
    playbook: renewal-ahead
    today: 2026-11-23
    account_defaults: {{status: active, start_date: 2024-01-01, owner: me@example.com}}
    cases:
      - name: heads-up for Acme
        given:
          accounts:
            - {{id: A1, name: Acme, renewal_date: +100d}}
          contacts:
            - {{account: A1, email: ana@acme.test, name: Ana, role: champion}}
        expect:
          {expect}
"""


def _write_case(workspace: Path, expect: str) -> Path:
    build_file_tree(workspace, {"playbooks/tests/mine.yaml": _CASE.format(expect=expect)})
    return workspace / "playbooks" / "tests" / "mine.yaml"


def test_a_wrong_subject_and_task_show_expected_and_actual(workspace: Path, invoke) -> None:
    path = _write_case(
        workspace,
        "drafts: [{account: A1, step: heads-up, to: [bo@acme.test], subject: Hello}]\n"
        "          tasks: [{account: A1, step: heads-up, due: +7d}]",
    )
    result = invoke("test", str(path))
    assert result.exit_code == 1
    assert (
        "draft A1 › heads-up: to\n        expected: bo@acme.test\n        actual:   ana@acme.test"
        in result.output
    )
    assert "draft A1 › heads-up: subject\n        expected: Hello\n        actual:   " in result.output
    assert (
        "task A1 › heads-up: due\n        expected: 2026-11-30\n        actual:   2026-12-07" in result.output
    )


def test_a_golden_body_is_diffed_and_update_rewrites_it(workspace: Path, invoke) -> None:
    path = _write_case(workspace, "drafts: [{account: A1, step: heads-up, body_golden: golden/acme.md}]")
    missing = invoke("test", str(path))
    assert missing.exit_code == 1 and "`csm test --update` writes it" in missing.output
    updated = invoke("test", str(path), "--update")
    assert updated.exit_code == 0 and "updated playbooks/tests/golden/acme.md" in updated.output
    golden = path.parent / "golden" / "acme.md"
    assert golden.read_text(encoding="utf-8").startswith("Hi Ana,")
    golden.write_text(golden.read_text(encoding="utf-8").replace("Hi Ana,", "Dear Ana,"), encoding="utf-8")
    result = invoke("test", str(path))
    assert result.exit_code == 1
    assert "-Dear Ana,\n        +Hi Ana," in result.output
    assert invoke("test", str(path)).exit_code == 1, "only --update rewrites a golden file"


def test_an_expected_suppression_that_does_not_hold_fails(workspace: Path, invoke) -> None:
    path = _write_case(workspace, "suppressed: [{account: A1, step: heads-up, reason: snoozed}]")
    result = invoke("test", str(path))
    assert result.exit_code == 1
    expected = "A1 › heads-up suppressed by snoozed\n        expected: snoozed\n"
    assert expected + "        actual:   nothing holds it back" in result.output
    assert "yet a draft was added" in result.output


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ("matches: {heads-ub: [A1]}", "no step 'heads-ub' in renewal-ahead (did you mean 'heads-up'?)"),
        (
            "drafts: [{account: A1, step: heads-up, subjet: Hi}]",
            "unknown key 'subjet' in a draft (did you mean 'subject'?)",
        ),
        (
            "tasks: [{account: A1, step: heads-up, due: soon}]",
            "expected a date like 2026-11-23 or +14d, got 'soon'",
        ),
        (
            "suppressed: [{account: A1, step: heads-up, reason: snooze}]",
            "'reason' must be one of snoozed, until, for",
        ),
    ],
)
def test_a_bad_test_file_exits_2_naming_file_line_and_column(
    workspace: Path, invoke, expect: str, message: str
) -> None:
    path = _write_case(workspace, expect)
    result = invoke("test", str(path))
    assert result.exit_code == 2
    assert f"{path}:12:" in result.output and message in result.output


def test_typos_in_given_rows_are_found_before_anything_runs(workspace: Path, invoke) -> None:
    build_file_tree(
        workspace,
        {
            "playbooks/tests/bad.yaml": """\
                playbook: renewal-ahed
                today: 2026-11-23
                cases:
                  - name: one
                    given:
                      accounts: [{id: A1, renewl_date: +3d}]
                      usage: [{account: A1, metric: logins, values: "1 2 lots"}]
                    expect: {}
            """
        },
    )
    result = invoke("--workspace", str(workspace), "check")
    assert result.exit_code == 1
    assert "bad.yaml:1:11: no playbook 'renewal-ahed' (did you mean 'renewal-ahead'?)" in result.output
    fixed = workspace / "playbooks" / "tests" / "bad.yaml"
    fixed.write_text(
        fixed.read_text(encoding="utf-8").replace("renewal-ahed", "renewal-ahead"), encoding="utf-8"
    )
    result = invoke("--workspace", str(workspace), "test")
    assert result.exit_code == 2
    assert (
        "bad.yaml:6:27: unknown account field 'renewl_date' (did you mean 'renewal_date'?)" in result.output
    )
    assert "bad.yaml:7:53: not a series: '1 2 lots'" in result.output


def test_a_bad_value_in_a_row_is_reported_as_an_import_would(workspace: Path, invoke) -> None:
    path = _write_case(workspace, "matches: {heads-up: [A1]}")
    path.write_text(path.read_text(encoding="utf-8").replace("+100d}", "+100d, nps: lots}"), encoding="utf-8")
    result = invoke("test", str(path))
    assert result.exit_code == 2
    assert "mine.yaml:5:1: case 'heads-up for Acme':" in result.output and "column 'nps'" in result.output


def test_k_selects_cases_by_file_and_name(workspace: Path, invoke) -> None:
    result = invoke("--workspace", str(workspace), "test", "-k", "ONBOARDING::welcome", "--json")
    names = [c["name"] for c in json.loads(result.output)["cases"]]
    assert names and all(n.startswith("welcome") for n in names)


def test_test_files_outside_a_workspace_are_refused(tmp_path: Path, invoke) -> None:
    stray = tmp_path / "t.yaml"
    stray.write_text("playbook: x\n", encoding="utf-8")
    result = invoke("test", str(stray))
    assert result.exit_code == 1
    assert "test files live in a workspace's playbooks/tests folder" in result.output


def test_the_demo_ships_the_tests_and_they_pass(demo: Path, invoke) -> None:
    shutil.rmtree(demo / "playbooks" / "tests" / "golden")
    result = invoke("--workspace", str(demo), "test", "--update")
    assert result.exit_code == 0, result.output


def test_a_workspace_without_tests_says_where_they_go(workspace: Path, invoke) -> None:
    shutil.rmtree(workspace / "playbooks" / "tests")
    result = invoke("--workspace", str(workspace), "test")
    assert result.exit_code == 0
    assert "No test cases: write them in playbooks/tests/*.yaml" in result.output


_FOLLOW_UP = """\
    playbook: renewal-ahead
    today: 2026-11-23
    account_defaults: {{status: active, start_date: 2024-01-01, owner: me@example.com}}
    cases:
      - name: the call after the heads-up
        given:
          accounts:
            - {{id: A1, renewal_date: +93d}}
          contacts:
            - {{account: A1, email: ana@acme.test, role: champion}}
          sent:
            - {{account: A1, step: heads-up, to: ana@acme.test, on: -7d}}
          {replies}
        expect:
          matches: {{no-reply: [A1]}}
"""


def _write_follow_up(workspace: Path, replies: str = "", **changes: str) -> Path:
    text = _FOLLOW_UP.format(replies=replies)
    for old, new in changes.items():
        text = text.replace(old, new)
    build_file_tree(workspace, {"playbooks/tests/mine.yaml": text})
    return workspace / "playbooks" / "tests" / "mine.yaml"


def test_a_sent_email_makes_its_follow_up_match_and_a_reply_stops_it(workspace: Path, invoke) -> None:
    assert invoke("test", str(_write_follow_up(workspace))).exit_code == 0
    replied = _write_follow_up(workspace, "replies: [{account: A1, from: ana@acme.test, on: -2d}]")
    result = invoke("test", str(replied))
    assert result.exit_code == 1
    assert "accounts no-reply matches\n        expected: A1\n        actual:   none" in result.output
    # Without the sent email there is nothing to follow up.
    unsent = _write_follow_up(workspace, **{"on: -7d": "on: -1d"})
    assert invoke("test", str(unsent)).exit_code == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"to: ana@acme.test, on": "too: ana@acme.test, on"}, "12:41: unknown key 'too' in a sent entry"),
        ({"on: -7d": "on: +1d"}, "12:64: 'on' must be today or before, like -5d, got '+1d'"),
        ({", on: -7d": ""}, "12:11: missing required key 'on'"),
        ({"step: heads-up, to": "step: headsup, to"}, "12:31: no step 'headsup' in renewal-ahead"),
    ],
)
def test_a_bad_sent_email_exits_2_naming_file_line_and_column(
    workspace: Path, invoke, change: dict[str, str], message: str
) -> None:
    path = _write_follow_up(workspace, **change)
    result = invoke("test", str(path))
    assert result.exit_code == 2
    assert f"mine.yaml:{message}" in result.output
    assert invoke("--workspace", str(workspace), "check").exit_code == 1


def test_a_sent_email_the_step_did_not_draft_is_an_error(workspace: Path, invoke) -> None:
    path = _write_follow_up(workspace, **{"to: ana@acme.test": "to: bo@acme.test"})
    result = invoke("test", str(path))
    assert result.exit_code == 2
    assert "case 'the call after the heads-up': sent heads-up to bo@acme.test on 2026-11-16" in result.output
    assert "made a draft to ana@acme.test" in result.output
