"""Reading one incoming message: who wrote, when, about what, what it answers, whether it bounced.

Only headers are kept, and the plain-text body only when asked for. A
delivery status notification (RFC 3464: ``multipart/report;
report-type=delivery-status``) is read for its failed recipients and the
Message-ID of the message that failed. Automatic answers (RFC 3834
``Auto-Submitted``, out-of-office headers) are marked so they are not taken
for the customer writing back.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.message import EmailMessage, Message

_MSGID = re.compile(r"<[^<>\s]+>")
_AUTO_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")


@dataclass(frozen=True)
class Bounce:
    """A delivery status notification saying some copies never arrived."""

    recipients: tuple[str, ...]  # the addresses that failed for good, lowercased
    reason: str  # the first Diagnostic-Code or Status
    original_id: str | None  # the Message-ID of the message that bounced


@dataclass(frozen=True)
class Incoming:
    key: str  # its Message-ID, else a hash of its bytes: the same message is recorded once
    sender: str  # the From address, lowercased ("" when there is none)
    sender_name: str
    at: str  # when it was written (its Date), UTC ISO; `received` when the Date is unreadable or later
    subject: str
    references: tuple[str, ...]  # Message-IDs it answers: In-Reply-To first, then References, newest first
    automatic: bool  # an auto-reply (out of office...), not a person writing back
    bounce: Bounce | None
    body: str | None  # the text/plain body, only when asked for


def parse(raw: bytes, received: dt.datetime, *, keep_body: bool = False) -> Incoming:
    """What csm reads of one message (the bytes as a mailbox holds them)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    own_id = _ids(_header(message, "Message-ID"))
    name, sender = email.utils.parseaddr(_header(message, "From"))
    references = [*_ids(_header(message, "In-Reply-To")), *reversed(_ids(_header(message, "References")))]
    return Incoming(
        key=own_id[0] if own_id else "sha256:" + hashlib.sha256(raw).hexdigest(),
        sender=sender.strip().lower(),
        sender_name=name.strip(),
        at=_written(message, received),
        subject=" ".join(_header(message, "Subject").split()) or "(no subject)",
        references=tuple(dict.fromkeys(references)),
        automatic=_automatic(message),
        bounce=_bounce(message),
        body=_body(message) if keep_body else None,
    )


def _header(message: Message, name: str) -> str:
    """A header as text; a malformed one is read as its raw text rather than failing the message."""
    try:
        value = message.get(name)
        return "" if value is None else str(value)
    except (HeaderParseError, ValueError, IndexError, TypeError):  # the stdlib's parser on a broken header
        raw = (v for k, v in message.raw_items() if k.lower() == name.lower())
        return str(next(raw, ""))


def _ids(value: str) -> list[str]:
    return _MSGID.findall(value)


def _written(message: Message, received: dt.datetime) -> str:
    try:
        when = email.utils.parsedate_to_datetime(_header(message, "Date"))
    except (TypeError, ValueError, IndexError):
        when = None
    if when is None or when.tzinfo is None or when > received:  # nobody writes from the future
        when = received
    return when.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def _automatic(message: Message) -> bool:
    auto = _header(message, "Auto-Submitted").strip().lower()
    if auto and auto != "no":
        return True
    if _header(message, "Precedence").strip().lower() in ("auto_reply", "bulk", "junk"):
        return True
    return any(_header(message, name) for name in _AUTO_HEADERS)


def _bounce(message: Message) -> Bounce | None:
    if message.get_content_type() != "multipart/report":
        return None
    if message.get_param("report-type", "").lower() != "delivery-status":
        return None
    failed, reasons, original = [], [], None
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            for block in part.get_payload():
                if str(block.get("Action", "")).strip().lower() != "failed":
                    continue
                recipient = str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
                address = recipient.partition(";")[2].strip() or recipient.strip()
                if address:
                    failed.append(address.strip("<>").lower())
                reasons.append(str(block.get("Diagnostic-Code") or block.get("Status") or "").strip())
        elif kind in ("message/rfc822", "text/rfc822-headers") and original is None:
            original = _original_id(part)
    if not failed:
        return None
    reason = next((r.partition(";")[2].strip() or r for r in reasons if r), "delivery failed")
    return Bounce(tuple(dict.fromkeys(failed)), " ".join(reason.split()), original)


def _original_id(part: Message) -> str | None:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        headers = str(inner[0].get("Message-ID", "")) if isinstance(inner, list) and inner else ""
    else:
        headers = part.get_payload(decode=True).decode("utf-8", "replace")
        headers = next((line for line in headers.splitlines() if line.lower().startswith("message-id:")), "")
    found = _ids(headers)
    return found[0] if found else None


def _body(message: EmailMessage) -> str | None:
    part = message.get_body(preferencelist=("plain",))
    if part is None:
        return None
    try:
        return part.get_content().strip()
    except (LookupError, UnicodeDecodeError):
        return None
