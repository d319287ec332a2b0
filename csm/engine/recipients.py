"""Who a draft goes to: contact roles, and what happens when nobody holds them.

A step's email names contact roles in order of preference. The roles it may
name are the built-in ones plus those the workspace's contacts hold. When no
reachable contact holds any of them, the step's ``fallback`` decides: ``skip``
(the default: nothing is drafted, the CSM gets a task) or ``primary`` (the
primary contact gets it, and the draft says so). Nothing is ever silently
readdressed.

``respondent`` is the person who answered: the contact of the latest event
the step's ``when`` tested (the detractor's NPS response). It is never an
address from the event alone: only one of the account's own contacts, and only
while reachable, as for any role. Pending drafts to the same person at two
accounts are both kept; :mod:`csm.mail.overlaps` names them to the reviewer.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Container, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from csm.data.backend import dialect_of
from csm.language.playbooks import RESPONDENT

if TYPE_CHECKING:
    from csm.engine.matching import StepResult
    from csm.language.playbooks import Step

# The roles a playbook may name without any contact holding them yet;
# `primary` means the account's primary contact, whatever their role.
NO_RECIPIENT = ":no-recipient"  # suffix of the dedupe key of a skipped row and its task
NOTE_KEY = "recipients"  # the key in a draft's why naming a role nobody holds


class Recipient(NamedTuple):  # a tuple, not a dataclass: one a draft, tens of thousands a run
    name: str
    email: str
    role: str
    title: str

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.strip() else self.email.split("@")[0]


def _role_text(role: str, *, human: bool) -> str:
    if role == "primary":
        return "primary contact"
    return role.replace("_", " ") if human else role


def _either(roles: Sequence[str], *, human: bool = False, joiner: str = " or ") -> str:
    return joiner.join(_role_text(r, human=human) for r in roles)


class Choice(NamedTuple):
    """The recipients chosen for one draft, and what was missing on the way."""

    people: tuple[Recipient, ...]
    missing: tuple[str, ...]  # roles named in `to` that no reachable contact holds
    unsubscribed: tuple[str, ...]  # of those, the roles held only by unsubscribed contacts
    fallback: str
    fell_back: bool  # nobody held a role; the primary contact stands in (fallback: primary)

    def _nobody(self, account_name: str, *, human: bool = False) -> str:
        where = "to write to" if self.unsubscribed else "on file"
        text = f"no {_either(self.missing, human=human)} {where} for {account_name}"
        if self.unsubscribed:
            text += f" ({_either(self.unsubscribed, human=human, joiner=', ')} unsubscribed)"
        return text

    def reason(self, account_name: str) -> str:
        """Why nothing was drafted (``people`` is empty)."""
        text = self._nobody(account_name)
        if self.fallback == "primary" and "primary" not in self.missing:
            text += " and no primary contact to fall back to"
        return text

    def task_title(self, email_title: str) -> str:
        """The CSM's to-do when nothing was drafted; `csm today` shows the account beside it."""
        where = "to write to" if self.unsubscribed else "on file"
        return (
            f"No {_either(self.missing, human=True)} {where} for the {email_title} email:"
            " add one or send it by hand"
        )

    def note(self, account_name: str) -> str | None:
        """What the reviewer must know about a draft that did not reach every role, if anything."""
        if not self.missing:
            return None
        if self.fell_back:
            return f"{self._nobody(account_name)}; to the primary contact instead (fallback: primary)"
        held = ", ".join(dict.fromkeys(_role_text(p.role, human=False) for p in self.people))
        return f"{self._nobody(account_name)}; to the {held} only"


def _holders(contacts: Sequence[sqlite3.Row], role: str, respondent: str | None) -> list[sqlite3.Row]:
    """The contacts holding ``role``: one test a role, not a function call a contact."""
    if role == RESPONDENT:
        if respondent is None:
            return []
        wanted = respondent.lower()
        return [row for row in contacts if row["email"].lower() == wanted]
    if role == "primary":
        return [row for row in contacts if row["is_primary"]]
    return [row for row in contacts if row["role"] == role]


def _person(row: sqlite3.Row) -> Recipient:
    return Recipient(row["name"] or "", row["email"], row["role"] or "", row["title"] or "")


def choose(
    contacts: Sequence[sqlite3.Row], roles: Sequence[str], fallback: str, respondent: str | None = None
) -> Choice:
    """The reachable contacts in ``roles`` (in that order); the primary only when ``fallback`` says so.

    ``contacts``: the account's contacts, each with a ``reachable`` flag (not
    unsubscribed, not suppressed); ``respondent``: the address on the event the
    step tested (see :func:`respondents`), if any.
    """
    chosen: dict[str, Recipient] = {}
    missing: list[str] = []
    unsubscribed: list[str] = []
    for role in roles:
        holders = _holders(contacts, role, respondent)
        reachable = [row for row in holders if row["reachable"]]
        if not reachable:
            missing.append(role)
            if holders:
                unsubscribed.append(role)
        for row in reachable:
            chosen.setdefault(row["email"].lower(), _person(row))
    fell_back = False
    if not chosen and fallback == "primary":
        primary = [_person(row) for row in contacts if row["is_primary"] and row["reachable"]][:1]
        chosen = {p.email.lower(): p for p in primary}
        fell_back = bool(primary)
    return Choice(tuple(chosen.values()), tuple(missing), tuple(unsubscribed), fallback, fell_back)


_CHUNK = 500
_CONTACTS = (
    "SELECT c.account_id, c.name, c.email, c.role, c.title, c.is_primary,"
    " (c.unsubscribed = 0 AND c.bounced_at IS NULL AND NOT EXISTS"
    " (SELECT 1 FROM suppressions s WHERE s.email = lower(c.email))) AS reachable"
    " FROM contacts c WHERE c.account_id IN ({marks}) AND c.left_at IS NULL{holding}"
    " ORDER BY c.account_id, c.is_primary DESC, c.name"
)


def named_roles(steps: Iterable[Step]) -> frozenset[str] | None:
    """The roles these steps' emails are addressed to, which :func:`choose` picks from with the
    primary contact; None when one names ``respondent`` (matched by address: any contact may be)."""
    roles: set[str] = set()
    for step in steps:
        if step.email is not None:
            if RESPONDENT in step.email.to:
                return None
            roles.update(step.email.to)
    return frozenset(roles)


def account_contacts(
    conn: sqlite3.Connection, account_ids: Sequence[str], roles: Collection[str] | None = None
) -> dict[str, list[sqlite3.Row]]:
    """Each account's contacts who have not left it, flagged ``reachable`` when they may be emailed.

    ``roles`` (see :func:`named_roles`): only the contacts holding one of them and the primary
    contacts, all :func:`choose` looks at for those roles; None: every contact.
    """
    holding, named = "", ()
    if roles is not None:
        named = tuple(sorted(roles))
        marks = ", ".join("?" * len(named))
        holding = f" AND (c.is_primary <> 0 OR c.role IN ({marks}))" if named else " AND c.is_primary <> 0"
    found: dict[str, list[sqlite3.Row]] = {}
    for start in range(0, len(account_ids), _CHUNK):
        chunk = account_ids[start : start + _CHUNK]
        sql = _CONTACTS.format(marks=", ".join("?" * len(chunk)), holding=holding)
        for row in conn.execute(sql, (*chunk, *named)):
            found.setdefault(row["account_id"], []).append(row)
    return found


def respondents(
    conn: sqlite3.Connection, step: Step, base_params: dict[str, Any], account_ids: Sequence[str]
) -> dict[str, str]:
    """Each account's respondent for this step: the contact of the latest event its ``when`` tested.

    Only for a step whose email names ``respondent``; the events are those of the
    condition's own collections (their kinds, windows and filters), as of today.
    """
    if step.email is None or RESPONDENT not in step.email.to or not step.when.events:
        return {}
    tested = " OR ".join(f"({where})" for where in step.when.events)
    latest = (
        f"(SELECT e.contact FROM events e WHERE ({tested}) AND e.contact IS NOT NULL"
        " ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1)"
    )
    params = {**base_params, **step.when.params, "account_ids": json.dumps(list(account_ids))}
    sql = f"SELECT a.id, {latest} FROM accounts a WHERE a.id IN ({dialect_of(conn).texts_in(':account_ids')})"
    return {row[0]: row[1] for row in conn.execute(sql, params) if row[1] is not None}


class ContactAddresses(Container[str]):
    """Every contact address on file, lowercased (none of them is ever an internal copy),
    asked one address at a time through the contacts' case-blind email index and
    remembered: a draft copies a colleague or two, and the book holds 250,000 contacts."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._known: dict[str, bool] = {}

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, str):
            return False
        if address not in self._known:
            self._known[address] = self._on_file(address)
        return self._known[address]

    def _on_file(self, address: str) -> bool:
        if not address.isascii():  # the index folds ASCII only: compare as Python lowercases
            rows = self._conn.execute("SELECT email FROM contacts WHERE email IS NOT NULL")
            return any(row[0].lower() == address for row in rows)
        d = dialect_of(self._conn)
        rows = self._conn.execute(
            f"SELECT email FROM contacts WHERE {d.nocase('email')} = {d.nocase('?')}", (address,)
        )
        return any(row[0].lower() == address for row in rows)


def contact_addresses(conn: sqlite3.Connection) -> ContactAddresses:
    """Every contact address on file, lowercased (see :class:`ContactAddresses`)."""
    return ContactAddresses(conn)


def internal_now(
    conn: sqlite3.Connection, stored: Sequence[str], domains: Collection[str]
) -> tuple[tuple[str, ...], list[str]]:
    """A draft's internal copies as sending sees them: still in our own domains, still nobody's
    contact, not suppressed (see :mod:`csm.language.internal`); and why any were left out."""
    if not stored:
        return (), []
    from csm.language.internal import internal_copies  # the playbook language: not for `csm today`

    kept, notes = internal_copies(stored, {}, domains, contact_addresses(conn))
    marks = ", ".join("?" * len(kept))
    blocked = {
        r[0].lower()
        for r in conn.execute(
            f"SELECT email FROM suppressions WHERE {dialect_of(conn).nocase('email')} IN ({marks})",
            [a.lower() for a in kept],
        )
    }
    notes.extend(f"{a} (suppressed)" for a in kept if a.lower() in blocked)
    return tuple(a for a in kept if a.lower() not in blocked), notes


def held_roles(conn: sqlite3.Connection) -> frozenset[str]:
    """Every role some contact in the workspace holds."""
    return frozenset(r[0] for r in conn.execute("SELECT DISTINCT role FROM contacts WHERE role IS NOT NULL"))


def addressing(
    conn: sqlite3.Connection, results: Sequence[StepResult], base_params: dict[str, Any]
) -> dict[tuple[str, str, str], Choice]:
    """Who each email match would go to, by (playbook, step, account): a dry run's view, nothing rendered."""
    emails = [r for r in results if r.step.email is not None]
    contacts = account_contacts(
        conn, sorted({m.account_id for r in emails for m in r.matches}), named_roles(r.step for r in emails)
    )
    chosen = {}
    for r in emails:
        assert r.step.email is not None
        who = respondents(conn, r.step, base_params, [m.account_id for m in r.matches])
        for m in r.matches:
            chosen[r.playbook.id, r.step.id, m.account_id] = choose(
                contacts.get(m.account_id, []), r.step.email.to, r.step.email.fallback, who.get(m.account_id)
            )
    return chosen
