"""The content library: guides a template names, read only from inside content/, checked by `csm check`."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import build_file_tree

from csm.builtins import builtin_dir
from csm.templating.content import Library
from csm.templating.filters import FilterError
from csm.templating.render import Templates

GUIDE = """\
    ---
    title: Your first automation
    summary: One rule that moves finished work on.
    minutes: 10
    ---
    1. Pick the hand-off.
"""


def test_a_guide_reads_its_front_matter_and_body(tmp_path: Path) -> None:
    build_file_tree(tmp_path / "content", {"adoption/automations.md": GUIDE})
    guide = Library(tmp_path / "content").guide("adoption/automations")
    assert guide == {
        "title": "Your first automation",
        "summary": "One rule that moves finished work on.",
        "minutes": 10,
        "key": "adoption/automations",
        "name": "automations",
        "body": "1. Pick the hand-off.",
    }


def test_guides_in_a_folder_come_by_order_then_name(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path / "content",
        {
            "integrations/jira.md": GUIDE.replace("minutes: 10", "order: 2"),
            "integrations/slack.md": GUIDE.replace("minutes: 10", "order: 1"),
            "integrations/asana.md": GUIDE,
        },
    )
    assert [g["name"] for g in Library(tmp_path / "content").guides("integrations")] == [
        "slack",
        "jira",
        "asana",
    ]


@pytest.mark.parametrize("key", ["adoption/automation", "../templates/x", "adoption/../../etc", 7])
def test_a_missing_or_escaping_key_is_no_guide(tmp_path: Path, key: object) -> None:
    build_file_tree(tmp_path / "content", {"adoption/automations.md": GUIDE})
    with pytest.raises(FilterError, match="no guide"):
        Library(tmp_path / "content").guide(key)


def test_a_link_out_of_the_folder_is_no_guide_and_check_names_it(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {"secret.md": GUIDE, "content/adoption/automations.md": GUIDE})
    (tmp_path / "content" / "adoption" / "leak.md").symlink_to(tmp_path / "secret.md")
    library = Library(tmp_path / "content")
    assert library.keys() == ["adoption/automations"]
    assert [str(p) for p in library.problems()] == [
        "content/adoption/leak.md:1:1: a link to outside the content folder;"
        " csm reads guides only from inside it"
    ]


def test_every_problem_in_a_guide_is_listed_with_its_line(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path / "content",
        {
            "adoption/bad.md": "---\ntitle: X\nsumary: y\nminutes: ten\n---\n",
            "adoption/none.md": "just text\n",
        },
    )
    assert [f"{p.path}:{p.line}: {p.message}" for p in Library(tmp_path / "content").problems()] == [
        "content/adoption/bad.md:2: missing 'summary'",
        "content/adoption/bad.md:3: unknown front matter key 'sumary' (did you mean 'summary'?)",
        "content/adoption/bad.md:4: 'minutes' must be a whole number",
        "content/adoption/bad.md:5: the guide has no text after its front matter",
        "content/adoption/none.md:1: a guide starts with front matter: '---', 'title: ...', '---'",
    ]


def test_a_template_naming_a_missing_guide_fails_check_at_its_line(workspace: Path, invoke) -> None:
    build_file_tree(
        workspace / "templates",
        {
            "custom/tip.md.j2": """\
                ---
                subject: "A tip"
                ---
                Hi,
                {% if account.nps is none %}
                {{ guide("adoption/automation").title }}
                {% endif %}
                {% for g in guides("integration") %}{{ g.title }}{% endfor %}
            """
        },
    )
    result = invoke("-w", str(workspace), "check")
    assert result.exit_code == 1
    assert (
        "templates/custom/tip.md.j2:6:11: no guide 'adoption/automation' in content/"
        " (did you mean 'adoption/automations'?); add content/adoption/automation.md"
    ) in result.output, "a branch the sample data does not take is checked too"
    assert (
        "templates/custom/tip.md.j2:8:21: no guides in 'integration' under content/"
        " (did you mean 'integrations'?) (folders: adoption, integrations, onboarding)"
    ) in result.output


def test_init_copies_the_content_and_the_built_ins_name_only_guides_it_holds(workspace: Path) -> None:
    assert sorted(
        p.relative_to(workspace / "content").as_posix() for p in (workspace / "content").rglob("*.md")
    ) == (
        sorted(p.relative_to(builtin_dir("content")).as_posix() for p in builtin_dir("content").rglob("*.md"))
    )
    assert Templates(builtin_dir("templates")).library.problems() == []


def test_the_wheel_ships_the_content_beside_the_templates() -> None:
    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert '"content" = "csm/_builtins/content"' in pyproject
