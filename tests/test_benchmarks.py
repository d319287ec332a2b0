"""The benchmark script runs end to end at its smallest size (timings are not checked here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "run.py"


def tiny_run(data: Path, *args: str) -> str:
    """What `benchmarks/run.py --size tiny --repeat 1 ARGS...` prints, data kept in ``data``."""
    tiny = ["--size", "tiny", "--repeat", "1", "--data", str(data)]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *tiny, *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_benchmarks_print_every_figure_at_the_tiny_size(tmp_path: Path) -> None:
    printed = tiny_run(tmp_path)
    for figure in (
        "`csm --help` wall",
        "`csm import accounts` 200 rows",
        "`csm run --dry-run` 200 accounts",
        "emails (`csm run`)",
        "mailmerge --dry-run",
        "`csm today` first of the day, 200 accounts",
        "`csm today` again the same day",
        "`csm run` first of the day",
        "`csm run` again the same day",
        "`csm send` the morning's",
        "via eml",
        "via smtp",
        "peak RSS `run --dry-run` 200",
        "peak RSS `today`/`run` 200",
        "How cost grows",
        "`csm backtest` 90 days, 200 accounts",
    ):
        assert figure in printed, figure


def test_benchmarks_on_postgresql_print_their_figures_at_the_tiny_size(
    tmp_path: Path, pg_cluster: Any
) -> None:
    """`--backend postgresql` loads the book into the server and sets each figure beside its floor."""
    printed = tiny_run(tmp_path, "--backend", "postgresql", "--database", pg_cluster.admin_url)
    for figure in (
        "PostgreSQL: `csm run --dry-run` 200 accounts",
        "hand-written SQL per step",
        "PostgreSQL: `csm today --no-run` 200 accounts",
        "hand-written morning list",
        "PostgreSQL: `csm today`",
        "PostgreSQL: `csm import accounts` 200 rows",
        "psycopg COPY, same table",
    ):
        assert figure in printed, figure
