"""Which usage metrics the database holds: noted by each import, read by `csm check`.

Reading them from the usage table itself would scan every row of it (its key
starts with the account), so each import notes the metrics it brought in
``meta`` instead, inside its transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from csm.data.store import get_meta, set_meta

_METRICS_KEY = "usage_metrics"


def note(conn: sqlite3.Connection, metrics: Iterable[str]) -> None:
    """Remember the usage metrics an import or sync brought (inside its transaction).

    The first time, those the table held before are read once (a database from
    before csm noted them).
    """
    noted = held(conn, scan=False)
    known = set(noted if noted is not None else held(conn) or ())
    if noted is None or not known.issuperset(metrics):
        set_meta(conn, _METRICS_KEY, json.dumps(sorted(known.union(metrics))))


def held(conn: sqlite3.Connection, *, scan: bool = True) -> list[str] | None:
    """The usage metrics the database holds: as imports noted them, else (``scan``) as the table has them."""
    noted = get_meta(conn, _METRICS_KEY)
    if noted is not None:
        return list(json.loads(noted))
    if not scan:
        return None
    return [row[0] for row in conn.execute("SELECT DISTINCT metric FROM usage ORDER BY 1")]


def noting(batches: Iterable[list[list[Any]]], index: int, seen: set[str]) -> Iterator[list[list[Any]]]:
    """The batches as they are, adding each one's values of column ``index`` to ``seen``."""
    for values in batches:
        seen.update(values[index])
        yield values
