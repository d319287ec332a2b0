"""init, paths, workspace discovery, check, preview, and a fast `csm --help`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import build_file_tree, connect, database_of


def test_init_creates_a_workspace_and_refuses_to_overwrite(invoke, tmp_path: Path) -> None:
    result = invoke("init", "ws", "--me", "dana@example.com", "--name", "Dana Reyes")
    assert result.exit_code == 0
    root = tmp_path / "ws"
    assert (root / "csm.toml").is_file() and (root / "csm.db").is_file()
    assert (root / "playbooks" / "renewal-ahead.yaml").is_file()
    assert (root / "templates" / "renewal" / "heads-up.md.j2").is_file()
    again = invoke("init", "ws")
    assert again.exit_code == 1
    assert (
        f"Error: {root} already holds csm.toml, csm.db, playbooks, templates; csm init never overwrites"
        in (again.stderr.replace("\n", " "))
        or "csm init never overwrites" in again.stderr
    )


def test_paths_finds_the_workspace_from_a_subfolder(invoke, workspace: Path, monkeypatch) -> None:
    sub = workspace / "playbooks"
    monkeypatch.chdir(sub)
    data = json.loads(invoke("paths", "--json").stdout)
    assert data["workspace"] == str(workspace)
    assert data["database"] == str(database_of(workspace))
    assert data["content"] == str(workspace / "content")
    monkeypatch.chdir(workspace.parent)
    monkeypatch.setenv("CSM_WORKSPACE", str(workspace))
    assert json.loads(invoke("paths", "--json").stdout)["settings"] == str(workspace / "csm.toml")


def test_no_workspace_is_a_clear_error(invoke, tmp_path: Path) -> None:
    result = invoke("today")
    assert result.exit_code == 1
    assert f"Error: no csm.toml in {tmp_path} or any parent folder" in result.stderr
    assert "Run `csm init`" in result.stderr


@pytest.mark.sqlite_only("a missing SQLite file (PostgreSQL's in test_cli_postgres_errors.py)")
def test_a_missing_database_is_never_silently_created(invoke, workspace: Path) -> None:
    (workspace / "csm.db").unlink()
    result = invoke("-w", str(workspace), "run", "--dry-run")
    assert result.exit_code == 1
    assert f"Error: no database at {workspace / 'csm.db'}" in result.stderr
    assert "csm init" in result.stderr
    assert not (workspace / "csm.db").exists()


def test_bad_settings_name_the_file_and_key(invoke, workspace: Path) -> None:
    settings = workspace / "csm.toml"
    settings.write_text("silent_after_dayz = 30\n" + settings.read_text())
    result = invoke("-w", str(workspace), "check")
    assert result.exit_code == 1
    assert (
        f"Error: {settings}: setting 'silent_after_dayz': unknown setting (did you mean 'silent_after_days'?)"
        in result.stderr
    )
    settings.write_text("database = \n")
    broken = invoke("-w", str(workspace), "check")
    assert broken.exit_code == 1 and f"Error: {settings}:1:12: TOML syntax: Invalid value" in broken.stderr


def test_check_passes_on_the_builtins(invoke, workspace: Path) -> None:
    result = invoke("-w", str(workspace), "check")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("OK: settings,")


def test_check_finds_a_misspelt_field_and_an_undefined_variable(invoke, workspace: Path) -> None:
    playbook = workspace / "playbooks" / "renewal-ahead.yaml"
    playbook.write_text(
        playbook.read_text().replace("when: days_to_renewal between 91", "when: days_to_renwal between 91")
    )
    build_file_tree(
        workspace / "templates",
        {
            "custom/hello.md.j2": """
        ---
        subject: "Hello {{ account.name }}"
        ---
        Hi {{ contact.first_name }},

        Your health is {{ account.helth }}.
        """
        },
    )
    result = invoke("-w", str(workspace), "check")
    assert result.exit_code == 1
    err = result.stderr
    assert f"{playbook}:11:11: unknown field 'days_to_renwal' (did you mean 'days_to_renewal'?)" in err
    assert "custom/hello.md.j2:6:" in err and "helth" in err
    assert "2 problems" in err


def test_check_and_run_refuse_templates_linked_from_outside_the_folder(
    invoke, workspace: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    build_file_tree(elsewhere, {"notes.md.j2": "---\nsubject: s\n---\nprivate notes\n"})
    (workspace / "templates" / "notes.md.j2").symlink_to(elsewhere / "notes.md.j2")
    (workspace / "templates" / "shared").symlink_to(elsewhere, target_is_directory=True)
    playbook = workspace / "playbooks" / "renewal-ahead.yaml"
    playbook.write_text(playbook.read_text().replace("renewal/heads-up.md.j2", "notes.md.j2", 1))
    result = invoke("-w", str(workspace), "check")
    assert result.exit_code == 1
    outside = "a link to outside the templates folder; csm reads templates only from inside it"
    assert f"templates/notes.md.j2:1:1: {outside}" in result.stderr
    assert f"templates/shared:1:1: {outside}" in result.stderr
    assert "template 'notes.md.j2' not found in the templates folder" in result.stderr
    run = invoke("-w", str(workspace), "run", "--dry-run")
    assert run.exit_code == 1 and "template 'notes.md.j2' not found in the templates folder" in run.stderr


def test_preview_renders_the_email_a_step_would_draft(invoke, demo: Path, tmp_path: Path) -> None:
    plan = json.loads(invoke("-w", str(demo), "run", "--dry-run", "--json", "renewal-ahead").stdout)
    account = plan["steps"][0]["matches"][0]["account"]
    html = tmp_path / "heads-up.html"
    result = invoke("-w", str(demo), "preview", "renewal-ahead", "--account", account, "--html", str(html))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("From: ") and lines[1].startswith("To: ")
    assert any(line.startswith("Subject: ") for line in lines[:5])
    assert "<p>" in html.read_text()
    unknown = invoke("-w", str(demo), "preview", "renewal-ahead", "--account", "NOPE")
    assert unknown.exit_code == 1 and "Error: no account 'NOPE'" in unknown.stderr
    bad_step = invoke("-w", str(demo), "preview", "renewal-ahead", "--account", account, "--step", "heads")
    assert (
        bad_step.exit_code == 1 and "has no email step 'heads' (did you mean 'heads-up'?)" in bad_step.stderr
    )


def test_preview_of_an_account_no_email_step_matches(invoke, demo: Path) -> None:
    plan = json.loads(invoke("-w", str(demo), "run", "--dry-run", "--json", "renewal-ahead").stdout)
    matched = {m["account"] for step in plan["steps"] for m in step["matches"]}
    with connect(demo) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM accounts ORDER BY id")]
    account = next(i for i in ids if i not in matched)
    none = invoke("-w", str(demo), "preview", "renewal-ahead", "--account", account)
    assert none.exit_code == 1
    assert f"Error: account '{account}' matches no email step of 'renewal-ahead' as of 2026-11-23" in (
        none.stderr
    )
    assert "Pass --step STEP to preview one anyway: heads-up, check-in" in none.stderr
    anyway = invoke("-w", str(demo), "preview", "renewal-ahead", "--account", account, "--step", "check-in")
    assert anyway.exit_code == 0, anyway.stderr
    assert f"Note: {account} does not match renewal-ahead › check-in as of 2026-11-23" in anyway.stderr
    assert anyway.stdout.startswith("From: ")


def test_help_stays_light() -> None:
    code = (
        "import sys\nfrom csm.cli import app\nfrom typer.testing import CliRunner\n"
        "CliRunner().invoke(app, ['--help'])\n"
        "heavy = ('httpx', 'sqlite_utils', 'jinja2', 'yaml', 'markdown_it')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_help_lists_each_command_by_its_own_docstring_without_loading_it() -> None:
    """`csm --help` reads COMMANDS; each entry must be the module and docstring of the real command."""
    import typer

    from csm import cli

    for name, (module_name, summary) in cli.COMMANDS.items():
        built = cli._build(module_name)
        assert name in built, f"csm.cli.{module_name} does not register {name!r}"
        first_paragraph = " ".join((built[name].help or "").split("\n\n")[0].split())
        assert summary == first_paragraph, name
    code = (
        "import sys\nfrom csm.cli import app\nfrom typer.testing import CliRunner\n"
        "out = CliRunner().invoke(app, ['--help']).output\n"
        "print('backtest' in out, sorted(m for m in sys.modules if m.endswith('_cmds')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True []"
    every = {name for module_name, _ in cli.COMMANDS.values() for name in cli._build(module_name)}
    assert every == set(typer.main.get_command(cli.app).commands)
