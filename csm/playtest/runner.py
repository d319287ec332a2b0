"""`csm test`: each case run through the engine `csm run` uses, in its own in-memory database.

A case's earlier ``runs`` and then its ``today`` are each one `csm run`: the
day's health snapshot (unless the case gives one), :func:`matching.evaluate`,
:func:`drafting.queue`. What that added is compared with the case's
``expect``; a suppression is asked of :mod:`csm.engine.reasons`, the checks
`csm explain` lists. Playbooks, templates and the health model load once per
suite, so a case costs milliseconds.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from csm.data import store
from csm.engine import matching
from csm.engine.drafting import QueueReport, queue
from csm.engine.explain import StepVerdict, explain
from csm.errors import DataImportError, Problem, ProblemsError
from csm.language.playbooks import Playbook
from csm.playtest import testfile, world
from csm.playtest.cases import Case, DraftSpec, Expect, TaskSpec
from csm.runtime import Runtime
from csm.workspace import Workspace, parse_settings

# Nothing is added for a suppressed step, except the CSM's task when nobody may receive the email.
_TASK_INSTEAD = frozenset({"no_recipient", "unsubscribed"})


@dataclass(frozen=True)
class Failure:
    what: str  # "matches of heads-up", "draft A1 › heads-up: subject"
    expected: Any
    actual: Any
    diff: str = ""  # a unified diff, for bodies


@dataclass
class CaseResult:
    case: Case
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    updated: list[Path] = field(default_factory=list)  # golden files --update rewrote

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class SuiteResult:
    cases: list[CaseResult]
    problems: list[Problem]  # bad test files: nothing in them ran
    seconds: float

    @property
    def failed(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.passed]


class _CaseRuntime(Runtime):
    """A case's runtime: its own database, the suite's templates and health model."""

    suite: Suite

    @cached_property
    def templates(self):  # type: ignore[no-untyped-def, override]
        return self.suite.templates

    @cached_property
    def health_model(self):  # type: ignore[no-untyped-def, override]
        return self.suite.health_model(self)


class Suite:
    """The test files of one workspace folder (its playbooks, templates and health model)."""

    def __init__(self, root: Path) -> None:
        from csm.templating.render import Templates

        self.root = root
        self.templates = Templates(root / "templates")
        self._playbooks: dict[tuple[Any, ...], dict[str, Playbook]] = {}
        self._models: dict[tuple[Any, ...], Any] = {}

    def workspace(self, case: Case) -> Workspace:
        return Workspace(self.root, parse_settings(case.settings, str(case.path)))

    def playbooks(self, rt: Runtime) -> dict[str, Playbook]:
        """Every playbook, checked as `csm run` checks them, once per set of account columns."""
        key = tuple(sorted(store.extra_account_columns(rt.conn).items()))
        if key not in self._playbooks:
            self._playbooks[key] = {p.id: p for p in rt.checked_playbooks()}
        return self._playbooks[key]

    def health_model(self, rt: Runtime) -> Any:
        from csm.health import model as health_model

        key = tuple(sorted(store.extra_account_columns(rt.conn).items()))
        if key not in self._models:
            self._models[key] = health_model.load(health_model.model_path(rt.ws.health_path), rt.fields)
        return self._models[key]

    def runtime(self, case: Case, conn: sqlite3.Connection, day: dt.date) -> Runtime:
        rt = _CaseRuntime(self.workspace(case), conn, day)
        rt.suite = self
        return rt

    def load(self, paths: list[Path]) -> tuple[list[Case], list[Problem]]:
        """The cases of every file, and every problem of the files that have any."""
        conn = store.connect(Path(":memory:"), create=True)
        try:
            known = self.playbooks(
                Runtime(Workspace(self.root, parse_settings({}, "")), conn, dt.date.today())
            )
        finally:
            conn.close()
        cases: list[Case] = []
        problems: list[Problem] = []
        for path in testfile.test_files(paths, self.root / "playbooks"):
            found, wrong = testfile.load(path, known)
            cases.extend(found)
            problems.extend(wrong)
        return cases, problems

    def run(self, case: Case, *, update: bool = False) -> CaseResult:
        started = time.perf_counter()
        result = CaseResult(case)
        with world.build(case) as conn:
            for day in world.run_days(case):
                rt, results = self._evaluate(case, conn, day)
                self._queue(rt, results)
                world.send(conn, case, day)
            rt, results = self._evaluate(case, conn, case.today)
            verdicts = self._verdicts(rt, case)  # as they stand before today's run adds anything
            report = self._queue(rt, results)
            _Compare(case, conn, results, report, verdicts, result, update).all()
        result.seconds = time.perf_counter() - started
        return result

    def _evaluate(
        self, case: Case, conn: sqlite3.Connection, day: dt.date
    ) -> tuple[Runtime, list[matching.StepResult]]:
        """What `csm run` evaluates on ``day``, for the playbook under test."""
        rt = self.runtime(case, conn, day)
        if not world.has_health(case, day):
            rt.snapshot_health(if_stale=True)
        playbook = self.playbooks(rt)[case.playbook]
        return rt, matching.evaluate(conn, [playbook], rt.fields, rt.params, day)

    def _queue(self, rt: Runtime, results: list[matching.StepResult]) -> QueueReport:
        now = world.stamp(rt.today, "07:00:00+00:00")
        return queue(rt.conn, rt.ws, rt.templates, rt.fields, rt.params, results, rt.today, now)

    def _verdicts(self, rt: Runtime, case: Case) -> dict[tuple[str, str], StepVerdict]:
        """`csm explain`'s verdict for each (account, step) the case expects suppressed."""
        playbook = self.playbooks(rt)[case.playbook]
        return {
            (account, step): explain(
                rt.conn, [playbook], rt.fields, rt.params, rt.today, account, step
            ).steps[0]
            for account, step, _kind in case.expect.suppressed
        }


def run_suite(
    root: Path,
    paths: Iterable[Path] = (),
    *,
    keyword: str | None = None,
    update: bool = False,
    on_case: Callable[[CaseResult], None] | None = None,
) -> SuiteResult:
    """Load every test file, then run each case whose id contains ``keyword`` (any case: None)."""
    started = time.perf_counter()
    suite = Suite(root)
    cases, problems = suite.load(list(paths))
    wanted = [c for c in cases if keyword is None or keyword.lower() in c.id.lower()]
    results = []
    for case in wanted:
        try:
            result = suite.run(case, update=update)
        except (DataImportError, ProblemsError) as exc:
            problems.append(Problem(str(case.path), case.line, 1, f"case '{case.name}': {exc.message}"))
            continue
        results.append(result)
        if on_case is not None:
            on_case(result)
    return SuiteResult(results, problems, time.perf_counter() - started)


# -- comparing -------------------------------------------------------------------------


def _listing(values: Iterable[str]) -> str:
    return ", ".join(values) or "none"


@dataclass
class _Compare:
    case: Case
    conn: sqlite3.Connection
    results: list[matching.StepResult]
    report: QueueReport
    verdicts: dict[tuple[str, str], StepVerdict]
    out: CaseResult
    update: bool

    @property
    def expect(self) -> Expect:
        return self.case.expect

    def fail(self, what: str, expected: Any, actual: Any, diff: str = "") -> None:
        self.out.failures.append(Failure(what, expected, actual, diff))

    def matches(self) -> None:
        by_step = {r.step.id: r for r in self.results}
        for step, expected in self.expect.matches.items():
            result = by_step[step]
            actual = sorted(m.account_id for m in (*result.matches, *result.held_out))
            if sorted(expected) != actual:
                self.fail(f"accounts {step} matches", _listing(sorted(expected)), _listing(actual))

    def added(self, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
        table = "outbox" if kind == "draft" else "tasks"
        ids = [q.id for q in self.report.added if q.kind == kind]
        marks = ", ".join("?" * len(ids))
        rows = self.conn.execute(f"SELECT * FROM {table} WHERE id IN ({marks})", ids) if ids else []
        return {(row["account_id"], row["step"]): dict(row) for row in rows}

    def exactly(self, kind: str, specs: tuple[Any, ...], actual: dict[tuple[str, str], Any]) -> None:
        expected = {(s.account, s.step) for s in specs}
        if expected != set(actual):
            shown = [f"{a} › {s}" for a, s in sorted(expected)]
            self.fail(f"{kind}s added", _listing(shown), _listing(f"{a} › {s}" for a, s in sorted(actual)))

    def all(self) -> None:
        self.matches()
        self.specs("draft", self.expect.drafts, self.draft)
        self.specs("task", self.expect.tasks, self.task)
        self.suppressed()

    def specs(self, kind: str, specs: tuple[Any, ...] | None, check: Callable[[Any, dict], None]) -> None:
        """Exactly the drafts (or tasks) expected were added, each as expected; None: not checked."""
        if specs is None:
            return
        actual = self.added(kind)
        self.exactly(kind, specs, actual)
        for spec in specs:
            if (spec.account, spec.step) in actual:
                check(spec, actual[spec.account, spec.step])

    def draft(self, spec: DraftSpec, row: dict[str, Any]) -> None:
        what = f"draft {spec.account} › {spec.step}"
        to = [address for _name, address in json.loads(row["to_addrs"])]
        if spec.to is not None and list(spec.to) != to:
            self.fail(f"{what}: to", _listing(spec.to), _listing(to))
        cc = json.loads(row["cc"])
        if spec.cc is not None and list(spec.cc) != cc:
            self.fail(f"{what}: cc", _listing(spec.cc), _listing(cc))
        if spec.subject is not None and spec.subject != row["subject"]:
            self.fail(f"{what}: subject", spec.subject, row["subject"])
        for text in spec.body_contains:
            if text not in row["body"]:
                self.fail(f"{what}: body contains", text, row["body"])
        if spec.body_golden is not None:
            self.golden(what, spec.body_golden, row["body"])

    def golden(self, what: str, path: Path, body: str) -> None:
        expected = path.read_text(encoding="utf-8") if path.is_file() else None
        if expected == body:
            return
        if self.update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body, encoding="utf-8")
            self.out.updated.append(path)
            return
        if expected is None:
            self.fail(
                f"{what}: body", f"the golden file {path}", "no such file; `csm test --update` writes it"
            )
            return
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True), body.splitlines(keepends=True), str(path), "drafted"
            )
        )
        self.fail(f"{what}: body (golden {path.name})", expected, body, diff)

    def task(self, spec: TaskSpec, row: dict[str, Any]) -> None:
        what = f"task {spec.account} › {spec.step}"
        for name, expected, actual in (
            ("title", spec.title, row["title"]),
            ("due", spec.due and spec.due.isoformat(), row["due_date"]),
            ("priority", spec.priority, row["priority"]),
        ):
            if expected is not None and expected != actual:
                self.fail(f"{what}: {name}", expected, actual)

    def suppressed(self) -> None:
        drafts, tasks = self.added("draft"), self.added("task")
        for account, step, kind in self.expect.suppressed:
            what = f"{account} › {step} suppressed by {kind}"
            verdict = self.verdicts[account, step]
            if kind not in [r.kind for r in verdict.reasons]:
                why = "; ".join(r.message for r in verdict.reasons if r.blocking) or (
                    "nothing holds it back" if verdict.matched else "its audience and when do not both hold"
                )
                self.fail(what, kind, why)
            if (account, step) in drafts:
                self.fail(f"{what}: yet a draft was added", "no draft", drafts[account, step]["subject"])
            if (account, step) in tasks and kind not in _TASK_INSTEAD:
                self.fail(f"{what}: yet a task was added", "no task", tasks[account, step]["title"])
