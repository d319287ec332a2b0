"""`csm check`: every setting, playbook, template and the health model, every problem at once."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from csm import textfile
from csm.data import metrics
from csm.data.sources import parse_sources
from csm.errors import Problem, did_you_mean
from csm.health import model as health_model
from csm.language.fields import USAGE_PREFIX
from csm.language.playbooks import Playbook, load_all
from csm.mail.mailboxes import settings_problems as mailbox_settings_problems
from csm.mail.sending import LEDGER_KEYS, ledger_settings
from csm.mail.transports import transport_settings_problems
from csm.runtime import Runtime
from csm.templating.render import Templates
from csm.templating.sample import sample_context


@dataclass(frozen=True)
class CheckReport:
    playbooks: int
    templates: int
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...] = ()  # worth a look, but nothing wrong: exit 0


def check(rt: Runtime) -> CheckReport:
    parse_sources(rt.ws.settings.sources, rt.ws.settings_path, rt.ws.root)
    send = rt.ws.settings.send
    messages = transport_settings_problems(send, os.environ, LEDGER_KEYS) + ledger_settings(send)[1]
    line = _table_line(rt.ws.settings_path, "[send]")
    problems = [Problem(str(rt.ws.settings_path), line, 1, message) for message in messages]
    inbox_line = _table_line(rt.ws.settings_path, "[inbox]")
    problems.extend(
        Problem(str(rt.ws.settings_path), inbox_line, 1, message)
        for message in mailbox_settings_problems(rt.ws.settings.inbox, rt.ws.root, os.environ)
    )
    templates = Templates(rt.ws.templates_dir)
    playbooks, found = load_all(
        rt.ws.playbooks_dir,
        rt.fields,
        templates.exists,
        lambda: rt.contact_roles,
        rt.ws.settings.internal_domains,
    )
    problems.extend(found)
    if not found:  # the tests are checked once the playbooks they name load
        problems.extend(_test_problems(rt.ws.playbooks_dir, {p.id: p for p in playbooks}))
    warnings = metric_warnings(playbooks, metrics.held(rt.conn) or [])
    _, found = health_model.load_file(health_model.model_path(rt.ws.health_path), rt.fields)
    problems.extend(found)
    sample = sample_context(rt.fields)
    problems.extend(templates.outside_links())
    problems.extend(templates.library.problems())
    names = templates.names()
    for name in names:
        problems.extend(templates.check(name, sample))
    count = len(list(rt.ws.playbooks_dir.glob("*.yaml")))
    return CheckReport(count, len(names), tuple(problems), tuple(warnings))


def metric_warnings(playbooks: Iterable[Playbook], known: list[str]) -> list[Problem]:
    """A usage metric a condition names that no import has brought: a typo, or data still to come.

    Not an error: a metric may simply have no rows yet, and a condition on it is
    then unknown, never true. Nothing is said before any usage is imported.
    """
    warnings = []
    for playbook in playbooks if known else ():
        conditions = [playbook.audience, *(c for s in playbook.steps for c in (s.when, s.until))]
        names = {f for c in conditions if c is not None for f in c.fields if f.startswith(USAGE_PREFIX)}
        text = textfile.read_text(playbook.path)
        for metric in sorted({name.split(".")[1] for name in names} - set(known)):
            line, column = _first_mention(text, f"{USAGE_PREFIX}{metric}")
            message = (
                f"no usage data for the metric '{metric}'{did_you_mean(metric, known)}; a condition on it"
                f" is never true until an import brings it (metrics: {', '.join(known)})"
            )
            warnings.append(Problem(str(playbook.path), line, column, message))
    return warnings


def _first_mention(text: str, name: str) -> tuple[int, int]:
    found = re.search(rf"{re.escape(name)}\b", text)
    if found is None:
        return 1, 1
    before = text[: found.start()]
    return before.count("\n") + 1, found.start() - before.rfind("\n")


def _test_problems(playbooks_dir: Path, known: dict[str, Playbook]) -> list[Problem]:
    """Every problem in the playbooks' test files (``playbooks/tests/*.yaml``)."""
    from csm.playtest import testfile

    folder = playbooks_dir / testfile.TESTS_FOLDER
    paths = testfile.test_files([folder], playbooks_dir) if folder.is_dir() else []
    return [problem for path in paths for problem in testfile.load(path, known)[1]]


def _table_line(path: Path, header: str) -> int:
    """The line a TOML table starts on, for messages (1 when it is not there)."""
    lines = textfile.read_text(path).splitlines()
    return next((n for n, text in enumerate(lines, 1) if text.strip() == header), 1)
