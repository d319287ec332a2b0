"""Outgoing emails: one approved draft -> one RFC 5322 message.

Messages are built from the stdlib ``email`` objects under a strict policy,
never by formatting header text: a value holding a line break or another
control character is refused before it can become a header of its own.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart

from csm.errors import InputError

POLICY = email.policy.SMTP.clone(raise_on_defect=True, cte_type="7bit")

# Text shaped like an RFC 2047 encoded word would be decoded by the stdlib
# (and by mail clients): "=?utf-8?q?x?=" would arrive as "x".
_ENCODED_WORD = re.compile(r"=\?[^?]*\?[bBqQ]\?[^?]*\?=")
# Cc: C0/C1 controls (CR, LF, TAB, NUL, NEL...); Zl/Zp: U+2028/U+2029, which
# some parsers treat as line breaks; Cs: lone surrogates cannot be encoded.
_FORBIDDEN_CATEGORIES = {"Cc", "Zl", "Zp", "Cs"}
_HINT = "Fix the template or the contact it came from, then draft the email again."

Recipient = tuple[str, str]
"""(display name, address); the name may be ""."""


class HeaderError(InputError):
    """A header value of a draft cannot be sent as it is."""


@dataclass(frozen=True)
class OutgoingEmail:
    """Everything a transport needs to send one approved draft."""

    draft_id: int
    dedupe_key: str
    from_name: str
    from_addr: str
    to: tuple[Recipient, ...]
    cc: tuple[Recipient, ...]
    reply_to: str | None
    subject: str
    text: str
    html: str
    list_unsubscribe: str | None = None


def dedupe_hash(dedupe_key: str) -> str:
    """A stable, opaque hash of the dedupe key (Message-ID, Idempotency-Key)."""
    return hashlib.sha256(dedupe_key.encode("utf-8")).hexdigest()[:32]


def message_id(dedupe_key: str, domain: str) -> str:
    """The Message-ID for a draft: the same key always gives the same id."""
    return f"<csm.{dedupe_hash(dedupe_key)}@{domain}>"


def build_message(email: OutgoingEmail, *, date: dt.datetime) -> EmailMessage:
    """The MIME message for ``email``: multipart/alternative, text then HTML.

    Spaces at the ends of the subject and of display names, and runs of
    spaces inside display names, carry no meaning in a header and are
    normalised; everything else arrives exactly as given. Raises HeaderError
    naming the draft and the header when a value cannot.
    """
    if date.tzinfo is None:
        raise ValueError("build_message needs a timezone-aware date")
    draft = email.draft_id
    subject = _clean(draft, "Subject", email.subject).strip(" ")
    if not subject:
        raise HeaderError(f"draft {draft}: the Subject is empty", hint=_HINT)
    if not email.to:
        raise HeaderError(f"draft {draft}: the To header has no recipients", hint=_HINT)
    sender = _address(draft, "From", email.from_name, email.from_addr)

    msg = EmailMessage(policy=POLICY)
    msg["From"] = sender
    msg["To"] = [_address(draft, "To", name, addr) for name, addr in email.to]
    if email.cc:
        msg["Cc"] = [_address(draft, "Cc", name, addr) for name, addr in email.cc]
    if email.reply_to:
        msg["Reply-To"] = _address(draft, "Reply-To", "", email.reply_to)
    msg["Subject"] = subject
    msg["Date"] = date
    msg["Message-ID"] = message_id(email.dedupe_key, sender.domain)
    if email.list_unsubscribe:
        target = _unsubscribe_target(draft, email.list_unsubscribe)
        msg["List-Unsubscribe"] = f"<{target}>"
        if target.startswith("https://"):
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(email.text, subtype="plain", charset="utf-8")
    msg.make_alternative()
    html = MIMEPart(policy=POLICY)
    html.set_content(email.html, subtype="html", charset="utf-8")
    msg.attach(html)  # type: ignore[arg-type]  # typeshed wants an EmailMessage here
    # A boundary from the key keeps the bytes reproducible (golden files,
    # retries); its "-" never occurs in base64 and it is checked against the
    # raw bodies, which quoted-printable can only break up, never create.
    boundary = f"==csm-{dedupe_hash(email.dedupe_key)}=="
    if boundary not in email.text and boundary not in email.html:
        msg.set_boundary(boundary)
    return msg


def recipients(email: OutgoingEmail) -> list[str]:
    """Every envelope recipient: To then Cc, each address once."""
    return list(dict.fromkeys(addr for _, addr in (*email.to, *email.cc)))


def _clean(draft: int, header: str, value: str) -> str:
    encoded = _ENCODED_WORD.search(value)
    if encoded:
        raise HeaderError(
            f"draft {draft}: the {header} header contains RFC 2047 encoded text "
            f"({encoded.group()!r}); write the plain text instead",
            hint=_HINT,
        )
    for position, char in enumerate(value):
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            raise HeaderError(
                f"draft {draft}: the {header} header contains a line break or control "
                f"character ({char!r} at position {position + 1})",
                hint=_HINT,
            )
    return value


def _address(draft: int, header: str, name: str, addr: str) -> Address:
    name = re.sub(" {2,}", " ", _clean(draft, header, name)).strip(" ")
    _clean(draft, header, addr)
    bad = HeaderError(f"draft {draft}: {header} address {addr!r} is not valid", hint=_HINT)
    if not addr.isascii():
        raise bad
    try:
        address = Address(display_name=name, addr_spec=addr)
    except (ValueError, IndexError, HeaderParseError):
        raise bad from None
    if not address.username or not address.domain or address.addr_spec != addr:
        raise bad
    return address


def _unsubscribe_target(draft: int, value: str) -> str:
    target = _clean(draft, "List-Unsubscribe", value)
    if (
        not target.startswith(("https://", "http://", "mailto:"))
        or not target.isascii()
        or any(c in target for c in " <>,")
    ):
        raise HeaderError(
            f"draft {draft}: List-Unsubscribe {value!r} must be one https:// URL or mailto: "
            "address without spaces",
            hint=_HINT,
        )
    return target
