"""Shell completion through bash's own machinery: a bash that sources `csm completion bash` and
calls the completion function with COMP_WORDS and COMP_CWORD, as bash does on Tab."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
CSM = BIN / "csm"

COMPLETE = """
source <(csm completion bash)
read -ra COMP_WORDS <<< "$LINE"
[[ "$LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMPREPLY=()
"$(complete -p csm | sed 's/.* -F \\([^ ]*\\) .*/\\1/')" csm
printf '%s\\n' "${COMPREPLY[@]}"
"""


def tab(line: str, cwd: Path, **env: str) -> list[str]:
    """What bash offers for ``line`` (a trailing space: the next word, from nothing)."""
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", COMPLETE],
        cwd=cwd,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "LINE": line, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return [word for word in result.stdout.splitlines() if word]


@pytest.fixture(autouse=True)
def _installed() -> None:
    assert CSM.exists(), f"{CSM} is not installed: pip install -e ."


@pytest.mark.parametrize(
    ("line", "offered"),
    [
        ("csm ac", ["account"]),
        ("csm re", ["report", "resolve", "review"]),
        ("csm report --h", ["--html", "--help"]),
        ("csm completion ", ["bash", "zsh", "fish"]),
        ("csm approve --playbook on", ["onboarding"]),
    ],
)
def test_commands_options_and_words(demo: Path, line: str, offered: list[str]) -> None:
    assert sorted(tab(line, demo)) == sorted(offered)


def test_playbook_names_come_from_the_workspace(demo: Path, tmp_path: Path) -> None:
    (demo / "playbooks" / "quarterly-review.yaml").write_text(
        "playbook: quarterly-review\n", encoding="utf-8"
    )
    names = tab(f"csm -w {demo} run ", tmp_path)
    assert names == sorted(p.stem for p in (demo / "playbooks").glob("*.yaml"))
    assert "quarterly-review" in names and "renewal-ahead" in names


def test_account_ids_come_from_the_database(demo: Path) -> None:
    assert tab("csm account A132", demo) == [f"A132{n}" for n in range(10)]
    assert tab("csm preview at-risk --account A1001", demo) == ["A1001"]
    assert tab("csm health A10", demo, CSM_WORKSPACE=str(demo))[:3] == ["A1001", "A1002", "A1003"]


@pytest.mark.sqlite_only("the SQLite file's mtime and its -wal/-shm files")
def test_completing_writes_nothing(demo: Path) -> None:
    before = (demo / "csm.db").stat().st_mtime_ns, sorted(p.name for p in demo.iterdir())  # no -wal, -shm
    tab("csm outcome A1", demo)
    assert ((demo / "csm.db").stat().st_mtime_ns, sorted(p.name for p in demo.iterdir())) == before


def test_no_workspace_completes_no_ids_and_prints_nothing(tmp_path: Path) -> None:
    assert tab("csm account A1", tmp_path) == []
    assert tab(f"csm -w {tmp_path / 'missing'} run ", tmp_path) == []
    assert tab("csm acc", tmp_path) == ["account"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_ask_csm_the_same_way(shell: str, demo: Path) -> None:
    script = subprocess.run([CSM, "completion", shell], capture_output=True, text=True, check=True).stdout
    assert f"_CSM_COMPLETE=complete_{shell}" in script
    env = {**os.environ, "_CSM_COMPLETE": f"complete_{shell}", "_TYPER_COMPLETE_ARGS": "csm account A1001"}
    env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    answer = subprocess.run([CSM], env=env, cwd=demo, capture_output=True, text=True, check=True).stdout
    assert "A1001" in answer and "Vantage Software" in answer  # the id, and its name beside it


def test_an_unknown_shell_is_a_usage_error(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("completion", "tcsh")
    assert result.exit_code == 2
    assert "'tcsh' is not one of: bash, zsh, fish" in result.output


def test_an_ordinary_start_pays_nothing_for_completion() -> None:
    """Completion reaches the workspace and database only when the shell asks: not on import."""
    probe = (
        "import sys, csm.cli; from typer._click import shell_completion as sc;"
        " print(len(sc._available_shells), 'sqlite3' in sys.modules, 'csm.workspace' in sys.modules)"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.split() == ["0", "False", "False"]  # no shell classes registered, nothing opened
