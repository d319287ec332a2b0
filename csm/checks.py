"""`csm check`: every setting, playbook, template and the health model, every problem at once."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from csm import textfile
from csm.data.sources import parse_sources
from csm.errors import Problem
from csm.health import model as health_model
from csm.language.playbooks import Playbook, load_all
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


def check(rt: Runtime) -> CheckReport:
    parse_sources(rt.ws.settings.sources, rt.ws.settings_path, rt.ws.root)
    send = rt.ws.settings.send
    messages = transport_settings_problems(send, os.environ, LEDGER_KEYS) + ledger_settings(send)[1]
    line = _table_line(rt.ws.settings_path, "[send]")
    problems = [Problem(str(rt.ws.settings_path), line, 1, message) for message in messages]
    templates = Templates(rt.ws.templates_dir)
    playbooks, found = load_all(rt.ws.playbooks_dir, rt.fields, templates.exists, lambda: rt.contact_roles)
    problems.extend(found)
    if not found:  # the tests are checked once the playbooks they name load
        problems.extend(_test_problems(rt.ws.playbooks_dir, {p.id: p for p in playbooks}))
    _, found = health_model.load_file(health_model.model_path(rt.ws.health_path), rt.fields)
    problems.extend(found)
    sample = sample_context(rt.fields)
    problems.extend(templates.outside_links())
    names = templates.names()
    for name in names:
        problems.extend(templates.check(name, sample))
    return CheckReport(len(list(rt.ws.playbooks_dir.glob("*.yaml"))), len(names), tuple(problems))


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
