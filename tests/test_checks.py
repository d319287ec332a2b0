"""`csm check`'s warnings: a usage metric no import has brought is named, with a did-you-mean."""

from __future__ import annotations

from pathlib import Path

from csm.checks import metric_warnings
from csm.language.fields import standard_fields
from csm.language.playbooks import load_all

PLAYBOOK = """\
playbook: drops
title: Drops
audience: usage.logins.last > 0
steps:
  - id: fell
    when: usage.logins.change(14d) <= -30% or usage.exprts.avg(30d) < 1
    task: { title: "Look", due_in: 1d }
"""


def test_a_metric_nothing_holds_is_a_warning_at_its_first_mention(tmp_path: Path) -> None:
    (tmp_path / "drops.yaml").write_text(PLAYBOOK, encoding="utf-8")
    playbooks, problems = load_all(tmp_path, standard_fields())
    assert problems == []
    (warning,) = metric_warnings(playbooks, ["exports", "logins"])
    assert (warning.line, warning.column) == (6, 47)
    assert warning.message == (
        "no usage data for the metric 'exprts' (did you mean 'exports'?); a condition on it is never"
        " true until an import brings it (metrics: exports, logins)"
    )
    assert metric_warnings(playbooks, []) == []  # no usage at all yet: nothing to compare with
