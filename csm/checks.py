"""`csm check`: every setting, playbook and template, every problem at once."""

from __future__ import annotations

from dataclasses import dataclass

from csm.errors import Problem
from csm.playbooks import load_all
from csm.render import Templates, sample_context
from csm.runtime import Runtime
from csm.sources import parse_sources


@dataclass(frozen=True)
class CheckReport:
    playbooks: int
    templates: int
    problems: tuple[Problem, ...]


def check(rt: Runtime) -> CheckReport:
    parse_sources(rt.ws.settings.sources, rt.ws.settings_path, rt.ws.root)
    templates = Templates(rt.ws.templates_dir)
    problems: list[Problem] = []
    _, found = load_all(rt.ws.playbooks_dir, rt.fields, templates.exists)
    problems.extend(found)
    sample = sample_context(rt.fields)
    names = templates.names()
    for name in names:
        problems.extend(templates.check(name, sample))
    return CheckReport(len(list(rt.ws.playbooks_dir.glob("*.yaml"))), len(names), tuple(problems))
