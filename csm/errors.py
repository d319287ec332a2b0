"""Errors a CSM can act on.

Every error csm raises on purpose is a ``CsmError``; the CLI prints its message
as ``Error: ...`` on stderr and exits 1. Anything else is a bug.

    CsmError
    ├── WorkspaceError      no workspace, no database, bad csm.toml
    ├── InputError          a bad file the user gave us
    │   ├── ImportError_    a bad CSV / JSON / NDJSON row (file, row, column)
    │   ├── PlaybookError   a bad playbook YAML (file:line:col, all problems)
    │   ├── HealthModelError a bad health.yaml (file:line:col, all problems)
    │   ├── ConditionError  a bad `when:` expression (position inside it)
    │   ├── UnreadableFile  too big, not UTF-8, bad TOML (file:line; in csm.textfile)
    │   └── TemplateError   a bad template (file:line)
    ├── NotFound            an id that does not exist
    ├── StateError          an action the item's state does not allow
    └── TemporaryError      not now: the same attempt may work later; what csm.retry retries
                            (a transport's TemporaryFailure, a sync's SourceUnavailable)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class CsmError(Exception):
    """Root of every error csm raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class WorkspaceError(CsmError):
    """The workspace, its settings or its database cannot be used."""


class InputError(CsmError):
    """A file or value the user gave us is wrong."""


class DataImportError(InputError):
    """A row of an import file is wrong; nothing was written."""


class ConditionError(InputError):
    """A condition expression is wrong.

    ``offset`` is the 0-based character offset inside the expression, so the
    playbook loader can turn it into a file:line:col.
    """

    def __init__(self, message: str, offset: int = 0, source: str = "") -> None:
        super().__init__(message)
        self.offset = offset
        self.source = source


@dataclass(frozen=True)
class Problem:
    """One problem found in a file, with where it is."""

    path: str
    line: int
    column: int
    message: str
    source_line: str = ""

    def __str__(self) -> str:
        text = f"{self.path}:{self.line}:{self.column}: {self.message}"
        if self.source_line:
            caret = " " * (self.column - 1) + "^"
            text += f"\n    {self.source_line}\n    {caret}"
        return text


class ProblemsError(InputError):
    """One or more problems found while checking files; all are listed."""

    def __init__(self, problems: Iterable[Problem], hint: str | None = None) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems), hint)


class PlaybookError(ProblemsError):
    """A playbook file has problems."""


class HealthModelError(ProblemsError):
    """The health model (health.yaml) has problems."""


class TemplateError(ProblemsError):
    """A template file has problems."""


class NotFound(CsmError):
    """An id or name that does not exist."""


class StateError(CsmError):
    """The item is in a state that does not allow this action."""


class TemporaryError(CsmError):
    """The other side said "not now" or did not answer: trying again later may work.

    ``retry_after``: the seconds it asked us to wait, when it said.
    ``maybe_delivered``: the attempt may have done its work already (a message
    may have arrived), so repeating it is for a person to decide.
    """

    maybe_delivered = False

    def __init__(self, message: str, hint: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(message, hint)
        self.retry_after = retry_after


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return " (did you mean 'x'?)" for the closest choice, or ""."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def redact_url(url: str, *, keep_path: bool = True) -> str:
    """``url`` fit for a message or a log line: secrets it may carry become ***.

    Hidden: the user and password before the host, every query value (which
    parameter holds a key cannot be known: ``api_key``, ``sig``, ``token``,
    ``hapikey``), and the fragment. ``keep_path=False`` hides the path as well,
    for a webhook whose path is its secret (hooks.slack.com/services/...).
    """
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises for a port that is no number: "user:KEY" with no host
    except ValueError:  # not readable as a URL: show none of it
        return "***"
    host = parts.netloc.rpartition("@")[2]
    netloc = f"***@{host}" if "@" in parts.netloc else host
    path = parts.path if keep_path or parts.path in ("", "/") else "/***"
    pairs = (pair.partition("=") for pair in parts.query.split("&")) if parts.query else ()
    query = "&".join(f"{name}=***" if equals else "***" for name, equals, _value in pairs)
    return urlunsplit((parts.scheme, netloc, path, query, "***" if parts.fragment else ""))


def redact_echo(text: str, url: str) -> str:
    """A server's answer to ``url``, with the URL's path and query as *** should it echo them.

    Servers do ("Cannot POST /services/T000/B000/XXXX"), and a webhook's path is its secret.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    for secret, shown in ((parts.query, "***"), (parts.path, "/***")):
        if len(secret) > 1:
            text = text.replace(secret, shown)
    return text
