"""The fields conditions and templates can use: account columns and derived fields.

Derived fields are SQL expressions over the ``accounts`` row aliased ``a`` and
the named parameter ``:today`` (an ISO date), so evaluation stays in SQLite.
A field's ``sql`` may name other fields as ``{name}``; they are expanded
in place. Usage metrics (``usage.<metric>``, ``usage.<metric>.avg(30d)``)
are fields made on demand. The rows a collection ranges over have fields of
their own: a contact's (alias ``ct``) and an event's (alias ``e``, whose other
names are its free attributes, of a type known only at run time).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache, partial
from typing import Literal

from csm.language.dialect import SQLITE_SQL, SqlDialect

FieldType = Literal["text", "number", "date", "bool", "any"]

USAGE_PREFIX = "usage."
TODAY = "today"  # the day of the evaluation: a name, not a field, so no column may take it
METRIC_WINDOWS = ("avg", "sum", "change")  # usage.<metric>.avg(30d)
METRIC_VALUES = ("last", "days_since_nonzero")  # usage.<metric>.last
_REF = re.compile(r"\{(\w+)\}")  # another field named in a field's SQL
_METRIC_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME_RE = _METRIC_RE
_USAGE_RE = re.compile(
    r"^usage\.([A-Za-z_][A-Za-z0-9_]*)"
    rf"(?:\.({'|'.join(METRIC_VALUES)})|\.({'|'.join(METRIC_WINDOWS)})\(([1-9][0-9]{{0,3}})d\))?$"
)


@dataclass(frozen=True)
class Field:
    """One account field a condition or template may read: its type and the SQL that computes it."""

    name: str
    type: FieldType
    sql: str
    description: str
    derived: bool = False
    fraction: bool = False  # a share like 0.82, shown as 82%
    # A count of whole days between :today and a plain YYYY-MM-DD date, as (that
    # date's SQL, which may name {fields}; +1 if the count grows with the date, else
    # -1): a comparison with a whole number then tests the date (see csm.conditions).
    day_count: tuple[str, int] | None = None
    # A stored date column's bare SQL: a comparison of it with a day relative to
    # :today tests the column itself, as a range an index serves (see csm.language.dates).
    # ``timed``: it may hold a time of day too (YYYY-MM-DDTHH:MM:SS).
    stored_day: str | None = None
    timed: bool = False


def _column(
    name: str,
    type_: FieldType,
    description: str,
    *,
    alias: str = "a",
    timed: bool = False,
    dialect: SqlDialect = SQLITE_SQL,
) -> Field:
    quoted = name.replace('"', '""')  # imported columns may be SQL keywords: "group", "order"
    sql = f'{alias}."{quoted}"'
    stored_day = dialect.day_text(sql) if type_ == "date" else None
    if type_ == "bool":
        sql = dialect.truth(sql)
    return Field(name, type_, sql, description, stored_day=stored_day, timed=timed)


def _columns(columns: tuple[Field, ...], alias: str, dialect: SqlDialect) -> tuple[Field, ...]:
    """The stored columns as ``dialect`` reads them (a date or true/false column differs)."""
    if dialect.sqlite:
        return columns
    return tuple(
        _column(f.name, f.type, f.description, alias=alias, timed=f.timed, dialect=dialect) for f in columns
    )


ACCOUNT_COLUMNS: tuple[Field, ...] = (
    _column("id", "text", "the CRM's account id"),
    _column("name", "text", "account name"),
    _column("owner", "text", "the owning CSM's email"),
    _column("plan", "text", "plan or tier"),
    _column("arr", "number", "annual recurring revenue"),
    _column("seats_licensed", "number", "seats bought"),
    _column("seats_used", "number", "seats in use"),
    _column("start_date", "date", "contract start"),
    _column("renewal_date", "date", "next renewal"),
    _column("status", "text", "active, churned, renewed, ..."),
    _column("nps", "number", "latest NPS answer, 0-10"),
    _column("open_tickets", "number", "open support tickets"),
    _column("last_login_at", "date", "last product login", timed=True),
    _column("health_score", "number", "a health score imported from elsewhere"),
    _column("account_executive", "text", "the account executive's email: who sells the renewal"),
    _column("goals", "text", "why they bought: their goals, one a line"),
    _column("use_case", "text", "what they use it for, one a line"),
    _column("success_criteria", "text", "how they will judge success, one a line"),
    _column("integrations", "text", "the integrations they connected, one a line"),
)


def _latest_touch(alias: str, kind: str, d: SqlDialect) -> str:
    """The time of the account's latest touch (of ``kind``, if one is named) up to today."""
    of_kind = f" AND {alias}.kind = '{kind}'" if kind else ""
    return (
        f"(SELECT max({alias}.at) FROM timeline {alias} WHERE {alias}.account_id = a.id"
        f" AND {alias}.touch = 1{of_kind} AND {alias}.at < {d.add_days(':today', 1)})"
    )


# The health fields read the snapshots `csm health` stores, relative to :today,
# so a condition evaluated "as of" an earlier day sees that day's health.
_SNAPSHOT = (
    "(SELECT h.{column} FROM health_history h WHERE h.account_id = a.id"
    " AND h.date <= {day} ORDER BY h.date DESC LIMIT 1)"
)


def _offset_days(offset: str) -> int:
    """``'-30 days'`` as -30."""
    return int(offset.split()[0])


def usage_aggregate(
    after: str,
    upto: str,
    metric: str = ":primary_metric",
    aggregate: str = "avg",
    dialect: SqlDialect = SQLITE_SQL,
) -> str:
    """A metric's daily average (or sum) over (today + after, today + upto]."""
    end = dialect.add_days(":today", _offset_days(upto)) if upto else ":today"
    return (
        f"(SELECT {aggregate}(u.value) FROM usage u WHERE u.account_id = a.id AND u.metric = {metric}"
        f" AND u.date > {dialect.add_days(':today', _offset_days(after))} AND u.date <= {end})"
    )


def usage_latest(metric: str) -> str:
    """A metric's latest value on or before today."""
    return (
        f"(SELECT u.value FROM usage u WHERE u.account_id = a.id AND u.metric = {metric}"
        " AND u.date <= :today ORDER BY u.date DESC LIMIT 1)"
    )


# What csm.data.rollup stores per account for one day, each computed by this SQL.
# The usage windows, as (after, upto) of usage_aggregate: csm.data.rollup rolls them forward too.
USAGE_WINDOWS = {"usage_30d": ("-30 days", ""), "usage_prev_30d": ("-60 days", "-30 days")}
ROLLED_METRIC_DAYS = 30  # usage.<metric>.avg(30d) and .change(30d) read the rollup's windows
_ROLLED_METRIC = ":rolled_metric"  # the metric a per-metric rollup row is built for


@cache
def rolled_up(d: SqlDialect) -> dict[str, str]:
    """The rollup's columns and the SQL each is computed by, in ``d``'s SQL."""
    windows = {column: usage_aggregate(*bounds, dialect=d) for column, bounds in USAGE_WINDOWS.items()}
    return {**windows, "last_touch": _latest_touch("t", "", d)}


@cache
def rolled_up_metric(d: SqlDialect) -> dict[str, str]:
    """The per-metric rollup's columns (``usage_rollup_metric``) and their SQL, the metric ``:rolled_metric``.

    The values ``usage.<metric>``, ``.avg(30d)`` and ``.change(30d)`` compute, as they compute them.
    """
    windows = {
        column: usage_aggregate(*bounds, metric=_ROLLED_METRIC, dialect=d)
        for column, bounds in USAGE_WINDOWS.items()
    }
    return {"latest": usage_latest(_ROLLED_METRIC), **windows}


# The parts of the per-metric rollup, each built only for the metrics a field reads it of.
ROLLED_PARTS = {"latest": ("latest",), "windows": tuple(USAGE_WINDOWS)}
ROLLED_UP = rolled_up(SQLITE_SQL)


def rolled_part(name: str) -> tuple[str, str] | None:
    """The (metric, part) of the per-metric rollup a ``usage.<metric>...`` field reads (None: none)."""
    found = _USAGE_RE.match(name)
    if found is None:
        return None
    metric, value, window, days = found.groups()
    if value is None and window is None:
        return metric, "latest"
    if window in ("avg", "change") and int(days) == ROLLED_METRIC_DAYS:
        return metric, "windows"
    return None


def _rolled(column: str, d: SqlDialect) -> str:
    """The value from the day's rollup when it was built for :today (one lookup), else computed.

    The usage windows also need the rollup to be of the primary metric; the last touch does not.
    """
    metric = " AND s.metric = :primary_metric" if column.startswith("usage") else ""
    return (
        f"(CASE WHEN EXISTS (SELECT 1 FROM usage_rollup_day s WHERE s.day = :today{metric})"
        f" THEN (SELECT r.{column} FROM usage_rollup r WHERE r.account_id = a.id)"
        f" ELSE {rolled_up(d)[column]} END)"
    )


def _rolled_metric(column: str, metric: str, d: SqlDialect) -> str:
    """A metric's value from the per-metric rollup when it holds that part of it for :today, else computed."""
    computed = rolled_up_metric(d)[column].replace(_ROLLED_METRIC, metric)
    part = next(part for part, columns in ROLLED_PARTS.items() if column in columns)
    return (
        "(CASE WHEN EXISTS (SELECT 1 FROM usage_rollup_covers s"
        f" WHERE s.day = :today AND s.metric = {metric} AND s.part = '{part}')"
        f" THEN (SELECT r.{column} FROM usage_rollup_metric r"
        f" WHERE r.metric = {metric} AND r.account_id = a.id)"
        f" ELSE {computed} END)"
    )


@cache
def derived_fields(d: SqlDialect) -> tuple[Field, ...]:
    """The derived fields, in ``d``'s SQL."""
    last_touch = _rolled("last_touch", d)
    # The customer writing back: replies `csm inbox` put on the timeline (touch = 1 is indexed).
    last_reply = _latest_touch("r", "reply", d)
    last_sent = _latest_touch("s", "email_sent", d)
    return (
        Field(
            "days_to_renewal",
            "number",
            d.days_between("a.renewal_date", ":today"),
            "days until renewal_date (negative once past)",
            True,
            day_count=("{renewal_date}", 1),
        ),
        Field(
            "days_since_login",
            "number",
            # 0, not negative, for a login after "today" (evaluating as of an earlier day).
            d.greatest("0", d.days_between(":today", "a.last_login_at")),
            "days since last_login_at",
            True,
        ),
        Field(
            "days_since_start",
            "number",
            d.days_between(":today", "a.start_date"),
            "days since start_date",
            True,
            day_count=("{start_date}", -1),
        ),
        Field(
            "seat_utilization",
            "number",
            "CASE WHEN a.seats_licensed > 0"
            " THEN CAST(a.seats_used AS DOUBLE PRECISION) / a.seats_licensed END",
            "seats_used / seats_licensed, a fraction (write 90% or 0.9)",
            True,
            True,
        ),
        Field(
            "last_touch_at",
            "date",
            d.date_of(last_touch),
            "date of the last touch on the timeline (email sent, reply, task done, note)",
            True,
        ),
        Field(
            "days_since_touch",
            "number",
            d.days_between(":today", f"coalesce({d.date_of(last_touch)}, a.start_date)"),
            "days since the last touch, or since start_date if never touched",
            True,
            day_count=("coalesce({last_touch_at}, {start_date})", -1),
        ),
        Field(
            "last_reply_at",
            "date",
            d.date_of(last_reply),
            "date of the last reply from the account's people (`csm inbox`)",
            True,
        ),
        Field(
            "days_since_reply",
            "number",
            d.days_between(":today", d.date_of(last_reply)),
            "days since the last reply; empty (null) if they never replied",
            True,
            day_count=("{last_reply_at}", -1),
        ),
        Field(
            "replied",
            "bool",
            f"coalesce({last_reply} > coalesce({last_sent}, ''), FALSE)",
            "they wrote back after the last email csm sent them (or ever, if csm never emailed them)",
            True,
        ),
        Field(
            "bounced_contacts",
            "number",
            "(SELECT count(*) FROM contacts c WHERE c.account_id = a.id AND c.bounced_at IS NOT NULL)",
            "the account's contacts whose address bounces (a delivery failure `csm inbox` read)",
            True,
        ),
        Field(
            "lifecycle_stage",
            "text",
            "CASE WHEN coalesce(a.status, '') <> 'active' THEN a.status"
            " WHEN {days_since_start} < 90 THEN 'onboarding'"
            " WHEN {days_to_renewal} <= 120 THEN 'renewal'"
            " ELSE 'adoption' END",
            "onboarding (first 90 days), adoption, renewal (120 days out), or the status",
            True,
        ),
        Field(
            "usage_30d",
            "number",
            _rolled("usage_30d", d),
            "daily average of the primary usage metric over the last 30 days",
            True,
        ),
        Field(
            "usage_prev_30d",
            "number",
            _rolled("usage_prev_30d", d),
            "daily average of the primary usage metric over the 30 days before those",
            True,
        ),
        Field(
            "usage_change_30d",
            "number",
            # (last - before) / before as last / before - 1: two index range scans, no CASE per row.
            "({usage_30d} / nullif({usage_prev_30d}, 0) - 1)",
            "change of usage_30d against usage_prev_30d, a fraction (-20% = -0.2)",
            True,
            True,
        ),
        Field(
            "health",
            "number",
            _SNAPSHOT.format(column="score", day=":today"),
            "the health score, 0-100: the latest snapshot on or before today",
            True,
        ),
        Field(
            "health_band",
            "text",
            _SNAPSHOT.format(column="band", day=":today"),
            "red, yellow or green: the band of that snapshot",
            True,
        ),
        Field(
            "health_change_30d",
            "number",
            d.round("{health} - " + _SNAPSHOT.format(column="score", day=d.add_days(":today", -30)), 1),
            "health now minus health 30 days ago, in points (-15 = fell by 15)",
            True,
        ),
    )


DERIVED = derived_fields(SQLITE_SQL)


HEALTH_FIELDS = frozenset({"health", "health_band", "health_change_30d"})


def usage_field(name: str, dialect: SqlDialect = SQLITE_SQL) -> Field | None:
    """A ``usage.<metric>...`` field: the latest value, days since non-zero, or a window (None: not one)."""
    found = _USAGE_RE.match(name)
    if found is None:
        return None
    metric, value, window, days = found.groups()
    quoted = f"'{metric}'"  # letters, digits and _ only
    if window is not None:
        return _metric_window(name, quoted, window, int(days), dialect)
    if value == "days_since_nonzero":
        last = (
            f"(SELECT max(u.date) FROM usage u WHERE u.account_id = a.id AND u.metric = {quoted}"
            " AND u.value <> 0 AND u.date <= :today)"
        )
        sql = dialect.days_between(":today", last)
        return Field(name, "number", sql, f"days since '{metric}' was last above zero", True)
    latest = _rolled_metric("latest", quoted, dialect)
    return Field(name, "number", latest, f"latest value of the usage metric '{metric}'", True)


def _metric_window(name: str, metric: str, window: str, days: int, d: SqlDialect) -> Field:
    """avg and sum over the last ``days`` days; change: that average against the one before, a fraction."""
    rolled = days == ROLLED_METRIC_DAYS
    if window == "change":
        if rolled:
            now, before = (_rolled_metric(column, metric, d) for column in USAGE_WINDOWS)
        else:
            now = usage_aggregate(f"-{days} days", "", metric, dialect=d)
            before = usage_aggregate(f"-{2 * days} days", f"-{days} days", metric, dialect=d)
        sql = f"({now} / nullif({before}, 0) - 1)"
        return Field(name, "number", sql, f"change of the {days}-day average of {metric}", True, True)
    if window == "avg" and rolled:
        sql = _rolled_metric("usage_30d", metric, d)
        return Field(name, "number", sql, f"{window} of {metric} over the last {days} days", True)
    sql = usage_aggregate(f"-{days} days", "", metric, window, d)
    return Field(name, "number", sql, f"{window} of {metric} over the last {days} days", True)


def _attribute(name: str, dialect: SqlDialect = SQLITE_SQL) -> Field | None:
    """An event's free attribute: its type is known only at run time."""
    if not _NAME_RE.match(name):
        return None
    return Field(name, "any", dialect.json_value("e.attributes", name), "an attribute of the event")


class FieldSet(Mapping[str, Field]):
    """The fields known for one evaluation: columns, extras and derived ones.

    ``dynamic`` makes the fields no list can hold (usage metrics, event
    attributes) from their names; ``contacts`` are the fields of a contact row.
    ``dialect``: the database their SQL is written for; conditions compile to it.
    """

    def __init__(
        self,
        fields: Iterable[Field],
        *,
        dynamic: Callable[[str], Field | None] | None = None,
        contacts: FieldSet | None = None,
        dialect: SqlDialect = SQLITE_SQL,
    ) -> None:
        self._fields = {f.name: f for f in fields}
        self._dynamic = dynamic
        self.contacts = contacts
        self.dialect = dialect

    def __getitem__(self, name: str) -> Field:
        found = self._fields.get(name)
        if found is None and self._dynamic is not None:
            found = self._dynamic(name)
        if found is None:
            raise KeyError(name)
        return found

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return name in self._fields or (self._dynamic is not None and self._dynamic(name) is not None)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def sql(self, name: str) -> str:
        """The field's SQL with every ``{other}`` field expanded."""
        return self.expand(self[name].sql)

    def expand(self, sql: str) -> str:
        """SQL with every ``{field}`` in it replaced by that field's SQL."""
        return _REF.sub(lambda m: f"({self.sql(m.group(1))})", sql)

    def references(self, name: str) -> list[str]:
        """The fields this field's SQL is built from (its ``{field}`` names)."""
        return _REF.findall(self[name].sql)

    def with_fields(self, extra: Iterable[Field]) -> FieldSet:
        return FieldSet(
            [*self._fields.values(), *extra],
            dynamic=self._dynamic,
            contacts=self.contacts,
            dialect=self.dialect,
        )


CONTACT_COLUMNS: tuple[Field, ...] = (
    _column("email", "text", "the contact's address", alias="ct"),
    _column("name", "text", "the contact's name", alias="ct"),
    _column("role", "text", "champion, economic_buyer, admin, user, ...", alias="ct"),
    _column("title", "text", "job title", alias="ct"),
    _column("is_primary", "bool", "the account's primary contact", alias="ct"),
    _column("unsubscribed", "bool", "asked not to be emailed", alias="ct"),
    _column("left_at", "date", "when they left the account: never written to after", alias="ct"),
)


@cache
def event_fields(d: SqlDialect) -> FieldSet:
    """The fields of an event row (alias ``e``): its columns, ``open``, and any attribute by name."""
    columns = (
        _column("id", "text", "the event's id", alias="e"),
        _column("kind", "text", "ticket, nps_response, ...", alias="e"),
        _column("contact", "text", "the address of the person it concerns", alias="e"),
        _column("occurred_at", "date", "when it happened", alias="e", timed=True),
        _column("closed_at", "date", "when it was closed (a ticket solved)", alias="e", timed=True),
    )
    is_open = Field(
        "open",
        "bool",
        f"(e.closed_at IS NULL OR e.closed_at >= {d.add_days(':today', 1)})",
        "not closed by today",
        True,
    )
    return FieldSet([*_columns(columns, "e", d), is_open], dynamic=partial(_attribute, dialect=d), dialect=d)


EVENT_FIELDS = event_fields(SQLITE_SQL)


def _extras(
    standard: Iterable[Field], columns: Mapping[str, FieldType] | None, alias: str, d: SqlDialect
) -> list[Field]:
    names = {f.name for f in standard}
    return [
        _column(name, type_, "imported column", alias=alias, dialect=d)
        for name, type_ in (columns or {}).items()
        if name not in names
    ]


def standard_fields(
    extra_columns: Mapping[str, FieldType] | None = None,
    contact_columns: Mapping[str, FieldType] | None = None,
    dialect: SqlDialect = SQLITE_SQL,
) -> FieldSet:
    """Columns, any extra imported columns, and the derived fields; a contact's, with its extras.

    ``dialect``: the database the conditions compiled with these fields run on.
    """
    d = dialect
    contact = [*_columns(CONTACT_COLUMNS, "ct", d), *_extras(CONTACT_COLUMNS, contact_columns, "ct", d)]
    contacts = FieldSet(contact, dialect=d)
    account = [*_columns(ACCOUNT_COLUMNS, "a", d), *_extras(ACCOUNT_COLUMNS, extra_columns, "a", d)]
    dynamic = usage_field if d.sqlite else partial(usage_field, dialect=d)
    return FieldSet([*account, *derived_fields(d)], dynamic=dynamic, contacts=contacts, dialect=d)
