"""Drafting: turning what evaluation matched into drafts in the outbox and tasks in the task list.

For each match of a step, :func:`queue` drafts the step's email (recipients
chosen, the template rendered with :func:`csm.engine.context.context`) and
adds its task. An email nobody may receive becomes a skipped outbox row saying
why, and a task for the CSM instead. Drafts are stored as rendered text
(subject + Markdown body); the MIME message is built only when previewing or
sending.

The dedupe key (playbook, step, account, once_per value) is UNIQUE in both
tables, so evaluating again, or two runs at once, never adds anything twice.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sqlite3
from collections.abc import Callable, Collection, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, NamedTuple

from csm.collector import paused
from csm.data import timeline
from csm.data.store import transaction
from csm.engine import tasks
from csm.engine.context import context
from csm.engine.matching import Match, StepResult, account_rows, record_matches
from csm.engine.recipients import (
    NO_RECIPIENT,
    NOTE_KEY,
    Recipient,
    account_contacts,
    choose,
    contact_addresses,
    named_roles,
    respondents,
)
from csm.errors import TemplateError
from csm.language.fields import FieldSet
from csm.language.internal import internal_copies, resolve_assignee
from csm.language.playbooks import Playbook, Step
from csm.mail import budget, outbox
from csm.templating.filters import plural
from csm.templating.render import Templates
from csm.workspace import TouchBudget, Workspace


class Draft(NamedTuple):
    """One rendered email. A tuple, not a dataclass: a run may draft tens of thousands."""

    dedupe_key: str
    playbook: str
    step: str
    account_id: str
    owner: str | None
    to: tuple[Recipient, ...]
    cc: tuple[str, ...]
    cc_internal: tuple[str, ...]  # colleagues copied (see csm.language.internal for the trust rule)
    reply_to: str | None
    subject: str
    body: str
    template: str
    why: dict[str, Any]
    priority: str


@dataclass(frozen=True)
class Unaddressed:
    """A match whose email nobody may receive: why, and the CSM's task instead."""

    reason: str
    task_title: str


def draft(
    ws: Workspace,
    templates: Templates,
    contacts: Sequence[sqlite3.Row],
    playbook: Playbook,
    step: Step,
    match: Match,
    account: dict[str, Any],
    today: dt.date,
    respondent: str | None = None,
    on_file: Container[str] = frozenset(),
    key: str | None = None,
) -> Draft | Unaddressed:
    """The rendered draft for one match (``contacts``: the account's, see
    :func:`csm.engine.recipients.account_contacts`; ``respondent``: see
    :func:`csm.engine.recipients.respondents`; ``key``: the match's dedupe key, if the caller
    has it), or why nobody may receive it.

    A role nobody holds is never silently replaced: the step's ``fallback``
    decides, and a draft that misses a role says so in its why. ``on_file``:
    every contact address (lowercased), never an internal copy.
    """
    email = step.email
    assert email is not None
    choice = choose(contacts, email.to, email.fallback, respondent)
    people = choice.people
    if not people:
        return Unaddressed(choice.reason(match.account_name), choice.task_title(step.title))
    note = choice.note(match.account_name)
    rendered = templates.render(email.template, context(ws, account, people[0], playbook, step, today))
    copies, left_out = (
        internal_copies(email.cc_internal, account, ws.settings.internal_domains, on_file)
        if email.cc_internal
        else ((), [])
    )
    why = {**match.values, NOTE_KEY: note} if note else match.values
    if left_out:
        why = {**why, "cc_internal": "; ".join(left_out)}
    cc = [p.email for p in people[1:]] + list(rendered.cc) if len(people) > 1 or rendered.cc else ()
    return Draft(  # by position: a run drafts tens of thousands, keywords cost a third of building one
        key or match.dedupe_key(playbook, step),
        playbook.id,
        step.id,
        match.account_id,
        match.owner,
        (people[0],),
        tuple(dict.fromkeys(cc)),
        copies,
        rendered.reply_to,
        rendered.subject,
        rendered.body,
        email.template,
        why,
        step.priority,
    )


# Slots (a first run of the day at 1M accounts reports 65,000), not frozen: a frozen dataclass
# sets each field through object.__setattr__, 1.2 us a row against 0.2.
@dataclass(slots=True)
class Queued:
    """A row the queue added: a draft, a task or a skipped email."""

    kind: str  # "draft", "task" or "skipped"
    id: int
    playbook: str
    step: str
    account_id: str
    account_name: str
    summary: str  # the subject, the task title, or why nobody may receive the email


@dataclass
class QueueReport:
    """What the queue did: rows added and skipped, what it did not draft, what an ``until`` closed."""

    added: list[Queued] = field(default_factory=list)
    skipped: list[Queued] = field(default_factory=list)  # emails nobody may receive (summary: why)
    not_drafted: list[tuple[str, str, str]] = field(default_factory=list)  # (key, account, reason)
    exited: list[tuple[str, str, str]] = field(default_factory=list)  # (playbook, step, account)
    # Every draft waiting for a contact's touch budget (new ones are not in `added`); why is its
    # reason in the outbox (:func:`csm.mail.outbox.reasons`).
    deferred: set[int] = field(default_factory=set)


# Matches drafted at a time: their accounts' rows, contacts and rendered drafts are what a run
# holds (read when queue() is called: a test makes it tiny).
MATCHES_AT_A_TIME = 2000

# Some of the results' matches, in their order: each result with a run of its matches.
_Piece = list[tuple[StepResult, Sequence[Match]]]


@paused()  # drafting makes no cycles (a test drafts a book and finds none)
def queue(
    conn: sqlite3.Connection,
    ws: Workspace,
    templates: Templates,
    fields: FieldSet,
    base_params: dict,
    results: list[StepResult],
    today: dt.date,
    now: str,
    existing: Existing | None = None,
) -> QueueReport:
    """Draft and store every new email and task the results call for.

    An email nobody may receive (see :mod:`csm.engine.recipients`) leaves a
    skipped outbox row saying why and a task for the CSM, both under the step's
    key plus ``:no-recipient``: a later run drafts it once someone holds the
    role (closing that task), unless the CSM has done the task by hand.
    ``existing``: the keys drafted and tasked already, as a settling evaluation found them
    (:meth:`Existing.of`); else every key of the results' playbooks is read (:func:`existing_keys`).

    The matches are drafted :data:`MATCHES_AT_A_TIME` at a time (their accounts' rows and contacts read,
    the emails rendered and stored, then the next ones), all in one write transaction: a run
    that fails leaves nothing written, and a million matches need no memory for all their drafts.
    """
    if existing is None:
        existing = existing_keys(conn, {r.playbook.id for r in results})
    drafter = _Drafter(
        conn,
        ws,
        templates,
        fields,
        base_params,
        today,
        existing,
        _read_fields(templates, results),
        named_roles(r.step for r in results),
        contact_addresses(conn) if any(r.step.email and r.step.email.cc_internal for r in results) else (),
    )
    batch = _Batch(today, now, ws.settings.touch_budget)
    with transaction(conn):
        record_matches(conn, results, today)
        exited = _apply_exits(conn, results, now)
        for piece in _pieces(results, MATCHES_AT_A_TIME):
            drafter.draft(piece, batch)
            batch.store(conn)
        return _store(conn, batch, exited)


def _pieces(results: list[StepResult], size: int) -> Iterator[_Piece]:
    """The results' matches in their order, ``size`` at a time."""
    piece: _Piece = []
    room = size
    for result in results:
        matches = result.matches
        start = 0
        while start < len(matches):
            taken = matches[start : start + room]
            piece.append((result, taken))
            start += len(taken)
            room -= len(taken)
            if not room:
                yield piece
                piece, room = [], size
    if piece:
        yield piece


@dataclass(frozen=True)
class _Drafter:
    """What drafting every piece of a run reads alike: the workspace, the keys made already, the
    account fields the templates read, the roles the steps name and the contact addresses on file."""

    conn: sqlite3.Connection
    ws: Workspace
    templates: Templates
    fields: FieldSet
    base_params: dict
    today: dt.date
    existing: Existing
    read_fields: set[str] | None
    roles: frozenset[str] | None
    on_file: Container[str]

    def draft(self, piece: _Piece, batch: _Batch) -> None:
        """Draft the piece's emails and tasks into ``batch``."""
        have_drafts, have_tasks = self.existing.drafts, self.existing.tasks
        conn, today = self.conn, self.today
        keys = [[m.dedupe_key(r.playbook, r.step) for m in matches] for r, matches in piece]
        need = _to_draft(piece, keys, have_drafts)
        wanted = sorted({*need, *_assigned(piece, keys, have_tasks)})
        accounts = account_rows(conn, self.fields, self.base_params, wanted, self.read_fields)
        contacts = account_contacts(conn, need, self.roles)
        for (result, matches), step_keys in zip(piece, keys, strict=True):
            step = result.step
            who = respondents(conn, step, self.base_params, [m.account_id for m in matches])
            for match, key in zip(matches, step_keys, strict=True):
                if step.email and key not in have_drafts:
                    account_id = match.account_id
                    try:
                        made = draft(
                            self.ws,
                            self.templates,
                            contacts.get(account_id, []),
                            result.playbook,
                            step,
                            match,
                            accounts[account_id],
                            today,
                            who.get(account_id),
                            self.on_file,
                            key,
                        )
                    except TemplateError as exc:
                        batch.not_drafted.append((key, match.account_id, str(exc.problems[0].message)))
                        continue  # nor its task: the next run tries both again
                    batch.email(result, match, made)
                if step.task and key not in have_tasks:
                    due = today + dt.timedelta(days=step.task.due_in_days)
                    account = accounts.get(match.account_id, {})
                    domains = self.ws.settings.internal_domains
                    assignee, note = resolve_assignee(step.task.assignee, account, match.owner, domains)
                    batch.task(key, result, match, step.task.title, due, step.task.type, assignee, note)


def _assigned(piece: _Piece, keys: list[list[str]], have_tasks: set[str]) -> set[str]:
    """The accounts with a new task assigned through an account column (read from their row);
    ``keys``: the piece's matches' dedupe keys, by result."""
    return {
        m.account_id
        for (r, matches), step_keys in zip(piece, keys, strict=True)
        if r.step.task and r.step.task.assignee and "@" not in r.step.task.assignee
        for m, key in zip(matches, step_keys, strict=True)
        if key not in have_tasks
    }


def _to_draft(piece: _Piece, keys: list[list[str]], have_drafts: set[str]) -> list[str]:
    """The accounts with an email to draft (``keys`` as for :func:`_assigned`)."""
    return sorted(
        {
            m.account_id
            for (r, matches), step_keys in zip(piece, keys, strict=True)
            if r.step.email
            for m, key in zip(matches, step_keys, strict=True)
            if key not in have_drafts
        }
    )


def _read_fields(templates: Templates, results: list[StepResult]) -> set[str] | None:
    """The account fields drafting reads (None: any), so only those are fetched: what the steps'
    templates read, the columns their ``cc_internal`` and task ``assignee`` name (the owner always)."""
    needed: set[str] = set()
    for result in results:
        email, task = result.step.email, result.step.task
        if email and result.matches:
            used = templates.account_fields(email.template)
            if used is None:
                return None
            needed |= used
            needed.update(entry for entry in email.cc_internal if "@" not in entry)
        if task and task.assignee and "@" not in task.assignee:
            needed.add(task.assignee)
    return needed


# A row as the report will name it, but its id: Queued's fields less ``id``.
_Shown = tuple[str, str, str, str, str, str]


@dataclass
class _Batch:
    """What one queue() call adds: a piece's rows by dedupe key, as :func:`outbox.add` and
    :func:`tasks.add` take them, stored piece by piece (:meth:`store`), and what the report shows.

    The skipped rows wait for the run's last draft (:func:`_store`): the outbox's ids go to
    every draft of a run, then to its skipped rows, however many pieces it takes.
    """

    today: dt.date
    now: str
    touch_budget: TouchBudget
    drafts: dict[str, outbox.NewRow] = field(default_factory=dict)
    skipped: dict[str, outbox.NewRow] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    not_drafted: list[tuple[str, str, str]] = field(default_factory=list)  # (key, account, reason)
    # The piece's rows as the report names them (their ids once inserted), by table and key: a
    # step's draft and task share a key. The skipped rows', by key, until they are inserted.
    shown: dict[tuple[str, str], _Shown] = field(default_factory=dict)
    shown_skipped: dict[str, _Shown] = field(default_factory=dict)
    added: list[Queued] = field(default_factory=list)  # the drafts and tasks stored so far

    def store(self, conn: sqlite3.Connection) -> None:
        """Add the piece's drafts and tasks (caller's write), closing the tasks of the emails
        nobody could receive before that now have someone to write to."""
        draft_ids = outbox.add(conn, self.drafts, "draft", self.now)
        task_ids = tasks.add(conn, self.tasks)
        answered = [key + NO_RECIPIENT for key in draft_ids]
        tasks.close_keys(conn, answered, "drafted: a contact holds the role now", self.now)
        for table, ids in (("outbox", draft_ids), ("tasks", task_ids)):
            for key, row_id in ids.items():
                kind, *named = self.shown[table, key]
                self.added.append(Queued(kind, row_id, *named))
        self.drafts, self.tasks, self.shown = {}, {}, {}

    def email(self, result: StepResult, match: Match, made: Draft | Unaddressed) -> None:
        if isinstance(made, Unaddressed):
            self._unaddressed(result, match, made)
            return
        self.drafts[made.dedupe_key] = outbox.NewRow(
            made.dedupe_key,
            made.playbook,
            made.step,
            made.account_id,
            made.owner,
            _pairs_json(made.to),
            made.subject,
            made.body,
            made.template,
            _why_json(made.why),
            _list_json(made.cc),
            _list_json(made.cc_internal),
            made.reply_to,
            made.priority,
            budget_text(result.playbook),
        )
        self.shown["outbox", made.dedupe_key] = _queued("draft", result, match, made.subject)

    def task(
        self,
        key: str,
        result: StepResult,
        match: Match,
        title: str,
        due: dt.date,
        kind: str,
        assignee: str | None,
        note: str = "",
    ) -> None:
        row = _row(result, match, key, self.now, {**match.values, "assignee": note} if note else match.values)
        self.tasks[key] = {
            **row,
            "title": title,
            "due_date": due.isoformat(),
            "type": kind,
            "assignee": assignee,
        }
        self.shown["tasks", key] = _queued("task", result, match, title)

    def _unaddressed(self, result: StepResult, match: Match, made: Unaddressed) -> None:
        """A skipped outbox row saying why nobody may receive the email, and the CSM's task."""
        assert result.step.email is not None
        key = match.dedupe_key(result.playbook, result.step) + NO_RECIPIENT
        self.skipped[key] = outbox.NewRow(
            key,
            result.playbook.id,
            result.step.id,
            match.account_id,
            match.owner,
            "[]",
            f"(not drafted: {made.reason})",
            "",
            result.step.email.template,
            _why_json(match.values),
            priority=result.step.priority,
            reason=made.reason,
        )
        self.shown_skipped[key] = _queued("skipped", result, match, made.reason)
        self.task(key, result, match, made.task_title, self.today, "email", match.owner)


def _row(result: StepResult, match: Match, key: str, now: str, why: dict[str, Any]) -> dict[str, Any]:
    """The columns a step's draft and task share (``why``: the row's own, encoded once)."""
    return {
        "dedupe_key": key,
        "playbook": result.playbook.id,
        "step": result.step.id,
        "account_id": match.account_id,
        "owner": match.owner,
        "priority": result.step.priority,
        "why": _why_json(why),
        "now": now,
    }


def budget_text(playbook: Playbook) -> str | None:
    """The playbook's own touch budget as the outbox keeps it (``"3/7"``), None for csm.toml's."""
    return None if playbook.touch_budget is None else "{}/{}".format(*playbook.touch_budget)


def _queued(kind: str, result: StepResult, match: Match, summary: str) -> _Shown:
    return kind, result.playbook.id, result.step.id, match.account_id, match.account_name, summary


_json = json.JSONEncoder().encode
_encode_why = json.JSONEncoder(default=str).encode  # as json.dumps(why, default=str), made once
_quote = encode_basestring_ascii  # as _json quotes a string (ensure_ascii)


def _float_json(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


# A scalar's JSON, by its exact type, as the encoder writes it (a date through default=str).
_SCALAR_JSON: dict[type, Callable[[Any], str]] = {
    str: _quote,
    int: int.__repr__,
    float: _float_json,
    bool: lambda value: "true" if value else "false",
    type(None): lambda _: "null",
    dt.date: lambda value: _quote(str(value)),
}


def _why_json(why: dict[str, Any]) -> str:
    """A draft's why as ``json.dumps(why, default=str)`` writes it. A why is a condition's fields,
    text keys and scalar values: written here from each value's own JSON, a third of what the
    encoder costs a call (its set-up is most of a short why); anything else goes to the encoder."""
    parts = []
    for key, value in why.items():
        scalar = _SCALAR_JSON.get(type(value))
        if scalar is None or type(key) is not str:
            return _encode_why(why)
        parts.append(f"{_quote(key)}: {scalar(value)}")
    return "{" + ", ".join(parts) + "}"


def _pairs_json(people: tuple[Recipient, ...]) -> str:
    """The To addresses as the outbox keeps them, ``[[name, email], ...]``: what ``_json`` makes of
    them, built from the encoder's own string quoting (names and emails are always text)."""
    return "[" + ", ".join(f"[{_quote(p.name)}, {_quote(p.email)}]" for p in people) + "]"


def _list_json(items: tuple[str, ...]) -> str:
    """A tuple of addresses as the outbox keeps it; most are empty."""
    return _json(list(items)) if items else "[]"


def _store(conn: sqlite3.Connection, batch: _Batch, exited: list[tuple[str, str, str]]) -> QueueReport:
    """Add the batch's skipped rows and apply the touch budget (caller's write, after the last
    piece is stored): the run's report."""
    skipped_ids = outbox.add(conn, batch.skipped, "skipped", batch.now)
    deferred = budget.rebalance(conn, batch.touch_budget, batch.today, batch.now)
    report = QueueReport(not_drafted=batch.not_drafted, exited=exited, deferred=deferred)
    report.added = [q for q in batch.added if not (q.kind == "draft" and q.id in report.deferred)]
    report.added.sort(key=lambda q: (q.kind != "draft", q.id))
    for key, row_id in skipped_ids.items():
        kind, *named = batch.shown_skipped[key]
        report.skipped.append(Queued(kind, row_id, *named))
    return report


@dataclass(frozen=True)
class Existing:
    """The dedupe keys already drafted and tasked: what a run need not make again."""

    drafts: set[str]  # in the outbox, or an email nobody could receive whose task the CSM did
    tasks: set[str]

    @classmethod
    def of(cls, results: Iterable[StepResult]) -> Existing:
        """The keys of the results' matches drafted and tasked already, as a settling
        :func:`csm.engine.matching.evaluate` found them."""
        drafts: set[str] = set()
        tasks_made: set[str] = set()
        for r in results:
            made = r.drafted | r.tasked
            for m in r.matches:
                if m.account_id not in made:  # the usual case, the first run of a day: no key made
                    continue
                key = m.dedupe_key(r.playbook, r.step)
                if m.account_id in r.drafted:
                    drafts.add(key)
                if m.account_id in r.tasked:
                    tasks_made.add(key)
        return cls(drafts, tasks_made)


def existing_keys(conn: sqlite3.Connection, playbook_ids: Collection[str]) -> Existing:
    """The keys of these playbooks' drafts and tasks (see :class:`Existing`): one read of each
    table per playbook, as plain tuples (a book's keys number in the hundreds of thousands)."""
    drafts: set[str] = set()
    tasks_made: set[str] = set()
    cursor = conn.cursor()
    cursor.row_factory = None
    for playbook_id in playbook_ids:
        drafts.update(key for key, _ in cursor.execute(_KEYS.format("outbox"), (playbook_id,)))
        for key, status in cursor.execute(_KEYS.format("tasks"), (playbook_id,)):
            tasks_made.add(key)
            if status == "done" and key.endswith(NO_RECIPIENT):  # the CSM did it: never drafted after
                drafts.add(key.removesuffix(NO_RECIPIENT))
    return Existing(drafts, tasks_made)


_KEYS = "SELECT dedupe_key, status FROM {} WHERE playbook = ?"


def _apply_exits(conn: sqlite3.Connection, results: list[StepResult], now: str) -> list[tuple[str, str, str]]:
    """`until:` met: close the step's open tasks, withdraw its unsent drafts, note it."""
    exited = []
    for r in results:
        for account_id in r.exits:
            keys = (r.playbook.id, r.step.id, account_id)
            closed = tasks.close_step(conn, *keys, now)
            withdrawn = outbox.withdraw(conn, *keys, now)
            timeline.record(
                conn,
                account_id,
                "exit",
                f"{r.playbook.id} › {r.step.id}: until met; {plural(closed, 'task')} closed,"
                f" {plural(withdrawn, 'draft')} withdrawn",
                now,
            )
            exited.append(keys)
    return exited
