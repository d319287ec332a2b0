"""Sequences in the playbook language: a step that follows another (`after`, `wait`, `unless`).

    - id: no-reply
      after: heads-up          # another step of this playbook, one with an email
      wait: 5 business days    # after that email went out (also: 3 days, 2 weeks, 5d, 1w)
      unless: replied          # and nobody from the account wrote back since
      task: { title: "No reply to the success review: call", due_in: 1d }

The step fires once per email of the step it follows. Its `when:` is optional
and, when given, must hold as well. What the keys mean in SQL lives in
:mod:`csm.engine.sequences`; this module checks them at load time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from csm.errors import did_you_mean
from csm.language.compiler import Condition
from csm.language.yamlfile import Checker

KEYS = ("after", "wait", "unless")
UNLESS = ("replied",)  # what stops a follow-up: someone from the account wrote back
MAX_WAIT_DAYS = 90
_WAIT = re.compile(r"^(\d+)\s*(business days?|days?|weeks?|d|w)$")


@dataclass(frozen=True)
class FollowUp:
    """A step's ``follows:``: which step's email it follows, and after how long."""

    after: str  # the step whose sent email this one follows
    wait_days: int  # how long after it went out
    business: bool  # counted in business days (no weekends, no holidays of csm.toml)
    unless_replied: bool

    @property
    def wait_text(self) -> str:
        unit = "business day" if self.business else "day"
        return f"{self.wait_days} {unit}{'' if self.wait_days == 1 else 's'}"

    def text(self) -> str:
        """How it reads where a condition would: ``after heads-up: 5 business days, unless replied``."""
        return f"after {self.after}: {self.wait_text}" + (", unless replied" if self.unless_replied else "")


# The SQL of :func:`always`: true on both databases (PostgreSQL takes no 1 for a boolean).
ALWAYS_SQL = "TRUE"


def always(follow: FollowUp) -> Condition:
    """The `when:` of a follow-up that has none: its sequence keys decide alone."""
    return Condition(source=follow.text(), sql=ALWAYS_SQL, params={}, fields=())


def check(c: Checker, table: dict, path: tuple[Any, ...]) -> FollowUp | None:
    """The step's sequence keys, or None when it has none; each problem at its key's line:col."""
    if "after" not in table:
        for key in ("wait", "unless"):
            if key in table:
                c.add(
                    (*path, key),
                    f"'{key}' belongs to a follow-up: add 'after: STEP' naming the step it follows",
                )
        return None
    after = c.text(table, path, "after", required=True) or ""
    wait = _wait(c, table, path)
    unless = table.get("unless")
    if unless is not None and unless not in UNLESS:
        c.add(
            (*path, "unless"),
            f"'unless' must be one of {', '.join(UNLESS)}, got {unless!r}{did_you_mean(str(unless), UNLESS)}",
        )
    if wait is None:
        return None
    return FollowUp(after, wait[0], wait[1], unless == "replied")


def _wait(c: Checker, table: dict, path: tuple[Any, ...]) -> tuple[int, bool] | None:
    raw = table.get("wait", "0 days")
    match = _WAIT.match(raw.strip()) if isinstance(raw, str) else None
    if isinstance(raw, int) and not isinstance(raw, bool):
        match = _WAIT.match(f"{raw} days")
    if match is None:
        c.add((*path, "wait"), f"'wait' must be like 5 business days, 3 days or 2w, got {raw!r}")
        return None
    count, unit = int(match.group(1)), match.group(2)
    days = count * (7 if unit[0] == "w" else 1)
    if days > MAX_WAIT_DAYS:
        c.add((*path, "wait"), f"'wait' must be at most {MAX_WAIT_DAYS} days, got {raw!r}")
        return None
    return days, unit.startswith("business")


def check_order(c: Checker, steps: Sequence[tuple[int, str, FollowUp | None, bool]]) -> None:
    """Each `after` names another step of the playbook that sends an email, and no loop.

    ``steps``: (index in the file, id, its follow-up, whether it has an email).
    """
    emails = {step_id: has_email for _, step_id, _, has_email in steps}
    follows = {step_id: f.after for _, step_id, f, _ in steps if f is not None}
    for index, step_id, follow, _ in steps:
        if follow is None:
            continue
        where = ("steps", index, "after")
        if follow.after == step_id:
            c.add(where, f"step '{step_id}' cannot follow itself")
        elif follow.after not in emails:
            hint = did_you_mean(follow.after, emails) or f" (steps here: {', '.join(emails)})"
            c.add(where, f"'after' names no step of this playbook: '{follow.after}'{hint}")
        elif not emails[follow.after]:
            c.add(
                where,
                f"step '{follow.after}' sends no email, so nothing can go unanswered:"
                " follow a step with an email",
            )
        elif _loops(step_id, follows):
            c.add(where, f"steps follow each other in a loop: {' → '.join(_chain(step_id, follows))}")


def _loops(start: str, follows: dict[str, str]) -> bool:
    return start in _chain(start, follows)[1:]


def _chain(start: str, follows: dict[str, str]) -> list[str]:
    chain, step = [start], follows.get(start)
    while step is not None and step not in chain:
        chain.append(step)
        step = follows.get(step)
    return [*chain, step] if step is not None else chain
