"""The kinds of record an import takes, and which column each field of a file fills.

Each kind (accounts, contacts, usage, events) has its key, its columns with
the converter each takes, the columns it requires, header aliases, and columns
an import may set but never clear. Accounts and contacts may bring extra
columns of their own; an event's unknown fields become its attributes (one
JSON object); usage refuses an unknown field, naming the columns it has.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from csm.data.backend import dialect_of
from csm.data.convert import CONVERTERS, Converter, account_ref, attribute, required, scalar
from csm.errors import DataImportError, InputError, did_you_mean
from csm.language.fields import DERIVED, TODAY

KINDS = ("accounts", "contacts", "usage", "events")
ATTRIBUTES = "attributes"  # the events column holding the other fields, as a JSON object


@dataclass(frozen=True)
class Kind:
    """One kind of record: its key, its columns (each with a converter's name) and their rules."""

    key: tuple[str, ...]
    columns: dict[str, str]  # column -> converter name in CONVERTERS
    required: tuple[str, ...]
    aliases: dict[str, str]
    # Columns an import may set but never clear: unsubscribing is for good.
    sticky: tuple[str, ...] = ()
    # What an unknown field becomes: a new column of its own, an attribute, or an error ("").
    extras: str = ""


_SPECS = {
    "accounts": Kind(
        key=("id",),
        columns={
            "id": "text",
            "name": "text",
            "owner": "email",
            "plan": "text",
            "arr": "number",
            "seats_licensed": "integer",
            "seats_used": "integer",
            "start_date": "date",
            "renewal_date": "date",
            "status": "status",
            "nps": "integer",
            "open_tickets": "integer",
            "last_login_at": "date_or_datetime",
            "health_score": "number",
            "account_executive": "email",
            "goals": "text_list",
            "use_case": "text_list",
            "success_criteria": "text_list",
            "integrations": "text_list",
        },
        required=("id", "name"),
        aliases={},
        extras="columns",
    ),
    "contacts": Kind(
        key=("account_id", "email"),
        columns={
            "account_id": "account",
            "email": "email",
            "name": "text",
            "role": "role",
            "title": "text",
            "is_primary": "boolean",
            "unsubscribed": "boolean",
            "left_at": "date",
        },
        required=("account_id", "email"),
        aliases={"account": "account_id", "primary": "is_primary"},
        sticky=("unsubscribed",),
        extras="columns",
    ),
    "usage": Kind(
        key=("account_id", "metric", "date"),
        columns={"account_id": "account", "metric": "metric", "date": "date", "value": "number"},
        required=("account_id", "metric", "date", "value"),
        aliases={},
    ),
    "events": Kind(
        key=("id",),
        columns={
            "id": "text",
            "account_id": "account",
            "kind": "kind",
            "contact": "email",
            "occurred_at": "date_or_datetime",
            "closed_at": "date_or_datetime",
            ATTRIBUTES: "attributes",
        },
        required=("id", "account_id", "kind", "occurred_at"),
        aliases={"account": "account_id", "type": "kind", "email": "contact", "date": "occurred_at"},
        extras=ATTRIBUTES,
    ),
}

# Declared types of extra account columns, and the converter each one takes.
_DECLARED = {
    "INTEGER": "integer",
    "REAL": "number",
    "FLOAT": "number",
    "NUMERIC": "number",
    "DATE": "date",
    "BOOLEAN": "boolean",
}
_RESERVED_NAMES = {TODAY, *(f.name for f in DERIVED)}
_EXTRA_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def column_name(header: str) -> str:
    """A header as a snake_case column name: " Renewal Date " / "renewalDate" -> renewal_date."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", header.strip())
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def spec(kind: str) -> Kind:
    """What ``kind`` holds; an unknown kind is an InputError naming the kinds there are."""
    if kind not in _SPECS:
        choices = ", ".join(KINDS)
        raise InputError(f"unknown kind '{kind}'{did_you_mean(kind, KINDS)}; use one of: {choices}")
    return _SPECS[kind]


class Columns:
    """The columns one import fills, each with its converter; grows as new fields appear."""

    def __init__(self, conn: sqlite3.Connection, kind: str, source: str) -> None:
        self.spec = spec(kind)
        self.kind = kind
        self.source = source
        self.known = _converters(conn, kind, self.spec)
        self.names: list[str] = list(self.spec.key)
        self.converters: list[Converter] = [self.known[c] for c in self.spec.key]
        self.new_extras: set[str] = set()
        self.attributes: list[str] = []  # an event's fields folded into its attributes

    def plan(self, fields: Iterable[tuple[str, Any]], location: str) -> list[Any]:
        """Where each column so far is in a record, from its (field name, where) pairs."""
        sources: dict[str, Any] = {}
        labels: dict[str, str] = {}
        for label, source in fields:
            col = column_name(label)
            col = self.spec.aliases.get(col, col)
            if col in sources:
                raise self.error(f"{location}: '{labels[col]}' and '{label}' are both '{col}'")
            sources[col], labels[col] = source, label
        for col in self.spec.required:
            if col not in sources:
                need = ", ".join(self.spec.required)
                raise DataImportError(
                    f"{self.source}: {location}: no '{col}' column ({self.kind} need {need})",
                    hint="Name the column so, or read a CRM export with --map NAME.",
                )
        for col, label in labels.items():
            if col not in self.known:
                self._add_extra(label, col, location)
            if col not in self.names:
                self.names.append(col)
                self.converters.append(self.known[col])
        return [sources.get(col) for col in self.names]

    def _add_extra(self, label: str, col: str, location: str) -> None:
        # Accounts took any new column before contacts and events did; theirs are refused when
        # they look like a misspelt column, which would otherwise be lost in a new one.
        typo = did_you_mean(col, self.spec.columns)
        if not self.spec.extras or (typo and self.kind != "accounts"):
            raise self.error(
                f"{location}: unknown column '{label}'{typo}; "
                f"{self.kind} columns are: {', '.join(self.spec.columns)}"
            )
        if not _EXTRA_NAME_RE.match(col):
            raise self.error(f"{location}: column '{label}' needs a name that starts with a letter")
        if col in _RESERVED_NAMES and self.kind == "accounts":
            raise self.error(f"{location}: column '{label}' would hide the derived field '{col}'; rename it")
        if self.spec.extras == ATTRIBUTES:
            self.known[col] = attribute
            self.attributes.append(col)
        else:
            self.known[col] = scalar
            self.new_extras.add(col)

    @property
    def stored(self) -> list[str]:
        """The columns written: an event's attribute fields are folded into its attributes."""
        if not self.attributes and ATTRIBUTES not in self.names:
            return self.names
        return [n for n in self.names if n not in self.attributes and n != ATTRIBUTES] + [ATTRIBUTES]

    def fold(self, values: list[list[Any]]) -> list[list[Any]]:
        """Converted values (a list per column) as :attr:`stored` lays them out."""
        if not self.attributes and ATTRIBUTES not in self.names:
            return values
        by_name = dict(zip(self.names, values, strict=True))
        given = by_name.get(ATTRIBUTES) or [None] * len(values[0])
        loose = [by_name[n] for n in self.attributes]
        objects = [
            json.dumps(
                {
                    **(base or {}),
                    **{n: v for n, v in zip(self.attributes, row, strict=True) if v is not None},
                },
                sort_keys=True,
            )
            for base, *row in zip(given, *loose, strict=True)
        ]
        return [by_name[n] for n in self.stored[:-1]] + [objects]

    def error(self, message: str) -> DataImportError:
        return DataImportError(f"{self.source}: {message}")


def _converters(conn: sqlite3.Connection, kind: str, spec: Kind) -> dict[str, Converter]:
    """Each column the kind has in the database, with its converter (required ones refuse empty)."""
    ids: set[str] = set()
    if "account_id" in spec.columns:
        ids = {row[0] for row in conn.execute("SELECT id FROM accounts")}
    known = {
        col: account_ref(ids) if conv == "account" else CONVERTERS[conv] for col, conv in spec.columns.items()
    }
    if spec.extras == "columns":
        for name, declared in dialect_of(conn).column_types(conn, kind).items():
            known.setdefault(name, CONVERTERS[_DECLARED.get(declared, "text")])
    for col in spec.required:
        known[col] = required(known[col])
    return known
