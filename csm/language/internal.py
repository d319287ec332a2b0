"""Our own people in a playbook: who a task is assigned to, whom an email copies internally.

A step's ``task.assignee`` is the account's owner (the default), an account
column holding an address (``account_executive``), or a literal address, in
our own domains when the workspace knows them (a task is for a colleague). An
email's ``cc_internal`` lists account columns or literal addresses of
colleagues to copy.

The trust rule for internal copies: ``cc_internal`` never becomes a way to
mail a customer the playbook did not name in ``to:``. A literal address must
be in one of the workspace's own domains (``internal_domains`` in csm.toml,
plus the domains of ``me``, the owners and ``[send] from``), checked at load
time. A column's value is checked each time a draft is made
(:func:`internal_copies`): an address outside those domains, or one that any
contact on file holds, is left out and the draft says so.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Container, Iterable, Mapping
from typing import Any

from csm.errors import did_you_mean
from csm.language.yamlfile import Checker

TASK_TYPES = ("call", "meeting", "review", "escalation", "email", "other")
ADDRESS = re.compile(r"^[^@\s<>,;\"']+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def is_address(value: Any) -> bool:
    return isinstance(value, str) and bool(ADDRESS.match(value))


def domain(address: str) -> str:
    return address.rsplit("@", 1)[1].lower()


def _column(c: Checker, value: str, where: tuple[Any, ...], key: str) -> bool:
    """Whether ``value`` names an account text column; a problem with a did-you-mean if not."""
    if value in c.fields and c.fields[value].type == "text" and not c.fields[value].derived:
        return True
    columns = [n for n in c.fields if c.fields[n].type == "text" and not c.fields[n].derived]
    hint = did_you_mean(value, columns) or " (no account column by that name: import one, or give an address)"
    c.add(where, f"'{key}' must be an account column holding an address, or an address; got {value!r}{hint}")
    return False


def task_type(c: Checker, table: dict, path: tuple[Any, ...]) -> str:
    """The task's ``type``, one of :data:`TASK_TYPES` (default ``other``)."""
    value = table.get("type", "other")
    if value in TASK_TYPES:
        return value
    hint = did_you_mean(str(value), TASK_TYPES)
    c.add((*path, "type"), f"'type' must be one of {', '.join(TASK_TYPES)}, got {value!r}{hint}")
    return "other"


def assignee(c: Checker, table: dict, path: tuple[Any, ...]) -> str | None:
    """The task's ``assignee``: None (the owner), an account column, or an address."""
    value = table.get("assignee")
    if value is None or value == "owner":
        return None
    if not isinstance(value, str) or not value.strip():
        c.add((*path, "assignee"), f"'assignee' must be an account column or an address, got {value!r}")
        return None
    if "@" in value:
        if not is_address(value):
            c.add((*path, "assignee"), f"'assignee' is not an email address: {value!r}")
        elif c.internal_domains and domain(value) not in c.internal_domains:
            ours = ", ".join(c.internal_domains)
            c.add(
                (*path, "assignee"),
                f"'{value}' is not in your own domains ({ours}): a task is for a colleague",
            )
        return value
    _column(c, value, (*path, "assignee"), "assignee")
    return value


def cc_internal(c: Checker, table: dict, path: tuple[Any, ...], domains: Collection[str]) -> tuple[str, ...]:
    """An email's ``cc_internal``: account columns and addresses in our own ``domains``."""
    raw = table.get("cc_internal", [])
    entries = [raw] if isinstance(raw, str) else raw
    if not isinstance(entries, list) or not all(isinstance(e, str) and e.strip() for e in entries):
        c.add(
            (*path, "cc_internal"),
            "'cc_internal' must be a list like [account_executive, cs-lead@yourcompany.com]",
        )
        return ()
    for i, entry in enumerate(entries):
        where = (*path, "cc_internal", i) if isinstance(raw, list) else (*path, "cc_internal")
        if "@" not in entry:
            _column(c, entry, where, "cc_internal")
        elif not is_address(entry):
            c.add(where, f"'cc_internal' entry is not an email address: {entry!r}")
        elif domain(entry) not in domains:
            ours = ", ".join(domains) or "none yet: set internal_domains in csm.toml"
            c.add(
                where,
                f"'{entry}' is not in your own domains ({ours}): cc_internal copies colleagues only;"
                " name customers by role in to:",
            )
    return tuple(entries)


def internal_copies(
    entries: Iterable[str],
    account: Mapping[str, Any],
    domains: Collection[str],
    contact_addresses: Container[str],
) -> tuple[tuple[str, ...], list[str]]:
    """The addresses ``cc_internal`` names for this account, and why any were left out.

    ``contact_addresses``: every contact address on file, lowercased; an
    address a contact holds is never an internal copy, whatever its domain.
    """
    chosen: dict[str, str] = {}
    notes: list[str] = []
    for entry in entries:
        address = entry if "@" in entry else account.get(entry)
        if not address:
            continue  # nobody in that column: nobody to copy
        if not is_address(address):
            notes.append(f"{entry} {address!r} is not an address")
        elif domain(address) not in domains or address.lower() in contact_addresses:
            notes.append(f"{address} ({entry}) is not one of your own addresses")
        else:
            chosen.setdefault(address.lower(), address)
    return tuple(chosen.values()), notes


def resolve_assignee(
    spec: str | None, account: Mapping[str, Any], owner: str | None, domains: Collection[str]
) -> tuple[str | None, str]:
    """Who does the task: the address ``spec`` names for this account, else the owner; and a note.

    The owner stands in when the column is empty (no note), or holds something that is not
    one of our own addresses (a note says so): a task is for a colleague, never a customer.
    """
    if spec is None:
        return owner, ""
    address = spec if "@" in spec else account.get(spec)
    if not address:
        return owner, ""
    if is_address(address) and (not domains or domain(address) in domains):
        return address, ""
    return owner, f"{address} ({spec}) is not one of your own addresses: assigned to the owner"
