"""Sequence keys in a playbook (`after`, `wait`, `unless`): the model, and each problem at its line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from csm.language.fields import standard_fields
from csm.language.followups import FollowUp
from csm.language.playbooks import parse_playbook

FIELDS = standard_fields()
BASE = """\
playbook: ping
title: Ping
steps:
  - id: hello
    when: days_since_touch >= 60
    email: {{ template: silent-account/hello.md.j2, to: [champion] }}
  - id: sign
    when: days_since_touch >= 90
    task: {{ title: "Call" }}
  - id: call
{follow}
    task: {{ title: "No reply: call", due_in: 1d }}
"""


def parse(follow: str):  # type: ignore[no-untyped-def]
    text = BASE.format(follow=follow)
    return parse_playbook(text, Path("playbooks/ping.yaml"), FIELDS, lambda t: t.endswith(".md.j2"))


def messages(follow: str) -> list[str]:
    return [f"{p.line}:{p.column}: {p.message}" for p in parse(follow)[1]]


@pytest.mark.parametrize(
    ("follow", "expected"),
    [
        (
            "    after: hello\n    wait: 5 business days\n    unless: replied",
            FollowUp("hello", 5, True, True),
        ),
        ("    after: hello\n    wait: 1 business day", FollowUp("hello", 1, True, False)),
        ("    after: hello\n    wait: 3 days", FollowUp("hello", 3, False, False)),
        ("    after: hello\n    wait: 2w\n    unless: replied", FollowUp("hello", 14, False, True)),
        ("    after: hello\n    wait: 10d", FollowUp("hello", 10, False, False)),
        ("    after: hello", FollowUp("hello", 0, False, False)),
    ],
)
def test_a_follow_up_loads(follow: str, expected: FollowUp) -> None:
    playbook, problems = parse(follow)
    assert problems == []
    step = playbook.step("call")
    assert step.follow == expected
    assert (step.when.sql, step.when.fields) == ("TRUE", ())
    assert step.when.source == expected.text()


def test_a_follow_up_reads_where_a_condition_would() -> None:
    follow = parse("    after: hello\n    wait: 5 business days\n    unless: replied")[0].step("call").follow
    assert follow.text() == "after hello: 5 business days, unless replied"
    assert FollowUp("hello", 1, False, False).text() == "after hello: 1 day"


def test_a_follow_up_may_have_a_when_of_its_own() -> None:
    playbook, problems = parse("    after: hello\n    wait: 5 business days\n    when: health < 60")
    assert problems == []
    assert playbook.step("call").when.fields == ("health",)


@pytest.mark.parametrize(
    ("follow", "expected"),
    [
        (
            "    after: helo\n    wait: 5 business days",
            "11:12: 'after' names no step of this playbook: 'helo' (did you mean 'hello'?)",
        ),
        ("    after: call", "11:12: step 'call' cannot follow itself"),
        (
            "    after: sign",
            "11:12: step 'sign' sends no email, so nothing can go unanswered: follow a step with an email",
        ),
        (
            "    after: hello\n    wait: 5 buisness days",
            "12:11: 'wait' must be like 5 business days, 3 days or 2w, got '5 buisness days'",
        ),
        ("    after: hello\n    wait: 91 days", "12:11: 'wait' must be at most 90 days, got '91 days'"),
        (
            "    after: hello\n    unless: replyed",
            "12:13: 'unless' must be one of replied, got 'replyed' (did you mean 'replied'?)",
        ),
        (
            "    when: nps < 7\n    wait: 5 business days",
            "12:11: 'wait' belongs to a follow-up: add 'after: STEP' naming the step it follows",
        ),
        ("    title: Call", "10:5: missing required key 'when'"),
    ],
)
def test_each_problem_is_reported_where_it_is(follow: str, expected: str) -> None:
    assert messages(follow) == [expected]


def test_steps_that_follow_each_other_in_a_loop_are_refused() -> None:
    text = """\
playbook: ping
title: Ping
steps:
  - id: a
    after: b
    email: { template: silent-account/hello.md.j2, to: [champion] }
  - id: b
    after: a
    email: { template: silent-account/hello.md.j2, to: [champion] }
"""
    _, problems = parse_playbook(text, Path("playbooks/ping.yaml"), FIELDS, lambda t: True)
    assert [f"{p.line}:{p.column}: {p.message}" for p in problems] == [
        "5:12: steps follow each other in a loop: a → b → a",
        "8:12: steps follow each other in a loop: b → a → b",
    ]
