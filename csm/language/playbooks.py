"""Playbook YAML -> validated, frozen models, with every problem's file:line:col.

A playbook file is checked as a whole: unknown keys, wrong types, missing
fields, bad conditions and missing templates are all collected and reported
together, each pointing at its place in the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from csm import textfile
from csm.errors import NotFound, PlaybookError, Problem, did_you_mean
from csm.language import followups, internal, yamlfile
from csm.language.compiler import Condition
from csm.language.fields import FieldSet
from csm.language.yamlfile import Checker

PRIORITIES = ("urgent", "high", "normal", "low")
PERIODS = ("week", "month", "quarter", "year")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_ROLE = re.compile(r"^[a-z][a-z0-9_]*$")
_DURATION = re.compile(r"^(\d+)([dw])$")

_PLAYBOOK_KEYS = (
    "playbook",
    "title",
    "description",
    "audience",
    "priority",
    "holdout",
    "touch_budget",
    "steps",
)
_STEP_KEYS = (
    "id",
    "title",
    "when",
    "for",
    "until",
    "once_per",
    "cooldown",
    "priority",
    "email",
    "task",
    *followups.KEYS,
)
_BUDGET_KEYS = ("max_emails", "per_days")
MAX_COOLDOWN_DAYS = 730
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")
MAX_FOR_DAYS = 90
_EMAIL_KEYS = ("template", "to", "fallback", "cc_internal")
_TASK_KEYS = ("title", "due_in", "type", "assignee")

# The contact roles a step may name without any contact holding them yet, and what an email does
# when nobody holds its roles.
ROLES = ("primary", "champion", "economic_buyer", "executive_sponsor", "admin", "user")
# Not a role a contact holds: the contact of the latest event the step's `when` tested.
RESPONDENT = "respondent"
FALLBACKS = ("skip", "primary")


@dataclass(frozen=True)
class EmailSpec:
    """A step's email: its template, its recipients and what to do without one."""

    template: str
    to: tuple[str, ...]  # contact roles, in order of preference
    fallback: str = "skip"  # when nobody holds them: "skip" (a task instead) or "primary"
    cc_internal: tuple[str, ...] = ()  # account columns or our own addresses (see csm.language.internal)


@dataclass(frozen=True)
class TaskSpec:
    """A step's task: its title, when it is due and its type."""

    title: str
    due_in_days: int
    type: str = "other"  # one of csm.language.internal.TASK_TYPES
    assignee: str | None = None  # None: the account's owner; else an account column or an address


@dataclass(frozen=True)
class Step:
    """One step of a playbook: when it fires and what it makes."""

    id: str
    title: str
    when: Condition
    once_per: str | None
    priority: str
    email: EmailSpec | None
    task: TaskSpec | None
    for_days: int = 1  # the condition must have held on each of the last N days
    until: Condition | None = None  # exit: close open tasks, withdraw unsent drafts
    cooldown_days: int = 0  # after firing for an account, not again for it within this many days
    follow: followups.FollowUp | None = None  # `after`/`wait`/`unless`: a follow-up in a sequence


@dataclass(frozen=True)
class Playbook:
    """A playbook as loaded from its file."""

    id: str
    title: str
    description: str
    audience: Condition | None
    priority: str
    steps: tuple[Step, ...]
    path: Path = field(compare=False)
    holdout: float = 0.0  # share of matching accounts set aside, 0 <= holdout < 1
    touch_budget: tuple[int, int] | None = None  # (max_emails, per_days) instead of csm.toml's

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)


def _duration_days(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match:
        return None
    return int(match.group(1)) * (7 if match.group(2) == "w" else 1)


def _roles(c: Checker, raw_email: dict, email_path: tuple[Any, ...]) -> tuple[str, ...]:
    """The roles in ``to``: each a built-in role or one a contact holds, with a did-you-mean."""
    roles = raw_email.get("to", ["primary"])
    roles = [roles] if isinstance(roles, str) else roles
    if (
        not isinstance(roles, list)
        or not roles
        or not all(isinstance(r, str) and _ROLE.match(r) for r in roles)
    ):
        c.add(
            (*email_path, "to"),
            "'to' must be a list of contact roles like [champion, economic_buyer]",
        )
        return ("primary",)
    for i, role in enumerate(roles):
        if role in ROLES or role == RESPONDENT or role in c.held_roles():
            continue
        known = sorted({*ROLES, RESPONDENT, *c.held_roles()})
        hint = did_you_mean(role, known) or (
            f": it is not built in and no contact holds it (known roles: {', '.join(known)})"
        )
        where = (*email_path, "to", i) if isinstance(raw_email.get("to"), list) else (*email_path, "to")
        c.add(where, f"unknown contact role '{role}'{hint}")
    return tuple(roles)


def _check_step(
    c: Checker,
    raw: Any,
    path: tuple[Any, ...],
    playbook_priority: str,
    index: int,
    template_exists: Callable[[str], bool] | None,
) -> Step | None:
    before = len(c.problems)
    table = c.table(raw, path, _STEP_KEYS, "a step")
    step_id = _step_id(c, table, path)
    follow = followups.check(c, table, path)
    when = c.condition(table, path, "when", required="after" not in table, prefix=f"s{index}_")
    if when is None and follow is not None and "when" not in table:
        when = followups.always(follow)
    for_days = _for_days(c, table, path)
    until = c.condition(table, path, "until", required=False, prefix=f"u{index}_")
    once_per = _once_per(c, table, path)
    cooldown = _cooldown(c, table, path)
    email = _email(c, table["email"], (*path, "email"), template_exists) if "email" in table else None
    task = _task(c, table["task"], (*path, "task")) if "task" in table else None
    if "email" not in table and "task" not in table:
        c.add(path, "a step needs an email, a task, or both")
    priority = c.choice(table, path, "priority", PRIORITIES, playbook_priority)
    if email is not None and RESPONDENT in email.to and when is not None and not when.events:
        c.add(
            (*path, "email", "to"),
            f"'{RESPONDENT}' is the contact of the latest event the step's when tests, and this one"
            " tests none; write a condition on events, like count(nps_response within 2d) > 0",
        )
    if len(c.problems) > before or when is None or step_id is None:
        return None
    return Step(
        step_id,
        table.get("title") or step_id,
        when,
        once_per,
        priority,
        email,
        task,
        for_days or 1,
        until,
        cooldown,
        follow,
    )


def _step_id(c: Checker, table: dict, path: tuple[Any, ...]) -> str | None:
    step_id = c.text(table, path, "id", required=True)
    if step_id and not _ID.match(step_id):
        c.add((*path, "id"), f"step id '{step_id}' must be lowercase letters, digits and dashes")
    return step_id


def _for_days(c: Checker, table: dict, path: tuple[Any, ...]) -> int | None:
    """How many days in a row ``when`` must hold (``for``), 1 to MAX_FOR_DAYS."""
    for_days = _duration_days(table.get("for", 1))
    if for_days is None or not 1 <= for_days <= MAX_FOR_DAYS:
        c.add(
            (*path, "for"),
            f"'for' must be a duration from 1d to {MAX_FOR_DAYS}d like 14d or 2w, got {table.get('for')!r}",
        )
    return for_days


def _cooldown(c: Checker, table: dict, path: tuple[Any, ...]) -> int:
    """``cooldown``: after firing for an account, the step waits this long for it, whatever once_per says."""
    if "cooldown" not in table:
        return 0
    days = _duration_days(table["cooldown"])
    if days is None or not 1 <= days <= MAX_COOLDOWN_DAYS:
        c.add(
            (*path, "cooldown"),
            f"'cooldown' must be a duration from 1d to {MAX_COOLDOWN_DAYS}d like 30d or 6w,"
            f" got {table['cooldown']!r}",
        )
        return 0
    return days


def _touch_budget(c: Checker, table: dict) -> tuple[int, int] | None:
    """A playbook's own ``touch_budget: {max_emails, per_days}`` (max_emails 0: exempt)."""
    if "touch_budget" not in table:
        return None
    raw = c.table(table["touch_budget"], ("touch_budget",), _BUDGET_KEYS, "touch_budget")
    values = []
    for key, low in (("max_emails", 0), ("per_days", 1)):
        value = raw.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 365:
            where = ("touch_budget", key) if key in raw else ("touch_budget",)
            c.add(where, f"touch_budget needs {key}: a whole number from {low} to 365, got {value!r}")
            return None
        values.append(value)
    return values[0], values[1]


def _once_per(c: Checker, table: dict, path: tuple[Any, ...]) -> str | None:
    once_per = table.get("once_per")
    if once_per is not None and once_per not in PERIODS and once_per not in c.fields:
        hint = did_you_mean(str(once_per), [*PERIODS, *c.fields])
        c.add(
            (*path, "once_per"),
            f"once_per must be a field or one of {', '.join(PERIODS)}, got {once_per!r}{hint}",
        )
    return once_per


def _email(
    c: Checker, raw: Any, email_path: tuple[Any, ...], template_exists: Callable[[str], bool] | None
) -> EmailSpec:
    raw_email = c.table(raw, email_path, _EMAIL_KEYS, "email")
    template = c.text(raw_email, email_path, "template", required=True)
    if template and template_exists is not None and not template_exists(template):
        c.add(
            (*email_path, "template"),
            f"template '{template}' not found in the templates folder",
        )
    roles = _roles(c, raw_email, email_path)
    fallback = c.choice(raw_email, email_path, "fallback", FALLBACKS, "skip")
    copies = internal.cc_internal(c, raw_email, email_path, c.internal_domains)
    return EmailSpec(template or "", roles, fallback, copies)


def _task(c: Checker, raw: Any, task_path: tuple[Any, ...]) -> TaskSpec:
    raw_task = c.table(raw, task_path, _TASK_KEYS, "task")
    title = c.text(raw_task, task_path, "title", required=True)
    due = _duration_days(raw_task.get("due_in", "3d"))
    if due is None:
        c.add(
            (*task_path, "due_in"),
            f"due_in must be a duration like 3d or 2w, got {raw_task.get('due_in')!r}",
        )
    kind = internal.task_type(c, raw_task, task_path)
    return TaskSpec(title or "", due or 0, kind, internal.assignee(c, raw_task, task_path))


def _holdout(c: Checker, table: dict) -> float:
    value = table.get("holdout", "0%")
    match = _PERCENT.match(value) if isinstance(value, str) else None
    share = float(match.group(1)) / 100 if match else None
    if share is None or share >= 1:
        c.add(("holdout",), f"'holdout' must be a percentage below 100% like 10%, got {value!r}")
        return 0.0
    return share


def parse_playbook(
    text: str,
    path: Path,
    fields: FieldSet,
    template_exists: Callable[[str], bool] | None = None,
    held_roles: Callable[[], Collection[str]] = frozenset,
    internal_domains: Collection[str] = (),
) -> tuple[Playbook | None, list[Problem]]:
    """Validate one playbook's text; return the model (if clean) and every problem.

    ``held_roles``: the roles the workspace's contacts hold, asked for only when
    a step names a role that is not built in. ``internal_domains``: the
    workspace's own mail domains, the only ones ``cc_internal`` may name.
    """
    try:
        doc = yamlfile.load(text, str(path))
    except yamlfile.YamlSyntaxError as exc:
        return None, [exc.problem]
    c = Checker(doc, fields, held_roles, internal_domains)
    table = c.table(doc.data, (), _PLAYBOOK_KEYS, "a playbook")
    if not table:
        if isinstance(doc.data, dict) or doc.data is None:
            c.add((), "empty playbook: it needs playbook, title and steps")
        return None, c.problems
    playbook_id = c.text(table, (), "playbook", required=True)
    if playbook_id and playbook_id != path.stem:
        c.add(("playbook",), f"playbook id '{playbook_id}' must match the file name '{path.stem}'")
    title = c.text(table, (), "title", required=True)
    audience = c.condition(table, (), "audience", required=False, prefix="aud_")
    priority = c.choice(table, (), "priority", PRIORITIES, "normal")
    holdout = _holdout(c, table)
    budget = _touch_budget(c, table)
    raw_steps = table.get("steps")
    steps: list[Step] = []
    if not isinstance(raw_steps, list) or not raw_steps:
        c.add(("steps",) if "steps" in table else (), "a playbook needs a non-empty list of steps")
    else:
        seen: set[str] = set()
        order = []
        for i, raw in enumerate(raw_steps):
            step = _check_step(c, raw, ("steps", i), priority, i, template_exists)
            if step and step.id in seen:
                c.add(("steps", i, "id"), f"duplicate step id '{step.id}'")
            elif step:
                seen.add(step.id)
                steps.append(step)
                order.append((i, step.id, step.follow, step.email is not None))
        if not c.problems:  # a step with problems of its own could be the one `after` names
            followups.check_order(c, order)
    if c.problems:
        return None, c.problems
    return Playbook(
        id=playbook_id or path.stem,
        title=title or path.stem,
        description=str(table.get("description") or "").strip(),
        audience=audience,
        priority=priority,
        steps=tuple(steps),
        path=path,
        holdout=holdout,
        touch_budget=budget,
    ), []


def load_all(
    folder: Path,
    fields: FieldSet,
    template_exists: Callable[[str], bool] | None = None,
    held_roles: Callable[[], Collection[str]] = frozenset,
    internal_domains: Collection[str] = (),
) -> tuple[list[Playbook], list[Problem]]:
    """Every ``*.yaml`` playbook in ``folder`` and every problem found in any of them."""
    playbooks: list[Playbook] = []
    problems: list[Problem] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            text = textfile.read_text(path)
        except textfile.UnreadableFile as exc:
            problems.append(exc.problem)
            continue
        playbook, found = parse_playbook(text, path, fields, template_exists, held_roles, internal_domains)
        problems.extend(found)
        if playbook:
            playbooks.append(playbook)
    return playbooks, problems


def load_selected(
    folder: Path,
    fields: FieldSet,
    names: Iterable[str] = (),
    template_exists: Callable[[str], bool] | None = None,
    held_roles: Callable[[], Collection[str]] = frozenset,
    internal_domains: Collection[str] = (),
) -> list[Playbook]:
    """The named playbooks (all when none are named); any problem raises PlaybookError."""
    playbooks, problems = load_all(folder, fields, template_exists, held_roles, internal_domains)
    if problems:
        raise PlaybookError(problems)
    by_id = {p.id: p for p in playbooks}
    wanted = list(names) or list(by_id)
    missing = [n for n in wanted if n not in by_id]
    if missing:
        name = missing[0]
        raise NotFound(
            f"no playbook '{name}' in {folder}{did_you_mean(name, by_id)}",
            hint=f"Playbooks here: {', '.join(by_id) or 'none'}.",
        )
    return [by_id[n] for n in wanted]
