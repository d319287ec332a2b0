"""The send ledger: approved drafts out through a transport, each at most once.

For every draft, in this order:

1. re-check: the account still matches the step, is not snoozed, and some
   recipient is still subscribed; otherwise the draft is skipped with why;
2. claim: ``approved -> sending`` in a committed write transaction, naming
   this process (host and pid);
3. send through the transport (temporary failures retried, bounded);
4. record: ``sending -> sent`` (and a touch on the timeline), ``failed``, back
   to ``approved`` when nothing left, or ``unknown`` when the message may have
   arrived.

A process that dies between 2 and 4 leaves its draft in ``sending``; the next
``csm send`` finds that the claiming process is gone and marks the draft
``unknown`` for a person to settle with ``csm resolve``. Nothing is ever sent
twice automatically, and nothing approved is lost.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from csm import engine, outbox, timeline
from csm.errors import InputError, StateError, WorkspaceError
from csm.message import HeaderError, OutgoingEmail, build_message
from csm.playbooks import Playbook
from csm.retry import retry
from csm.runtime import Runtime
from csm.store import transaction
from csm.transports import (
    AuthFailure,
    ConnectionFailure,
    SendError,
    SettingsReader,
    TemporaryFailure,
    Transport,
)

# [send] keys the ledger reads itself; the rest belong to the transport.
LEDGER_KEYS = ("from", "list_unsubscribe", "rate_per_minute", "max_attempts")
STALE_CLAIM = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Outcome:
    draft_id: int
    account_id: str
    subject: str
    status: str  # sent, failed, skipped, unknown, approved (left for later)
    detail: str = ""


@dataclass
class SendReport:
    outcomes: list[Outcome] = field(default_factory=list)
    stopped: str | None = None  # why the batch stopped early
    recovered: list[int] = field(default_factory=list)  # drafts found mid-send and marked unknown

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def ok(self) -> bool:
        unsettled = ("failed", "unknown", "approved")
        return self.stopped is None and not any(o.status in unsettled for o in self.outcomes)


def ledger_settings(settings: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The ledger's own [send] options (see LEDGER_KEYS) and every problem with them."""
    reader = SettingsReader(settings, {})
    options = {
        "from": reader.text("from"),
        "list_unsubscribe": reader.text("list_unsubscribe"),
        "max_attempts": reader.number("max_attempts", default=3, whole=True, high=10),
        "rate_per_minute": reader.number("rate_per_minute", default=0, high=10_000)
        if "rate_per_minute" in settings
        else 0,
    }
    if options["from"] is not None and "@" not in options["from"]:
        reader.problem("from", f"expected an email address, got {options['from']!r}")
    unsubscribe = options["list_unsubscribe"]
    if unsubscribe is not None and not unsubscribe.startswith(("https://", "http://", "mailto:")):
        reader.problem("list_unsubscribe", "expected an https:// URL or a mailto: address")
    return options, reader.problems


def claimant() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(claimed_by: str | None, claimed_at: str | None, now: dt.datetime) -> bool:
    """Is the process that claimed a draft possibly still sending it?"""
    host, _, pid = (claimed_by or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        return now - dt.datetime.fromisoformat(claimed_at or "") < STALE_CLAIM
    except ValueError:
        return False


def recover_abandoned(conn: sqlite3.Connection, now: dt.datetime) -> list[int]:
    """Drafts left in ``sending`` by a process that is gone become ``unknown``."""
    with transaction(conn):
        rows = conn.execute(
            "SELECT id, claimed_by, claimed_at FROM outbox WHERE status = 'sending'"
        ).fetchall()
        gone = [r["id"] for r in rows if not _alive(r["claimed_by"], r["claimed_at"], now)]
        for draft_id in gone:
            conn.execute(
                "UPDATE outbox SET status = 'unknown', updated_at = ?,"
                " reason = 'the sending process stopped mid-send; it may have arrived'"
                " WHERE id = ? AND status = 'sending'",
                (now.isoformat(), draft_id),
            )
    return gone


class Ledger:
    """Sends one batch of approved drafts for a runtime."""

    def __init__(
        self,
        rt: Runtime,
        *,
        clock: Callable[[], dt.datetime],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rt, self.clock, self.sleep = rt, clock, sleep
        options, problems = ledger_settings(rt.ws.settings.send)
        if problems:
            where = rt.ws.settings_path
            raise WorkspaceError("\n".join(f"{where}: {p}" for p in problems), hint="Fix the [send] table.")
        self.sender = options["from"]
        self.list_unsubscribe = options["list_unsubscribe"]
        self.max_attempts = int(options["max_attempts"])
        rate = options["rate_per_minute"]
        self.interval = 60.0 / rate if rate else 0.0
        self._playbooks: dict[str, Playbook | None] = {}

    def approved(self, limit: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM outbox WHERE status = 'approved' ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [dict(r) for r in self.rt.conn.execute(sql)]

    def why_not(self, draft: dict[str, Any]) -> str | None:
        """Why this draft must not go out now, or None when it may."""
        conn = self.rt.conn
        snooze = conn.execute(
            "SELECT until, reason FROM snoozes WHERE account_id = ? AND until > ?"
            " AND (playbook IS NULL OR playbook = ?) ORDER BY until DESC LIMIT 1",
            (draft["account_id"], self.rt.today.isoformat(), draft["playbook"]),
        ).fetchone()
        if snooze is not None:
            return f"account snoozed until {snooze['until']} ({snooze['reason']})"
        if not self._subscribed(json.loads(draft["to_addrs"])):
            return "every recipient has unsubscribed"
        playbook = self._playbook(draft["playbook"])
        step = playbook.step(draft["step"]) if playbook else None
        if playbook is None or step is None:
            return f"the step {draft['playbook']} › {draft['step']} no longer exists"
        sql, params = engine.step_query(
            playbook, step, self.rt.fields, self.rt.today, account_id=draft["account_id"]
        )
        if conn.execute(sql, {**self.rt.params, **params}).fetchone() is None:
            return f"the account no longer matches {playbook.id} › {step.id} ({step.when.source})"
        return None

    def outgoing(self, draft: dict[str, Any]) -> OutgoingEmail:
        from csm.render import to_html

        owner = self.rt.ws.owner(draft["owner"])
        to = tuple(
            (name, addr) for name, addr in json.loads(draft["to_addrs"]) if self._subscribed([[name, addr]])
        )
        cc = tuple(("", addr) for addr in json.loads(draft["cc"]) if self._subscribed([["", addr]]))
        return OutgoingEmail(
            draft_id=draft["id"],
            dedupe_key=draft["dedupe_key"],
            from_name=owner.name,
            from_addr=self.sender or owner.email,
            to=to,
            cc=cc,
            reply_to=draft["reply_to"],
            subject=draft["subject"],
            text=draft["body"],
            html=to_html(draft["body"]),
            list_unsubscribe=self.list_unsubscribe,
        )

    def send(
        self,
        transport: Transport,
        *,
        limit: int | None = None,
        on_progress: Callable[[Outcome], None] | None = None,
    ) -> SendReport:
        report = SendReport(recovered=recover_abandoned(self.rt.conn, self.clock()))
        with transport:
            for index, draft in enumerate(self.approved(limit)):
                if index and self.interval:
                    self.sleep(self.interval)
                outcome = self._one(transport, draft, report)
                if outcome is None:  # another process claimed it first
                    continue
                report.outcomes.append(outcome)
                if on_progress is not None:
                    on_progress(outcome)
                if report.stopped:
                    break
        return report

    def _one(self, transport: Transport, draft: dict[str, Any], report: SendReport) -> Outcome | None:
        conn, draft_id = self.rt.conn, draft["id"]

        def outcome(status: str, detail: str = "") -> Outcome:
            return Outcome(draft_id, draft["account_id"], draft["subject"], status, detail)

        reason = self.why_not(draft)
        if reason is not None:
            try:
                outbox.skip(conn, draft_id, reason, self._now())
            except StateError:
                return None
            return outcome("skipped", reason)
        try:
            email = self.outgoing(draft)
            message = build_message(email, date=self.clock())
        except HeaderError as exc:
            self._finish(draft_id, "approved", "failed", reason=exc.message)
            return outcome("failed", exc.message)
        if not self._claim(draft_id):
            return None
        try:
            receipt = retry(
                lambda: transport.send(message, email),
                attempts=self.max_attempts,
                sleep=self.sleep,
            )
        except (AuthFailure, ConnectionFailure) as exc:
            report.stopped = exc.message
            if exc.maybe_delivered:
                self._finish(draft_id, "sending", "unknown", reason=exc.message)
                return outcome("unknown", exc.message)
            self._finish(draft_id, "sending", "approved", reason=None)
            return outcome("approved", exc.message)
        except SendError as exc:
            if exc.maybe_delivered:
                self._finish(draft_id, "sending", "unknown", reason=exc.message)
                return outcome("unknown", exc.message)
            if isinstance(exc, TemporaryFailure):
                self._finish(draft_id, "sending", "approved", reason=exc.message)
                return outcome("approved", f"{exc.message} (left approved; try again later)")
            self._finish(draft_id, "sending", "failed", reason=exc.message)
            return outcome("failed", exc.message)
        self._sent(draft, message["Message-ID"], receipt)
        return outcome("sent", receipt)

    def _claim(self, draft_id: int) -> bool:
        with transaction(self.rt.conn):
            cursor = self.rt.conn.execute(
                "UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_at = ?, updated_at = ?,"
                " attempts = attempts + 1 WHERE id = ? AND status = 'approved'",
                (claimant(), self._now(), self._now(), draft_id),
            )
        return cursor.rowcount == 1

    def _finish(self, draft_id: int, old: str, new: str, *, reason: str | None) -> None:
        with transaction(self.rt.conn):
            self.rt.conn.execute(
                "UPDATE outbox SET status = ?, reason = ?, updated_at = ? WHERE id = ? AND status = ?",
                (new, reason, self._now(), draft_id, old),
            )

    def _sent(self, draft: dict[str, Any], message_id: str, receipt: str) -> None:
        now = self._now()
        with transaction(self.rt.conn):
            self.rt.conn.execute(
                "UPDATE outbox SET status = 'sent', message_id = ?, sent_at = ?, updated_at = ?,"
                " reason = NULL"
                " WHERE id = ? AND status = 'sending'",
                (message_id, now, now, draft["id"]),
            )
            timeline.record(
                self.rt.conn,
                draft["account_id"],
                "email_sent",
                f"sent “{draft['subject']}” ({draft['playbook']} › {draft['step']})",
                now,
                ref=f"draft:{draft['id']}",
            )

    def _subscribed(self, people: list[list[str]]) -> bool:
        addresses = [addr for _, addr in people]
        if not addresses:
            return False
        marks = ", ".join("?" for _ in addresses)
        blocked = {
            row[0].lower()
            for row in self.rt.conn.execute(
                f"SELECT email FROM suppressions WHERE email COLLATE NOCASE IN ({marks})"
                " UNION SELECT email FROM contacts"
                f" WHERE unsubscribed = 1 AND email COLLATE NOCASE IN ({marks})",
                [*addresses, *addresses],
            )
        }
        return any(addr.lower() not in blocked for addr in addresses)

    def _playbook(self, playbook_id: str) -> Playbook | None:
        if playbook_id not in self._playbooks:
            try:
                (found,) = self.rt.playbooks([playbook_id])
            except InputError:
                found = None
            self._playbooks[playbook_id] = found
        return self._playbooks[playbook_id]

    def _now(self) -> str:
        return self.clock().isoformat(timespec="seconds")


def resolve(conn: sqlite3.Connection, draft_id: int, *, sent: bool, now: str) -> None:
    """Settle a draft whose outcome is unknown: it arrived (sent) or send it again (approved)."""
    with transaction(conn):
        draft = outbox.get(conn, draft_id)
        if draft["status"] != "unknown":
            raise StateError(
                f"draft #{draft_id} is {draft['status']}; only unknown drafts can be resolved",
                hint="`csm outbox --status unknown` lists the drafts waiting to be settled.",
            )
        if sent:
            conn.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, updated_at = ?,"
                " reason = 'confirmed sent by hand'"
                " WHERE id = ?",
                (now, now, draft_id),
            )
            timeline.record(
                conn,
                draft["account_id"],
                "email_sent",
                f"sent “{draft['subject']}” (confirmed)",
                now,
                f"draft:{draft_id}",
            )
        else:
            conn.execute(
                "UPDATE outbox SET status = 'approved', updated_at = ?, reason = NULL WHERE id = ?",
                (now, draft_id),
            )


def unsubscribe(conn: sqlite3.Connection, address: str, reason: str, now: str) -> int:
    """Suppress an address for good; returns how many contacts carried it."""
    address = address.strip()
    if "@" not in address or any(c.isspace() for c in address):
        raise InputError(f"'{address}' is not an email address")
    with transaction(conn):
        conn.execute(
            "INSERT INTO suppressions (email, reason, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT(email) DO UPDATE SET reason = excluded.reason",
            (address.lower(), reason, now),
        )
        cursor = conn.execute(
            "UPDATE contacts SET unsubscribed = 1 WHERE email = ? COLLATE NOCASE", (address,)
        )
        for row in conn.execute("SELECT account_id FROM contacts WHERE email = ? COLLATE NOCASE", (address,)):
            timeline.record(conn, row[0], "unsubscribed", f"{address} unsubscribed ({reason})", now)
    return cursor.rowcount
