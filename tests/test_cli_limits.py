"""Hostile or broken files: one clear error naming the file, quickly, no traceback, nothing written.

Each case runs `csm run` as a real process under a timeout, so a guard that
stops working fails the test instead of hanging the suite. No timing is
asserted beyond that generous timeout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import connect, database_of

TIMEOUT = 10  # seconds; each case takes a fraction of one

# "Billion laughs": nine lines, each nine aliases of the line before, 9**9 values in all.
ALIAS_BOMB = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)
NOT_UTF8 = b"playbook: renewal-ahead\ntitle: R\xe9newal\n"
TEMPLATE_HEAD = '---\nsubject: "Renewal"\n---\nHi {{ contact.first_name }},\n'
HEADS_UP = "templates/renewal/heads-up.md.j2"  # an email of the renewal-ahead playbook


def _template(body: str) -> bytes:
    return (TEMPLATE_HEAD + body + "\n").encode()


CASES = {
    "playbook alias bomb": (
        "playbooks/renewal-ahead.yaml",
        ALIAS_BOMB.encode(),
        "playbooks/renewal-ahead.yaml:4:24: YAML: more than 5,000 values (an alias, *name, repeating",
    ),
    "50 MB playbook": (
        "playbooks/renewal-ahead.yaml",
        b"# padding\n" * 5_000_000,
        "playbooks/renewal-ahead.yaml:1:1: the file is larger than 128 KB, the most csm reads",
    ),
    "10,000 levels of YAML": (
        "playbooks/renewal-ahead.yaml",
        b"steps: " + b"[" * 10_000 + b"]" * 10_000 + b"\n",
        "playbooks/renewal-ahead.yaml:1:58: YAML: nested more than 50 levels deep",
    ),
    "non-UTF-8 playbook": (
        "playbooks/renewal-ahead.yaml",
        NOT_UTF8,
        "playbooks/renewal-ahead.yaml:2:9: not UTF-8 text (byte 0xe9); save the file as UTF-8",
    ),
    "health model alias bomb": (
        "health.yaml",
        ALIAS_BOMB.encode(),
        "health.yaml:4:24: YAML: more than 5,000 values",
    ),
    "template rendering a gigabyte in one go": (
        HEADS_UP,
        _template('{{ "x" * 1000000000 }}'),
        f"{HEADS_UP}:5:1: this builds a text or list of more than 100,000 items",
    ),
    "template rendering a gigabyte in a loop": (
        HEADS_UP,
        _template('{% for i in range(10000) %}\n{{ "x" * 99999 }}\n{% endfor %}'),
        f"{HEADS_UP}:6:1: the template renders more than 100,000 characters",
    ),
    "template building a gigabyte it never prints": (
        HEADS_UP,
        _template(
            '{% macro m() %}{% for i in range(10000) %}{{ "x" * 99999 }}{% endfor %}{% endmacro %}\n'
            "{% for i in range(100) %}{{ m() | length }}{% endfor %}"
        ),
        f"{HEADS_UP}:5:1: the template builds more than 1,000,000 characters of text for one email",
    ),
    "template looping ten billion times": (
        HEADS_UP,
        _template("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"),
        f"{HEADS_UP}:5:1: the template loops or calls more than 10,000 times for one email",
    ),
    "empty nested loops over a list": (
        HEADS_UP,
        _template(
            "{% set xs = range(100000) | list %}\n"
            "{% for a in xs %}{% for b in xs %}{% for c in xs %}{% endfor %}{% endfor %}{% endfor %}"
        ),
        f"{HEADS_UP}:6:1: the template loops or calls more than 10,000 times for one email",
    ),
    "macro calls doubling sixty times": (
        HEADS_UP,
        _template(
            "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}"
        ),
        # 10,000 macro calls take a good part of the half second: on a busy machine the clock may stop it.
        ("the template loops or calls more than 10,000 times", "the template takes more than 0.5 s"),
    ),
    "slow filters": (
        HEADS_UP,
        # Each round is 4 steps, so 2,000 stay within the steps; only the clock can stop it.
        _template("{% for i in range(2000) %}{{ range(100000) | unique | list | length }}{% endfor %}"),
        f"{HEADS_UP}:5:1: the template takes more than 0.5 s to render one email",
    ),
    "10,000 levels of Jinja brackets": (
        HEADS_UP,
        _template("{{ " + "(" * 10_000 + "1" + ")" * 10_000 + " }}"),
        f"{HEADS_UP}:1:1: blocks, brackets or macro calls nested too deeply",
    ),
    "30 nested Jinja loops": (
        HEADS_UP,
        _template("{% for x in [1] %}" * 30 + "{% endfor %}" * 30),
        f"{HEADS_UP}:1:1: blocks, brackets or macro calls nested too deeply",
    ),
    "a macro calling itself": (
        HEADS_UP,
        _template("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"),
        f"{HEADS_UP}:5:1: blocks, brackets or macro calls nested too deeply (or a macro that calls itself",
    ),
    "thousands of unclosed tags": (
        HEADS_UP,
        _template("{%\n" * 20_000),
        f"{HEADS_UP}:6:1: Jinja syntax: tag name expected",
    ),
    "50 MB template": (
        HEADS_UP,
        _template("x" * 50_000_000),
        f"{HEADS_UP}:1:1: the file is larger than 128 KB, the most csm reads",
    ),
    "non-UTF-8 template": (
        HEADS_UP,
        TEMPLATE_HEAD.encode() + b"Caf\xe9\n",
        f"{HEADS_UP}:5:4: not UTF-8 text (byte 0xe9); save the file as UTF-8",
    ),
    "non-UTF-8 partial": (
        "templates/_signature.md.j2",
        b"Best,\n\xff\n",
        "templates/_signature.md.j2:2:1: not UTF-8 text (byte 0xff); save the file as UTF-8",
    ),
    "alias bomb in front matter": (
        HEADS_UP,
        b"---\nsubject: s\ncc:\n"
        + "".join(f"  {line}\n" for line in ALIAS_BOMB.splitlines()).encode()
        + b"---\nHi\n",
        f"{HEADS_UP}:7:26: YAML: more than 5,000 values",
    ),
    "non-UTF-8 csm.toml": (
        "csm.toml",
        b'database = "csm.db"\nme = "J\xf6rg"\n',
        "csm.toml:2:8: not UTF-8 text (byte 0xf6); save the file as UTF-8",
    ),
    "10,000 levels of TOML": (
        "csm.toml",
        b"x = " + b"[" * 10_000 + b"]" * 10_000 + b"\n",
        "csm.toml:1:1: TOML syntax: arrays or inline tables nested too deeply",
    ),
}


def _written(database: Path | str) -> tuple[int, ...]:
    """Rows in every table a run or `today` writes to."""
    with connect(database) as conn:
        tables = ("outbox", "tasks", "health_history", "timeline", "matches", "meta")
        return tuple(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables)


@pytest.mark.parametrize(("target", "content", "expected"), CASES.values(), ids=list(CASES))
def test_a_hostile_file_gets_one_clear_error_and_nothing_is_written(
    demo: Path, target: str, content: bytes, expected: str | tuple[str, ...]
) -> None:
    database = database_of(demo)  # read before a hostile csm.toml replaces it
    (demo / target).write_bytes(content)
    before = _written(database)
    result = subprocess.run(
        [sys.executable, "-m", "csm", "-w", str(demo), "--today", "2026-11-24", "run"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("Error: "), result.stderr
    assert any(text in result.stderr for text in ((expected,) if isinstance(expected, str) else expected))
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert _written(database) == before
