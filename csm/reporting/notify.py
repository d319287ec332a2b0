"""`csm notify`: a digest of what waits, per CSM, posted to a Slack-compatible webhook.

The webhook URL is a secret (it carries its own token): it comes from the
environment variable that ``[notify] webhook_env`` names and never appears in
output or errors.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from csm.errors import CsmError, TemporaryError, WorkspaceError, redact_echo, redact_url
from csm.mail.claims import abandoned
from csm.retry import parse_retry_after, retry
from csm.templating.filters import plural

TOP_ITEMS = 3


class NotifyError(CsmError):
    """The webhook refused or did not answer."""


class _NotNow(NotifyError, TemporaryError):
    """429, 5xx, a timeout or no connection: retried."""


@dataclass(frozen=True)
class OwnerDigest:
    owner: str
    drafts: int
    overdue: int
    due_today: int
    unknown: int
    top: tuple[str, ...]


def digest(conn: sqlite3.Connection, today: dt.date, now: dt.datetime) -> list[OwnerDigest]:
    """Per CSM: drafts to review, tasks overdue and due today, sends to settle, the top items.

    Sends to settle are the unknown drafts and those cut off mid-send that no
    `csm send` has found yet (``now`` is the real time, to judge a claim's age).
    """
    day = today.isoformat()
    cut_off = set(abandoned(conn, now))
    owners: dict[str, dict[str, Any]] = {}

    def slot(owner: str | None) -> dict[str, Any]:
        return owners.setdefault(
            owner or "(no owner)", {"drafts": 0, "overdue": 0, "due": 0, "unknown": 0, "top": []}
        )

    for row in conn.execute(
        "SELECT o.id, o.owner, o.status, o.subject, a.name FROM outbox o"
        " LEFT JOIN accounts a ON a.id = o.account_id"
        " WHERE o.status IN ('draft', 'unknown', 'sending') ORDER BY"
        " CASE o.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END, o.id"
    ):
        if row["status"] == "sending" and row["id"] not in cut_off:
            continue  # still being sent
        entry = slot(row["owner"])
        if row["status"] != "draft":
            entry["unknown"] += 1
            entry["top"].insert(0, f"settle the send of “{row['subject']}” ({row['name']})")
        else:
            entry["drafts"] += 1
            entry["top"].append(f"review “{row['subject']}”")
    for row in conn.execute(
        "SELECT t.owner, t.title, t.due_date, a.name FROM tasks t LEFT JOIN accounts a ON a.id = t.account_id"
        " WHERE t.status = 'open' AND t.due_date <= ? ORDER BY t.due_date, t.id",
        (day,),
    ):
        entry = slot(row["owner"])
        overdue = row["due_date"] < day
        entry["overdue" if overdue else "due"] += 1
        entry["top"].insert(0, f"{'overdue' if overdue else 'due today'}: {row['title']} ({row['name']})")
    return [
        OwnerDigest(owner, e["drafts"], e["overdue"], e["due"], e["unknown"], tuple(e["top"][:TOP_ITEMS]))
        for owner, e in sorted(owners.items())
    ]


def message(digests: list[OwnerDigest], today: dt.date, stale: Sequence[object] = ()) -> dict[str, Any]:
    """The Slack-compatible payload: one ``text`` in mrkdwn; stale data first (see csm.data.freshness)."""
    lines = [f"*csm: what waits on {today.isoformat()}*"]
    if stale:
        lines.append("⚠ *Stale data: steps that read it do not fire until it is imported again*")
        lines.extend(f"    ◦ {item}" for item in stale)
    for d in digests:
        counts = f"{plural(d.drafts, 'draft')} to review, {d.overdue} overdue and {d.due_today} due tasks"
        if d.unknown:
            counts += f", {plural(d.unknown, 'send')} to settle"
        lines.append(f"• *{d.owner}*: {counts}")
        lines.extend(f"    ◦ {item}" for item in d.top)
    if not digests:
        lines.append("Nothing waits. Good work.")
    return {"text": "\n".join(lines)}


def webhook_url(settings: Mapping[str, Any], environ: Mapping[str, str], where: str) -> tuple[str, str]:
    """(variable name, URL) from ``[notify] webhook_env``."""
    unknown = set(settings) - {"webhook_env"}
    if unknown:
        raise WorkspaceError(f"{where}: setting 'notify.{sorted(unknown)[0]}': unknown setting")
    name = settings.get("webhook_env")
    if not isinstance(name, str) or not name:
        raise WorkspaceError(
            f"{where}: setting 'notify.webhook_env' is missing",
            hint='Add [notify] webhook_env = "CSM_SLACK_WEBHOOK" and export that variable.',
        )
    url = environ.get(name, "")
    if not url.startswith(("https://", "http://")):
        raise WorkspaceError(
            f"the environment variable {name} (notify.webhook_env) is not set to a webhook URL",
            hint=f"export {name}=https://hooks.slack.com/services/...",
        )
    return name, url


def post(
    url: str,
    env_name: str,
    payload: dict[str, Any],
    *,
    timeout: float = 10.0,
    attempts: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """POST the payload; retried on 429 / 5xx / timeouts. Errors name the variable and host, no more."""
    import httpx

    where = f"the webhook in ${env_name} ({redact_url(url, keep_path=False)})"

    def attempt() -> None:
        try:
            response = httpx.post(url, json=payload, timeout=timeout)
        except httpx.TimeoutException:
            raise _NotNow(f"{where} did not answer within {timeout:g}s") from None
        except httpx.TransportError as exc:
            raise _NotNow(f"cannot reach {where} ({type(exc).__name__})") from None
        except httpx.InvalidURL:
            raise NotifyError(f"{where} is not a usable URL") from None
        if response.status_code == 429 or response.status_code >= 500:
            wait = parse_retry_after(response.headers.get("Retry-After"), dt.datetime.now(dt.UTC))
            raise _NotNow(f"{where} answered HTTP {response.status_code}", retry_after=wait)
        if response.status_code >= 400:
            answer = redact_echo(response.text, url)[:100]
            raise NotifyError(f"{where} refused the digest: HTTP {response.status_code} {answer}")

    retry(attempt, attempts=attempts, retry_on=_NotNow, sleep=sleep)
