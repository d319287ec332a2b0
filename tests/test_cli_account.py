"""`csm account ID` through the CLI, on the demo workspace."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import rows


def test_account_view(invoke, demo: Path) -> None:
    invoke("-w", str(demo), "run", "--quiet")
    account = rows(demo, "SELECT account_id FROM outbox WHERE status = 'draft' ORDER BY id LIMIT 1")[0][0]
    result = invoke("-w", str(demo), "account", account)
    assert result.exit_code == 0
    name = rows(demo, "SELECT name FROM accounts WHERE id = ?", account)[0][0]
    out = result.stdout
    assert out.startswith(f"{name} ({account})")
    assert "Contacts" in out and "Timeline" in out and "draft #" in out
    assert any(ch in out for ch in "▁▂▃▄▅▆▇█")  # the trend sparkline
    missing = invoke("-w", str(demo), "account", "NOPE")
    assert missing.exit_code == 1 and "Error: no account 'NOPE'" in missing.stderr
