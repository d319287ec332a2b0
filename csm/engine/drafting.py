"""Turning a step match into an email draft: recipients, context, rendering.

Drafts are stored as rendered text (subject + Markdown body); the MIME
message is built only when previewing or sending.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from csm.engine.matching import Match
from csm.engine.recipients import NOTE_KEY, Recipient, choose
from csm.language.playbooks import Playbook, Step
from csm.templating.render import Templates
from csm.workspace import Workspace


@dataclass(frozen=True)
class Draft:
    dedupe_key: str
    playbook: str
    step: str
    account_id: str
    owner: str | None
    to: tuple[Recipient, ...]
    cc: tuple[str, ...]
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


def context(
    ws: Workspace,
    account: dict[str, Any],
    contact: Recipient,
    playbook: Playbook,
    step: Step,
    today: dt.date,
) -> dict[str, Any]:
    """What a template sees."""
    owner = ws.owner(account.get("owner"))
    return {
        "account": account,
        "contact": {
            "name": contact.name,
            "first_name": contact.first_name,
            "email": contact.email,
            "role": contact.role,
            "title": contact.title,
        },
        "csm": {
            "name": owner.name,
            "first_name": owner.name.split()[0] if owner.name else "",
            "email": owner.email,
            "title": owner.title,
            "signature": owner.signature or f"{owner.name}\n{owner.title}",
        },
        "playbook": {"id": playbook.id, "title": playbook.title},
        "step": {"id": step.id, "title": step.title},
        "today": today,
    }


def draft(
    ws: Workspace,
    templates: Templates,
    contacts: Sequence[sqlite3.Row],
    playbook: Playbook,
    step: Step,
    match: Match,
    account: dict[str, Any],
    today: dt.date,
) -> Draft | Unaddressed:
    """The rendered draft for one match (``contacts``: the account's, see
    :func:`csm.recipients.account_contacts`), or why nobody may receive it.

    A role nobody holds is never silently replaced: the step's ``fallback``
    decides, and a draft that misses a role says so in its why.
    """
    assert step.email is not None
    choice = choose(contacts, step.email.to, step.email.fallback)
    if not choice.people:
        return Unaddressed(choice.reason(match.account_name), choice.task_title(step.title))
    people = choice.people
    note = choice.note(match.account_name)
    rendered = templates.render(step.email.template, context(ws, account, people[0], playbook, step, today))
    return Draft(
        dedupe_key=match.dedupe_key(playbook, step),
        playbook=playbook.id,
        step=step.id,
        account_id=match.account_id,
        owner=match.owner,
        to=(people[0],),
        cc=tuple(dict.fromkeys([p.email for p in people[1:]] + list(rendered.cc))),
        reply_to=rendered.reply_to,
        subject=rendered.subject,
        body=rendered.body,
        template=step.email.template,
        why={**match.values, NOTE_KEY: note} if note else match.values,
        priority=step.priority,
    )
