"""Playbook test files (``playbooks/tests/*.yaml``) → frozen cases, every problem with file:line:col.

A file names the playbook it tests, a ``today``, what every case starts from
(``given``) and its ``cases``: each adds to the given, may change ``today``, and
says what must happen (``expect``). Dates may be written relative to the
case's today (``+91d``, ``-2w``, ``today``), usage series in Prometheus'
promtool notation (:mod:`csm.playtest.notation`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from csm import textfile
from csm.engine.reasons import KINDS as REASONS
from csm.errors import Problem, did_you_mean
from csm.language import yamlfile
from csm.language.fields import ACCOUNT_COLUMNS, FieldSet
from csm.language.playbooks import Playbook
from csm.language.yamlfile import Checker, Document
from csm.playtest import notation
from csm.playtest.cases import Case, DraftSpec, Expect, Given, TaskSpec

TESTS_FOLDER = "tests"
_FILE_KEYS = ("playbook", "today", "settings", "account_defaults", "given", "cases")
_GIVEN_KEYS = (
    "accounts",
    "contacts",
    "usage",
    "events",
    "timeline",
    "health",
    "snoozes",
    "runs",
    "sent",
    "replies",
)
_CASE_KEYS = ("name", "today", "given", "expect")
_EXPECT_KEYS = ("matches", "drafts", "tasks", "suppressed")
_DRAFT_KEYS = ("account", "step", "to", "cc", "subject", "body_contains", "body_golden")
_TASK_KEYS = ("account", "step", "title", "due", "priority")
_SUPPRESSED_KEYS = ("account", "step", "reason")
_USAGE_KEYS = ("account", "metric", "values")
_TIMELINE_KEYS = ("account", "at", "kind", "summary")
_HEALTH_KEYS = ("account", "date", "score", "band")
_SNOOZE_KEYS = ("account", "until", "reason", "playbook")
_SENT_KEYS = ("account", "step", "to", "on")
_REPLY_KEYS = ("account", "from", "on")
_COLUMNS = frozenset(f.name for f in ACCOUNT_COLUMNS)


def root_of(path: Path) -> Path | None:
    """The workspace a test file or folder belongs to: the folder holding its ``playbooks``."""
    for folder in (path.resolve(), *path.resolve().parents):
        if folder.name == "playbooks" and (folder.parent / "templates").is_dir():
            return folder.parent
    return None


def test_files(paths: list[Path], playbooks_dir: Path) -> list[Path]:
    """The test files named (a file, or a folder's ``*.yaml``), else those in ``playbooks/tests``."""
    if not paths:  # a workspace made before csm shipped tests has none: nothing to run
        default = playbooks_dir / TESTS_FOLDER
        paths = [default] if default.is_dir() else []
    found: list[Path] = []
    for path in paths:
        found.extend(sorted(path.glob("*.yaml")) if path.is_dir() else [path])
    return found


def load(path: Path, playbooks: dict[str, Playbook]) -> tuple[list[Case], list[Problem]]:
    """One test file's cases, and every problem in it (``playbooks``: the workspace's, by id)."""
    try:
        doc = yamlfile.load(textfile.read_text(path), str(path))
    except textfile.UnreadableFile as exc:
        return [], [exc.problem]
    except yamlfile.YamlSyntaxError as exc:
        return [], [exc.problem]
    reader = _Reader(doc, path, playbooks)
    cases = reader.file()
    return ([] if reader.c.problems else cases), reader.c.problems


class _Reader:
    """Walks one test file with the playbooks' :class:`Checker`, collecting every problem."""

    def __init__(self, doc: Document, path: Path, playbooks: dict[str, Playbook]) -> None:
        self.c = Checker(doc, FieldSet([]))  # a test file holds no conditions
        self.path = path
        self.playbooks = playbooks
        self.under_test: Playbook | None = None  # the playbook of the case being read

    def file(self) -> list[Case]:
        c = self.c
        table = c.table(c.doc.data, (), _FILE_KEYS, "a test file")
        if not table:
            if not c.problems:
                c.add((), "empty test file: it needs playbook, today and cases")
            return []
        playbook = self.playbook(table, ())
        today = self.day(table, (), "today", None, required=True)
        settings = table.get("settings") or {}
        if not isinstance(settings, dict):
            c.add(("settings",), "'settings' must be a table of csm.toml settings")
            settings = {}
        defaults = self.mapping(table, ("account_defaults",))
        cases = table.get("cases")
        if not isinstance(cases, list) or not cases:
            c.add(("cases",) if "cases" in table else (), "a test file needs a non-empty list of cases")
            return []
        found = []
        names: set[str] = set()
        for i, raw in enumerate(cases):
            case = self.case(raw, ("cases", i), playbook, today, settings, defaults, table.get("given"))
            if case is not None and case.name in names:
                c.add(("cases", i, "name"), f"duplicate case name '{case.name}'")
            elif case is not None:
                names.add(case.name)
                found.append(case)
        return found

    def playbook(self, table: dict, path: tuple[Any, ...]) -> Playbook | None:
        name = self.c.text(table, path, "playbook", required=not path)
        if name is None:
            return None
        if name not in self.playbooks:
            hint = did_you_mean(name, self.playbooks) or f" (playbooks: {', '.join(sorted(self.playbooks))})"
            self.c.add((*path, "playbook"), f"no playbook '{name}'{hint}")
            return None
        return self.playbooks[name]

    def case(
        self,
        raw: Any,
        path: tuple[Any, ...],
        playbook: Playbook | None,
        today: dt.date | None,
        settings: dict[str, Any],
        defaults: dict[str, Any],
        shared: Any,
    ) -> Case | None:
        c = self.c
        before = len(c.problems)
        table = c.table(raw, path, _CASE_KEYS, "a case")
        name = c.text(table, path, "name", required=True)
        today = self.day(table, path, "today", today, required=False) or today
        if today is None or playbook is None:
            return None
        self.under_test = playbook  # a sent email names one of its steps
        given = self.given([("given",), (*path, "given")], [shared, table.get("given")], today, defaults)
        expect = self.expect(table.get("expect"), (*path, "expect"), playbook, today)
        if len(c.problems) > before or name is None:
            return None
        line = c.doc.where(path).line
        return Case(self.path, line, name, playbook.id, today, settings, given, expect)

    # -- given ---------------------------------------------------------------------

    def given(
        self, paths: list[tuple[Any, ...]], raws: list[Any], today: dt.date, defaults: dict[str, Any]
    ) -> Given:
        """The file's given and the case's, one after the other."""
        parts: dict[str, list[Any]] = {key: [] for key in _GIVEN_KEYS}
        for path, raw in zip(paths, raws, strict=True):
            if raw is None:
                continue
            table = self.c.table(raw, path, _GIVEN_KEYS, "given")
            for key in _GIVEN_KEYS:
                if key in table:
                    parts[key].extend(self.rows(table[key], (*path, key), key, today, defaults))
        return Given(
            accounts=tuple(parts["accounts"]),
            contacts=tuple(parts["contacts"]),
            usage=tuple(r for rows in parts["usage"] for r in rows),
            events=tuple(parts["events"]),
            timeline=tuple(parts["timeline"]),
            health=tuple(parts["health"]),
            snoozes=tuple(parts["snoozes"]),
            runs=tuple(sorted(parts["runs"])),
            sent=tuple(parts["sent"]),
            replies=tuple(parts["replies"]),
        )

    def rows(self, raw: Any, path: tuple[Any, ...], key: str, today: dt.date, defaults: dict) -> list[Any]:
        if not isinstance(raw, list):
            self.c.add(path, f"'{key}' must be a list")
            return []
        return [self.row(item, (*path, i), key, today, defaults) for i, item in enumerate(raw)]

    def row(self, raw: Any, path: tuple[Any, ...], key: str, today: dt.date, defaults: dict) -> Any:
        if key == "runs":
            return self.date_value(raw, path, today)
        allowed = {
            "usage": _USAGE_KEYS,
            "timeline": _TIMELINE_KEYS,
            "health": _HEALTH_KEYS,
            "snoozes": _SNOOZE_KEYS,
            "sent": _SENT_KEYS,
            "replies": _REPLY_KEYS,
        }.get(key)
        if allowed is not None:
            table = self.c.table(raw, path, allowed, f"a {key} entry")
        elif isinstance(raw, dict):
            table = raw  # accounts, contacts and events: the import checks their columns
        else:
            self.c.add(path, f"each of '{key}' must be a mapping")
            table = {}
        if key == "accounts":
            self.account_keys(table, path)
            table = {**defaults, **table}
            table.setdefault("name", table.get("id"))
        resolved = {k: self.relative(v, (*path, k), today) for k, v in table.items()}
        if key == "usage":
            return self.series(resolved, path, today)
        if key in ("sent", "replies"):
            return self.mail(key, table, resolved, path, today)
        return resolved

    def mail(
        self, key: str, table: dict, resolved: dict, path: tuple[Any, ...], today: dt.date
    ) -> dict[str, Any]:
        """A sent email or a reply: every key given, ``on`` a day before or on today."""
        for name in _SENT_KEYS if key == "sent" else _REPLY_KEYS:
            if name not in table:
                self.c.add(path, f"missing required key '{name}'")
        if key == "sent" and "step" in table and self.under_test is not None:
            self.step(str(table["step"]), (*path, "step"), self.under_test)
        if "on" in table:
            day = self.date_value(table["on"], (*path, "on"), today)
            if day is not None and day > today:
                self.c.add((*path, "on"), f"'on' must be today or before, like -5d, got {table['on']!r}")
            resolved["on"] = day
        return resolved

    def account_keys(self, table: dict, path: tuple[Any, ...]) -> None:
        """A key close to a standard column is a typo, not a new column."""
        for name in table:
            hint = did_you_mean(name, _COLUMNS) if name not in _COLUMNS else ""
            if hint:
                self.c.add((*path, name), f"unknown account field '{name}'{hint}", key=True)

    def series(self, table: dict, path: tuple[Any, ...], today: dt.date) -> list[dict[str, Any]]:
        for key in _USAGE_KEYS:
            if key not in table:
                self.c.add(path, f"missing required key '{key}'")
                return []
        values = notation.expand_series(str(table["values"]))
        if values is None:
            self.c.add(
                (*path, "values"),
                f"not a series: {table['values']!r}; write values oldest first like '10+5x3 _ 7x2'",
            )
            return []
        first = today - dt.timedelta(days=len(values) - 1)
        return [
            {
                "account_id": table["account"],
                "metric": table["metric"],
                "date": (first + dt.timedelta(days=i)).isoformat(),
                "value": v,
            }
            for i, v in enumerate(values)
            if v is not None
        ]

    # -- expect --------------------------------------------------------------------

    def expect(self, raw: Any, path: tuple[Any, ...], playbook: Playbook, today: dt.date) -> Expect:
        c = self.c
        if raw is None:
            c.add(path[:-1], "a case needs an 'expect' saying what must happen")
            return Expect()
        table = c.table(raw, path, _EXPECT_KEYS, "expect")
        matches = {}
        raw_matches = self.mapping(table, (*path, "matches"))
        for step, accounts in raw_matches.items():
            self.step(step, (*path, "matches", step), playbook, key=True)
            matches[step] = self.names(accounts, (*path, "matches", step))
        drafts = self.specs(table, path, "drafts", _DRAFT_KEYS, playbook, today)
        tasks = self.specs(table, path, "tasks", _TASK_KEYS, playbook, today)
        suppressed = []
        for i, spec in enumerate(self.list(table, (*path, "suppressed"))):
            where = (*path, "suppressed", i)
            entry = c.table(spec, where, _SUPPRESSED_KEYS, "a suppression")
            account, step = self.account_step(entry, where, playbook)
            reason = c.choice(entry, where, "reason", REASONS, "")
            if account and step and reason:
                suppressed.append((account, step, reason))
        return Expect(matches, drafts, tasks, tuple(suppressed))  # type: ignore[arg-type]

    def specs(
        self,
        table: dict,
        path: tuple[Any, ...],
        key: str,
        allowed: tuple[str, ...],
        playbook: Playbook,
        today: dt.date,
    ) -> tuple[Any, ...] | None:
        if key not in table:
            return None
        found = []
        for i, raw in enumerate(self.list(table, (*path, key))):
            where = (*path, key, i)
            entry = self.c.table(raw, where, allowed, f"a {key[:-1]}")
            account, step = self.account_step(entry, where, playbook)
            if account is None or step is None:
                continue
            found.append(
                self.draft(entry, where, account, step)
                if key == "drafts"
                else self.task(entry, where, account, step, today)
            )
        return tuple(found)

    def draft(self, entry: dict, where: tuple[Any, ...], account: str, step: str) -> DraftSpec:
        golden = self.c.text(entry, where, "body_golden", required=False)
        contains = entry.get("body_contains", [])
        return DraftSpec(
            account,
            step,
            self.names(entry["to"], (*where, "to")) if "to" in entry else None,
            self.names(entry["cc"], (*where, "cc")) if "cc" in entry else None,
            self.c.text(entry, where, "subject", required=False),
            self.names(contains, (*where, "body_contains")),
            self.path.parent / golden if golden else None,
        )

    def task(self, entry: dict, where: tuple[Any, ...], account: str, step: str, today: dt.date) -> TaskSpec:
        due = self.day(entry, where, "due", today, required=False)
        priority = entry.get("priority")
        return TaskSpec(account, step, self.c.text(entry, where, "title", required=False), due, priority)

    def account_step(self, entry: dict, where: tuple[Any, ...], playbook: Playbook) -> tuple[Any, Any]:
        account = self.c.text(entry, where, "account", required=True)
        step = self.c.text(entry, where, "step", required=True)
        if step is not None and not self.step(step, (*where, "step"), playbook):
            step = None
        return account, step

    def step(self, step: str, where: tuple[Any, ...], playbook: Playbook, *, key: bool = False) -> bool:
        if playbook.step(step) is not None:
            return True
        names = [s.id for s in playbook.steps]
        hint = did_you_mean(step, names) or f" (its steps: {', '.join(names)})"
        self.c.add(where, f"no step '{step}' in {playbook.id}{hint}", key=key)
        return False

    # -- values --------------------------------------------------------------------

    def mapping(self, table: dict, path: tuple[Any, ...]) -> dict[str, Any]:
        value = table.get(path[-1])
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.c.add(path, f"'{path[-1]}' must be a mapping")
            return {}
        return value

    def list(self, table: dict, path: tuple[Any, ...]) -> list[Any]:
        value = table.get(path[-1], [])
        if not isinstance(value, list):
            self.c.add(path, f"'{path[-1]}' must be a list")
            return []
        return value

    def names(self, raw: Any, path: tuple[Any, ...]) -> tuple[str, ...]:
        raw = [raw] if isinstance(raw, str) else raw
        if not isinstance(raw, list) or not all(isinstance(v, str | int) for v in raw):
            self.c.add(path, "expected a list of text like [A1, A2]")
            return ()
        return tuple(str(v) for v in raw)

    def day(
        self, table: dict, path: tuple[Any, ...], key: str, today: dt.date | None, *, required: bool
    ) -> dt.date | None:
        if key not in table:
            if required:
                self.c.add(path, f"missing required key '{key}'")
            return None
        return self.date_value(table[key], (*path, key), today)

    def date_value(self, raw: Any, path: tuple[Any, ...], today: dt.date | None) -> dt.date | None:
        value = self.relative(raw, path, today)
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            self.c.add(path, f"expected a date like 2026-11-23 or +14d, got {raw!r}")
            return None

    def relative(self, raw: Any, path: tuple[Any, ...], today: dt.date | None) -> Any:
        """``+91d``, ``-2w``, ``today`` as an ISO date; anything else as it is."""
        if not notation.is_relative(raw):
            return raw
        if today is None:
            self.c.add(path, f"{raw!r} is relative to today, and this file has no 'today'")
            return raw
        return notation.relative_day(raw, today).isoformat()
