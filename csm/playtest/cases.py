"""A playbook test case, as :mod:`csm.playtest.testfile` reads it: what it is given, what it expects."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Given:
    """What a case starts from. Rows are plain records, dates already resolved."""

    accounts: tuple[dict[str, Any], ...] = ()
    contacts: tuple[dict[str, Any], ...] = ()
    usage: tuple[dict[str, Any], ...] = ()
    events: tuple[dict[str, Any], ...] = ()
    timeline: tuple[dict[str, Any], ...] = ()
    health: tuple[dict[str, Any], ...] = ()
    snoozes: tuple[dict[str, Any], ...] = ()
    runs: tuple[dt.date, ...] = ()  # earlier days `csm run` ran on, oldest first
    sent: tuple[dict[str, Any], ...] = ()  # emails a step sent: account, step, to, on
    replies: tuple[dict[str, Any], ...] = ()  # mail from an account: account, from, on


@dataclass(frozen=True)
class DraftSpec:
    account: str
    step: str
    to: tuple[str, ...] | None = None
    cc: tuple[str, ...] | None = None
    subject: str | None = None
    body_contains: tuple[str, ...] = ()
    body_golden: Path | None = None


@dataclass(frozen=True)
class TaskSpec:
    account: str
    step: str
    title: str | None = None
    due: dt.date | None = None
    priority: str | None = None


@dataclass(frozen=True)
class Expect:
    matches: dict[str, tuple[str, ...]] = field(default_factory=dict)  # step -> accounts, exactly
    drafts: tuple[DraftSpec, ...] | None = None  # None: not checked; else exactly these
    tasks: tuple[TaskSpec, ...] | None = None
    suppressed: tuple[tuple[str, str, str], ...] = ()  # (account, step, reason kind)


@dataclass(frozen=True)
class Case:
    path: Path
    line: int
    name: str
    playbook: str
    today: dt.date
    settings: dict[str, Any]
    given: Given
    expect: Expect

    @property
    def id(self) -> str:
        return f"{self.path.stem}::{self.name}"
