import datetime as dt
import email
import email.policy
import email.utils
import unicodedata
from dataclasses import replace
from email.header import decode_header, make_header

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from csm.mail.message import (
    HeaderError,
    OutgoingEmail,
    build_message,
    dedupe_hash,
    message_id,
    recipients,
    sanitize,
    unsubscribe_link,
    utf8_addresses,
    wire_address,
)

DATE = dt.datetime(2026, 11, 25, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))

BASE = OutgoingEmail(
    draft_id=7,
    dedupe_key="renewal-ahead/heads-up/acme/2027-03-01",
    from_name="Dana Scully",
    from_addr="dana@vendor.example",
    to=(("Ann Lee", "ann@acme.example"),),
    cc=(("", "cfo@acme.example"),),
    reply_to="csm-team@vendor.example",
    subject="Your renewal is coming up",
    text="Hi Ann,\n\nYour renewal is on 1 March.\n",
    html="<p>Hi Ann,</p><p>Your renewal is on 1 March.</p>",
)


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def content(part: email.message.EmailMessage) -> str:
    """A part's text with the wire's CRLF line ends turned back into newlines."""
    return part.get_content().replace("\r\n", "\n")


def decoded_name(raw_header: str) -> str:
    """The first display name, split out first and then RFC 2047-decoded.

    CPython's own phrase parser puts a space between adjacent encoded words,
    against RFC 2047 section 6.2 (mail clients join them), so decode by the RFC.
    """
    name = email.utils.getaddresses([raw_header])[0][0]
    return str(make_header(decode_header(name)))


def test_message_has_headers_and_both_parts() -> None:
    msg = parse(build_message(BASE, date=DATE).as_bytes())

    assert msg["From"] == "Dana Scully <dana@vendor.example>"
    assert msg["To"] == "Ann Lee <ann@acme.example>"
    assert msg["Cc"] == "cfo@acme.example"
    assert msg["Reply-To"] == "csm-team@vendor.example"
    assert msg["Subject"] == "Your renewal is coming up"
    assert msg["Date"] == "Wed, 25 Nov 2026 09:30:00 +0100"
    assert msg["Message-ID"] == message_id(BASE.dedupe_key, "vendor.example")
    assert "Bcc" not in msg and "List-Unsubscribe" not in msg
    assert msg.get_content_type() == "multipart/alternative"
    text, html = msg.iter_parts()
    assert (text.get_content_type(), content(text)) == ("text/plain", BASE.text)
    assert (html.get_content_type(), content(html)) == ("text/html", BASE.html + "\n")
    assert "MIME-Version" not in html


def test_message_id_is_deterministic_per_dedupe_key() -> None:
    first = message_id("a/b/acme/2027", "vendor.example")
    assert first == message_id("a/b/acme/2027", "vendor.example")
    assert first == f"<csm.{dedupe_hash('a/b/acme/2027')}@vendor.example>"
    assert first != message_id("a/b/acme/2028", "vendor.example")


def test_same_draft_builds_the_same_bytes() -> None:
    assert build_message(BASE, date=DATE).as_bytes() == build_message(BASE, date=DATE).as_bytes()


def test_non_ascii_subject_name_and_body_are_encoded() -> None:
    mail = replace(
        BASE,
        from_name="Zoë Ångström",
        subject="Ihre Verlängerung — 日本語",
        text="Grüße, Zoë\n",
        html="<p>Grüße</p>",
    )
    data = build_message(mail, date=DATE).as_bytes()

    assert data.isascii()
    assert b"Subject: Ihre =?utf-8?b?" in data
    msg = parse(data)
    assert msg["Subject"] == "Ihre Verlängerung — 日本語"
    assert msg["From"].addresses[0].display_name == "Zoë Ångström"
    text, _ = msg.iter_parts()
    assert text.get_content_charset() == "utf-8"
    assert content(text) == "Grüße, Zoë\n"


def test_https_unsubscribe_adds_one_click_post() -> None:
    msg = build_message(replace(BASE, list_unsubscribe="https://u.example/x?t=1"), date=DATE)
    assert msg["List-Unsubscribe"] == "<https://u.example/x?t=1>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_mailto_unsubscribe_has_no_post_header() -> None:
    msg = build_message(replace(BASE, list_unsubscribe="mailto:stop@vendor.example"), date=DATE)
    assert msg["List-Unsubscribe"] == "<mailto:stop@vendor.example>"
    assert "List-Unsubscribe-Post" not in msg


def test_recipients_are_to_then_cc_once_each() -> None:
    mail = replace(BASE, cc=(("", "cfo@acme.example"), ("Ann", "ann@acme.example"), ("", "Ann@Acme.example")))
    assert recipients(mail) == ["ann@acme.example", "cfo@acme.example"]  # one copy to each mailbox


@pytest.mark.parametrize(
    ("change", "header"),
    [
        ({"subject": "Hello\r\nBcc: attacker@evil.example"}, "Subject"),
        ({"subject": "Hello\nthere"}, "Subject"),
        ({"subject": "tab\there"}, "Subject"),
        ({"subject": "nul\x00"}, "Subject"),
        ({"subject": "next line\x85"}, "Subject"),
        ({"subject": "line sep\u2028"}, "Subject"),
        ({"subject": "=?utf-8?q?hidden?="}, "Subject"),
        ({"from_name": "Dana\r\nBcc: attacker@evil.example"}, "From"),
        ({"to": (("Ann\n", "ann@acme.example"),)}, "To"),
        ({"to": (("Ann", "ann@acme.example\r\nBcc: x@evil.example"),)}, "To"),
        ({"cc": (("", "cfo@acme.example\n"),)}, "Cc"),
        ({"reply_to": "a@b.example\r\nBcc: x@evil.example"}, "Reply-To"),
        ({"list_unsubscribe": "https://u.example/\r\nBcc: x"}, "List-Unsubscribe"),
    ],
)
def test_control_characters_are_refused(change: dict, header: str) -> None:
    with pytest.raises(HeaderError) as caught:
        build_message(replace(BASE, **change), date=DATE)
    assert caught.value.message.startswith(f"draft 7: the {header} header contains")


@pytest.mark.parametrize(
    "addr",
    [
        "ann",
        "ann@",
        "@acme.example",
        "ann lee@acme.example",
        "ann@acme.example>",
        "ann@a,b@c",
        'bjørn"@acme.example',
        "ann@bücher..de",
        "ann@bü_cher.de",
        "",
    ],
)
def test_bad_addresses_are_refused(addr: str) -> None:
    with pytest.raises(HeaderError) as caught:
        build_message(replace(BASE, to=(("Ann", addr),)), date=DATE)
    assert caught.value.message == f"draft 7: To address {addr!r} is not valid"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"subject": "   "}, "draft 7: the Subject is empty"),
        ({"to": ()}, "draft 7: the To header has no recipients"),
        ({"list_unsubscribe": "ftp://u.example"}, "draft 7: List-Unsubscribe 'ftp://u.example'"),
        ({"list_unsubscribe": "https://a.example, https://b.example"}, "draft 7: List-Unsu"),
    ],
)
def test_unsendable_values_are_refused(change: dict, message: str) -> None:
    with pytest.raises(HeaderError) as caught:
        build_message(replace(BASE, **change), date=DATE)
    assert caught.value.message.startswith(message)


def test_naive_date_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_message(BASE, date=dt.datetime(2026, 11, 25, 9, 30))


header_text = st.text(
    st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from('\r\n\t\x00\x0b\x85\u2028 =?"\\,;:<>()@'),
    ),
    max_size=120,
)


@given(subject=header_text)
@example(subject="Re: renewal\r\nBcc: x@evil.example")
@example(subject="  spaced   out  ")
@example(subject="日本語 " * 30)
def test_subject_is_refused_or_arrives_exactly(subject: str) -> None:
    try:
        msg = build_message(replace(BASE, subject=subject), date=DATE)
    except HeaderError as error:
        assert error.message.startswith("draft 7: ")
        return
    data = msg.as_bytes()
    parsed = parse(data)
    assert data.isascii()
    assert parsed["Subject"] == subject.strip(" ")
    assert [k for k in parsed if k.lower() == "bcc"] == []
    assert parsed["To"] == "Ann Lee <ann@acme.example>"


@given(name=header_text)
@example(name='Lee, Ann (CFO) "the" \\boss\\')
@example(name="éé" * 60)
@example(name="0" + "\u0800" * 14 + " ¡")  # the stdlib lost this space when it folded the From line
def test_display_name_is_refused_or_arrives_exactly(name: str) -> None:
    try:
        msg = build_message(replace(BASE, from_name=name, to=((name, "ann@acme.example"),)), date=DATE)
    except HeaderError as error:
        assert error.message.startswith("draft 7: ")
        return
    data = msg.as_bytes()
    raw = email.message_from_bytes(data)
    expected = " ".join(part for part in name.split(" ") if part)
    assert decoded_name(raw["From"]) == expected
    assert decoded_name(raw["To"]) == expected
    assert email.utils.getaddresses([raw["To"]])[0][1] == "ann@acme.example"
    assert raw["Subject"] == BASE.subject


# -- header hygiene: control and bidi characters ---------------------------------------------------


def test_sanitize_removes_controls_and_bidi_overrides_and_says_so() -> None:
    mail = replace(
        BASE,
        subject="Renewal for \u202eemca\u202c Corp\x07\tnow",
        from_name="Dana\u2066 Scully\u2069",
        to=(("Ann\u200f Lee\x1b", "ann@acme.example"),),
    )
    clean, notes = sanitize(mail)
    assert clean.subject == "Renewal for emca Corp now"
    assert clean.from_name == "Dana Scully"
    assert clean.to == (("Ann Lee", "ann@acme.example"),)
    assert notes == [
        "removed U+0007, U+202C, U+202E from the Subject",
        "removed U+2066, U+2069 from the From name",
        "removed U+001B, U+200F from the To name of ann@acme.example",
    ]
    assert sanitize(BASE) == (BASE, [])
    parse(build_message(clean, date=DATE).as_bytes())  # now it builds


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u200e", "\u061c", "\x1b", "\x7f", "\x9b"])
def test_bidi_and_control_characters_never_reach_a_header_unsanitized(char: str) -> None:
    with pytest.raises(HeaderError, match="draft 7: the Subject header contains"):
        build_message(replace(BASE, subject=f"Hello {char}there"), date=DATE)


@given(
    subject=header_text
    | st.text(st.sampled_from("ab \u202a\u202e\u2066\u2069\u200e\x07\x1b\x9b"), max_size=30)
)
def test_a_sanitized_subject_is_refused_only_for_a_line_break_or_arrives_without_controls(
    subject: str,
) -> None:
    clean, _ = sanitize(replace(BASE, subject=subject))
    try:
        msg = build_message(clean, date=DATE)
    except HeaderError as error:
        assert error.message.startswith("draft 7: the Subject ")
        return
    arrived = parse(msg.as_bytes())["Subject"]
    assert not any(
        unicodedata.category(c) == "Cc"
        or c in "\u061c\u200e\u200f"
        or "\u202a" <= c <= "\u202e"
        or "\u2066" <= c <= "\u2069"
        for c in arrived
    )


# -- internationalised addresses ------------------------------------------------------------------


def test_an_idn_domain_goes_out_in_its_ascii_form() -> None:
    assert wire_address("ann@bücher.de") == "ann@xn--bcher-kva.de"
    assert wire_address("ann@acme.example") == "ann@acme.example"
    msg = build_message(replace(BASE, to=(("Ann", "ann@bücher.de"),), cc=()), date=DATE)
    data = msg.as_bytes()
    assert data.isascii() and b"To: Ann <ann@xn--bcher-kva.de>" in data
    assert utf8_addresses(msg) == []


def test_a_non_ascii_local_part_makes_an_smtputf8_message() -> None:
    msg = build_message(replace(BASE, to=(("Jörg", "jörg@bücher.de"),)), date=DATE)
    assert utf8_addresses(msg) == ["jörg@xn--bcher-kva.de"]
    data = msg.as_bytes()
    assert "To: Jörg <jörg@xn--bcher-kva.de>".encode() in data  # RFC 6532: UTF-8 in the header itself
    parsed = email.message_from_string(data.decode("utf-8"), policy=email.policy.default)
    assert parsed["To"].addresses[0].username == "jörg"


# -- per-recipient unsubscribe links ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "link"),
    [
        ("https://u.example/unsub", "https://u.example/unsub?token=T0k-en_1"),
        ("https://u.example/unsub?list=csm", "https://u.example/unsub?list=csm&token=T0k-en_1"),
        ("mailto:unsubscribe@u.example", "mailto:unsubscribe@u.example?subject=unsubscribe%20T0k-en_1"),
    ],
)
def test_unsubscribe_link_carries_the_token(base: str, link: str) -> None:
    assert unsubscribe_link(base, "T0k-en_1") == link
    assert build_message(replace(BASE, list_unsubscribe=link), date=DATE)["List-Unsubscribe"] == f"<{link}>"
