"""The send ledger: approved drafts out through a transport, each at most once.

For every draft, in this order:

1. re-check: the account still matches the step and is not snoozed;
   unsubscribed recipients are dropped (and named), and the draft is skipped
   with why when nobody is left; a contact mailed up to the touch budget
   meanwhile defers it (:mod:`csm.mail.budget`); internal copies are re-checked;
2. build one copy per recipient, each with its own unsubscribe token, and
   record the copies (``deliveries``) with the tokens;
3. claim: ``approved -> sending`` in a committed write transaction, naming
   this process (host and pid);
4. send each copy not yet delivered through the transport (temporary
   failures retried, bounded), recording each copy's fate before the next;
5. record the draft: ``sent`` (and a touch on the timeline), ``failed``,
   back to ``approved`` when some copies are left to send, or ``unknown``
   when a copy may have arrived.

A process that dies between 3 and 5 leaves its draft in ``sending``; the next
``csm send`` finds that the claiming process is gone and marks the draft
``unknown`` for a person to settle with ``csm resolve``; the copies say who
got it. Nothing is ever sent twice automatically, and nothing approved is
lost. Every stamp here (the Date header, claims, ``sent_at``, the timeline)
comes from the real clock: a pinned "today" changes evaluation only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from csm.data import timeline
from csm.data.backend import dialect_of
from csm.data.store import transaction
from csm.engine import matching as engine
from csm.engine.recipients import internal_now
from csm.errors import InputError, StateError, WorkspaceError
from csm.language.playbooks import Playbook
from csm.mail import budget, deliveries, outbox, suppression
from csm.mail.claims import claimant, recover_abandoned, wall_clock
from csm.mail.deliveries import Delivery
from csm.mail.message import (
    HeaderError,
    OutgoingEmail,
    Recipient,
    build_message,
    check_headers,
    recipients,
    sanitize,
    unsubscribe_link,
    wire_address,
)
from csm.mail.transports import (
    AuthFailure,
    ConnectionFailure,
    SendError,
    SettingsReader,
    TemporaryFailure,
    Transport,
)
from csm.retry import retry
from csm.runtime import Runtime

# [send] keys the ledger reads itself; the rest belong to the transport.
LEDGER_KEYS = ("from", "list_unsubscribe", "rate_per_minute", "max_attempts")


@dataclass(frozen=True)
class Outcome:
    draft_id: int
    account_id: str
    subject: str
    status: str  # sent, failed, skipped, unknown, approved (left for later)
    detail: str = ""  # what a person should read: why, who was left out, what was removed
    receipt: str = ""  # the transport's answers for the copies sent: ids, file paths, replies
    partial: bool = False  # sent, but some recipient's copy was refused: a person should look


@dataclass
class SendReport:
    outcomes: list[Outcome] = field(default_factory=list)
    stopped: str | None = None  # why the batch stopped early
    recovered: list[int] = field(default_factory=list)  # drafts found mid-send and marked unknown

    def count(self, status: str) -> int:
        found = sum(o.status == status for o in self.outcomes)
        return found + len(self.recovered) if status == "unknown" else found

    @property
    def ok(self) -> bool:
        unsettled = ("failed", "unknown", "approved")
        return (
            self.stopped is None
            and not self.recovered
            and not any(o.status in unsettled or o.partial for o in self.outcomes)
        )


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
    elif unsubscribe is not None and (
        "#" in unsubscribe or (unsubscribe.startswith("mailto:") and "?" in unsubscribe)
    ):
        reader.problem(
            "list_unsubscribe",
            "csm adds each recipient's token itself: give a mailto: address without ?subject=..."
            " and a URL without #...",
        )
    return options, reader.problems


@dataclass(frozen=True)
class Copy:
    """One recipient's copy of a draft, built and ready to hand over."""

    delivery: Delivery
    email: OutgoingEmail
    message: EmailMessage


class Ledger:
    """Sends one batch of approved drafts for a runtime."""

    def __init__(
        self,
        rt: Runtime,
        *,
        clock: Callable[[], dt.datetime] = wall_clock,
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
        to, cc, dropped = self._addressees(draft)
        if not to and not cc:
            if suppression.bouncing(conn, dropped):
                return f"every recipient has unsubscribed or bounces ({', '.join(dropped)})"
            return f"every recipient has unsubscribed ({', '.join(dropped)})"
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

    def must_wait(self, draft: dict[str, Any]) -> str | None:
        """Why this draft waits for its contacts' touch budget (mail went to them meanwhile), or None."""
        return budget.spent_at_send(self.rt.conn, draft, self.rt.ws.settings.touch_budget, self.rt.today)

    def outgoing(self, draft: dict[str, Any]) -> tuple[OutgoingEmail, list[str]]:
        """The email to the draft's recipients who are still subscribed, and notes on what changed."""
        from csm.templating.render import to_html

        owner = self.rt.ws.owner(draft["owner"])
        to, cc, dropped = self._addressees(draft)
        bounced = suppression.bouncing(self.rt.conn, dropped)
        notes = [
            f"left out {', '.join(gone)} ({why})"
            for gone, why in (
                ([a for a in dropped if a.lower() not in bounced], "unsubscribed"),
                ([a for a in dropped if a.lower() in bounced], "address bounces"),
            )
            if gone
        ]
        if not to and cc:
            notes.append(f"moved {', '.join(addr for _, addr in cc)} from Cc to To")
            to, cc = cc, ()
        stored = json.loads(draft.get("cc_internal") or "[]")
        internal, left_out = internal_now(self.rt.conn, stored, self.rt.ws.settings.internal_domains)
        notes.extend(f"left out {note}" for note in left_out)
        cc = (*cc, *(("", addr) for addr in internal))
        email = OutgoingEmail(
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
        )
        email, stripped = sanitize(email)
        return email, notes + stripped

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
        """Check, claim and send one draft; None when another sender has it. While this sender checks
        it, others pass it by (on PostgreSQL a held key; SQLite has one writer at a time)."""
        conn, draft_id = self.rt.conn, draft["id"]
        dialect = dialect_of(conn)
        if not outbox.still_approved(conn, draft_id) or not dialect.try_hold(conn, draft_id):
            return None
        try:
            return self._checked(transport, draft, report)
        finally:
            dialect.release(conn, draft_id)

    def _checked(self, transport: Transport, draft: dict[str, Any], report: SendReport) -> Outcome | None:
        conn, draft_id = self.rt.conn, draft["id"]

        def outcome(status: str, detail: str = "") -> Outcome:
            return Outcome(draft_id, draft["account_id"], draft["subject"], status, detail)

        if not outbox.still_approved(conn, draft_id):  # sent by another sender between the looks
            return None
        reason = self.why_not(draft)
        if reason is not None:
            try:
                outbox.skip(conn, draft_id, reason, self._now())
            except StateError:
                return None
            return outcome("skipped", reason)
        wait = self.must_wait(draft)
        if wait is not None:
            with transaction(conn):
                if not outbox.defer(conn, draft_id, wait, self._now()):
                    return None
            return outcome("deferred", wait)
        email, notes = self.outgoing(draft)
        try:
            message_id = check_headers(email)  # every header, before anything is recorded
            addresses = recipients(email)
            plan = deliveries.plan(conn, draft_id, addresses)
            copies = [self._copy(transport, email, d) for d in plan if d.status == "pending"]
        except HeaderError as exc:
            outbox.fail(conn, draft_id, exc.message, self._now())
            return outcome("failed", exc.message)
        if not self._claim(draft_id, plan, copies[0].delivery.address if copies else None, message_id):
            return None
        fates = {d.address: d for d in deliveries.of(conn, draft_id) if d.status == "sent"}
        fates.update((d.address, d) for d in plan)
        last = None
        for index, copy in enumerate(copies):
            fate, go_on = self._hand_over(transport, copy, report)
            fates[fate.address] = fate
            following = copies[index + 1].delivery.address if go_on and index + 1 < len(copies) else None
            if following is None:
                last = fate
                break
            with transaction(conn):
                deliveries.record(conn, fate, self._now(), following=following)
        return self._conclude(draft, list(fates.values()), last, notes, message_id)

    def _copy(self, transport: Transport, email: OutgoingEmail, delivery: Delivery) -> Copy:
        """The copy for one recipient: their own unsubscribe link; alone in To unless the
        transport has an envelope apart from the headers (SMTP)."""
        link = unsubscribe_link(self.list_unsubscribe, delivery.token) if self.list_unsubscribe else None
        copy = dataclasses.replace(email, list_unsubscribe=link)
        if not transport.separate_envelope:
            name = next(n for n, addr in (*email.to, *email.cc) if addr == delivery.address)
            copy = dataclasses.replace(copy, to=((name, delivery.address),), cc=())
        return Copy(delivery, copy, build_message(copy, date=self.clock()))

    def _hand_over(self, transport: Transport, copy: Copy, report: SendReport) -> tuple[Delivery, bool]:
        """Send one copy: what became of it, and whether the draft goes on with the next.

        A temporary failure leaves the copy for a later run and goes on; an
        unknown outcome or a stopped batch ends the draft.
        """
        address = copy.delivery.address
        try:
            receipt = retry(
                lambda: transport.send(copy.message, copy.email, wire_address(address)),
                attempts=self.max_attempts,
                sleep=self.sleep,
            )
        except SendError as exc:
            stop = isinstance(exc, (AuthFailure, ConnectionFailure))
            if exc.maybe_delivered:
                status = "unknown"
            elif stop or isinstance(exc, TemporaryFailure):
                status = "pending"
            else:
                status = "failed"
            if stop:
                report.stopped = exc.message
            fate = dataclasses.replace(copy.delivery, status=status, detail=exc.message)
            return fate, not stop and status != "unknown"
        return dataclasses.replace(copy.delivery, status="sent", detail=receipt), True

    def _conclude(
        self,
        draft: dict[str, Any],
        copies: list[Delivery],
        last: Delivery | None,
        notes: list[str],
        message_id: str,
    ) -> Outcome:
        """Record the last copy's fate and, in the same write, the draft's outcome."""
        conn, draft_id, now = self.rt.conn, draft["id"], self._now()
        states = {c.status for c in copies}
        reason = "; ".join(filter(None, [deliveries.summary(copies), *notes])) or None
        if "unknown" in states:
            status = "unknown"
        elif "pending" in states:
            status = "approved"
        elif "sent" in states:
            status = "sent"
        else:
            status = "failed"
        with transaction(conn):
            if last is not None:
                deliveries.record(conn, last, now)
            if outbox.finish(conn, draft_id, status, reason, now, message_id) and status == "sent":
                self._sent(draft, now)
        detail = reason or ""
        if status == "approved":
            detail += " (left approved; try again later)"
        return Outcome(
            draft_id,
            draft["account_id"],
            draft["subject"],
            status,
            detail,
            receipt="; ".join(c.detail for c in copies if c.status == "sent" and c.detail),
            partial=status == "sent" and states != {"sent"},
        )

    def _claim(self, draft_id: int, plan: list[Delivery], first: str | None, message_id: str) -> bool:
        """``approved -> sending`` for this process, with the copies (and the Message-ID they carry)
        recorded and the first marked."""
        now = self._now()
        with transaction(self.rt.conn):
            claimed = outbox.lock_approved(self.rt.conn, draft_id) and outbox.claim(
                self.rt.conn, draft_id, claimant(), now
            )
            if claimed:
                deliveries.add(self.rt.conn, plan, now, sending=first, message_id=message_id)
        return claimed

    def _sent(self, draft: dict[str, Any], now: str) -> None:
        """The sent draft's touch on the timeline (in the caller's write)."""
        timeline.record(
            self.rt.conn,
            draft["account_id"],
            "email_sent",
            f"sent “{draft['subject']}” ({draft['playbook']} › {draft['step']})",
            now,
            ref=f"draft:{draft['id']}",
        )

    def _addressees(
        self, draft: dict[str, Any]
    ) -> tuple[tuple[Recipient, ...], tuple[Recipient, ...], list[str]]:
        """The draft's (To, Cc) without unsubscribed people, and the addresses left out."""
        to = [(name, addr) for name, addr in json.loads(draft["to_addrs"])]
        cc = [("", addr) for addr in json.loads(draft["cc"])]
        blocked = suppression.blocked(self.rt.conn, [addr for _, addr in (*to, *cc)])
        dropped = [addr for _, addr in (*to, *cc) if addr.lower() in blocked]
        return (
            tuple(p for p in to if p[1].lower() not in blocked),
            tuple(p for p in cc if p[1].lower() not in blocked),
            list(dict.fromkeys(dropped)),
        )

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
