"""Everything one command needs to evaluate: workspace, database, today, fields."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from csm.data import store
from csm.data.backend import dialect_of
from csm.errors import PlaybookError, TemplateError
from csm.language.fields import FieldSet, standard_fields
from csm.templating.files import template_names
from csm.workspace import Owner, Workspace

if TYPE_CHECKING:  # loaded when used: `csm today` reads no playbook and renders nothing
    from csm.data.freshness import Stale
    from csm.health.model import HealthModel
    from csm.language.playbooks import Playbook
    from csm.templating.render import Templates


_GATE_HINT = "Nothing was run or written. Fix the above (`csm check` lists every problem) and run again."


def fields_for(conn: sqlite3.Connection) -> FieldSet:
    """Every field conditions may use in this database."""
    return standard_fields(
        store.extra_columns(conn, "accounts"), store.extra_columns(conn, "contacts"), dialect_of(conn)
    )


def sql_params(ws: Workspace, today: dt.date) -> dict[str, Any]:
    """The parameters every evaluation query may name (sequences read the calendar ones)."""
    settings = ws.settings
    return {
        "today": today.isoformat(),
        "primary_metric": settings.primary_metric,
        "holidays": json.dumps([day.isoformat() for day in settings.holidays]),
        "timezone": settings.timezone,
    }


def login_owner(conn: sqlite3.Connection, owners: Mapping[str, Owner]) -> str | None:
    """The owner the database login stands for: the ``[owners]`` entry whose ``login`` it is,
    else the login itself when it is an owner's address (in ``[owners]`` or on an account).

    None on SQLite (a file has no login) and for a login that is nobody's, such as a team's
    shared one: then there is no "me", as without any.
    """
    login = dialect_of(conn).login(conn)
    if login is None:
        return None
    for email, owner in owners.items():
        if owner.login == login:
            return email
    if login in owners or conn.execute("SELECT 1 FROM accounts WHERE owner = ? LIMIT 1", (login,)).fetchone():
        return login
    return None


@dataclass
class Runtime:
    """A workspace, its open database and "today". As a context manager (what
    :func:`open_runtime` hands out is used as one) it closes the database when it ends."""

    ws: Workspace
    conn: sqlite3.Connection
    today: dt.date

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()

    @cached_property
    def me(self) -> str | None:
        """Who "me" is: CSM_OWNER, else csm.toml's `me`, else on PostgreSQL the login's owner."""
        return self.ws.me() or login_owner(self.conn, self.ws.settings.owners)

    @cached_property
    def fields(self) -> FieldSet:
        return fields_for(self.conn)

    @cached_property
    def params(self) -> dict[str, Any]:
        return sql_params(self.ws, self.today)

    @cached_property
    def templates(self) -> Templates:
        from csm.templating.render import Templates

        return Templates(self.ws.templates_dir)

    @property
    def health_file(self) -> Path:
        """The workspace's health.yaml, else the built-in model's file."""
        from csm.health.model import model_path

        return model_path(self.ws.health_path)

    @cached_property
    def health_model(self) -> HealthModel:
        """The workspace's health.yaml, else the built-in model."""
        from csm.health import model as health_model

        return health_model.load(self.health_file, self.fields)

    def snapshot_health(self, *, if_stale: bool = False) -> int:
        """Score every account as of today and store the day's snapshot (replacing it).

        ``if_stale``: only when there is none for today yet, or an import came after it
        (what `csm run` and `csm today` do; scoring 100k accounts takes seconds).
        """
        from csm.health.current import is_current

        if if_stale and is_current(self.conn, self.today):
            return 0
        from csm.health import score as health

        return health.snapshot(self.conn, self.health_model, self.fields, self.params, [self.today])

    @cached_property
    def stale(self) -> dict[str, list[Stale]]:
        """The stale kinds of data and why, by csm.toml's ``[freshness]`` (see csm.data.freshness)."""
        return self.stale_on(self.today)

    def stale_on(self, day: dt.date, *, past: bool = False) -> dict[str, list[Stale]]:
        """:attr:`stale` on ``day``; ``past``: as the loads stood by its end (``csm backtest``)."""
        if not self.ws.settings.freshness:  # no [freshness]: nothing is ever stale, nothing to load
            return {}
        from csm.data.freshness import stale_data
        from csm.data.kinds import KINDS

        supplies = {
            name: [kind for kind in table if kind in KINDS]
            for name, table in self.ws.settings.sources.items()
            if isinstance(table, dict)
        }
        return stale_data(self.conn, self.ws.settings.freshness, supplies, day, past=past)

    def stale_list(self) -> list[Stale]:
        """Each stale kind or source once."""
        return list(dict.fromkeys(s for found in self.stale.values() for s in found))

    @cached_property
    def contact_roles(self) -> frozenset[str]:
        """Every role a contact holds: playbooks may name these besides the built-in roles."""
        from csm.engine.recipients import held_roles

        return held_roles(self.conn)

    def playbooks(self, names: Iterable[str] = ()) -> list[Playbook]:
        from csm.language.playbooks import load_selected

        templates = set(template_names(self.ws.templates_dir))
        return load_selected(
            self.ws.playbooks_dir,
            self.fields,
            names,
            templates.__contains__,
            lambda: self.contact_roles,
            self.ws.settings.internal_domains,
        )

    def checked_playbooks(self, names: Iterable[str] = ()) -> list[Playbook]:
        """The named playbooks (all when none are), refused unless they pass `csm check`.

        What `csm run` and `csm today` evaluate: every playbook file must load, and
        the templates the named ones use must compile and render a sample account,
        else nothing runs. Each template is checked once, whatever the accounts.
        """
        from csm.templating.sample import sample_context

        try:
            selected = self.playbooks(names)
        except PlaybookError as exc:
            raise PlaybookError(exc.problems, hint=_GATE_HINT) from None
        used = sorted({step.email.template for p in selected for step in p.steps if step.email})
        sample = sample_context(self.fields)
        problems = [problem for name in used for problem in self.templates.check(name, sample)]
        if problems:
            raise TemplateError(problems, hint=_GATE_HINT)
        return selected

    def now(self) -> str:
        """A timestamp for records: the real time of day, on "today"'s date when pinned."""
        clock = dt.datetime.now(dt.UTC).replace(microsecond=0)
        if clock.date() != self.today:
            clock = dt.datetime.combine(self.today, clock.time(), dt.UTC)
        return clock.isoformat()


def connect(ws: Workspace) -> sqlite3.Connection:
    """The workspace's database (a SQLite file or a PostgreSQL URL), for every command but ``csm init``."""
    return store.connect(ws.database_target, password_from=ws.settings.database_password_env)


def open_runtime(ws: Workspace, today: dt.date | None = None) -> Runtime:
    """The workspace's runtime as of ``today``, its database open: ``with open_runtime(...) as rt:``."""
    return Runtime(ws, connect(ws), ws.today(today))
