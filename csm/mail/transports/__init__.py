"""Transports hand a built message to the world: SMTP, an HTTP email API, files.

The ``[send]`` table of csm.toml picks one with ``transport = "smtp"``,
``"http"`` or ``"eml"`` (the default). Failures say what the send ledger
should do next:

    SendError               base; ``maybe_delivered`` when the message may have arrived
    ├── TemporaryFailure    try again later (``retry_after`` seconds when known); a TemporaryError
    ├── PermanentFailure    this message will never go through as it is
    ├── AuthFailure         the credentials were refused: stop the batch
    └── ConnectionFailure   cannot reach the server at all: stop, drafts stay approved
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from csm.errors import CsmError, TemporaryError, WorkspaceError, did_you_mean
from csm.mail.message import OutgoingEmail
from csm.workspace import SETTINGS_FILE

# transport name -> module under csm.transports (imported only when used)
TRANSPORTS = {"eml": "eml", "smtp": "smtp", "http": "http_api"}


class SendError(CsmError):
    """A message could not be sent."""

    def __init__(self, message: str, *, maybe_delivered: bool = False, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.maybe_delivered = maybe_delivered


class TemporaryFailure(SendError, TemporaryError):
    """The server said "not now" (SMTP 4xx, HTTP 429/5xx) or did not answer."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        maybe_delivered: bool = False,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, maybe_delivered=maybe_delivered, hint=hint)
        self.retry_after = retry_after


class PermanentFailure(SendError):
    """The server refused this message or a recipient (SMTP 5xx, HTTP 4xx)."""


class AuthFailure(SendError):
    """The server refused our credentials; no other message will do better."""


class ConnectionFailure(SendError):
    """The server cannot be reached (or the folder written) at all."""


class Transport(Protocol):
    """Sends messages; a ``with`` block holds one connection for a batch.

    Each message is one recipient's copy of a draft. ``separate_envelope``
    says whether the transport can deliver a copy to that one address while
    its To and Cc show everyone (SMTP's envelope); where the headers are the
    delivery (a file a mail client sends, an HTTP API's JSON), each copy
    names only its own recipient.
    """

    name: str
    separate_envelope: bool

    def __enter__(self) -> Transport: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def send(self, message: EmailMessage, email: OutgoingEmail, to: str) -> str:
        """Deliver one copy to the address ``to``; return the provider's id, the file path or the reply."""
        ...


def make_transport(
    settings: Mapping[str, Any],
    *,
    root: Path,
    environ: Mapping[str, str],
    other_keys: Collection[str] = (),
) -> Transport:
    """The transport the ``[send]`` table describes; no connection is made yet.

    ``other_keys`` are [send] keys the caller reads itself (so they are not
    reported as unknown). Raises WorkspaceError listing every problem.
    """
    transport, problems = _configure(settings, environ, root, other_keys)
    if problems:
        where = root / SETTINGS_FILE
        raise WorkspaceError(
            "\n".join(f"{where}: {problem}" for problem in problems),
            hint="Fix the [send] table of csm.toml; secrets go in environment variables.",
        )
    return transport


def transport_settings_problems(
    settings: Mapping[str, Any], environ: Mapping[str, str], other_keys: Collection[str] = ()
) -> list[str]:
    """Every problem of the ``[send]`` table, for `csm check`; connects to nothing."""
    return _configure(settings, environ, Path("."), other_keys)[1]


def _configure(
    settings: Mapping[str, Any], environ: Mapping[str, str], root: Path, other_keys: Collection[str]
) -> tuple[Transport, list[str]]:
    reader = SettingsReader(settings, environ)
    kind = reader.text("transport", default="eml")
    if kind not in TRANSPORTS:
        reader.problem(
            "transport",
            f"unknown transport {kind!r}{did_you_mean(str(kind), TRANSPORTS)}; "
            f"choose one of {', '.join(TRANSPORTS)}",
        )
        kind = "eml"
        other_keys = settings.keys()  # the other keys belong to a transport we do not know
    module = importlib.import_module(f"csm.mail.transports.{TRANSPORTS[kind]}")
    # With problems the transport is built from placeholder values and dropped.
    transport = module.configure(reader, root)
    reader.reject_unknown({"transport", *module.KEYS, *other_keys})
    return transport, reader.problems


class SettingsReader:
    """Reads typed values from the [send] table, collecting every problem."""

    def __init__(self, settings: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        self.settings = settings
        self.environ = environ
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"send.{key}: {message}")

    def text(self, key: str, *, default: str | None = None, required: bool = False) -> str | None:
        value = self.settings.get(key, default)
        if value is None:
            if required:
                self.problem(key, "required")
            return default
        if not isinstance(value, str) or not value.strip():
            self.problem(key, f"expected text, got {value!r}")
            return default
        return value

    def choice(self, key: str, choices: Collection[str], *, default: str) -> str:
        value = self.text(key, default=default) or default
        if value not in choices:
            self.problem(
                key,
                f"expected one of {', '.join(map(repr, choices))}, got {value!r}"
                + did_you_mean(value, choices),
            )
            return default
        return value

    def number(
        self, key: str, *, default: float, whole: bool = False, low: float = 0, high: float = 1e9
    ) -> float:
        value = self.settings.get(key, default)
        kinds = (int,) if whole else (int, float)
        if not isinstance(value, kinds) or isinstance(value, bool):
            kind = "a whole number" if whole else "a number"
            self.problem(key, f"expected {kind}, got {value!r}")
            return default
        if not low < value <= high:
            self.problem(key, f"must be more than {low:g} and at most {high:g}, got {value!r}")
            return default
        return value

    def secret(self, key: str, *, required: bool) -> tuple[str | None, str | None]:
        """The NAME under ``key`` and the value of that environment variable."""
        name = self.text(key, required=required)
        if name is None:
            return None, None
        value = self.environ.get(name)
        if not value:
            self.problem(key, f"environment variable {name} is not set (export it before `csm send`)")
        return name, value

    def reject_unknown(self, known: Collection[str]) -> None:
        for key in self.settings:
            if key not in known:
                self.problem(key, "unknown setting" + did_you_mean(key, known))
