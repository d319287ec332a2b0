"""`csm run` through the CLI on the demo workspace: dry runs write nothing, reruns add nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import db_dump, rows


def test_dry_run_shows_matches_and_writes_nothing(invoke, demo: Path) -> None:
    before = db_dump(demo)
    result = invoke("-w", str(demo), "run", "--dry-run", "renewal-ahead")
    assert result.exit_code == 0
    assert "renewal-ahead › heads-up  15 accounts  when days_to_renewal between 91 and 120" in result.stdout
    assert "Dry run as of 2026-11-23: nothing was written." in result.stdout
    assert db_dump(demo) == before


def test_dry_run_shows_limit_rows_and_counts_the_rest(invoke, demo: Path) -> None:
    shown = invoke(
        "-w", str(demo), "run", "--dry-run", "--limit", "3", "renewal-ahead", "adoption-milestones"
    )
    assert shown.exit_code == 0
    full = json.loads(invoke("-w", str(demo), "run", "--dry-run", "--json", "renewal-ahead").stdout)
    heads_up = next(s for s in full["steps"] if s["step"] == "heads-up")
    assert len(heads_up["matches"]) == 15
    section = shown.stdout.split("renewal-ahead › heads-up")[1].split("\nrenewal-ahead › ")[0]
    assert "15 accounts" in section and "… and 12 more" in section
    assert [m["account"] for m in heads_up["matches"][:3]] == re.findall(r"^(A\d+) ", section, re.M)
    # The values shown are computed for the kept rows alone; they are the ones --json gives.
    shown_days = [int(d) for d in re.findall(r"^A\d+ .* (\d+)$", section, re.M)]
    assert shown_days == [m["values"]["days_to_renewal"] for m in heads_up["matches"][:3]]
    held = json.loads(invoke("-w", str(demo), "run", "--dry-run", "--json", "adoption-milestones").stdout)
    first = next(s for s in held["steps"] if s["step"] == "roll-out-help")
    assert first["held_out"] and f"+{len(first['held_out'])} held out" in shown.stdout


def test_run_queues_once_and_reruns_add_nothing(invoke, demo: Path) -> None:
    pending = (
        "SELECT (SELECT count(*) FROM outbox WHERE status = 'draft'),"
        " (SELECT count(*) FROM tasks WHERE status = 'open')"
    )
    assert rows(demo, pending)[0] == (0, 0)  # the demo's summer history is all worked
    first = invoke("-w", str(demo), "run")
    assert first.exit_code == 0
    drafts, tasks = rows(demo, pending)[0]
    assert drafts > 50 and tasks > 30
    assert f"Added {drafts} drafts and {tasks} tasks as of 2026-11-23." in first.stdout
    again = invoke("-w", str(demo), "run")
    assert "Nothing changed since the last run as of 2026-11-23: nothing to add." in again.stdout
    assert rows(demo, pending)[0] == (drafts, tasks)
    account = rows(demo, "SELECT min(id) FROM accounts")[0][0]
    invoke("-w", str(demo), "log", account, "Call: all good")  # a change: evaluated again
    evaluated = invoke("-w", str(demo), "run")
    assert "Added 0 drafts and 0 tasks as of 2026-11-23." in evaluated.stdout
    assert rows(demo, pending)[0] == (drafts, tasks)


def test_two_runs_at_once_add_nothing_twice(demo: Path) -> None:
    env = {**os.environ, "CSM_WORKSPACE": str(demo)}
    procs = [
        subprocess.Popen([sys.executable, "-m", "csm", "run", "--quiet"], env=env, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    keys = rows(demo, "SELECT dedupe_key, count(*) FROM outbox GROUP BY dedupe_key HAVING count(*) > 1")
    assert keys == []
    single = subprocess.run(
        [sys.executable, "-m", "csm", "run", "--json"], env=env, capture_output=True, text=True
    )
    assert single.returncode == 0, single.stderr
    assert json.loads(single.stdout)["added"] == []


def test_a_quiet_run_never_loads_rich_and_a_loud_one_prints(demo: Path) -> None:
    code = (
        "import sys\nfrom csm.cli import main\nsys.argv = ['csm', '-w', sys.argv[1], 'run', *sys.argv[2:]]\n"
        "try:\n    main()\nfinally:\n    print('rich.console' in sys.modules, file=sys.stderr)"
    )
    quiet = subprocess.run([sys.executable, "-c", code, str(demo), "--quiet"], capture_output=True, text=True)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "False\n")
    (demo / "csm.toml").write_text(
        (demo / "csm.toml").read_text(encoding="utf-8") + "\n", encoding="utf-8"
    )  # a change: the next run evaluates again, and says so
    loud = subprocess.run([sys.executable, "-c", code, str(demo)], capture_output=True, text=True)
    assert loud.returncode == 0, loud.stderr
    assert "Added 0 drafts and 0 tasks as of 2026-11-23." in loud.stdout
    assert loud.stderr == "True\n"
