"""Outgoing emails: one approved draft -> one RFC 5322 message per recipient.

Messages are built from the stdlib ``email`` objects under a strict policy,
never by formatting header text: a value holding a line break is refused
before it can become a header of its own. Other control characters and the
bidi controls that can disguise a subject (U+202E...) are removed by
:func:`sanitize` first, which says what it removed.

Addresses go on the wire with an IDNA (``xn--``) domain; one with a non-ASCII
local part (``jörg@bücher.de``) makes an RFC 6532 message, which only an SMTP
server offering SMTPUTF8 takes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.policy
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart

import idna

from csm.errors import InputError

# Headers fold only past RFC 5322's hard limit: the stdlib drops the space between two encoded
# words when it folds a non-ASCII display name, so "Jörg Ånd" could arrive as "JörgÅnd".
POLICY = email.policy.SMTP.clone(raise_on_defect=True, cte_type="7bit", max_line_length=998)
UTF8_POLICY = POLICY.clone(utf8=True)

# Text shaped like an RFC 2047 encoded word would be decoded by the stdlib
# (and by mail clients): "=?utf-8?q?x?=" would arrive as "x".
_ENCODED_WORD = re.compile(r"=\?[^?]*\?[bBqQ]\?[^?]*\?=")
# Everything str.splitlines() breaks on: some parser treats each as a line end.
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
# Bidi marks, embeddings, overrides and isolates: they can make a subject read backwards.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Cc: C0/C1 controls; Cs: lone surrogates cannot be encoded.
_FORBIDDEN_CATEGORIES = {"Cc", "Cs"}
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


def sanitize(email: OutgoingEmail) -> tuple[OutgoingEmail, list[str]]:
    """``email`` without control or bidi characters in its subject and display names.

    Tabs become spaces; line breaks stay, for :func:`build_message` to refuse.
    Returns the cleaned email and a note per header that changed.
    """
    notes: list[str] = []

    def strip(value: str, where: str) -> str:
        value = value.replace("\t", " ")
        removed = sorted({f"U+{ord(c):04X}" for c in value if _strippable(c)})
        if removed:
            notes.append(f"removed {', '.join(removed)} from the {where}")
        return "".join(c for c in value if not _strippable(c))

    def people(recipients: tuple[Recipient, ...], header: str) -> tuple[Recipient, ...]:
        return tuple((strip(name, f"{header} name of {addr}"), addr) for name, addr in recipients)

    clean = dataclasses.replace(
        email,
        subject=strip(email.subject, "Subject"),
        from_name=strip(email.from_name, "From name"),
        to=people(email.to, "To"),
        cc=people(email.cc, "Cc"),
    )
    return clean, notes


def wire_address(addr: str) -> str:
    """``addr`` as it goes into an envelope and a header: a non-ASCII domain in IDNA form.

    Raises ValueError when the domain is no valid internationalised name.
    """
    local, at, domain = addr.rpartition("@")
    if not at or domain.isascii():
        return addr
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError as error:
        raise ValueError(str(error)) from None


@dataclass(frozen=True)
class _Headers:
    subject: str
    sender: Address
    to: list[Address]
    cc: list[Address]
    reply_to: Address | None


def check_headers(email: OutgoingEmail) -> str:
    """Check every header value of ``email`` as :func:`build_message` would, without
    building it; returns the Message-ID it will have. Raises HeaderError."""
    return message_id(email.dedupe_key, _headers(email).sender.domain)


def build_message(email: OutgoingEmail, *, date: dt.datetime) -> EmailMessage:
    """The MIME message for ``email``: multipart/alternative, text then HTML.

    Spaces at the ends of the subject and of display names, and runs of
    spaces inside display names, carry no meaning in a header and are
    normalised; everything else arrives exactly as given. Raises HeaderError
    naming the draft and the header when a value cannot.
    """
    if date.tzinfo is None:
        raise ValueError("build_message needs a timezone-aware date")
    headers = _headers(email)
    sender, to, cc, reply_to = headers.sender, headers.to, headers.cc, headers.reply_to
    international = any(not a.username.isascii() for a in (sender, *to, *cc, *filter(None, [reply_to])))
    policy = UTF8_POLICY if international else POLICY

    msg = EmailMessage(policy=policy)
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    if reply_to is not None:
        msg["Reply-To"] = reply_to
    msg["Subject"] = headers.subject
    msg["Date"] = date
    msg["Message-ID"] = message_id(email.dedupe_key, sender.domain)
    if email.list_unsubscribe:
        target = _unsubscribe_target(email.draft_id, email.list_unsubscribe)
        msg["List-Unsubscribe"] = f"<{target}>"
        if target.startswith("https://"):
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(email.text, subtype="plain", charset="utf-8")
    msg.make_alternative()
    html = MIMEPart(policy=policy)
    html.set_content(email.html, subtype="html", charset="utf-8")
    msg.attach(html)  # type: ignore[arg-type]  # typeshed wants an EmailMessage here
    # A boundary from the key keeps the bytes reproducible (golden files,
    # retries); its "-" never occurs in base64 and it is checked against the
    # raw bodies, which quoted-printable can only break up, never create.
    boundary = f"==csm-{dedupe_hash(email.dedupe_key)}=="
    if boundary not in email.text and boundary not in email.html:
        msg.set_boundary(boundary)
    return msg


def _headers(email: OutgoingEmail) -> _Headers:
    draft = email.draft_id
    subject = _clean(draft, "Subject", email.subject).strip(" ")
    if not subject:
        raise HeaderError(f"draft {draft}: the Subject is empty", hint=_HINT)
    if not email.to:
        raise HeaderError(f"draft {draft}: the To header has no recipients", hint=_HINT)
    return _Headers(
        subject,
        _address(draft, "From", email.from_name, email.from_addr),
        [_address(draft, "To", name, addr) for name, addr in email.to],
        [_address(draft, "Cc", name, addr) for name, addr in email.cc],
        _address(draft, "Reply-To", "", email.reply_to) if email.reply_to else None,
    )


def recipients(email: OutgoingEmail) -> list[str]:
    """Every envelope recipient: To then Cc, each mailbox once (however its address is cased)."""
    first: dict[str, str] = {}
    for _, addr in (*email.to, *email.cc):
        first.setdefault(addr.lower(), addr)
    return list(first.values())


def utf8_addresses(message: EmailMessage) -> list[str]:
    """The addresses in ``message`` whose local part is not ASCII: they need SMTPUTF8."""
    found = []
    for header in ("From", "To", "Cc", "Reply-To"):
        if header in message:
            found.extend(a.addr_spec for a in message[header].addresses if not a.username.isascii())
    return list(dict.fromkeys(found))


def unsubscribe_link(base: str, token: str) -> str:
    """The List-Unsubscribe target of one recipient: ``base`` carrying its token.

    ``https://x/unsub`` gives ``https://x/unsub?token=T``; ``mailto:u@x`` gives
    ``mailto:u@x?subject=unsubscribe%20T``.
    """
    if base.startswith("mailto:"):
        return f"{base}?subject=unsubscribe%20{token}"
    return f"{base}{'&' if '?' in base else '?'}token={token}"


def _strippable(char: str) -> bool:
    return char not in _LINE_BREAKS and (unicodedata.category(char) == "Cc" or char in _BIDI)


def _clean(draft: int, header: str, value: str) -> str:
    encoded = _ENCODED_WORD.search(value)
    if encoded:
        raise HeaderError(
            f"draft {draft}: the {header} header contains RFC 2047 encoded text "
            f"({encoded.group()!r}); write the plain text instead",
            hint=_HINT,
        )
    for position, char in enumerate(value):
        if char in _LINE_BREAKS or char in _BIDI or unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
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
    try:
        wire = wire_address(addr)
        local, _, domain = wire.rpartition("@")
        if local.isascii():
            address = Address(display_name=name, addr_spec=wire)
        elif '"' not in local:
            # The stdlib parser refuses a UTF-8 local part (RFC 6532 allows it):
            # check its shape with ASCII stand-ins for the other characters.
            Address(addr_spec="".join(c if c.isascii() else "x" for c in local) + "@" + domain)
            address = Address(display_name=name, username=local, domain=domain)
        else:
            raise bad
    except (ValueError, IndexError, HeaderParseError):
        raise bad from None
    if not address.username or not address.domain or address.addr_spec != wire:
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
