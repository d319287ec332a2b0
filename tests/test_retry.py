import datetime as dt
import random
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from csm.data.sync import SourceUnavailable
from csm.errors import TemporaryError
from csm.mail.transports import PermanentFailure, TemporaryFailure
from csm.retry import backoff, parse_retry_after, retry

NOW = dt.datetime(2026, 11, 25, 9, 30, tzinfo=dt.UTC)


class Flaky:
    """Raises the given errors in turn, then returns "done"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def test_success_needs_no_sleep() -> None:
    sleeps: list[float] = []
    assert retry(Flaky(), sleep=sleeps.append) == "done"
    assert sleeps == []


def test_temporary_failures_back_off_with_full_jitter() -> None:
    fn = Flaky(TemporaryFailure("busy"), TemporaryFailure("busy"))
    sleeps: list[float] = []
    seen: list[tuple[int, float, str]] = []

    result = retry(
        fn,
        base=1.0,
        sleep=sleeps.append,
        rng=random.Random(42),
        on_retry=lambda attempt, delay, error: seen.append((attempt, delay, str(error))),
    )

    assert (result, fn.calls) == ("done", 3)
    expected = random.Random(42)
    assert sleeps == [expected.uniform(0, 1.0), expected.uniform(0, 2.0)]
    assert seen == [(1, sleeps[0], "busy"), (2, sleeps[1], "busy")]


def test_retry_after_is_used_and_capped() -> None:
    sleeps: list[float] = []
    fn = Flaky(TemporaryFailure("a", retry_after=7), TemporaryFailure("b", retry_after=900))
    retry(fn, cap=30, sleep=sleeps.append)
    assert sleeps == [7, 30]


def test_last_failure_is_raised_when_attempts_run_out() -> None:
    errors = [TemporaryFailure(f"busy {n}") for n in range(3)]
    fn = Flaky(*errors)
    sleeps: list[float] = []
    with pytest.raises(TemporaryFailure) as caught:
        retry(fn, attempts=3, sleep=sleeps.append, rng=random.Random(1))
    assert caught.value is errors[2]
    assert (fn.calls, len(sleeps)) == (3, 2)


@pytest.mark.parametrize(
    "error",
    [
        PermanentFailure("550 no such user"),
        TemporaryFailure("no answer after DATA", maybe_delivered=True),
        ValueError("a bug"),
    ],
)
def test_only_retryable_failures_are_retried(error: Exception) -> None:
    fn = Flaky(error)
    with pytest.raises(type(error)):
        retry(fn, sleep=lambda _: pytest.fail("slept"))
    assert fn.calls == 1


@pytest.mark.parametrize(
    "error",
    [
        TemporaryError("not now", retry_after=2),
        TemporaryFailure("421 try later", retry_after=2),
        SourceUnavailable("HTTP 503", retry_after=2),
    ],
    ids=["TemporaryError", "a transport's", "a sync source's"],
)
def test_every_temporary_error_is_retried_by_default(error: TemporaryError) -> None:
    fn = Flaky(error)
    sleeps: list[float] = []
    assert retry(fn, sleep=sleeps.append) == "done"
    assert (fn.calls, sleeps) == (2, [2])


def test_the_retry_helper_does_not_load_the_mail_package() -> None:
    code = "import sys, csm.retry; print(sorted(m for m in sys.modules if m.startswith('csm.mail')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_retryable_type_is_a_parameter() -> None:
    fn = Flaky(ConnectionResetError("reset"), TimeoutError("slow"))
    sleeps: list[float] = []
    assert retry(fn, retry_on=OSError, sleep=sleeps.append, rng=random.Random(3)) == "done"
    assert fn.calls == 3


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempts must be 1 or more"):
        retry(Flaky(), attempts=0)


@given(
    attempt=st.integers(1, 50),
    base=st.floats(0, 100),
    cap=st.floats(0, 100),
    retry_after=st.none() | st.floats(-10, 1e6),
    seed=st.integers(0, 2**32),
)
def test_delay_is_never_negative_nor_above_the_cap(
    attempt: int, base: float, cap: float, retry_after: float | None, seed: int
) -> None:
    error = TemporaryFailure("busy", retry_after=retry_after)
    delay = backoff(attempt, error, base=base, cap=cap, rng=random.Random(seed))
    assert 0 <= delay <= cap


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("Wed, 25 Nov 2026 09:30:12 GMT", 12.0),
        ("Wed, 25 Nov 2026 10:30:00 +0100", 0.0),
        ("Wed, 25 Nov 2026 09:00:00 GMT", 0.0),
        ("Wednesday, 25-Nov-26 09:31:00 GMT", 60.0),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds
