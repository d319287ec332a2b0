"""COPY's text built a column at a time: stored exactly as psycopg's row-by-row COPY stores the rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csm.data.copytext import copy_text

_TABLE = "(n BIGINT, t TEXT, i BIGINT, r DOUBLE PRECISION, b BOOLEAN)"
_NAMES = ("n", "t", "i", "r", "b")
_TEXTS = st.one_of(
    st.none(),
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")),
    st.text(alphabet=st.sampled_from(list("a\\\t\n\r é"))),
)
_ROWS = st.lists(
    st.tuples(
        _TEXTS,
        st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
        st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**53), 2**53)),
        st.one_of(st.none(), st.booleans(), st.sampled_from([0, 1])),
    ),
    min_size=1,
    max_size=12,
)


def test_a_line_a_row_escaped_as_copy_reads_it() -> None:
    columns = [["a\tb", None, "c\\d\r\n"], [1, 2, -3], [1.5, None, 1e16], [1, 0, None]]
    assert copy_text(columns, [False, False, False, True]) == (
        "a\\tb\t1\t1.5\tt\n\\N\t2\t\\N\tf\nc\\\\d\\r\\n\t-3\t1e+16\t\\N\n"
    )
    # Each distinct number spelt once, where equal numbers are spelt alike (not 0.0 and -0.0).
    assert copy_text([[7, None, 7], [0.0, -0.0, 2.5]], [False, False]) == "7\t0.0\n\\N\t-0.0\n7\t2.5\n"
    assert copy_text([[1, 1.0, None]], [False]) == "1\n1.0\n\\N\n"
    assert copy_text([[], []], [False, False]) == ""
    with pytest.raises(TypeError, match="COPY text of a date"):
        copy_text([[dt.date(2026, 1, 1)]], [False])


@pytest.fixture
def pg(backend: str, db: Any) -> Any:
    if backend != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    db.execute(f"CREATE TABLE by_rows {_TABLE}")
    db.execute(f"CREATE TABLE by_text {_TABLE}")
    return db


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_ROWS)
def test_stored_as_psycopgs_write_row_stores_them(pg: Any, rows: list[tuple[Any, ...]]) -> None:
    pg.execute("TRUNCATE by_rows, by_text")
    numbered = [(n, t, i, r, None if b is None else bool(b)) for n, (t, i, r, b) in enumerate(rows)]
    pg.copy_in("by_rows", _NAMES, numbered)
    columns = [list(column) for column in zip(*[(n, *row) for n, row in enumerate(rows)], strict=True)]
    pg.copy_text("by_text", _NAMES, copy_text(columns, [False, False, False, False, True]))
    stored = [
        pg.execute(f"SELECT {', '.join(_NAMES)} FROM {t} ORDER BY n").fetchall()
        for t in ("by_rows", "by_text")
    ]
    assert repr(stored[1]) == repr(stored[0])  # repr: -0.0 is not 0.0
    assert len(stored[1]) == len(rows)
