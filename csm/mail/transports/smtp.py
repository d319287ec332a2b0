"""Sending through an SMTP server; one connection serves a whole batch."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

from csm.mail.message import OutgoingEmail, utf8_addresses
from csm.mail.transports import (
    AuthFailure,
    ConnectionFailure,
    PermanentFailure,
    SendError,
    SettingsReader,
    TemporaryFailure,
)

KEYS = {"host", "port", "security", "username", "password_env", "timeout"}
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def configure(reader: SettingsReader, root: Path) -> SmtpTransport:
    host = reader.text("host", required=True) or "localhost"
    security = reader.choice("security", DEFAULT_PORTS, default="starttls")
    port = reader.number("port", default=DEFAULT_PORTS[security], whole=True, high=65535)
    timeout = reader.number("timeout", default=30.0, high=600)
    username = reader.text("username")
    password_env, password = reader.secret("password_env", required=username is not None)
    if password_env is not None and username is None:
        reader.problem("username", "required when send.password_env is set")
    if username is not None and security == "none" and host not in _LOOPBACK:
        reader.problem("security", "'none' would send the password unencrypted; use 'starttls' or 'tls'")
    return SmtpTransport(
        host=host,
        port=int(port),
        security=security,
        username=username,
        password=password,
        timeout=timeout,
    )


class SmtpTransport:
    """SMTP with STARTTLS, implicit TLS or (for local relays) neither."""

    name = "smtp"
    separate_envelope = True

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self._password = password
        self.timeout = timeout
        self._ssl_context = ssl_context
        self._conn: smtplib.SMTP | None = None

    def __repr__(self) -> str:
        return (
            f"SmtpTransport(host={self.host!r}, port={self.port}, "
            f"security={self.security!r}, username={self.username!r})"
        )

    @property
    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (smtplib.SMTPException, OSError):
                self._conn.close()
            self._conn = None

    def send(self, message: EmailMessage, email: OutgoingEmail, to: str) -> str:
        conn = self._conn or self._connect()
        options = self._utf8_options(conn, message)
        try:
            self._envelope(conn, message["From"].addresses[0].addr_spec, to, options)
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            self._drop()
            raise TemporaryFailure(
                f"the connection to the SMTP server {self._where} was lost before the "
                f"message was sent ({_reason(error)})"
            ) from None
        try:
            code, reply = conn.data(message.as_bytes())
        except smtplib.SMTPResponseException as error:
            self._reset()
            raise _refused(error.smtp_code, error.smtp_error, "the message") from None
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            # The message may have been taken in full: only a person can tell.
            self._drop()
            raise TemporaryFailure(
                f"no answer from the SMTP server {self._where} after the message was "
                f"handed over ({_reason(error)}); it may have been delivered",
                maybe_delivered=True,
            ) from None
        if code != 250:
            self._reset()
            raise _refused(code, reply, "the message")
        return f"{code} {_text(reply)}"

    def _utf8_options(self, conn: smtplib.SMTP, message: EmailMessage) -> list[str]:
        """MAIL FROM options for an address with a non-ASCII local part, which needs SMTPUTF8."""
        international = utf8_addresses(message)
        if not international:
            return []
        if not conn.has_extn("smtputf8"):
            raise PermanentFailure(
                f"the SMTP server {self._where} does not offer SMTPUTF8, which "
                f"{', '.join(international)} needs (a non-ASCII name before the @)",
                hint="Send through a server that offers SMTPUTF8, or give the contact an ASCII address.",
            )
        return ["SMTPUTF8", "BODY=8BITMIME"] if conn.has_extn("8bitmime") else ["SMTPUTF8"]

    def _envelope(self, conn: smtplib.SMTP, sender: str, to: str, options: list[str]) -> None:
        code, reply = conn.mail(sender, options)
        if code != 250:
            self._reset()
            raise _refused(code, reply, f"the sender {sender}")
        code, reply = conn.rcpt(to)
        if code not in (250, 251):
            self._reset()
            raise _refused(code, reply, f"the recipient {to} (nothing was sent)")

    def _connect(self) -> smtplib.SMTP:
        context = self._ssl_context or ssl.create_default_context()
        conn: smtplib.SMTP
        try:
            if self.security == "tls":
                conn = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (smtplib.SMTPException, OSError) as error:
            raise self._unreachable(error) from None
        try:
            conn.ehlo()
            if self.security == "starttls":
                conn.starttls(context=context)
                conn.ehlo()
            if self.username is not None:
                self._login(conn)
        except smtplib.SMTPNotSupportedError:
            conn.close()
            raise ConnectionFailure(
                f"the SMTP server {self._where} does not offer STARTTLS",
                hint="Set send.security = 'tls' (usually port 465) in csm.toml.",
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            conn.close()
            raise self._unreachable(error) from None
        except SendError:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _unreachable(self, error: BaseException) -> ConnectionFailure:
        return ConnectionFailure(
            f"cannot connect to the SMTP server {self._where} ({_reason(error)})",
            hint="Check send.host, send.port and send.security in csm.toml; "
            "nothing was sent and the drafts stay approved.",
        )

    def _login(self, conn: smtplib.SMTP) -> None:
        assert self.username is not None and self._password is not None
        try:
            conn.login(self.username, self._password)
        except smtplib.SMTPAuthenticationError as error:
            raise AuthFailure(
                f"the SMTP server {self._where} refused the login for {self.username}: "
                f"{error.smtp_code} {self._scrub(_text(error.smtp_error))}",
                hint="Check send.username, and the password in the environment variable "
                "that send.password_env names.",
            ) from None
        except smtplib.SMTPServerDisconnected:
            raise
        except smtplib.SMTPException as error:
            raise AuthFailure(
                f"the SMTP server {self._where} offers no login csm can use ({_reason(error)})",
                hint="Check send.security: many servers offer login only after STARTTLS.",
            ) from None

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text

    def _reset(self) -> None:
        """Forget a refused transaction so the next message starts clean."""
        if self._conn is not None:
            try:
                self._conn.rset()
            except (smtplib.SMTPException, OSError):
                self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _refused(code: int, reply: bytes | str, what: str) -> SendError:
    text = f"the SMTP server refused {what}: {code} {_text(reply)}"
    if code == 530:  # "authentication required": every message would fail
        return AuthFailure(text, hint="Set send.username and send.password_env in csm.toml.")
    if 400 <= code < 500:
        return TemporaryFailure(text)
    return PermanentFailure(text)


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())


def _reason(error: BaseException) -> str:
    return str(error) or type(error).__name__
