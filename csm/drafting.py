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

from csm.engine import Match
from csm.playbooks import Playbook, Step
from csm.render import Templates
from csm.workspace import Workspace


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str
    role: str
    title: str

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.strip() else self.email.split("@")[0]


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


_CHUNK = 500
_CONTACTS = (
    "SELECT c.account_id, c.name, c.email, c.role, c.title, c.is_primary FROM contacts c"
    " WHERE c.account_id IN ({marks}) AND c.unsubscribed = 0"
    " AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.email = c.email COLLATE NOCASE)"
    " ORDER BY c.account_id, c.is_primary DESC, c.name"
)


def reachable_contacts(conn: sqlite3.Connection, account_ids: Sequence[str]) -> dict[str, list[sqlite3.Row]]:
    """Each account's contacts who may be emailed (not unsubscribed, not suppressed), in chunks."""
    found: dict[str, list[sqlite3.Row]] = {}
    for start in range(0, len(account_ids), _CHUNK):
        chunk = account_ids[start : start + _CHUNK]
        for row in conn.execute(_CONTACTS.format(marks=", ".join("?" * len(chunk))), tuple(chunk)):
            found.setdefault(row["account_id"], []).append(row)
    return found


def recipients(contacts: Sequence[sqlite3.Row], roles: tuple[str, ...]) -> list[Recipient]:
    """Contacts in the given roles (in that order), else the primary contact."""

    def person(row: sqlite3.Row) -> Recipient:
        return Recipient(row["name"] or "", row["email"], row["role"] or "", row["title"] or "")

    chosen: list[Recipient] = []
    for role in roles:
        for row in contacts:
            wanted = row["is_primary"] if role == "primary" else row["role"] == role
            if wanted and all(r.email != row["email"] for r in chosen):
                chosen.append(person(row))
    if not chosen:
        chosen = [person(row) for row in contacts if row["is_primary"]][:1]
    return chosen


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
) -> Draft | str:
    """The rendered draft for one match (``contacts``: the account's reachable ones), or why not."""
    assert step.email is not None
    people = recipients(contacts, step.email.to)
    if not people:
        return f"no contact in roles {', '.join(step.email.to)} and no primary contact"
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
        why=match.values,
        priority=step.priority,
    )
