"""The README, run as written: the quick start's `csm`, the crontab under cron, the sample outputs."""

from __future__ import annotations

import functools
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import connect
from loopback import Collect
from pytest_httpserver import HTTPServer
from test_sending import copies, set_send, smtp_settings

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CRON_PATH = "PATH=/usr/bin:/bin"  # what cron gives a job, and nothing of the login shell


def section(title: str) -> str:
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.S | re.M)


def venv() -> Path:
    """The virtual environment running the tests, which holds an installed `csm` (as .ci/run makes)."""
    prefix = Path(sys.prefix)
    if prefix == Path(sys.base_prefix) or not (prefix / "bin" / "csm").exists():
        pytest.skip("the tests are not running in a virtual environment with csm installed")
    return prefix


def fresh_shell(script: str, cwd: Path, home: Path, *env: str) -> subprocess.CompletedProcess[str]:
    """`sh -c SCRIPT` with nothing inherited: cron's PATH, a HOME, and the variables given."""
    return subprocess.run(
        ["/usr/bin/env", "-i", CRON_PATH, f"HOME={home}", *env, "/bin/sh", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# -- the quick start -------------------------------------------------------------------------------


def morning_commands() -> list[str]:
    """The `csm ...` commands "A morning with csm" shows that need no id or value filled in."""
    spans = re.findall(r"`(csm [^`]+)`", section("A morning with csm"))
    return [c for c in dict.fromkeys(spans) if "\n" not in c and not re.search(r"[A-Z]|\.\.\.", c)]


def test_the_quick_start_leaves_a_csm_every_later_command_can_use(demo: Path, tmp_path: Path) -> None:
    (activate,) = (b.strip() for b in blocks(section("Quick start"), "sh") if "activate" in b)
    checkout = tmp_path / "checkout"  # the folder the quick start ran in
    checkout.mkdir()
    (checkout / ".venv").symlink_to(venv(), target_is_directory=True)
    shutil.move(demo, checkout / "csm-demo")
    home = tmp_path / "home"
    home.mkdir()

    bare = fresh_shell("csm --help", checkout, home)
    assert bare.returncode == 127, "a fresh shell must not find csm before the quick start's step"

    commands = morning_commands()
    assert {"csm today", "csm outbox", "csm task list", "csm send --dry-run"} <= set(commands)
    for command in commands:
        result = fresh_shell(f"{activate} && cd csm-demo && {command}", checkout, home)
        expected = 2 if command == "csm review" else 0  # review needs a terminal, and says so
        assert result.returncode == expected, f"{command}: {result.stderr}"


# -- the crontab -----------------------------------------------------------------------------------

PASSWORD = "s3cret-Pa55word"
TOKEN = "crm-token-123"


def crontab() -> tuple[list[str], list[str]]:
    """The README crontab's variable lines and its jobs' commands."""
    (table,) = blocks(section("Unattended runs (cron)"), "crontab")
    variables, commands = [], []
    for line in table.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.match(r"^[A-Z_]+=", line):
            variables.append(line)
            continue
        fields = line.split(None, 5)
        assert len(fields) == 6, f"not a crontab job: {line}"
        assert "%" not in fields[5], f"cron turns % into a newline: {line}"
        commands.append(fields[5])
    return variables, commands


def secrets_file(values: dict[str, str]) -> str:
    """The README's secrets file with each value filled in, in its own `export NAME='value'` form."""
    (text,) = (b for b in blocks(section("Unattended runs (cron)"), "sh") if b.startswith("# /home/you/"))
    names = re.findall(r"^export (\w+)='[^']*'$", text, re.M)
    assert sorted(names) == sorted(values)
    return re.sub(r"^export (\w+)='[^']*'$", lambda m: f"export {m[1]}='{values[m[1]]}'", text, flags=re.M)


def test_the_crontab_works_under_crons_environment(
    demo: Path, tmp_path: Path, invoke: Any, smtp_server: Any, httpserver: HTTPServer
) -> None:
    from aiosmtpd.smtp import AuthResult

    handler = Collect()
    server = smtp_server(
        handler,
        authenticator=lambda _s, _ss, _e, _m, data: AuthResult(success=data.password == PASSWORD.encode()),
        auth_require_tls=False,
    )
    home = tmp_path / "home"  # /home/you, as the README names it
    (home / "csm").mkdir(parents=True)
    (home / "csm" / ".venv").symlink_to(venv(), target_is_directory=True)
    book = Path(shutil.move(demo, home / "book"))
    set_send(book, smtp_settings(server.port, 'username = "alex"\npassword_env = "CSM_SMTP_PASSWORD"'))
    webhook = httpserver.url_for("/hooks/T000/B000/SECRET")
    with (book / "csm.toml").open("a", encoding="utf-8") as settings:
        settings.write(
            f'\n[notify]\nwebhook_env = "CSM_SLACK_WEBHOOK"\n'
            f'\n[sources.crm]\nbase_url = "{httpserver.url_for("/api")}"\n'
            'auth = { type = "bearer", token_env = "CRM_TOKEN" }\n'
            '[sources.crm.accounts]\npath = "/companies"\n'
        )
    httpserver.expect_request(
        "/api/companies", headers={"Authorization": f"Bearer {TOKEN}"}
    ).respond_with_json([])
    httpserver.expect_request("/hooks/T000/B000/SECRET", method="POST").respond_with_data("ok")
    env_file = secrets_file({"CSM_SMTP_PASSWORD": PASSWORD, "CRM_TOKEN": TOKEN, "CSM_SLACK_WEBHOOK": webhook})
    (home / ".csm.env").write_text(env_file, encoding="utf-8")

    def here(text: str) -> str:
        return text.replace("/home/you", str(home))

    variables, (nightly, digest, send) = crontab()
    variables = [here(v) for v in variables]
    result = fresh_shell(here(nightly), home, home, *variables)
    assert result.returncode == 0, result.stderr
    assert any(r.path == "/api/companies" for r, _ in httpserver.log)
    approved = invoke("-w", str(book), "approve", "--playbook", "onboarding")  # the person's part
    assert approved.exit_code == 0
    waiting = count(book, "approved")
    assert waiting > 0
    recipients = copies(book, "status = 'approved'")  # one copy a recipient

    result = fresh_shell(here(digest), home, home, *variables)
    assert result.returncode == 0, result.stderr
    assert [r.method for r, _ in httpserver.log if r.path.startswith("/hooks/")] == ["POST"]

    sent_before = count(book, "sent")
    result = fresh_shell(here(send), home, home, *variables)
    assert result.returncode == 0, (book / "send.log").read_text(encoding="utf-8")
    assert len(handler.envelopes) == recipients
    assert count(book, "sent") == sent_before + waiting
    assert PASSWORD not in (book / "send.log").read_text(encoding="utf-8")


def count(book: Path, status: str) -> int:
    with connect(book) as conn:
        return conn.execute("SELECT count(*) FROM outbox WHERE status = ?", (status,)).fetchone()[0]


# -- the sample outputs ----------------------------------------------------------------------------


@functools.cache
def samples_script() -> Any:
    """scripts/readme_samples.py, the one place that makes the samples, loaded as a module."""
    spec = importlib.util.spec_from_file_location("readme_samples", ROOT / "scripts" / "readme_samples.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def test_the_sample_outputs_are_what_the_demo_prints(demo: Path) -> None:
    script = samples_script()
    marked = re.findall(r"^\s*<!-- sample: csm (.+?) -->$", README, re.M)
    assert sorted(marked) == sorted(s.command for s in script.SAMPLES)
    assert {"today", "today --json --no-run", "outbox"} <= set(marked)
    diff = script.drift(README, script.render(demo))
    assert not diff, "README samples drifted; run `.venv/bin/python scripts/readme_samples.py`:\n" + diff


def test_trimming_marks_every_cut() -> None:
    trim = samples_script().trim
    output = "head\n  a\n  b\nmiddle\nTail (2)\n  x   \n  y\n  z\n"
    assert trim(output, (("head", 2), ("Tail", 2))) == "head\n  a\n…\nTail (2)\n  x\n…"
    assert trim(output, ()) == output.replace("  x   ", "  x").rstrip("\n")
    with pytest.raises(ValueError, match="no line starting 'Nope'"):
        trim(output, (("Nope", 1),))
