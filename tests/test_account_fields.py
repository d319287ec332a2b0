"""Which account fields a template reads, following the templates it pulls in by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from csm.builtins import builtin_dir
from csm.templating.render import Templates
from tests.conftest import build_file_tree

SIGNATURE = "_signature.md.j2"


def build(tmp_path: Path, files: dict[str, str]) -> Templates:
    build_file_tree(tmp_path / "templates", files)
    return Templates(tmp_path / "templates")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "{{ account.arr | money }} for {{ account['days_to_renewal'] }} days",
            {"name", "arr", "days_to_renewal"},
        ),
        ("{% if account.health < 50 %}low{% endif %} {{ account.name }}", {"name", "health"}),
        ("{{ account | tojson }}", None),  # the whole account: any field
        ("{% for key in account %}{{ key }}{% endfor %}", None),
        ("{% set a = account %}{{ a.arr }}", None),
        ("{% include '_footer.md.j2' %}", {"name"}),  # it reads no account field
    ],
)
def test_account_fields_a_template_reads(tmp_path: Path, body: str, expected: set[str] | None) -> None:
    files = {"t.md.j2": f'---\nsubject: "Hi {{{{ account.name }}}}"\n---\n{body}\n', "_footer.md.j2": "x"}
    assert build(tmp_path, files).account_fields("t.md.j2") == expected


PARTS = {
    "_plan.md.j2": "{{ account.plan }} {% include '_deeper.md.j2' %}",
    "_deeper.md.j2": "{{ account['region'] }} {% include '_plan.md.j2' %}",  # a loop ends
    "_layout.md.j2": "{{ account.arr }} {% block body %}{% endblock %}",
    "_macros.md.j2": "{% macro renewal() %}{{ account.renewal_date }}{% endmacro %}",
    "_whole.md.j2": "{{ account | tojson }}",
    "_broken.md.j2": "{% if %}",
    "_fronted.md.j2": '---\nsubject: "{{ account.owner }}"\n---\n{{ account.nps }}',
}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{% include '_plan.md.j2' %}", {"name", "plan", "region"}),
        ("{% include ['_nope.md.j2', '_plan.md.j2'] ignore missing %}", None),  # one cannot be read
        (
            "{% extends '_layout.md.j2' %}{% block body %}{{ account.nps }}{% endblock %}",
            {"name", "arr", "nps"},
        ),
        ("{% from '_macros.md.j2' import renewal with context %}{{ renewal() }}", {"name", "renewal_date"}),
        ("{% import '_macros.md.j2' as m with context %}{{ m.renewal() }}", {"name", "renewal_date"}),
        ("{% include '_fronted.md.j2' %}", {"name", "nps"}),  # an include renders the body only
        ("{% include '_whole.md.j2' %}", None),
        ("{% include '_broken.md.j2' %}", None),
        ("{% include '_missing.md.j2' %}", None),
        ("{% include account.plan ~ '.md.j2' %}", None),  # a name known only at render time
        ("{% set part = '_plan.md.j2' %}{% include part %}", None),
    ],
)
def test_the_templates_pulled_in_are_followed(tmp_path: Path, body: str, expected: set[str] | None) -> None:
    files = {"t.md.j2": f'---\nsubject: "Hi {{{{ account.name }}}}"\n---\n{body}\n', **PARTS}
    assert build(tmp_path, files).account_fields("t.md.j2") == expected


def test_a_built_in_template_with_the_signature_reads_a_few_fields_and_the_signatures(tmp_path: Path) -> None:
    root = Path(shutil.copytree(builtin_dir("templates"), tmp_path / "templates"))
    name = "renewal/heads-up.md.j2"
    assert '{% include "_signature.md.j2" %}' in (root / name).read_text(encoding="utf-8")
    own = Templates(root).account_fields(name)
    assert own == {
        "days_to_renewal",
        "goals",
        "name",
        "renewal_date",
        "seats_licensed",
        "seats_used",
        "success_criteria",
    }
    signature = (root / SIGNATURE).read_text(encoding="utf-8")
    (root / SIGNATURE).write_text(
        signature + "{{ account.plan }} {{ account['region'] }}\n", encoding="utf-8"
    )
    assert Templates(root).account_fields(name) == own | {"plan", "region"}


def test_every_built_in_template_reads_a_finite_set_of_fields() -> None:
    templates = Templates(builtin_dir("templates"))
    for name in templates.names():
        assert templates.account_fields(name) is not None, name
