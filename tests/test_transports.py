"""Transports against real servers on loopback: aiosmtpd, pytest-httpserver, files."""

import datetime as dt
import email
import email.policy
import json
import mailbox
import socket
import ssl
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from aiosmtpd.smtp import AuthResult
from loopback import Busy, Collect, Stall, free_port
from werkzeug import Request, Response

from csm.errors import WorkspaceError
from csm.mail.message import HeaderError, OutgoingEmail, build_message, dedupe_hash
from csm.mail.transports import (
    AuthFailure,
    ConnectionFailure,
    PermanentFailure,
    TemporaryFailure,
    make_transport,
    transport_settings_problems,
)
from csm.mail.transports.eml import EmlTransport, MaildirTransport
from csm.mail.transports.http_api import HttpTransport, idempotency_key
from csm.mail.transports.smtp import SmtpTransport
from csm.retry import retry

DATE = dt.datetime(2026, 11, 25, 9, 30, tzinfo=dt.UTC)
PASSWORD = "s3cret-Pa55word"
TOKEN = "re_live_T0KEN_abc123"

EMAIL = OutgoingEmail(
    draft_id=7,
    dedupe_key="renewal-ahead/heads-up/acme/2027-03-01",
    from_name="Zoë Ångström",
    from_addr="zoe@vendor.example",
    to=(("Ann Lee", "ann@acme.example"),),
    cc=(("", "cfo@acme.example"),),
    reply_to="team@vendor.example",
    subject="Ihre Verlängerung — 日本語",
    text="Hi Ann,\n\nGrüße from Zoë.\n",
    html="<p>Hi Ann,</p><p>Grüße from Zoë.</p>",
    list_unsubscribe="https://vendor.example/u/abc",
)


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def plain_smtp(port: int, **kwargs) -> SmtpTransport:
    return SmtpTransport(host="127.0.0.1", port=port, security="none", timeout=5, **kwargs)


def test_smtp_message_arrives_with_headers_and_both_parts(smtp_server) -> None:
    handler = Collect()
    port = smtp_server(handler).port
    second = replace(EMAIL, draft_id=8, dedupe_key="k2", to=(("", "bob@acme.example"),), cc=())

    with plain_smtp(port) as transport:
        message = build_message(EMAIL, date=DATE)
        reply = transport.send(message, EMAIL, "ann@acme.example")
        transport.send(message, EMAIL, "cfo@acme.example")
        transport.send(build_message(second, date=DATE), second, "bob@acme.example")

    assert reply == "250 2.0.0 Ok: queued as ABC123"
    assert len(handler.peers) == 1, "one connection serves the batch"
    first = handler.envelopes[0]
    assert first.mail_from == "zoe@vendor.example"
    # Each copy goes to its one envelope recipient; its headers show everyone.
    assert [e.rcpt_tos for e in handler.envelopes] == [
        ["ann@acme.example"],
        ["cfo@acme.example"],
        ["bob@acme.example"],
    ]
    assert handler.envelopes[1].original_content == first.original_content
    raw = first.original_content
    assert raw.isascii() and b"\r\nSubject: Ihre =?utf-8?b?" in raw
    msg = parse(raw)
    assert msg["Subject"] == "Ihre Verlängerung — 日本語"
    assert msg["From"] == "Zoë Ångström <zoe@vendor.example>"
    assert msg["Message-ID"] == f"<csm.{dedupe_hash(EMAIL.dedupe_key)}@vendor.example>"
    assert msg["List-Unsubscribe"] == "<https://vendor.example/u/abc>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = msg.iter_parts()
    assert text.get_content().replace("\r\n", "\n") == EMAIL.text
    assert html.get_content_type() == "text/html" and "Grüße" in html.get_content()


def test_smtp_injected_subject_never_reaches_the_wire(smtp_server) -> None:
    handler = Collect()
    port = smtp_server(handler).port
    attack = replace(EMAIL, subject="Hello\r\nBcc: attacker@evil.example")

    with plain_smtp(port) as transport:
        with pytest.raises(HeaderError, match="draft 7: the Subject header"):
            transport.send(build_message(attack, date=DATE), attack, "ann@acme.example")
        transport.send(build_message(EMAIL, date=DATE), EMAIL, "ann@acme.example")

    assert len(handler.envelopes) == 1
    assert b"attacker" not in handler.envelopes[0].original_content
    assert "Bcc" not in parse(handler.envelopes[0].original_content)


def test_smtp_refused_password_is_an_auth_failure_without_the_password(smtp_server) -> None:
    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=False, handled=False)

    port = smtp_server(Collect(), authenticator=authenticator, auth_require_tls=False).port
    transport = make_transport(
        {
            "transport": "smtp",
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "username": "zoe",
            "password_env": "CSM_SMTP_PASSWORD",
            "timeout": 5,
        },
        root=Path("."),
        environ={"CSM_SMTP_PASSWORD": PASSWORD},
    )

    with pytest.raises(AuthFailure) as caught, transport:
        transport.send(build_message(EMAIL, date=DATE), EMAIL, "ann@acme.example")

    error = caught.value
    assert error.message.startswith(f"the SMTP server 127.0.0.1:{port} refused the login for zoe: 535")
    for text in (str(error), repr(error), repr(transport)):
        assert PASSWORD not in text


def test_smtp_4xx_is_temporary_and_5xx_recipient_is_permanent(smtp_server) -> None:
    busy = smtp_server(Busy()).port
    with plain_smtp(busy) as transport, pytest.raises(TemporaryFailure) as temporary:
        transport.send(build_message(EMAIL, date=DATE), EMAIL, "ann@acme.example")
    assert temporary.value.message == ("the SMTP server refused the message: 451 4.3.0 Try again later")
    assert temporary.value.maybe_delivered is False

    handler = Collect()
    port = smtp_server(handler).port
    bounced = replace(EMAIL, cc=(("", "nobody@acme.example"),))
    with plain_smtp(port) as transport:
        with pytest.raises(PermanentFailure) as permanent:
            transport.send(build_message(bounced, date=DATE), bounced, "nobody@acme.example")
        transport.send(build_message(EMAIL, date=DATE), EMAIL, "ann@acme.example")
    assert permanent.value.message == (
        "the SMTP server refused the recipient nobody@acme.example (nothing was sent): "
        "550 5.1.1 No such user here"
    )
    assert [e.rcpt_tos for e in handler.envelopes] == [["ann@acme.example"]]


def test_smtp_nothing_listening_is_a_connection_failure() -> None:
    port = free_port()
    with plain_smtp(port) as transport, pytest.raises(ConnectionFailure) as caught:
        transport.send(build_message(EMAIL, date=DATE), EMAIL, "ann@acme.example")
    assert caught.value.message.startswith(f"cannot connect to the SMTP server 127.0.0.1:{port}")
    assert "refused" in caught.value.message


def test_smtp_silent_server_fails_to_connect_within_the_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts the TCP connection, never says hello
        port = silent.getsockname()[1]
        transport = SmtpTransport(host="127.0.0.1", port=port, security="none", timeout=0.5)
        started = time.monotonic()
        with transport, pytest.raises(ConnectionFailure, match="timed out"):
            transport.send(build_message(EMAIL, date=DATE), EMAIL, "ann@acme.example")
        assert time.monotonic() - started < 3


def test_smtp_stall_after_data_may_have_delivered(smtp_server) -> None:
    port = smtp_server(Stall()).port
    transport = SmtpTransport(host="127.0.0.1", port=port, security="none", timeout=0.5)
    started = time.monotonic()
    with transport, pytest.raises(TemporaryFailure) as caught:
        transport.send(build_message(EMAIL, date=DATE), EMAIL, "ann@acme.example")
    assert time.monotonic() - started < 3
    assert caught.value.maybe_delivered is True
    assert "it may have been delivered" in caught.value.message


@pytest.fixture(scope="module")
def tls_contexts(tmp_path_factory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts around a throwaway certificate for 127.0.0.1."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2020, 1, 1))
        .not_valid_after(dt.datetime(2100, 1, 1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(pem)
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cadata=pem.decode())
    return server, client


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_smtp_over_tls_logs_in_and_sends(smtp_server, tls_contexts, security) -> None:
    server_context, client_context = tls_contexts
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == PASSWORD.encode())

    handler = Collect()
    # aiosmtpd counts only STARTTLS as TLS for AUTH, not a TLS-wrapped port
    tls = (
        {"tls_context": server_context}
        if security == "starttls"
        else {"ssl_context": server_context, "auth_require_tls": False}
    )
    port = smtp_server(handler, authenticator=authenticator, **tls).port
    transport = SmtpTransport(
        host="127.0.0.1",
        port=port,
        security=security,
        username="zoe",
        password=PASSWORD,
        timeout=5,
        ssl_context=client_context,
    )

    with transport:
        transport.send(build_message(EMAIL, date=DATE), EMAIL, "ann@acme.example")

    assert logins == [(b"zoe", PASSWORD.encode())]
    assert parse(handler.envelopes[0].original_content)["Subject"] == EMAIL.subject


# --- HTTP API -------------------------------------------------------------


def http_transport(httpserver, timeout: float = 5) -> HttpTransport:
    return make_transport(
        {
            "transport": "http",
            "url": httpserver.url_for("/emails"),
            "token_env": "CSM_EMAIL_TOKEN",
            "timeout": timeout,
        },
        root=Path("."),
        environ={"CSM_EMAIL_TOKEN": TOKEN},
    )


def test_http_posts_the_json_payload_with_token_and_idempotency_key(httpserver) -> None:
    httpserver.expect_request(
        "/emails",
        method="POST",
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Idempotency-Key": idempotency_key(EMAIL, "ann@acme.example"),
        },
        json={
            "from": "Zoë Ångström <zoe@vendor.example>",
            "to": ["Ann Lee <ann@acme.example>"],
            "reply_to": "team@vendor.example",
            "subject": "Ihre Verlängerung — 日本語",
            "text": EMAIL.text,
            "html": EMAIL.html,
            "headers": {
                "Message-ID": f"<csm.{dedupe_hash(EMAIL.dedupe_key)}@vendor.example>",
                "List-Unsubscribe": "<https://vendor.example/u/abc>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        },
    ).respond_with_json({"id": "4ef9a417-02e9-4d39"})

    with http_transport(httpserver) as transport:
        provider_id = transport.send(build_message(EMAIL, date=DATE), EMAIL, "ann@acme.example")

    assert provider_id == "4ef9a417-02e9-4d39"
    httpserver.check_assertions()


def test_http_minimal_payload_leaves_out_cc_and_reply_to(httpserver) -> None:
    bare = replace(EMAIL, cc=(), reply_to=None, list_unsubscribe=None)
    httpserver.expect_request("/emails", method="POST").respond_with_json({"id": "x1"})

    with http_transport(httpserver) as transport:
        transport.send(build_message(bare, date=DATE), bare, "ann@acme.example")

    request, _ = httpserver.log[0]
    sent = json.loads(request.get_data())
    assert sorted(sent) == ["from", "headers", "html", "subject", "text", "to"]
    assert sorted(sent["headers"]) == ["Message-ID"]


def test_http_429_retry_after_then_success_through_retry(httpserver) -> None:
    httpserver.expect_ordered_request("/emails", method="POST").respond_with_json(
        {"message": "Too many requests"}, status=429, headers={"Retry-After": "7"}
    )
    httpserver.expect_ordered_request("/emails", method="POST").respond_with_json({"id": "ok"})
    delays: list[float] = []
    message = build_message(EMAIL, date=DATE)

    with http_transport(httpserver) as transport:
        result = retry(lambda: transport.send(message, EMAIL, "ann@acme.example"), sleep=delays.append)

    assert result == "ok"
    assert delays == [7.0]
    assert len(httpserver.log) == 2


def test_http_retry_after_as_a_date_counts_from_the_server_clock() -> None:
    # A mock transport: the loopback server always adds its own (real) Date header.
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            503,
            text="slow down",
            headers={
                "Date": "Wed, 25 Nov 2026 09:30:00 GMT",
                "Retry-After": "Wed, 25 Nov 2026 09:30:12 GMT",
            },
        )

    transport = HttpTransport(
        url="https://api.example.com/emails",
        token=TOKEN,
        token_env="T",
        transport=httpx.MockTransport(answer),
    )
    with transport, pytest.raises(TemporaryFailure) as caught:
        transport.send(build_message(EMAIL, date=DATE), EMAIL, "ann@acme.example")
    assert caught.value.retry_after == 12.0


def test_http_500_is_temporary_with_trimmed_error_text(httpserver) -> None:
    httpserver.expect_request("/emails").respond_with_data("  Internal\n   error " + "x" * 500, status=500)
    with http_transport(httpserver) as transport, pytest.raises(TemporaryFailure) as caught:
        transport.send(build_message(EMAIL, date=DATE), EMAIL, "ann@acme.example")
    error = caught.value
    url = httpserver.url_for("/emails")
    assert error.message.startswith(f"the email API at {url} answered HTTP 500: Internal error xx")
    assert error.message.endswith("x…")
    assert len(error.message) < 400
    assert (error.retry_after, error.maybe_delivered) == (None, False)


def test_http_401_is_an_auth_failure_without_the_token(httpserver) -> None:
    httpserver.expect_request("/emails").respond_with_json(
        {"statusCode": 401, "message": f"API key {TOKEN} is invalid", "name": "validation"},
        status=401,
    )
    transport = http_transport(httpserver)
    with transport, pytest.raises(AuthFailure) as caught:
        transport.send(build_message(EMAIL, date=DATE), EMAIL, "ann@acme.example")
    error = caught.value
    assert error.message.endswith("refused the token in CSM_EMAIL_TOKEN (HTTP 401: API key *** is invalid)")
    for text in (str(error), repr(error), repr(transport)):
        assert TOKEN not in text


def test_http_422_is_permanent_with_the_api_message(httpserver) -> None:
    httpserver.expect_request("/emails").respond_with_json(
        {"statusCode": 422, "message": "Invalid `to` field.", "name": "validation_error"},
        status=422,
    )
    with http_transport(httpserver) as transport, pytest.raises(PermanentFailure) as caught:
        transport.send(build_message(EMAIL, date=DATE), EMAIL, "ann@acme.example")
    assert caught.value.message.endswith("refused the message (HTTP 422): Invalid `to` field.")


def test_http_no_answer_in_time_may_have_delivered(httpserver) -> None:
    release = threading.Event()

    def slow(request: Request) -> Response:
        release.wait(5)
        return Response("{}", status=200)

    httpserver.expect_request("/emails").respond_with_handler(slow)
    transport = http_transport(httpserver, timeout=0.3)
    started = time.monotonic()
    try:
        with transport, pytest.raises(TemporaryFailure) as caught:
            transport.send(build_message(EMAIL, date=DATE), EMAIL, "ann@acme.example")
    finally:
        release.set()
    assert time.monotonic() - started < 3
    assert caught.value.maybe_delivered is True
    assert TOKEN not in str(caught.value)


def test_http_nothing_listening_is_a_connection_failure() -> None:
    url = f"http://127.0.0.1:{free_port()}/emails"
    transport = HttpTransport(url=url, token=TOKEN, token_env="T", timeout=2)
    with transport, pytest.raises(ConnectionFailure) as caught:
        transport.send(build_message(EMAIL, date=DATE), EMAIL, "ann@acme.example")
    assert caught.value.message.startswith(f"cannot connect to the email API at {url}")


# --- eml files and Maildir --------------------------------------------------


def test_eml_file_parses_back_with_the_same_headers(tmp_path) -> None:
    transport = make_transport({"transport": "eml", "eml_dir": "out"}, root=tmp_path, environ={})
    message = build_message(EMAIL, date=DATE)

    with transport:
        path = transport.send(message, EMAIL, "ann@acme.example")
        again = transport.send(message, EMAIL, "ann@acme.example")
        other = transport.send(message, EMAIL, "cfo@acme.example")

    assert path == again == str(tmp_path / "out" / "7-ihre-verlangerung-to-ann@acme.example.eml")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "7-ihre-verlangerung-to-ann@acme.example.eml",
        "7-ihre-verlangerung-to-cfo@acme.example.eml",
    ]
    assert Path(other).name == "7-ihre-verlangerung-to-cfo@acme.example.eml"
    data = Path(path).read_bytes()
    assert data == message.as_bytes()
    parsed = email.message_from_bytes(data)
    assert parsed.items() == email.message_from_bytes(message.as_bytes()).items()


def test_eml_default_folder_and_name_without_ascii(tmp_path) -> None:
    transport = make_transport({}, root=tmp_path, environ={})
    japanese = replace(EMAIL, subject="日本語")
    path = transport.send(build_message(japanese, date=DATE), japanese, "ann@acme.example")
    assert path == str(tmp_path / "outbox-eml" / "7-email-to-ann@acme.example.eml")


def test_eml_unwritable_folder_is_a_connection_failure(tmp_path) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")
    transport = EmlTransport(tmp_path / "taken")
    with pytest.raises(ConnectionFailure) as caught:
        transport.send(build_message(EMAIL, date=DATE), EMAIL, "ann@acme.example")
    target = tmp_path / "taken" / "7-ihre-verlangerung-to-ann@acme.example.eml"
    assert caught.value.message == f"cannot write {target} (File exists)"


def test_maildir_gets_the_message_as_a_draft(tmp_path) -> None:
    transport = make_transport({"transport": "eml", "maildir": "Mail/csm"}, root=tmp_path, environ={})
    assert isinstance(transport, MaildirTransport)

    with transport:
        path = Path(transport.send(build_message(EMAIL, date=DATE), EMAIL, "ann@acme.example"))

    assert path.parent == tmp_path / "Mail" / "csm" / "cur"
    assert path.name.endswith(":2,D")
    box = mailbox.Maildir(tmp_path / "Mail" / "csm", create=False)
    [(key, stored)] = box.items()
    assert path.name.startswith(key)
    assert stored.get_flags() == "D" and stored.get_subdir() == "cur"
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == EMAIL.subject
    assert parsed["Message-ID"] == build_message(EMAIL, date=DATE)["Message-ID"]


# --- settings ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "environ", "problems"),
    [
        ({}, {}, []),
        ({"transport": "smtp", "host": "smtp.example.com"}, {}, []),
        (
            {"transport": "smtp", "host": "h", "port": "587", "security": "ssl"},
            {},
            [
                "send.security: expected one of 'starttls', 'tls', 'none', got 'ssl'",
                "send.port: expected a whole number, got '587'",
            ],
        ),
        (
            {"transport": "smtp", "port": 70000, "timeout": 0},
            {},
            [
                "send.host: required",
                "send.port: must be more than 0 and at most 65535, got 70000",
                "send.timeout: must be more than 0 and at most 600, got 0",
            ],
        ),
        (
            {"transport": "smtp", "host": "h", "username": "zoe", "password_env": "CSM_PW"},
            {},
            ["send.password_env: environment variable CSM_PW is not set (export it before `csm send`)"],
        ),
        (
            {"transport": "smtp", "host": "h", "username": "zoe"},
            {},
            ["send.password_env: required"],
        ),
        (
            {"transport": "smtp", "host": "mail.example.com", "security": "none"}
            | {"username": "zoe", "password_env": "PW"},
            {"PW": "x"},
            ["send.security: 'none' would send the password unencrypted; use 'starttls' or 'tls'"],
        ),
        (
            {"transport": "http", "url": "http://api.example.com/emails", "token_env": "TOK"},
            {"TOK": "t"},
            ["send.url: expected an https:// address, got 'http://api.example.com/emails'"],
        ),
        (
            {"transport": "http", "url": "https://api.example.com/emails"},
            {},
            ["send.token_env: required"],
        ),
        (
            {"transport": "eml", "eml_dir": "a", "maildir": "b", "emldir": "c"},
            {},
            [
                "send.maildir: set either send.eml_dir or send.maildir, not both",
                "send.emldir: unknown setting (did you mean 'eml_dir'?)",
            ],
        ),
        (
            {"transport": "smpt", "host": "h"},
            {},
            [
                "send.transport: unknown transport 'smpt' (did you mean 'smtp'?); "
                "choose one of eml, smtp, http"
            ],
        ),
    ],
)
def test_settings_problems(settings: dict, environ: dict, problems: list[str]) -> None:
    assert transport_settings_problems(settings, environ) == problems


def test_other_keys_are_left_to_the_caller() -> None:
    settings = {"transport": "eml", "limit": 20}
    assert transport_settings_problems(settings, {}) == ["send.limit: unknown setting"]
    assert transport_settings_problems(settings, {}, other_keys={"limit"}) == []


def test_make_transport_names_the_file_and_every_problem(tmp_path) -> None:
    with pytest.raises(WorkspaceError) as caught:
        make_transport({"transport": "smtp", "port": "x"}, root=tmp_path, environ={})
    assert caught.value.message == (
        f"{tmp_path / 'csm.toml'}: send.host: required\n"
        f"{tmp_path / 'csm.toml'}: send.port: expected a whole number, got 'x'"
    )


def test_make_transport_builds_each_kind(tmp_path) -> None:
    smtp = make_transport(
        {"transport": "smtp", "host": "smtp.example.com", "security": "tls"},
        root=tmp_path,
        environ={},
    )
    assert isinstance(smtp, SmtpTransport) and (smtp.port, smtp.timeout) == (465, 30.0)
    http = make_transport(
        {"transport": "http", "url": "https://api.example.com/emails", "token_env": "T"},
        root=tmp_path,
        environ={"T": TOKEN},
    )
    assert isinstance(http, HttpTransport) and TOKEN not in repr(http)
    eml = make_transport({"eml_dir": "/abs/out"}, root=tmp_path, environ={})
    assert isinstance(eml, EmlTransport) and eml.folder == Path("/abs/out")
