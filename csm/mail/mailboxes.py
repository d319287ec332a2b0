"""Where `csm inbox` reads mail: an IMAP folder (TLS by default), a Maildir, or an mbox export.

The ``[inbox]`` table of csm.toml names one:

    [inbox]
    host = "imap.northbeam.example"   # IMAP; port 993 (tls), 143 (starttls, none)
    user = "alex.morgan@northbeam.example"
    password_env = "CSM_IMAP_PASSWORD"  # the password itself stays in the environment
    folder = "INBOX"
    security = "tls"                  # tls (default), starttls, or none (loopback only)
    cafile = "certs/imap-ca.pem"      # optional: trust this CA besides the system's
    # or, without a server:  maildir = "mail/replies"   or   mbox = "export.mbox"

An IMAP folder is read incrementally: the folder's UIDVALIDITY and the highest
UID read are kept (``mail_cursors``), and the folder is opened read-only
(EXAMINE, ``BODY.PEEK``) so nothing is marked read. Maildir and mbox files
are read whole each time; recording a message twice is prevented by its key.
"""

from __future__ import annotations

import contextlib
import imaplib
import mailbox
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from csm.errors import WorkspaceError, did_you_mean
from csm.mail.transports import SettingsReader

KEYS = ("host", "port", "user", "password_env", "folder", "security", "cafile", "maildir", "mbox")
SECURITY = ("tls", "starttls", "none")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
TIMEOUT_SECONDS = 30
_FETCH_CHUNK = 100


class InboxError(WorkspaceError):
    """The mailbox cannot be read: bad settings, no server, a refused login, no such folder."""


@dataclass(frozen=True)
class Cursor:
    """How far an IMAP folder was read: its UIDVALIDITY and the highest UID seen."""

    uidvalidity: int
    last_uid: int


class Mailbox(Protocol):
    name: str  # what the cursor is kept under, and what messages name: imap://user@host/INBOX

    def __enter__(self) -> Mailbox: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def messages(self, cursor: Cursor | None) -> Iterator[tuple[bytes, Cursor | None]]:
        """Each message not read before, with the cursor to store once it is recorded."""
        ...


class _InboxSettings(SettingsReader):
    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"inbox.{key}: {message}")


def open_mailbox(
    settings: Mapping[str, Any],
    *,
    root: Path,
    environ: Mapping[str, str],
    maildir: Path | None = None,
    mbox: Path | None = None,
) -> Mailbox:
    """The mailbox ``[inbox]`` (or a ``--maildir``/``--mbox`` given) names; connects to nothing yet.

    Raises InboxError listing every problem of the settings.
    """
    if maildir is not None:
        return _Files(maildir, "maildir")
    if mbox is not None:
        return _Files(mbox, "mbox")
    chosen, problems = _configure(settings, root, environ)
    if problems or chosen is None:
        raise InboxError(
            "\n".join(f"{root / 'csm.toml'}: {p}" for p in problems)
            or "no mailbox to read: csm.toml has no [inbox] table",
            hint="Add an [inbox] table to csm.toml (host, user, password_env; or maildir or mbox),"
            " or pass --maildir DIR or --mbox FILE. The password goes in an environment variable.",
        )
    return chosen


def settings_problems(settings: Mapping[str, Any], root: Path, environ: Mapping[str, str]) -> list[str]:
    """Every problem of the ``[inbox]`` table, for `csm check` (no table: none)."""
    return _configure(settings, root, environ)[1] if settings else []


def _configure(
    settings: Mapping[str, Any], root: Path, environ: Mapping[str, str]
) -> tuple[Mailbox | None, list[str]]:
    reader = _InboxSettings(settings, environ)
    reader.reject_unknown(KEYS)
    files = [key for key in ("maildir", "mbox") if key in settings]
    if (files and "host" in settings) or len(files) > 1:
        reader.problem(files[-1], "name one mailbox: an IMAP host, a maildir or an mbox")
    if files:
        where = reader.text(files[0], required=True)
        return (_Files(root / where, files[0]) if where else None), reader.problems
    if not settings:
        return None, []
    host = reader.text("host", required=True) or ""
    user = reader.text("user", required=True) or ""
    security = reader.choice("security", SECURITY, default="tls")
    if security == "none" and host not in _LOOPBACK:
        reader.problem(
            "security",
            f"'none' sends the password in the clear: only for a server on this machine, not {host!r}",
        )
    port = int(reader.number("port", default=993 if security == "tls" else 143, whole=True, high=65535))
    password = _password(reader)
    cafile = reader.text("cafile")
    if cafile is not None and not (root / cafile).is_file():
        reader.problem("cafile", f"no file {root / cafile}")
    folder = reader.text("folder", default="INBOX") or "INBOX"
    imap = _Imap(host, port, user, password or "", folder, security, root / cafile if cafile else None)
    return imap, reader.problems


def _password(reader: SettingsReader) -> str | None:
    name = reader.text("password_env", required=True)
    value = reader.environ.get(name) if name else None
    if name and not value:
        reader.problem(
            "password_env", f"environment variable {name} is not set (export it before `csm inbox`)"
        )
    return value


class _Files:
    """A Maildir folder or an mbox file, read with the stdlib's mailbox module, never changed."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path, self.kind = path.resolve(), kind
        self.name = f"{kind}:{path}"  # as given: what the person typed

    def __enter__(self) -> _Files:
        exists = self.path.is_dir() if self.kind == "maildir" else self.path.is_file()
        if not exists or (self.kind == "maildir" and not (self.path / "cur").is_dir()):
            what = "a Maildir folder (with cur/ and new/)" if self.kind == "maildir" else "an mbox file"
            raise InboxError(f"{self.path} is not {what}", hint=f"Check the {self.kind} path.")
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def messages(self, cursor: Cursor | None) -> Iterator[tuple[bytes, Cursor | None]]:
        box: mailbox.Mailbox = (
            mailbox.Maildir(self.path, factory=None, create=False)
            if self.kind == "maildir"
            else mailbox.mbox(self.path, factory=None, create=False)
        )
        try:
            for key in sorted(box.keys()):
                yield box.get_bytes(key), None
        finally:
            box.close()


class _Imap:
    """One IMAP folder, opened read-only."""

    def __init__(
        self, host: str, port: int, user: str, password: str, folder: str, security: str, cafile: Path | None
    ) -> None:
        self.host, self.port, self.user, self.folder = host, port, user, folder
        self.security, self.cafile = security, cafile
        self._password = password
        self.name = f"imap://{user}@{host}:{port}/{folder}"
        self._client: imaplib.IMAP4 | None = None

    def __enter__(self) -> _Imap:
        where = f"{self.host}:{self.port}"
        try:
            self._client = self._connect()
        except ssl.SSLError as exc:
            detail = getattr(exc, "verify_message", None)
            raise InboxError(
                f"TLS with the IMAP server {where} failed: "
                + (f"certificate verify failed: {detail}" if detail else str(exc.reason or exc)),
                hint="Check security (tls on 993, starttls on 143); for a self-signed server set cafile.",
            ) from None
        except (OSError, imaplib.IMAP4.error) as exc:
            raise InboxError(
                f"cannot reach the IMAP server {where}: {exc}", hint="Check host and port in [inbox]."
            ) from None
        try:
            self._client.login(self.user, self._password)
        except imaplib.IMAP4.error as exc:
            self._close()
            raise InboxError(
                f"the IMAP server {where} refused the login of {self.user}: {_text(exc)}",
                hint="Check user, and the password in the environment variable password_env names.",
            ) from None
        return self

    def _connect(self) -> imaplib.IMAP4:
        context = ssl.create_default_context(cafile=str(self.cafile) if self.cafile else None)
        if self.security == "tls":
            return imaplib.IMAP4_SSL(self.host, self.port, ssl_context=context, timeout=TIMEOUT_SECONDS)
        client = imaplib.IMAP4(self.host, self.port, timeout=TIMEOUT_SECONDS)
        if self.security == "starttls":
            client.starttls(ssl_context=context)
        return client

    def __exit__(self, *exc_info: object) -> None:
        self._close()

    def _close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                self._client.logout()
            self._client = None

    def messages(self, cursor: Cursor | None) -> Iterator[tuple[bytes, Cursor | None]]:
        client = self._client
        assert client is not None
        uidvalidity = self._examine(client)
        last = cursor.last_uid if cursor is not None and cursor.uidvalidity == uidvalidity else 0
        uids = [uid for uid in self._uids(client, last) if uid > last]
        for start in range(0, len(uids), _FETCH_CHUNK):
            chunk = uids[start : start + _FETCH_CHUNK]
            for uid, raw in self._fetch(client, chunk):
                yield raw, Cursor(uidvalidity, uid)

    def _examine(self, client: imaplib.IMAP4) -> int:
        status, data = client.select(_quoted(self.folder), readonly=True)
        if status != "OK":
            folders = self._folders(client)
            raise InboxError(
                f"no folder {self.folder!r} on {self.host}{did_you_mean(self.folder, folders)}:"
                f" {_text(data)}",
                hint=f"Folders there: {', '.join(folders) or 'none'}.",
            )
        validity = client.untagged_responses.get("UIDVALIDITY", [b"0"])[-1]
        return int(validity)

    def _folders(self, client: imaplib.IMAP4) -> list[str]:
        status, data = client.list()
        names = []
        for line in data if status == "OK" else []:
            text = line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
            names.append(text.rsplit(" ", 1)[-1].strip('"'))
        return names

    def _uids(self, client: imaplib.IMAP4, last: int) -> list[int]:
        status, data = client.uid("SEARCH", f"UID {last + 1}:*")
        if status != "OK":
            raise InboxError(f"the IMAP server {self.host} refused to search {self.folder!r}: {_text(data)}")
        return sorted(int(uid) for uid in (data[0] or b"").split())

    def _fetch(self, client: imaplib.IMAP4, uids: list[int]) -> Iterator[tuple[int, bytes]]:
        status, data = client.uid("FETCH", ",".join(map(str, uids)), "(UID BODY.PEEK[])")
        if status != "OK":
            raise InboxError(
                f"the IMAP server {self.host} refused to fetch from {self.folder!r}: {_text(data)}"
            )
        found = {}
        for item in data:
            if isinstance(item, tuple) and len(item) == 2:
                head = item[0].decode("ascii", "replace").upper()
                uid = int(head.split("UID ", 1)[1].split()[0].rstrip(")"))
                found[uid] = item[1]
        for uid in sorted(found):
            yield uid, found[uid]


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(value: Any) -> str:
    if isinstance(value, BaseException):
        value = value.args[0] if value.args else str(value)
    if isinstance(value, list):
        value = b" ".join(v for v in value if isinstance(v, bytes))
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
