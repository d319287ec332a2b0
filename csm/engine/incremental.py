"""What changed since the last run: a run over unchanged inputs is skipped.

Evaluating every playbook over a large book takes seconds, and a second `csm
today` the same morning would find nothing new: the dedupe keys refuse every
draft and task it would add again. So a run stores a fingerprint of what it
read in the ``meta`` table, and a later run with the same fingerprint skips
the evaluation.

What a run reads, and so what the fingerprint holds:

- the day it evaluates as of, the playbooks selected and the owner filter;
- the playbook files, the templates (partials too), the health model and
  the settings (``csm.toml``: the CSM's name and the primary metric are
  read too), by content;
- the database: every import, sync, touch, snooze, unsubscribe and outcome
  adds a timeline row (``csm.data.timeline.record`` is its one writer), so
  the newest timeline id moves whenever the data does; snoozes and
  suppressions are counted as well, and the schema's version (a new import
  column) is part of it; so are the outbox's drafts by status and its last move
  (a person's skip or send frees a contact's touch budget for a deferred draft);

A run's own writes are drafts (and their deferrals), tasks, matches, the health
snapshot and the timeline's ``exit`` rows of ``until:``; the fingerprint stored
after a run takes those in, so the next run skips. Any other timeline row written
while the run was going (an import from another process) keeps the
fingerprint taken before the run, and the next run evaluates again.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from csm.builtins import builtin_path
from csm.data import rollup
from csm.data.backend import dialect_of
from csm.data.store import get_meta, set_meta, transaction
from csm.language.fields import rolled_part

if TYPE_CHECKING:
    from csm.engine.drafting import QueueReport
    from csm.language.playbooks import Playbook
    from csm.runtime import Runtime

FINGERPRINT = "run_fingerprint"  # meta: the inputs of the last run that wrote its results
_OWN_KINDS = ("exit",)  # timeline rows a run writes itself


@dataclass(frozen=True)
class Inputs:
    """What one run reads, reduced to what tells whether any of it changed."""

    files: str  # sha256 of the run's selection, day and files
    timeline: int  # the newest timeline id (0: none)
    snoozes: tuple[int, int]  # newest id, count
    suppressions: int
    schema: int  # moves with every CREATE or ALTER (``Dialect.schema_stamp``)
    outbox: str  # drafts by status and the last move: a skip or send frees a contact's touch budget

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def inputs(
    conn: sqlite3.Connection,
    files: Iterable[Path],
    selection: dict[str, object],
) -> Inputs:
    """The fingerprint of a run over ``selection`` (day, playbooks, owner) reading ``files``."""
    digest = hashlib.sha256(json.dumps(selection, sort_keys=True).encode())
    for path in sorted(set(files)):
        digest.update(b"\0" + str(path).encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"(missing)")
    timeline = conn.execute("SELECT coalesce(max(id), 0) FROM timeline").fetchone()[0]
    newest, count = conn.execute("SELECT coalesce(max(id), 0), count(*) FROM snoozes").fetchone()
    suppressions = conn.execute("SELECT count(*) FROM suppressions").fetchone()[0]
    schema = dialect_of(conn).schema_stamp(conn)
    by_status = conn.execute("SELECT status, count(*) FROM outbox GROUP BY status ORDER BY status").fetchall()
    moved = conn.execute("SELECT max(updated_at) FROM outbox").fetchone()[0]
    outbox = json.dumps([[tuple(row) for row in by_status], moved])
    return Inputs(digest.hexdigest(), timeline, (newest, count), suppressions, schema, outbox)


def parts_read(playbooks: Sequence[Playbook]) -> Counter[tuple[str, str]]:
    """The usage metrics' latest values and windows the playbooks' conditions read, and by how many."""
    steps = [c for p in playbooks for s in p.steps for c in (s.when, s.until)]
    conditions = [c for c in [p.audience for p in playbooks] + steps if c is not None]
    return Counter(part for c in conditions for part in {rolled_part(name) for name in c.fields} if part)


def rolled_parts(playbooks: Sequence[Playbook]) -> set[tuple[str, str]]:
    """The usage metrics' latest values and windows two or more of the playbooks' conditions read.

    The rollup holds those for the day. A part one condition reads is left to it: it computes
    the value for the accounts its audience lets through, at most what building it for every
    account would cost (measured at 100k: see benchmarks/RESULTS.md, the rollup kept day to day).
    """
    return {part for part, n in parts_read(playbooks).items() if n >= 2}


def workspace_files(folders: Iterable[Path], singles: Iterable[Path]) -> list[Path]:
    """Every file under ``folders`` (playbooks, templates) and the ``singles`` (settings, model)."""
    found = [p for folder in folders if folder.is_dir() for p in folder.rglob("*") if p.is_file()]
    return found + list(singles)


def unchanged(conn: sqlite3.Connection, now: Inputs) -> bool:
    """Did the last run read exactly these inputs?"""
    return get_meta(conn, FINGERPRINT) == now.key()


def remember(conn: sqlite3.Connection, before: Inputs, after: Inputs) -> None:
    """Store the fingerprint of a run that read ``before`` and finished with ``after``.

    ``after`` when the only timeline rows added since ``before`` are the run's own;
    otherwise someone else wrote meanwhile, and ``before`` makes the next run look again.
    """
    same_otherwise = (before.files, before.snoozes, before.suppressions, before.schema) == (
        after.files,
        after.snoozes,
        after.suppressions,
        after.schema,
    )
    marks = ", ".join("?" for _ in _OWN_KINDS)
    foreign = conn.execute(
        f"SELECT 1 FROM timeline WHERE id > ? AND id <= ? AND kind NOT IN ({marks}) LIMIT 1",
        (before.timeline, after.timeline, *_OWN_KINDS),
    ).fetchone()
    kept = after if same_otherwise and foreign is None else before
    with transaction(conn):
        set_meta(conn, FINGERPRINT, kept.key())


@dataclass(frozen=True)
class RunOutcome:
    """What a run did: its drafting report, and the steps stale data held back."""

    report: QueueReport | None  # None: nothing the run reads changed since the last run
    held_back: list[str]  # steps stale data kept from firing, as "playbook › step"


def run(rt: Runtime, names: Sequence[str] = (), owner: str | None = None) -> RunOutcome:
    """Take today's snapshot, evaluate the playbooks and queue what they call for, once.

    No report when nothing the run reads changed since the last run: nothing is
    evaluated or written. A run that could not draft some email, or held a step back
    on stale data, stores no fingerprint, so the next run tries (and says so) again.
    """
    before = _run_inputs(rt, names, owner)
    if unchanged(rt.conn, before):
        return RunOutcome(None, [])
    from csm.engine.drafting import Existing, queue  # Jinja: not for a skipped run
    from csm.engine.matching import evaluate, held_back

    playbooks = rt.checked_playbooks(names)  # before the snapshot: a failed check writes nothing
    with transaction(rt.conn):  # the day's usage windows and last touches, read by what follows
        rollup.ensure(rt.conn, rt.today, rt.ws.settings.primary_metric, rolled_parts(playbooks))
    rt.snapshot_health(if_stale=True)
    results = evaluate(
        rt.conn,
        playbooks,
        rt.fields,
        rt.params,
        rt.today,
        owner=owner,
        stale=rt.stale,
        settle=True,
    )
    existing = Existing.of(results)
    report = queue(rt.conn, rt.ws, rt.templates, rt.fields, rt.params, results, rt.today, rt.now(), existing)
    held = held_back(results)
    if not report.not_drafted and not held:
        remember(rt.conn, before, _run_inputs(rt, names, owner))
    return RunOutcome(report, held)


def _run_inputs(rt: Runtime, names: Sequence[str], owner: str | None) -> Inputs:
    ws = rt.ws
    # The health model is the workspace's health.yaml, else the built-in one: both are read, so a
    # skipped run need not load the model's module (YAML and the condition compiler) to tell which.
    models = [ws.health_path, builtin_path("health.yaml")]
    files = workspace_files([ws.playbooks_dir, ws.templates_dir], [ws.settings_path, *models])
    selection = {"today": rt.today.isoformat(), "playbooks": sorted(names), "owner": owner}
    return inputs(rt.conn, files, selection)
