"""csm's speed and memory, each figure beside a baseline measured in the same run.

    python benchmarks/run.py --size 100k      # generates the data first if needed
    python benchmarks/run.py --size tiny      # the smoke test's size
    python benchmarks/run.py --only help,import,drafting --before main   # a few figures, old code beside
    python benchmarks/run.py --size 100k --only morning,evaluate,send,memory --repeat 1   # the morning
    python benchmarks/run.py --size 100k --backend postgresql   # the dry run, import and today there

Every figure runs as a real subprocess (the way a CSM or cron runs csm) and is
the median of ``--repeat`` runs; baselines run the same way on the same data,
so a ratio holds on a noisy, shared machine where absolute times do not.
With ``--before REF``, the help, import, drafting and send figures also run the csm of
that git commit (exported beside this checkout), interleaved with this one and
the same baseline: a change measured against the code before it, in one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generate import DATA, OWNERS, TODAY, build, parse_size

PYTHON = sys.executable
# Processes keep their compiled bytecode, as an installed csm does: without it, every run
# would compile csm's modules again (an editable install has no .pyc until one is written).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
BULK_PLAYBOOK = """\
playbook: bulk
title: Bulk note
description: One short note to every active account, for the drafting benchmark.
audience: status = 'active'
steps:
  - id: hello
    when: arr > 0
    email:
      template: bulk/hello.md.j2
      to: [champion]
"""
BULK_TEMPLATE = """\
---
subject: "{{ account.name }}: a quick check-in"
---
Hi {{ contact.first_name }},

I was looking at {{ account.name }} this morning: {{ account.seats_used }} of your
{{ account.seats_licensed }} seats are in use. Is there a team we should bring on next?

Best,
{{ csm.name }}
"""
MAILMERGE_TEMPLATE = """\
TO: {{email}}
SUBJECT: {{company}}: a quick check-in
FROM: csm1@vendor.example

Hi {{first_name}},

I was looking at {{company}} this morning: {{seats_used}} of your
{{seats_licensed}} seats are in use. Is there a team we should bring on next?

Best,
Casey Morgan
"""


FIGURES = (
    "help",
    "playtest",
    "import",
    "evaluate",
    "drafting",
    "morning",
    "send",
    "memory",
    "backtest",
    "health",
)


@dataclass(frozen=True)
class Code:
    """Which csm a figure runs: this checkout ("") or the one ``--before`` exported."""

    label: str
    env: dict[str, str]


HERE = Code("", ENV)


def code_before(ref: str, tmp: Path) -> Code:
    """The csm of git commit ``ref``, exported into ``tmp`` and put first on its PYTHONPATH."""
    root = Path(__file__).parent.parent
    folder = tmp / "before"
    folder.mkdir()
    commit = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", ref], capture_output=True, text=True, check=True
    ).stdout.strip()
    archive = subprocess.run(["git", "-C", str(root), "archive", commit], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return Code(f" (before: {commit})", {**ENV, "PYTHONPATH": str(folder)})


@dataclass
class Row:
    figure: str
    value: str
    baseline: str
    ratio: float | None
    target: str
    met: bool | None


def run(args: list[str], *, cwd: Path | None = None, env: dict[str, str] = ENV) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one subprocess."""
    started = time.perf_counter()
    process = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read() if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({process.returncode}):\n{stderr}")
    return elapsed, usage.ru_maxrss


def medians(repeat: int, *fns: Callable[[], float]) -> list[float]:
    """Each function's median wall time, the runs interleaved after one warm-up round.

    Interleaving gives csm and its baseline the same page cache and the same
    neighbours on a shared machine; the warm-up round is not counted.
    """
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, seen in zip(fns, times, strict=True):
            seen.append(fn())
    return [statistics.median(seen) for seen in times]


def csm(*args: str) -> list[str]:
    return [PYTHON, "-P", "-m", "csm", *args]  # -P: csm from the install or PYTHONPATH, never the cwd


def script(body: str) -> list[str]:
    return [PYTHON, "-c", textwrap.dedent(body)]


def fresh_workspace(tmp: Path, name: str) -> Path:
    from csm.init import create

    ws = create(tmp / name, me="csm1@vendor.example", name="Casey Morgan")
    settings = ws / "csm.toml"
    settings.write_text(
        settings.read_text(encoding="utf-8").replace('# today = "2026-11-25"', 'today = "2026-11-23"'),
        encoding="utf-8",
    )
    return ws


@contextlib.contextmanager
def workspace_db(path: Path) -> Iterator[sqlite3.Connection]:
    """A workspace's SQLite file, committed and closed at the block's end (sqlite3's own context
    manager commits but leaves the connection open)."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        yield conn


def copy_workspace(source: Path, tmp: Path, name: str) -> Path:
    return Path(shutil.copytree(source, tmp / name))


# -- the figures ----------------------------------------------------------------------------------


def help_time(tmp: Path, repeat: int, codes: list[Code]) -> list[Row]:
    bare = tmp / "bare.py"
    bare.write_text(
        "import typer\n"
        "app = typer.Typer(rich_markup_mode=None, add_completion=False)\n"
        "@app.command()\ndef hello() -> None: pass\n"
        "@app.command()\ndef bye() -> None: pass\n"
        "app()\n"
    )

    def ours(code: Code) -> Callable[[], float]:
        return lambda: run(csm("--help"), env=code.env)[0]

    *times, base = medians(repeat, *map(ours, codes), lambda: run([PYTHON, str(bare), "--help"])[0])
    return [
        Row(
            f"`csm --help` wall{code.label}",
            f"{mine * 1000:.0f} ms",
            f"bare Typer app {base * 1000:.0f} ms",
            mine / base,
            "<= 1.2x",
            mine / base <= 1.2,
        )
        for code, mine in zip(codes, times, strict=True)
    ]


def playtest_time(repeat: int) -> list[Row]:
    """`csm test` over the built-ins' own tests: the whole suite, and its slowest case."""
    suite = str(Path(__file__).parent.parent / "playbooks" / "tests")
    mine, base = medians(repeat, lambda: run(csm("test", suite))[0], lambda: run(csm("--help"))[0])
    report = json.loads(subprocess.run(csm("test", suite, "--json"), capture_output=True, check=True).stdout)
    slowest = max(case["ms"] for case in report["cases"]) / 1000
    return [
        Row(
            "`csm test` built-in suite wall",
            f"{mine:.2f} s",
            f"`csm --help` {base * 1000:.0f} ms",
            mine / base,
            "<= 2 s",
            mine <= 2.0,
        ),
        Row(
            f"`csm test` slowest of {len(report['cases'])} cases",
            f"{slowest * 1000:.0f} ms",
            "",
            None,
            "milliseconds, not a process (<= 200 ms)",
            slowest <= 0.2,
        ),
    ]


def import_time(data: Path, tmp: Path, size: int, repeat: int, codes: list[Code]) -> list[Row]:
    """`csm import accounts` of a CSV into a fresh workspace, against stdlib csv + executemany.

    The floor writes the same rows into the same table: a fresh workspace's ``accounts``
    (its types, its two secondary indexes, its WAL journal), opened as csm opens it, in one
    transaction. The old floor, a bare table with no index in a rollback journal, is shown
    beside it.
    """
    csv_path = data / "accounts.csv"

    def ours(code: Code) -> Callable[[], float]:
        def one() -> float:
            ws = fresh_workspace(Path(tempfile.mkdtemp(dir=tmp)), "ws")
            return run(csm("-w", str(ws), "import", "accounts", str(csv_path)), env=code.env)[0]

        return one

    def floor(same_table: bool) -> Callable[[], float]:
        def one() -> float:
            folder = Path(tempfile.mkdtemp(dir=tmp))
            db = fresh_workspace(folder, "ws") / "csm.db" if same_table else folder / "plain.db"
            return run(
                script(f"""
                import csv, sqlite3
                conn = sqlite3.connect({str(db)!r}, isolation_level=None)
                if {same_table}:  # as csm's store.connect opens it
                    conn.execute("PRAGMA synchronous = NORMAL")
                    conn.execute("PRAGMA foreign_keys = ON")
                with open({str(csv_path)!r}, newline="", encoding="utf-8") as f:
                    rows = csv.reader(f)
                    header = next(rows)
                    if not {same_table}:
                        conn.execute(f"CREATE TABLE accounts ({{', '.join(header)}}, PRIMARY KEY (id))")
                    conn.execute("BEGIN IMMEDIATE")
                    marks = ", ".join("?" for _ in header)
                    conn.executemany(f"INSERT INTO accounts ({{', '.join(header)}}) VALUES ({{marks}})", rows)
                    conn.execute("COMMIT")
            """)
            )[0]

        return one

    *times, same_s, bare_s = medians(repeat, *map(ours, codes), floor(True), floor(False))
    rows = []
    for code, mine in zip(codes, times, strict=True):
        figure = f"`csm import accounts` {size:,} rows{code.label}"
        rows.append(
            Row(
                figure,
                f"{mine:.2f} s ({size / mine:,.0f} rows/s)",
                f"csv + executemany, same table {same_s:.2f} s",
                mine / same_s,
                "<= 1.6x",
                mine / same_s <= 1.6,
            )
        )
        rows.append(
            Row(
                figure,
                f"{mine:.2f} s",
                f"csv + executemany, bare table {bare_s:.2f} s",
                mine / bare_s,
                "-",
                None,
            )
        )
    return rows


def evaluate_time(data: Path, tmp: Path, size: int, repeat: int) -> Row:
    # A copy: opening the workspace migrates it, and the generated data stays as generated.
    ws = copy_workspace(data / "ws", tmp, f"evaluate-{size}")

    def base() -> float:
        return run(
            script(f"""
            import datetime as dt, sqlite3, sys
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            import hand_sql
            conn = sqlite3.connect({str(ws / "csm.db")!r})
            params = hand_sql.params(dt.date(2026, 11, 23))
            for sql in hand_sql.queries():
                conn.execute(sql, params).fetchall()
        """)
        )[0]

    ours_s, base_s = medians(repeat, lambda: run(csm("-w", str(ws), "run", "--dry-run"))[0], base)
    ratio = ours_s / base_s
    shutil.rmtree(ws)
    return Row(
        f"`csm run --dry-run` {size:,} accounts",
        f"{ours_s:.2f} s",
        f"hand-written SQL per step {base_s:.2f} s",
        ratio,
        "<= 1.5x" + ("; under 1 s" if size == 100_000 else ""),
        ratio <= 1.5 and (size != 100_000 or ours_s < 1.0),
    )


def bulk_workspace(data: Path, tmp: Path, name: str, count: int) -> Path:
    """A workspace with the bulk playbook and ``count`` active accounts imported from ``data``."""
    ws = fresh_workspace(tmp, name)
    (ws / "playbooks" / "bulk.yaml").write_text(BULK_PLAYBOOK)
    (ws / "templates" / "bulk").mkdir()
    (ws / "templates" / "bulk" / "hello.md.j2").write_text(BULK_TEMPLATE)
    for kind in ("accounts", "contacts"):
        run(csm("-w", str(ws), "import", kind, str(data / f"{kind}.csv")))
    with workspace_db(ws / "csm.db") as conn:
        conn.execute("DELETE FROM accounts WHERE rowid > ?", (count,))
        conn.execute("UPDATE accounts SET status = 'active'")
    run(csm("-w", str(ws), "health"))  # today's snapshot is its own job; `csm run` then reuses it
    return ws


def drafting_time(data: Path, tmp: Path, repeat: int, count: int, codes: list[Code]) -> list[Row]:
    source = bulk_workspace(data, tmp, "drafting", count)
    with workspace_db(source / "csm.db") as conn:
        rows = conn.execute(
            "SELECT a.name, a.seats_used, a.seats_licensed, c.email, c.name FROM accounts a"
            " JOIN contacts c ON c.account_id = a.id AND c.role = 'champion' AND c.left_at IS NULL"
        ).fetchall()
    mm = tmp / "mailmerge"
    mm.mkdir()
    (mm / "template.txt").write_text(MAILMERGE_TEMPLATE)
    with (mm / "database.csv").open("w", encoding="utf-8") as f:
        f.write("company,seats_used,seats_licensed,email,first_name\n")
        f.writelines(f'"{r[0]}",{r[1]},{r[2]},{r[3]},{r[4].split()[0]}\n' for r in rows)
    (mm / "server.conf").write_text("[smtp_server]\nhost = 127.0.0.1\nport = 25\nsecurity = Never\n")

    def ours(code: Code) -> Callable[[], float]:
        def one() -> float:
            ws = copy_workspace(source, Path(tempfile.mkdtemp(dir=tmp)), "ws")
            return run(csm("-w", str(ws), "run", "bulk", "--quiet"), env=code.env)[0]

        return one

    template = source / "templates" / "bulk" / "hello.md.j2"

    def bare_loop() -> float:
        """The floor csm's drafting is held to: what a hand-written loop must do for the same
        outbox rows. The same template in a sandboxed, strict Jinja (subject and body each
        rendered, the owner's name signing), the reachable champions only (not unsubscribed,
        bounced or suppressed: nothing to a person who may not be written to), and one
        executemany of the same columns (key, recipients, why, subject, body ...) into a table
        with the outbox's schema and indexes, in one transaction. What it leaves out is listed
        in RESULTS.md: evaluating the playbook, the skipped rows and tasks of the accounts with
        no champion, the recorded matches, the touch budget and csm's start-up and checks."""
        db = Path(tempfile.mkdtemp(dir=tmp)) / "bare.db"
        return run(
            script(f"""
            import json, sqlite3, yaml
            from jinja2 import StrictUndefined
            from jinja2.sandbox import SandboxedEnvironment
            _, front, body = open({str(template)!r}).read().split("---", 2)
            env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
            subject, body = env.from_string(yaml.safe_load(front)["subject"]), env.from_string(body)
            conn = sqlite3.connect({str(source / "csm.db")!r})
            rows = conn.execute("SELECT a.id, a.name, a.seats_used, a.seats_licensed, a.owner, a.arr,"
                                " c.name, c.email FROM accounts a JOIN contacts c ON c.account_id = a.id"
                                " AND c.role = 'champion' AND c.left_at IS NULL AND c.unsubscribed = 0"
                                " AND c.bounced_at IS NULL AND NOT EXISTS (SELECT 1 FROM suppressions s"
                                " WHERE s.email = lower(c.email)) WHERE a.status = 'active' AND a.arr > 0"
                                " ORDER BY a.id").fetchall()
            schema = [sql for (sql,) in conn.execute("SELECT sql FROM sqlite_master WHERE tbl_name = 'outbox'"
                                                     " AND sql IS NOT NULL ORDER BY type DESC")]
            out = sqlite3.connect({str(db)!r}, isolation_level=None)
            for sql in schema:
                out.execute(sql)
            names = {{"csm1@vendor.example": "Casey Morgan"}}
            def signed(owner):
                local = owner.split("@")[0].replace("_", ".")
                return names.get(owner) or " ".join(p.capitalize() for p in local.split("."))
            def drafts():
                for r in rows:
                    seen = dict(account=dict(name=r[1], seats_used=r[2], seats_licensed=r[3]),
                                contact=dict(first_name=r[6].split()[0]), csm=dict(name=signed(r[4])))
                    yield (f"bulk:hello:{{r[0]}}:once", "bulk", "hello", r[0], r[4],
                           json.dumps([[r[6], r[7]]]),
                           subject.render(seen).strip(), body.render(seen).strip("\\n") + "\\n",
                           "bulk/hello.md.j2", json.dumps({{"arr": r[5]}}), "draft",
                           "2026-11-23T08:00:00+00:00", "2026-11-23T08:00:00+00:00")
            out.execute("BEGIN")
            out.executemany("INSERT INTO outbox (dedupe_key, playbook, step, account_id, owner, to_addrs,"
                            " subject, body, template, why, status, created_at, updated_at)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", drafts())
            out.execute("COMMIT")
        """)
        )[0]

    def mailmerge() -> float:
        return run(
            [
                str(shutil.which("mailmerge", path=str(Path(PYTHON).parent))),
                "--template",
                "template.txt",
                "--database",
                "database.csv",
                "--config",
                "server.conf",
                "--dry-run",
                "--no-limit",
                "--output-format",
                "raw",
            ],
            cwd=mm,
        )[0]

    *times, bare_s, mm_s = medians(repeat, *map(ours, codes), bare_loop, mailmerge)
    n = len(rows)
    rows_out = []
    for code, ours_s in zip(codes, times, strict=True):
        speedup = mm_s / ours_s
        rows_out.append(
            Row(
                f"drafting {n:,} emails (`csm run`){code.label}",
                f"{n / ours_s:,.0f} msg/s",
                f"mailmerge --dry-run {n / mm_s:,.0f} msg/s",
                speedup,
                ">= 5x its msg/s",
                speedup >= 5,
            )
        )
        rows_out.append(
            Row(
                f"drafting {n:,} emails (`csm run`){code.label}",
                f"{ours_s:.2f} s",
                f"bare render+insert {bare_s:.2f} s",
                ours_s / bare_s,
                "<= 1.5x",
                ours_s / bare_s <= 1.5,
            )
        )
    return rows_out


@dataclass
class Morning:
    """What the commands a CSM types cost on one book: seconds and peak MB, medians of runs."""

    size: int
    today_first: tuple[float, float]
    today_again: tuple[float, float]
    run_first: tuple[float, float]
    run_again: tuple[float, float]
    send: tuple[float, float]
    drafted: int  # new drafts of the morning, every CSM's
    sent: int


def _drafted_today(ws: Path) -> list[int]:
    with workspace_db(ws / "csm.db") as conn:
        rows = conn.execute(
            "SELECT id FROM outbox WHERE status = 'draft' AND created_at >= ? ORDER BY id", (f"{TODAY}",)
        )
        return [row[0] for row in rows]


def morning(data: Path, tmp: Path, size: int, repeat: int) -> Morning:
    """`csm today` and `csm run` as the first command of the day (each on a fresh copy of the
    morning's workspace) and again the same day, then `csm send` of the morning's drafts."""
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in ("tf", "ta", "rf", "ra", "send")}
    drafted = sent = 0
    for k in range(repeat):
        ws = copy_workspace(data / "ws", tmp, f"morning-{size}-{k}")
        for key, args in (("tf", ["today"]), ("ta", ["today"])):
            elapsed, rss = run(csm("-w", str(ws), *args))
            times[key].append((elapsed, rss / 1024))
        ids = _drafted_today(ws)
        drafted = len(ids)
        run(csm("-w", str(ws), "approve", *map(str, ids)))
        settings = ws / "csm.toml"
        text = settings.read_text(encoding="utf-8")
        settings.write_text(text[: text.index("[send]")] + '[send]\ntransport = "eml"\neml_dir = "out"\n')
        elapsed, rss = run(csm("-w", str(ws), "send"))
        times["send"].append((elapsed, rss / 1024))
        sent = len(ids)
        shutil.rmtree(ws)
        ws = copy_workspace(data / "ws", tmp, f"morning-run-{size}-{k}")
        for key in ("rf", "ra"):
            elapsed, rss = run(csm("-w", str(ws), "run", "--quiet"))
            times[key].append((elapsed, rss / 1024))
        shutil.rmtree(ws)
    pick = {
        key: (statistics.median(t for t, _ in seen), max(m for _, m in seen)) for key, seen in times.items()
    }
    return Morning(size, pick["tf"], pick["ta"], pick["rf"], pick["ra"], pick["send"], drafted, sent)


def _command_row(
    label: str, measured: tuple[float, float], help_s: float, target: float | None = None, rate: str = ""
) -> Row:
    """One command's seconds and peak MB beside `csm --help` in the same run, against a target."""
    return Row(
        label,
        f"{measured[0]:.2f} s{rate}, {measured[1]:.0f} MB",
        f"`csm --help` {help_s:.2f} s",
        measured[0] / help_s,
        "report" if target is None else f"<= {target:g} s",
        None if target is None else measured[0] <= target,
    )


def morning_rows(m: Morning, help_s: float) -> list[Row]:
    per_csm = m.drafted / len(OWNERS)
    at_100k = m.size == 100_000
    rows = [
        _command_row(
            f"`csm today` first of the day, {m.size:,} accounts, {m.drafted:,} new drafts"
            f" ({per_csm:,.0f} per CSM)",
            m.today_first,
            help_s,
            3.0 if at_100k else None,
        ),
        _command_row("`csm today` again the same day", m.today_again, help_s, 0.6 if at_100k else None),
        _command_row("`csm run` first of the day", m.run_first, help_s),
        _command_row("`csm run` again the same day", m.run_again, help_s),
        _command_row(
            f"`csm send` the morning's {m.sent:,} drafts via eml",
            m.send,
            help_s,
            rate=f" ({m.sent / m.send[0]:,.0f} msg/s)",
        ),
    ]
    peak = max(m.today_first[1], m.run_first[1])
    rows.append(
        Row(
            f"peak RSS `today`/`run` {m.size:,}",
            f"{peak:.0f} MB",
            "-",
            None,
            "<= 150 MB",
            peak <= 150,
        )
    )
    return rows


def growth(small: Morning, large: Morning) -> None:
    """How each command's time and memory grow from the small book to the large one."""
    from rich.console import Console
    from rich.table import Table

    factor = large.size / small.size
    table = Table(title=f"How cost grows: {small.size:,} to {large.size:,} accounts ({factor:g}x)")
    for column in ("command", f"at {small.size:,}", f"at {large.size:,}", "time x", "memory x"):
        table.add_column(column)
    for label, attr in (
        ("today, first of the day", "today_first"),
        ("today, again", "today_again"),
        ("run, first of the day", "run_first"),
        ("run, again", "run_again"),
        ("send the morning's drafts", "send"),
    ):
        a, b = getattr(small, attr), getattr(large, attr)
        table.add_row(
            label,
            f"{a[0]:.2f} s, {a[1]:.0f} MB",
            f"{b[0]:.2f} s, {b[1]:.0f} MB",
            f"{b[0] / a[0]:.1f}x",
            f"{b[1] / a[1]:.1f}x",
        )
    table.add_row(
        "new drafts",
        f"{small.drafted:,}",
        f"{large.drafted:,}",
        f"{large.drafted / max(small.drafted, 1):.1f}x",
        "",
    )
    Console(width=160).print(table)


def send_rates(data: Path, tmp: Path, count: int, codes: list[Code]) -> list[Row]:
    ws = bulk_workspace(data, tmp, "send-ws", count)
    run(csm("-w", str(ws), "run", "bulk", "--quiet"))
    run(csm("-w", str(ws), "approve", "--playbook", "bulk"))
    rows = []
    for transport, code in ((t, c) for t in ("eml", "smtp") for c in codes):
        copy = copy_workspace(ws, Path(tempfile.mkdtemp(dir=tmp)), f"send-{transport}")
        with workspace_db(copy / "csm.db") as conn:
            n = conn.execute("SELECT count(*) FROM outbox WHERE status = 'approved'").fetchone()[0]
        server = _smtp_sink() if transport == "smtp" else None
        settings = copy / "csm.toml"
        text = settings.read_text(encoding="utf-8")
        table = (
            'transport = "eml"\neml_dir = "out"'
            if server is None
            else f'transport = "smtp"\nhost = "127.0.0.1"\nport = {server.port}\nsecurity = "none"'
        )
        settings.write_text(text[: text.index("[send]")] + "[send]\n" + table + "\n", encoding="utf-8")
        try:
            ours = run(csm("-w", str(copy), "send"), env=code.env)[0]
        finally:
            if server is not None:
                server.stop()
        plain = _plain_write(Path(tempfile.mkdtemp(dir=tmp)) / f"plain-{transport}", n)
        rows.append(
            Row(
                f"`csm send` {n:,} via {transport}{code.label}",
                f"{n / ours:,.0f} msg/s",
                f"plain file loop {n / plain:,.0f} msg/s",
                ours / plain,
                "report msg/s",
                None,
            )
        )
    return rows


def _smtp_sink():  # type: ignore[no-untyped-def]
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            return "250 OK"

    class Loopback(Controller):
        def _trigger_server(self) -> None:
            self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()

    controller = Loopback(Sink(), hostname="127.0.0.1", port=0)
    controller.start()
    return controller


def _plain_write(folder: Path, n: int) -> float:
    folder.mkdir()
    return run(
        script(f"""
        import os
        body = b"x" * 2500
        for i in range({n}):
            with open(os.path.join({str(folder)!r}, f"{{i}}.eml"), "wb") as f:
                f.write(body)
    """)
    )[0]


def memory(small: Path, large: Path, tmp: Path, small_n: int, large_n: int) -> Row:
    def peak(data: Path, n: int) -> float:  # on a copy, as evaluate_time
        ws = copy_workspace(data / "ws", tmp, f"memory-{n}")
        rss = run(csm("-w", str(ws), "run", "--dry-run"))[1] / 1024
        shutil.rmtree(ws)
        return rss

    rss_small, rss_large = peak(small, small_n), peak(large, large_n)
    return Row(
        f"peak RSS `run --dry-run` {large_n:,}",
        f"{rss_large:.0f} MB",
        f"at {small_n:,}: {rss_small:.0f} MB",
        rss_large / rss_small,
        "flat, <= 150 MB",
        rss_large <= 150,
    )


# The floor for the health snapshot: the default model's score for every account, written by
# hand against the schema (usage windows from the day's rollup, one profile's weights), into a
# table like health_history. No breakdown, no profiles: what no snapshot can undercut.
_HAND_SCORE = """
CREATE TEMP TABLE floor (account_id TEXT, score REAL);
INSERT INTO floor SELECT a.id, round((
    30 * max(0, min(100, ((r.usage_30d / nullif(r.usage_prev_30d, 0) - 1) + 0.3) * 285.714))
  + 15 * max(0, min(100, (r.usage_30d * 1.0 / a.seats_used - 0.2) * 200))
  + 15 * max(0, min(100, (a.seats_used * 1.0 / nullif(a.seats_licensed, 0) - 0.3) * 181.818))
  + 15 * coalesce(CASE WHEN a.nps >= 9 THEN 100 WHEN a.nps >= 7 THEN 70
                       WHEN a.nps IS NOT NULL THEN 10 END, 60)
  + 15 * CASE WHEN a.open_tickets <= 0 THEN 100 WHEN a.open_tickets <= 2 THEN 80
              WHEN a.open_tickets <= 4 THEN 40 ELSE 0 END
  + 10 * max(0, min(100, (julianday('2026-11-23') - julianday(date(a.last_login_at)) - 30) * -3.5714))
  ) / 100, 1) FROM accounts a LEFT JOIN usage_rollup r ON r.account_id = a.id;
"""


# Before a timed snapshot: none for today yet (the first run of the day), or 1% of the
# accounts changed since today's (an import, then `csm run` again).
_NEW_DAY = "DELETE FROM {table} WHERE date = '2026-11-23'"
_IMPORTED = (
    "UPDATE accounts SET nps = CASE WHEN nps IS NULL THEN 5 ELSE (nps + 1) % 11 END WHERE rowid % 100 = 0"
)


def health_time(data: Path, tmp: Path, size: int, repeat: int, codes: list[Code]) -> list[Row]:
    """`csm health`'s snapshot (what every writing run takes first) against the hand-written score:
    the first of the day, and taken again after an import changed 1% of the accounts."""
    ws = copy_workspace(data / "ws", tmp, "health")
    setup = f"""
        from pathlib import Path
        from csm import workspace
        from csm.data import rollup
        from csm.runtime import open_runtime
        rt = open_runtime(workspace.load(explicit=Path({str(ws)!r})))
        rollup.ensure(rt.conn, rt.today, rt.ws.settings.primary_metric)
    """
    run(script(setup))  # the day's rollup, which a writing run builds before its snapshot
    snapshot = script(f"""
        from pathlib import Path
        from csm import workspace
        from csm.runtime import open_runtime
        rt = open_runtime(workspace.load(explicit=Path({str(ws)!r})))
        rt.snapshot_health()
    """)

    def sql(*statements: str) -> list[str]:
        return script(f"""
            import sqlite3
            conn = sqlite3.connect({str(ws / "csm.db")!r}, isolation_level=None)
            conn.executescript("BEGIN;" + {";".join(statements)!r} + ";COMMIT;")
        """)

    new_day = sql(*(_NEW_DAY.format(table=t) for t in ("health_history", "health_parts", "health_models")))
    imported = sql(_IMPORTED)
    floor = sql(_HAND_SCORE)

    def ours(code: Code, before: list[str]) -> Callable[[], float]:
        return lambda: (run(before), run(snapshot, env=code.env)[0])[1]

    rows = []
    for when, before in (("first of the day", new_day), ("again after 1% changed", imported)):
        *times, base_s = medians(repeat, *(ours(code, before) for code in codes), lambda: run(floor)[0])
        rows.extend(
            Row(
                f"health snapshot {size:,} accounts, {when} (process){code.label}",
                f"{ours_s:.2f} s",
                f"hand-written score SQL {base_s:.2f} s",
                ours_s / base_s,
                "<= 1 s" if size == 100_000 else "-",
                ours_s <= 1.0 if size == 100_000 else None,
            )
            for code, ours_s in zip(codes, times, strict=True)
        )
    return rows


def ensure_mailmerge() -> None:
    """The drafting figure's baseline: installed here (the `bench` extra) when it is missing."""
    if shutil.which("mailmerge", path=str(Path(PYTHON).parent)) is None:
        root = Path(__file__).parent.parent
        subprocess.run([PYTHON, "-m", "pip", "install", "-q", "-e", f"{root}[bench]"], check=True)


# -- driver ---------------------------------------------------------------------------------------


def ensure(size: int, every: int, root: Path) -> Path:
    folder = root / str(size)
    if not (folder / "ws" / "csm.db").exists():
        print(f"generating {size:,} accounts...", file=sys.stderr)
        build(size, every, root=root)
    return folder


def show(rows: list[Row], size: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"csm benchmarks at {size:,} accounts ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores)"
    )
    # A figure's name and its baseline's read (and are found) on one line; the numbers wrap.
    for column in ("figure", "csm", "baseline (same run)", "ratio", "target", "met"):
        table.add_column(column, no_wrap=column in ("figure", "baseline (same run)"))
    for r in rows:
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        table.add_row(
            r.figure, r.value, r.baseline, "-" if r.ratio is None else f"{r.ratio:.2f}x", r.target, met
        )
    Console(width=160).print(table)


def postgresql(url: str | None, data: Path, size: int, repeat: int, only: set[str]) -> None:
    """The PostgreSQL figures (benchmarks/pg.py) on the server at ``url``, or on a throwaway one."""
    import pg  # benchmarks/pg.py, beside this script

    cluster = pg.PgCluster() if url is None else None
    try:
        with tempfile.TemporaryDirectory() as name:
            server = pg.Server(url or cluster.admin_url)  # type: ignore[union-attr]
            show(pg.figures(server, data, Path(name), size, repeat, only), size)
    finally:
        if cluster is not None:
            cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100k", help="tiny, 10k, 100k, 1m or a number of accounts")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the median counts")
    parser.add_argument("--usage-every", type=int, default=1, help="days between generated usage points")
    parser.add_argument("--data", type=Path, default=DATA, help="where generated data lives")
    parser.add_argument(
        "--only", default=",".join(FIGURES), help=f"the figures to run, of: {', '.join(FIGURES)}"
    )
    parser.add_argument(
        "--before",
        metavar="REF",
        help="also run the help, import, drafting, send and health figures on this git commit",
    )
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="postgresql: the dry run, import and today on a throwaway server (see pg.py)",
    )
    parser.add_argument(
        "--database", metavar="URL", help="with --backend postgresql: a server to use instead (its admin URL)"
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    if only - set(FIGURES):
        parser.error(f"--only: no figure {', '.join(sorted(only - set(FIGURES)))}; use {', '.join(FIGURES)}")
    size = parse_size(args.size)
    drafts = min(size, 10_000)
    data = ensure(size, args.usage_every, args.data)
    if args.backend == "postgresql":
        postgresql(args.database, data, size, args.repeat, only)
        return
    small = ensure(min(size, 10_000), args.usage_every, args.data)
    if "drafting" in only:
        ensure_mailmerge()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        codes = [HERE] if args.before is None else [HERE, code_before(args.before, tmp)]
        rows: list[Row] = []
        if "help" in only:
            rows.extend(help_time(tmp, max(args.repeat, 5), codes))
        if "playtest" in only:
            rows.extend(playtest_time(max(args.repeat, 3)))
        if "import" in only:
            rows.extend(import_time(data, tmp, size, args.repeat, codes))
        if "evaluate" in only:
            rows.append(evaluate_time(data, tmp, size, args.repeat))
        if "drafting" in only:
            rows.extend(drafting_time(small, tmp, args.repeat, drafts, codes))
        if "morning" in only:
            help_s = statistics.median(run(csm("--help"))[0] for _ in range(3))
            small_morning = morning(small, tmp, min(size, 10_000), args.repeat)
            large_morning = small_morning if size <= 10_000 else morning(data, tmp, size, args.repeat)
            rows.extend(morning_rows(large_morning, help_s))
        if "send" in only:
            rows.extend(send_rates(small, tmp, drafts, codes))
        if "memory" in only:
            rows.append(memory(small, data, tmp, min(size, 10_000), size))
        if "health" in only:
            rows.extend(health_time(data, tmp, size, args.repeat, codes))
        if "backtest" in only:
            from backtest import backtest_time  # benchmarks/backtest.py, beside this script

            rows.append(backtest_time(small, tmp, min(size, 10_000), args.repeat))
    show(rows, size)
    if "morning" in only:
        growth(small_morning, large_morning)


if __name__ == "__main__":
    main()
