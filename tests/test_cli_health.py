"""`csm health`, `csm health ACCOUNT`, and health in check, run, today and account, on the demo."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import connect, db_dump, rows

TODAY = "2026-11-23"


def test_health_shows_bands_distribution_and_drops(invoke, demo: Path) -> None:
    result = invoke("-w", str(demo), "health")
    assert result.exit_code == 0, result.output
    out = result.stdout
    bands = dict(
        rows(
            demo,
            "SELECT h.band, count(*) FROM health_history h JOIN accounts a ON a.id = h.account_id"
            " WHERE h.date = ? AND a.status = 'active' GROUP BY 1",
            TODAY,
        )
    )
    total = sum(bands.values())
    assert out.startswith(f"Health of {total} active accounts on {TODAY}\n")
    for band in ("red", "yellow", "green"):
        assert f"  {band:<7}{bands[band]:>5}  " in out
    assert "\nScores\n" in out and "  90-100" in out
    assert "Biggest drops in 30 days (16)\n   -33.7  Tidewater Logistics (A1103) now 60.6 yellow\n" in out
    assert "          usage-trend -26.2, active-users -7.4\n" in out
    assert out.endswith("Next: `csm health A1103` to see why a score fell.\n")


def test_health_json_adds_up(invoke, demo: Path) -> None:
    data = json.loads(invoke("-w", str(demo), "health", "--json").stdout)
    assert data["today"] == TODAY
    assert sum(data["bands"].values()) == data["accounts"] == 460
    assert sum(b["accounts"] for b in data["distribution"]) == data["accounts"]
    assert [b["scores"] for b in data["distribution"]][:2] == ["0-9", "10-19"]
    changes = [d["health_change_30d"] for d in data["drops"]]
    assert changes == sorted(changes) and all(c <= -10 for c in changes)
    assert all(w["change"] < 0 for d in data["drops"] for w in d["why"])
    mine = json.loads(
        invoke("-w", str(demo), "health", "--json", "--owner", "alex.morgan@northbeam.example").stdout
    )
    assert 0 < mine["accounts"] < data["accounts"]
    assert {d["owner"] for d in mine["drops"]} == {"alex.morgan@northbeam.example"}


def test_health_again_the_same_day_replaces_the_snapshot(invoke, demo: Path) -> None:
    history = "SELECT * FROM health_history ORDER BY account_id, date"
    before = rows(demo, history)
    assert invoke("-w", str(demo), "health", "--json").exit_code == 0
    assert invoke("-w", str(demo), "health", "--json").exit_code == 0
    assert rows(demo, history) == before  # the demo already holds today's snapshot


def test_run_refreshes_the_snapshot_only_after_an_import(invoke, demo: Path, tmp_path: Path) -> None:
    invoke("-w", str(demo), "run", "--quiet")
    score = "SELECT score FROM health_history WHERE account_id = 'A1179' AND date = ?"
    with connect(demo) as conn:
        conn.execute("UPDATE health_history SET score = 1 WHERE account_id = 'A1179' AND date = ?", (TODAY,))
    invoke("-w", str(demo), "run", "--quiet")
    assert rows(demo, score, TODAY) == [(1.0,)]  # current: not scored again
    data = tmp_path / "a.csv"
    data.write_text("id,name,nps\nA1179,Redwood Dental,3\n")
    assert invoke("-w", str(demo), "import", "accounts", str(data)).exit_code == 0
    invoke("-w", str(demo), "today", "--json")
    assert rows(demo, score, TODAY) == [(36.7,)]  # 50.2 - 15 * (100 - 10) / 100: a detractor now


def test_health_account_explains_the_change(invoke, demo: Path) -> None:
    result = invoke("-w", str(demo), "health", "A1179")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "Redwood Dental (A1179)",
        "  now          50.2 red on 2026-11-23",
        "  30 days ago  83.2 green on 2026-10-19",
    ]
    assert lines[3].split() == [
        "measure",
        "value",
        "then",
        "value",
        "now",
        "points",
        "then",
        "points",
        "now",
        "change",
    ]
    assert lines[4].split() == ["Usage", "trend", "+0%", "-38%", "25.7", "0", "-25.7"]
    assert lines[5].split()[-5:] == ["0.73", "0.46", "15", "7.7", "-7.3"]
    assert "Health fell 33 points: usage trend -25.7 (+0% → -38%);" in result.stdout


def test_health_account_json(invoke, demo: Path) -> None:
    data = json.loads(invoke("-w", str(demo), "health", "A1179", "--json").stdout)
    assert (data["now"]["score"], data["then"]["score"], data["change"]) == (50.2, 83.2, -33.0)
    assert data["then"]["date"] == "2026-10-19"  # the weekly snapshot on or before 30 days ago
    assert abs(sum(p["points_now"] for p in data["parts"]) - data["now"]["score"]) < 0.3
    assert abs(sum(p["change"] for p in data["parts"]) - data["change"]) < 0.3
    assert data["parts"][0]["id"] == "usage-trend"
    week = json.loads(invoke("-w", str(demo), "health", "A1179", "--days", "7", "--json").stdout)
    assert week["then"]["date"] == "2026-11-16"


def test_health_account_errors(invoke, demo: Path) -> None:
    missing = invoke("-w", str(demo), "health", "NOPE")
    assert missing.exit_code == 1
    assert "Error: no account 'NOPE'" in missing.stderr
    assert invoke("-w", str(demo), "health", "A1179", "--days", "0").exit_code == 2


def test_a_new_workspace_has_a_model_and_no_scores(invoke, workspace: Path) -> None:
    assert (workspace / "health.yaml").read_text().startswith("# The health model")
    result = invoke("-w", str(workspace), "health")
    assert result.exit_code == 0
    assert "No account has a score yet" in result.stdout
    assert invoke("-w", str(workspace), "check").stdout.endswith("templates, the health model.\n")


def test_without_health_yaml_the_built_in_model_scores(invoke, demo: Path) -> None:
    (demo / "health.yaml").unlink()
    data = json.loads(invoke("-w", str(demo), "health", "--json").stdout)
    assert data["accounts"] == 460


def test_check_lists_health_model_problems(invoke, demo: Path) -> None:
    model = demo / "health.yaml"
    model.write_text(
        model.read_text().replace("value: nps\n", "value: nsp\n").replace("weight: 10\n", "weight: 5\n")
    )
    result = invoke("-w", str(demo), "check")
    assert result.exit_code == 1
    assert f"{model}:33:12: unknown field 'nsp' (did you mean 'nps'?)" in result.stderr
    assert "the weights add up to 95, not 100" in result.stderr
    health = invoke("-w", str(demo), "health")
    assert health.exit_code == 1 and health.stderr.startswith(f"Error: {model}:")


def test_run_and_today_take_the_days_snapshot(invoke, demo: Path) -> None:
    count = "SELECT count(*) FROM health_history WHERE date = ?"
    with connect(demo) as conn:
        conn.execute("DELETE FROM health_history WHERE date = ?", (TODAY,))
    before = db_dump(demo)
    assert invoke("-w", str(demo), "run", "--dry-run", "--json").exit_code == 0
    assert invoke("-w", str(demo), "today", "--no-run", "--json").exit_code == 0
    assert db_dump(demo) == before
    assert invoke("-w", str(demo), "run", "--quiet").exit_code == 0
    assert rows(demo, count, TODAY) == [(500,)]  # every account has started by today
    tomorrow = invoke("-w", str(demo), "--today", "2026-11-24", "today", "--json")
    assert tomorrow.exit_code == 0
    assert rows(demo, count, "2026-11-24") == [(500,)]
    assert json.loads(tomorrow.stdout)["health_drops"][0]["health_change_30d"] <= -10


def test_account_shows_health_and_its_trend(invoke, demo: Path) -> None:
    out = invoke("-w", str(demo), "account", "A1179").stdout
    assert "Health 50.2 (red, -33 in 30 days)\n" in out
    assert "health        " in out and "  84.9 → 50.2\n" in out
    data = json.loads(invoke("-w", str(demo), "account", "A1179", "--json").stdout)
    assert data["trend"]["label"] == "health"
    assert len(data["trend"]["points"]) == 31  # 21 daily and 10 weekly snapshots in 90 days
    assert (data["account"]["health"], data["account"]["health_band"]) == (50.2, "red")


def test_the_new_playbooks_match_on_the_demo(invoke, demo: Path) -> None:
    data = json.loads(
        invoke("-w", str(demo), "run", "at-risk", "silent-account", "--dry-run", "--json").stdout
    )
    matched = {f"{s['playbook']}/{s['step']}": len(s["matches"]) for s in data["steps"]}
    assert set(matched) == {
        "at-risk/health-falling",
        "at-risk/red-band",
        "at-risk/ticket-spike",
        "at-risk/detractor-answered",
        "at-risk/ticket-severe",
        "at-risk/escalation",
        "at-risk/usage-drop",
        "at-risk/champion-left",
        "at-risk/detractor",
        "silent-account/hello",
        "silent-account/no-reply",
        "silent-account/call",
    }
    assert all(3 <= n <= 30 for n in matched.values()), matched
    falling = next(s for s in data["steps"] if s["step"] == "health-falling")
    assert all(m["values"]["health_change_30d"] <= -15 for m in falling["matches"])
