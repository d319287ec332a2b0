"""Writing messages as files: .eml files in a folder, or drafts in a Maildir."""

from __future__ import annotations

import contextlib
import mailbox
import os
import re
import tempfile
import unicodedata
from email.message import EmailMessage
from pathlib import Path

from csm.mail.message import OutgoingEmail
from csm.mail.transports import ConnectionFailure, SettingsReader

KEYS = {"eml_dir", "maildir"}
DEFAULT_DIR = "outbox-eml"


def configure(reader: SettingsReader, root: Path) -> EmlTransport | MaildirTransport:
    eml_dir = reader.text("eml_dir")
    maildir = reader.text("maildir")
    if eml_dir is not None and maildir is not None:
        reader.problem("maildir", "set either send.eml_dir or send.maildir, not both")
    if maildir is not None:
        return MaildirTransport(_resolve(root, maildir))
    return EmlTransport(_resolve(root, eml_dir or DEFAULT_DIR))


def file_name(email: OutgoingEmail, to: str) -> str:
    """``<draft id>-<subject as a slug>-to-<address>.eml``: one file per recipient's copy."""
    ascii_subject = unicodedata.normalize("NFKD", email.subject).encode("ascii", "ignore")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_subject.decode().lower()).strip("-")
    address = re.sub(r"[^A-Za-z0-9@._+-]+", "-", to)[:80]
    return f"{email.draft_id}-{slug[:60].rstrip('-') or 'email'}-to-{address}.eml"


class EmlTransport:
    """One .eml file per message; a mail client opens it ready to send."""

    name = "eml"
    separate_envelope = False  # a mail client sends to whoever the headers name

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __repr__(self) -> str:
        return f"EmlTransport({str(self.folder)!r})"

    def __enter__(self) -> EmlTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def send(self, message: EmailMessage, email: OutgoingEmail, to: str) -> str:
        target = self.folder / file_name(email, to)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _write_atomically(target, message.as_bytes())
        except OSError as error:
            raise ConnectionFailure(
                f"cannot write {target} ({error.strerror or error})",
                hint="Check send.eml_dir in csm.toml; the drafts stay approved.",
            ) from None
        return str(target)


class MaildirTransport:
    """Messages land in a Maildir's cur/ with the Draft flag."""

    name = "eml"
    separate_envelope = False  # a mail client sends to whoever the headers name

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"MaildirTransport({str(self.path)!r})"

    def __enter__(self) -> MaildirTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def send(self, message: EmailMessage, email: OutgoingEmail, to: str) -> str:
        draft = mailbox.MaildirMessage(message)
        draft.set_subdir("cur")
        draft.set_flags("D")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            box = mailbox.Maildir(self.path, create=True)
            key = box.add(draft)
        except OSError as error:
            raise ConnectionFailure(
                f"cannot write to the Maildir {self.path} ({error.strerror or error})",
                hint="Check send.maildir in csm.toml; the drafts stay approved.",
            ) from None
        return str(self.path / "cur" / f"{key}{box.colon}{draft.get_info()}")


def _resolve(root: Path, value: str) -> Path:
    return root / Path(value).expanduser()


def _write_atomically(target: Path, data: bytes) -> None:
    """Write via a temporary file and a rename: readers never see half a file."""
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
