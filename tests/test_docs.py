"""The README cannot drift from the CLI, the playbook schema or the fields."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from csm.cli import app
from csm.language import playbooks
from csm.language.fields import ACCOUNT_COLUMNS, DERIVED
from csm.language.playbooks import FALLBACKS, ROLES

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ )", README, re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def _commands() -> list[str]:
    command = typer.main.get_command(app)
    names = []
    for name, sub in command.commands.items():  # type: ignore[attr-defined]
        if hasattr(sub, "commands"):
            names.extend(f"{name} {child}" for child in sub.commands)
        else:
            names.append(name)
    return names


def _reference_entries() -> list[str]:
    """The command each row of the reference documents: its words after `csm`, up to the first argument."""
    rows = re.finditer(r"^\| `csm ([a-z][a-z-]*(?: [a-z][a-z-]*)*)", _section("Command reference"), re.M)
    return [row.group(1) for row in rows]


@pytest.mark.parametrize("name", _commands())
def test_every_command_is_in_the_reference(name: str) -> None:
    assert name in _reference_entries(), f"no row of its own for `csm {name}` in the command reference"


def test_the_reference_has_no_stale_or_repeated_entries() -> None:
    entries = _reference_entries()
    assert sorted(set(entries) - set(_commands())) == []
    assert len(entries) == len(set(entries))


def test_every_playbook_and_step_key_is_documented() -> None:
    reference = _section("Playbook reference")
    for key in (*playbooks._PLAYBOOK_KEYS, *playbooks._STEP_KEYS):
        assert f"| `{key}` |" in reference, key
    for key in playbooks._EMAIL_KEYS:
        assert f"| `{key}` |" in reference, key
    for name in (*ROLES, *FALLBACKS):
        assert f"`{name}`" in reference, name


def test_every_field_is_documented() -> None:
    fields = _section("Fields")
    for field in (*ACCOUNT_COLUMNS, *DERIVED):
        assert f"`{field.name}`" in fields, field.name


def test_every_exit_code_is_documented() -> None:
    codes = _section("Exit codes")
    for code in (0, 1, 2, 3):
        assert f"| {code} |" in codes


def test_the_quick_start_has_the_two_commands() -> None:
    quick = _section("Quick start")
    assert "pip install -q . && .venv/bin/csm demo" in quick
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    test_command = re.search(r"^python3 -m venv .*pytest( .*)?$", quick, re.M)
    assert test_command and test_command.group(0) in ci
