"""`csm check`: every setting, playbook, template and the health model, every problem at once."""

from __future__ import annotations

from dataclasses import dataclass

from csm import health_model
from csm.errors import Problem
from csm.playbooks import load_all
from csm.render import Templates, sample_context
from csm.runtime import Runtime


@dataclass(frozen=True)
class CheckReport:
    playbooks: int
    templates: int
    problems: tuple[Problem, ...]


def check(rt: Runtime) -> CheckReport:
    templates = Templates(rt.ws.templates_dir)
    problems: list[Problem] = []
    _, found = load_all(rt.ws.playbooks_dir, rt.fields, templates.exists)
    problems.extend(found)
    _, found = health_model.load_file(health_model.model_path(rt.ws.health_path), rt.fields)
    problems.extend(found)
    sample = sample_context(rt.fields)
    names = templates.names()
    for name in names:
        problems.extend(templates.check(name, sample))
    return CheckReport(len(list(rt.ws.playbooks_dir.glob("*.yaml"))), len(names), tuple(problems))
