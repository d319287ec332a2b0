"""Playbook YAML -> models, and every problem reported with file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from csm.builtins import builtin_dir
from csm.errors import NotFound
from csm.language.fields import standard_fields
from csm.language.playbooks import load_all, load_selected, parse_playbook

FIELDS = standard_fields()
GOOD = """\
playbook: renewal-ahead
title: Renewal ahead
audience: status = 'active'
priority: high
steps:
  - id: heads-up
    when: days_to_renewal between 91 and 120
    once_per: renewal_date
    email:
      template: renewal/heads-up.md.j2
      to: [champion, economic_buyer]
    task: { title: "Prepare the success review", due_in: 2w }
"""


def parse(text: str, name: str = "renewal-ahead"):  # type: ignore[no-untyped-def]
    return parse_playbook(text, Path(f"playbooks/{name}.yaml"), FIELDS, lambda t: t.endswith(".md.j2"))


def messages(text: str) -> list[str]:
    _, problems = parse(text)
    return [f"{p.line}:{p.column}: {p.message}" for p in problems]


def test_a_good_playbook_loads_into_a_frozen_model() -> None:
    playbook, problems = parse(GOOD)
    assert problems == []
    assert playbook is not None
    (step,) = playbook.steps
    assert (playbook.id, playbook.priority, step.id, step.priority) == (
        "renewal-ahead",
        "high",
        "heads-up",
        "high",
    )
    assert step.email is not None and step.email.to == ("champion", "economic_buyer")
    assert step.task is not None and step.task.due_in_days == 14
    assert step.once_per == "renewal_date"
    assert step.when.fields == ("days_to_renewal",)
    with pytest.raises(AttributeError):
        step.id = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("days_to_renewal between", "days_to_renewl between"),
            "7:11: unknown field 'days_to_renewl' (did you mean 'days_to_renewal'?)",
        ),
        (
            ("    once_per: renewal_date\n", "    once_per: renewal_date\n    oncee: 1\n"),
            "9:5: unknown key 'oncee' in a step (did you mean 'once_per'?)",
        ),
        (
            ("priority: high", "priority: highest"),
            "4:11: 'priority' must be one of urgent, high, normal, low, got 'highest'",
        ),
        (("due_in: 2w", "due_in: soon"), "12:58: due_in must be a duration like 3d or 2w, got 'soon'"),
        (
            ("renewal/heads-up.md.j2", "renewal/heads-up.txt"),
            "10:17: template 'renewal/heads-up.txt' not found in the templates folder",
        ),
        (
            ("playbook: renewal-ahead", "playbook: renewals"),
            "1:11: playbook id 'renewals' must match the file name 'renewal-ahead'",
        ),
        (
            ("economic_buyer]", "economic_buyr]"),
            "11:22: unknown contact role 'economic_buyr' (did you mean 'economic_buyer'?)",
        ),
        (
            ("economic_buyer]", "economic_buyer]\n      fallback: nobody"),
            "12:17: 'fallback' must be one of skip, primary, got 'nobody'",
        ),
        (
            ("once_per: renewal_date", "once_per: fortnight"),
            "8:15: once_per must be a field or one of week, month, quarter, year, got 'fortnight'",
        ),
        (
            ("[champion, economic_buyer]", "[respondent]"),
            "11:11: 'respondent' is the contact of the latest event the step's when tests, and this one"
            " tests none; write a condition on events, like count(nps_response within 2d) > 0",
        ),
        (
            ("days_to_renewal between 91 and 120", "count(ticket wher open) > 0"),
            "7:24: expected ')' to close count(, found 'wher' (did you mean 'where'?)",
        ),
        (
            ("days_to_renewal between 91 and 120", "no(contact where rol = 'x')"),
            "7:28: unknown contact field 'rol' (did you mean 'role'?)",
        ),
        (
            ("days_to_renewal between 91 and 120", "usage.logins.change(0d) < 0"),
            "7:31: usage.logins.change() takes a window from 1d to 3650d, like usage.logins.change(30d)",
        ),
    ],
)
def test_each_problem_is_located(change: tuple[str, str], expected: str) -> None:
    assert messages(GOOD.replace(*change)) == [expected]


def test_roles_the_contacts_hold_are_known_and_asked_for_only_when_needed() -> None:
    asked: list[int] = []

    def held() -> frozenset[str]:
        asked.append(1)
        return frozenset({"billing"})

    def parse_with(text: str):  # type: ignore[no-untyped-def]
        return parse_playbook(text, Path("playbooks/renewal-ahead.yaml"), FIELDS, None, held)

    playbook, problems = parse_with(GOOD)
    assert problems == [] and asked == []  # built-in roles only: contacts are never read
    assert playbook is not None and playbook.steps[0].email is not None
    assert playbook.steps[0].email.fallback == "skip"
    playbook, problems = parse_with(GOOD.replace("economic_buyer]", "billing]\n      fallback: primary"))
    assert problems == [] and playbook is not None and playbook.steps[0].email is not None
    assert (playbook.steps[0].email.to, playbook.steps[0].email.fallback) == (
        ("champion", "billing"),
        "primary",
    )


def test_respondent_names_the_contact_on_the_events_the_step_tests() -> None:
    text = GOOD.replace("days_to_renewal between 91 and 120", "any(nps_response within 2d where score <= 6)")
    playbook, problems = parse(text.replace("[champion, economic_buyer]", "[respondent, champion]"))
    assert problems == [] and playbook is not None
    step = playbook.steps[0]
    assert step.email is not None and step.email.to == ("respondent", "champion")
    assert len(step.when.events) == 1


def test_all_problems_of_a_file_are_listed_at_once() -> None:
    text = GOOD.replace("priority: high", "priority: top").replace("due_in: 2w", "due_in: x")
    assert len(messages(text)) == 2


def test_duplicate_keys_and_yaml11_booleans() -> None:
    assert messages(GOOD.replace("priority: high\n", "priority: high\npriority: low\n")) == [
        "5:1: duplicate key 'priority'"
    ]
    # `title: yes` stays the text "yes" instead of becoming True
    playbook, _ = parse(GOOD.replace("title: Renewal ahead", "title: yes"))
    assert playbook is not None and playbook.title == "yes"


def test_a_folded_condition_error_points_into_the_right_line() -> None:
    text = GOOD.replace(
        "    when: days_to_renewal between 91 and 120\n",
        "    when: >\n      days_to_renewal between 91 and 120\n      and helth < 60\n",
    )
    assert messages(text) == ["9:11: unknown field 'helth'"] or messages(text)[0].startswith(
        "9:11: unknown field 'helth'"
    )


def test_missing_pieces_are_reported() -> None:
    assert messages("playbook: renewal-ahead\n") == [
        "1:1: missing required key 'title'",
        "1:1: a playbook needs a non-empty list of steps",
    ]
    assert "a step needs an email, a task, or both" in messages(GOOD.split("    email:")[0])[0]


def test_the_builtin_playbooks_are_valid_and_substantial() -> None:
    playbooks, problems = load_all(builtin_dir("playbooks"), FIELDS, None)
    assert problems == []
    ids = {p.id for p in playbooks}
    assert {"onboarding", "adoption-milestones", "renewal-ahead", "expansion"} <= ids
    assert all(len(p.steps) >= 2 for p in playbooks)


def test_load_selected_names_an_unknown_playbook() -> None:
    with pytest.raises(NotFound, match=r"no playbook 'renewal' .*did you mean 'renewal-ahead'"):
        load_selected(builtin_dir("playbooks"), FIELDS, ["renewal"])
