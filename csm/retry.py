"""Bounded retries with backoff, and reading a server's Retry-After."""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import time
from collections.abc import Callable
from typing import TypeVar

from csm.errors import TemporaryError

T = TypeVar("T")


def retry(
    fn: Callable[[], T],
    *,
    attempts: int = 4,
    base: float = 0.5,
    cap: float = 30.0,
    retry_on: type[Exception] | tuple[type[Exception], ...] = TemporaryError,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    on_retry: Callable[[int, float, Exception], None] | None = None,
) -> T:
    """Call ``fn`` up to ``attempts`` times while it raises ``retry_on``.

    A failure whose ``maybe_delivered`` is true is never retried: the message
    may have arrived, and sending it again is for a person to decide. The delay before
    attempt n+1 is the failure's ``retry_after`` when it has one, else a
    random value in [0, base * 2**(n-1)] ("full jitter"); both are capped at
    ``cap``. ``on_retry(attempt, delay, error)`` is called before each sleep.
    When the attempts run out, the last failure is raised.
    """
    if attempts < 1:
        raise ValueError("attempts must be 1 or more")
    rng = rng or random.Random()
    attempt = 1
    while True:
        try:
            return fn()
        except retry_on as error:
            if attempt >= attempts or getattr(error, "maybe_delivered", False):
                raise
            delay = backoff(attempt, error, base=base, cap=cap, rng=rng)
            if on_retry is not None:
                on_retry(attempt, delay, error)
            sleep(delay)
            attempt += 1


def backoff(attempt: int, error: Exception, *, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based)."""
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        return min(max(retry_after, 0.0), cap)
    return rng.uniform(0.0, min(cap, base * 2 ** (attempt - 1)))


def parse_retry_after(value: str | None, now: dt.datetime) -> float | None:
    """Seconds to wait from a Retry-After value: delay-seconds or an HTTP date.

    ``now`` is the moment the date is measured from (the response's Date
    header when there is one). Unreadable values give None.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max((when - now).total_seconds(), 0.0)
