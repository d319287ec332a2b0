"""The benchmark script runs end to end at its smallest size (timings are not checked here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "run.py"


def test_benchmarks_print_every_figure_at_the_tiny_size(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--size", "tiny", "--repeat", "1", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for figure in (
        "`csm --help` wall",
        "`csm import accounts` 200 rows",
        "`csm run --dry-run` 200 accounts",
        "drafting 200 emails",
        "`csm today` 200 accounts",
        "`csm send` 200 via eml",
        "`csm send` 200 via smtp",
        "peak RSS `run --dry-run` 200",
        "peak RSS `today` 200",
        "`csm backtest` 90 days, 200 accounts",
    ):
        assert figure in result.stdout, figure
