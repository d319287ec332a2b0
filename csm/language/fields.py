"""The fields conditions and templates can use: account columns and derived fields.

Derived fields are SQL expressions over the ``accounts`` row aliased ``a`` and
the named parameter ``:today`` (an ISO date), so evaluation stays in SQLite.
A field's ``sql`` may name other fields as ``{name}``; they are expanded
in place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

FieldType = Literal["text", "number", "date", "bool"]

USAGE_PREFIX = "usage."
_REF = re.compile(r"\{(\w+)\}")  # another field named in a field's SQL
_METRIC_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Field:
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


def _column(name: str, type_: FieldType, description: str) -> Field:
    quoted = name.replace('"', '""')  # imported columns may be SQL keywords: "group", "order"
    return Field(name, type_, f'a."{quoted}"', description)


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
    _column("last_login_at", "date", "last product login"),
    _column("health_score", "number", "a health score imported from elsewhere"),
)

_LAST_TOUCH = (
    "(SELECT max(t.at) FROM timeline t WHERE t.account_id = a.id"
    " AND t.touch = 1 AND t.at < date(:today, '+1 day'))"
)

# The customer writing back: replies `csm inbox` put on the timeline (touch = 1 is indexed).
_LAST_REPLY = (
    "(SELECT max(r.at) FROM timeline r WHERE r.account_id = a.id"
    " AND r.touch = 1 AND r.kind = 'reply' AND r.at < date(:today, '+1 day'))"
)
_LAST_SENT = (
    "(SELECT max(s.at) FROM timeline s WHERE s.account_id = a.id"
    " AND s.touch = 1 AND s.kind = 'email_sent' AND s.at < date(:today, '+1 day'))"
)

# The health fields read the snapshots `csm health` stores, relative to :today,
# so a condition evaluated "as of" an earlier day sees that day's health.
_SNAPSHOT = (
    "(SELECT h.{column} FROM health_history h WHERE h.account_id = a.id"
    " AND h.date <= {day} ORDER BY h.date DESC LIMIT 1)"
)


def _usage_avg(after: str, upto: str) -> str:
    """The primary metric's daily average over (today + after, today + upto]."""
    end = f"date(:today, '{upto}')" if upto else ":today"
    return (
        "(SELECT avg(u.value) FROM usage u WHERE u.account_id = a.id AND u.metric = :primary_metric"
        f" AND u.date > date(:today, '{after}') AND u.date <= {end})"
    )


DERIVED: tuple[Field, ...] = (
    Field(
        "days_to_renewal",
        "number",
        "CAST(julianday(a.renewal_date) - julianday(:today) AS INTEGER)",
        "days until renewal_date (negative once past)",
        True,
        day_count=("{renewal_date}", 1),
    ),
    Field(
        "days_since_login",
        "number",
        # 0, not negative, for a login after "today" (evaluating as of an earlier day).
        "max(0, CAST(julianday(:today) - julianday(date(a.last_login_at)) AS INTEGER))",
        "days since last_login_at",
        True,
    ),
    Field(
        "days_since_start",
        "number",
        "CAST(julianday(:today) - julianday(a.start_date) AS INTEGER)",
        "days since start_date",
        True,
        day_count=("{start_date}", -1),
    ),
    Field(
        "seat_utilization",
        "number",
        "CASE WHEN a.seats_licensed > 0 THEN CAST(a.seats_used AS REAL) / a.seats_licensed END",
        "seats_used / seats_licensed, a fraction (write 90% or 0.9)",
        True,
        True,
    ),
    Field(
        "last_touch_at",
        "date",
        f"date({_LAST_TOUCH})",
        "date of the last touch on the timeline (email sent, reply, task done, note)",
        True,
    ),
    Field(
        "days_since_touch",
        "number",
        "CAST(julianday(:today) - julianday(coalesce(date(" + _LAST_TOUCH + "), a.start_date)) AS INTEGER)",
        "days since the last touch, or since start_date if never touched",
        True,
        day_count=("coalesce({last_touch_at}, {start_date})", -1),
    ),
    Field(
        "last_reply_at",
        "date",
        f"date({_LAST_REPLY})",
        "date of the last reply from the account's people (`csm inbox`)",
        True,
    ),
    Field(
        "days_since_reply",
        "number",
        f"CAST(julianday(:today) - julianday(date({_LAST_REPLY})) AS INTEGER)",
        "days since the last reply; empty (null) if they never replied",
        True,
        day_count=("{last_reply_at}", -1),
    ),
    Field(
        "replied",
        "bool",
        f"coalesce({_LAST_REPLY} > coalesce({_LAST_SENT}, ''), 0)",
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
        "CASE WHEN a.status IS NOT 'active' THEN a.status"
        " WHEN {days_since_start} < 90 THEN 'onboarding'"
        " WHEN {days_to_renewal} <= 120 THEN 'renewal'"
        " ELSE 'adoption' END",
        "onboarding (first 90 days), adoption, renewal (120 days out), or the status",
        True,
    ),
    Field(
        "usage_30d",
        "number",
        _usage_avg("-30 days", ""),
        "daily average of the primary usage metric over the last 30 days",
        True,
    ),
    Field(
        "usage_prev_30d",
        "number",
        _usage_avg("-60 days", "-30 days"),
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
        "round({health} - " + _SNAPSHOT.format(column="score", day="date(:today, '-30 days')") + ", 1)",
        "health now minus health 30 days ago, in points (-15 = fell by 15)",
        True,
    ),
)


HEALTH_FIELDS = frozenset({"health", "health_band", "health_change_30d"})


def usage_field(metric: str) -> Field:
    """``usage.<metric>``: the metric's latest value on or before today."""
    if not _METRIC_RE.match(metric):
        raise ValueError(f"not a metric name: {metric!r}")
    return Field(
        USAGE_PREFIX + metric,
        "number",
        "(SELECT u.value FROM usage u WHERE u.account_id = a.id"
        f" AND u.metric = '{metric}' AND u.date <= :today"
        " ORDER BY u.date DESC LIMIT 1)",
        f"latest value of the usage metric '{metric}'",
        True,
    )


class FieldSet(Mapping[str, Field]):
    """The fields known for one evaluation: columns, extras and derived ones."""

    def __init__(self, fields: Iterable[Field]) -> None:
        self._fields = {f.name: f for f in fields}

    def __getitem__(self, name: str) -> Field:
        if name.startswith(USAGE_PREFIX) and name not in self._fields:
            return usage_field(name[len(USAGE_PREFIX) :])
        return self._fields[name]

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str) and name.startswith(USAGE_PREFIX):
            return bool(_METRIC_RE.match(name[len(USAGE_PREFIX) :]))
        return name in self._fields

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
        return FieldSet([*self._fields.values(), *extra])


def standard_fields(extra_columns: Mapping[str, FieldType] | None = None) -> FieldSet:
    """Columns, any extra imported columns, and the derived fields."""
    extras = [
        _column(name, type_, "imported column")
        for name, type_ in (extra_columns or {}).items()
        if name not in {f.name for f in ACCOUNT_COLUMNS}
    ]
    return FieldSet([*ACCOUNT_COLUMNS, *extras, *DERIVED])
