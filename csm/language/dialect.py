"""The SQL fragments that differ between SQLite and PostgreSQL, for the compiler and the store.

The condition language compiles to either from one compiler: wherever SQLite and
PostgreSQL spell a thing differently (dates, a JSON attribute, a boolean stored as
0/1, division), the compiler asks its :class:`SqlDialect` for the fragment; so do
the follow-ups' business days (weekdays, the holidays' JSON list). The SQLite
fragments are the SQL csm always emitted, so its queries did not change.
:class:`csm.data.backend.Dialect` adds what only the store needs (transactions,
DDL, introspection); this half lives here because the language imports no data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SqlDialect:
    """One database's spelling of the fragments csm's SQL needs; ``name`` is sqlite or postgresql."""

    name: str

    @property
    def sqlite(self) -> bool:
        return self.name == "sqlite"

    def date_of(self, expr: str) -> str:
        """The ISO date (text) of an ISO date or timestamp."""
        return f"date({expr})" if self.sqlite else f"to_char({_as_text(expr)}::timestamp, 'YYYY-MM-DD')"

    def days_between(self, later: str, earlier: str) -> str:
        """Whole days from ``earlier`` to ``later`` (ISO dates or timestamps, as text)."""
        if self.sqlite:
            return f"CAST(julianday(date({later})) - julianday(date({earlier})) AS INTEGER)"
        return f"({_as_text(later)}::date - {_as_text(earlier)}::date)"

    def add_days(self, date: str, days: str | int) -> str:
        """The ISO date ``days`` after ``date``: a whole number, or an integer expression's SQL."""
        if isinstance(days, int):
            if self.sqlite:
                return f"date({date}, '{days:+d} {'day' if abs(days) == 1 else 'days'}')"
            return f"to_char({_as_text(date)}::date + {days}, 'YYYY-MM-DD')"
        if self.sqlite:
            return f"date({date}, printf('%+d days', {days}))"
        return f"to_char({_as_text(date)}::date + ({days})::integer, 'YYYY-MM-DD')"

    def weekday(self, date: str) -> str:
        """The weekday of an ISO date or timestamp, Monday 0 to Sunday 6 (Python's ``date.weekday()``)."""
        if self.sqlite:
            return f"((CAST(strftime('%w', {date}) AS INTEGER) + 6) % 7)"
        return f"(CAST(extract(isodow FROM {_as_text(date)}::date) AS INTEGER) - 1)"

    def json_texts(self, document: str, alias: str) -> str:
        """A FROM item over a JSON array stored as text: one row per element, ``alias.value`` its text."""
        if self.sqlite:
            return f"json_each({document}) {alias}"
        return f"jsonb_array_elements_text(({document})::jsonb) AS {alias}(value)"

    def day_text(self, column: str) -> str:
        """A stored date column as the ISO text it sorts by (PostgreSQL may hold it as a DATE)."""
        return column if self.sqlite else f"({column})::text"

    def truth(self, column: str) -> str:
        """A stored true/false column as a boolean (SQLite and csm's own tables hold 0/1).

        On PostgreSQL through integer: a BIGINT has no cast to boolean, an imported BOOLEAN one to integer.
        """
        return column if self.sqlite else f"({column})::integer::boolean"

    def divide(self, dividend: str, divisor: str) -> str:
        """``dividend / divisor`` as a real number, NULL when the divisor is 0 (as SQLite gives it)."""
        if self.sqlite:  # SQLite divides integers as integers (7 / 2 = 3): make the dividend real
            return f"{dividend} * 1.0 / {divisor}"
        return f"CAST({dividend} AS DOUBLE PRECISION) / nullif({divisor}, 0)"

    def greatest(self, first: str, second: str) -> str:
        """The larger of two values, NULL when either is (SQLite's two-argument max())."""
        return self._pick(first, second, "max", ">")

    def least(self, first: str, second: str) -> str:
        """The smaller of two values, NULL when either is (SQLite's two-argument min())."""
        return self._pick(first, second, "min", "<")

    def _pick(self, first: str, second: str, sqlite_function: str, wins: str) -> str:
        if self.sqlite:
            return f"{sqlite_function}({first}, {second})"
        pick_first, pick_second = f"{first} {wins}= {second}", f"{second} {wins} {first}"
        return f"(CASE WHEN {pick_first} THEN {first} WHEN {pick_second} THEN {second} END)"

    def round(self, number: str, digits: int) -> str:
        """``number`` rounded to ``digits`` decimals, a real number."""
        if self.sqlite:
            return f"round({number}, {digits})"
        return f"round(CAST({number} AS NUMERIC), {digits})::double precision"

    def json_value(self, document: str, key: str) -> str:
        """The value at ``key`` of a JSON object stored as text; NULL when absent or null.

        SQLite gives it typed (a number, text, 1/0); PostgreSQL a jsonb, which
        :meth:`typed` turns into the type it is compared with.
        """
        if self.sqlite:
            return f"json_extract({document}, '$.{key}')"
        return f"nullif(({document})::jsonb -> '{key}', 'null'::jsonb)"

    def typed(self, value: str, type_: str) -> str:
        """A :meth:`json_value` used as a ``type_`` (number, text, date, bool): NULL if it is another."""
        if self.sqlite:
            return value
        if type_ == "number":
            return f"(CASE WHEN jsonb_typeof({value}) = 'number' THEN ({value})::double precision END)"
        if type_ == "bool":
            return f"(CASE WHEN jsonb_typeof({value}) = 'boolean' THEN ({value})::boolean END)"
        return f"(CASE WHEN jsonb_typeof({value}) = 'string' THEN {value} #>> '{{}}' END)"

    def whole(self, number: str) -> str:
        """``number`` with its fraction dropped (toward zero), an integer; PostgreSQL's cast rounds."""
        return f"CAST({number} AS INTEGER)" if self.sqlite else f"CAST(trunc({number}) AS INTEGER)"

    def json_array(self, items: list[str]) -> str:
        """A JSON array (text) of these values, numbers as numbers and NULL as null."""
        return (
            f"json_array({', '.join(items)})"
            if self.sqlite
            else f"json_build_array({', '.join(items)})::text"
        )

    def exact_json_array(self, text: str, numbers: list[str]) -> str:
        """A JSON array (text) of a text value, then numbers each read back to the same double
        (SQLite's JSON writes 15 digits, not enough for that) and NULL as null."""
        if not self.sqlite:
            return self.json_array([text, *numbers])
        exact = [
            f"CASE WHEN typeof({n}) = 'real' THEN printf('%!.17g', {n}) ELSE coalesce({n}, 'null') END"
            for n in numbers
        ]
        # One printf builds the text: each || would copy it again (a fifth of a snapshot's CPU).
        return f"printf('[%s{',%s' * len(numbers)}]', json_quote({text}), {', '.join(exact)})"

    def group_concat(self, expr: str, separator: str = ",") -> str:
        quoted = separator.replace("'", "''")
        if self.sqlite:
            return f"group_concat({expr}, '{quoted}')"
        return f"string_agg(({expr})::text, '{quoted}')"

    def nocase(self, expr: str) -> str:
        """An expression compared without regard to case (both sides go through it)."""
        return f"{expr} COLLATE NOCASE" if self.sqlite else f"lower({expr})"


def _as_text(expr: str) -> str:
    """On PostgreSQL, a date's SQL as text first: a parameter (``:today``) stays text wherever
    else the query compares it, and a DATE or text column reads the same."""
    return f"(({expr})::text)"


SQLITE_SQL = SqlDialect("sqlite")
POSTGRESQL_SQL = SqlDialect("postgresql")
