"""Values: one converter per column type, each a raw value in, a storable value out.

A converter takes what a file gave (text from a CSV, any JSON value) and
returns what the column stores, or raises :class:`BadValue` saying why not, in
words a message can quote after "row 3, column 'arr': ". A value SQLite cannot
hold (a whole number past 64 bits, inf, NaN) is refused here, not by the
database.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import operator
import re
from collections.abc import Callable, Sequence
from typing import Any

Converter = Callable[[Any], Any]


class BadValue(ValueError):
    """A value that does not fit its column."""


_GROUPED_RE = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_WHOLE_RE = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3}){1,6}|\d{1,19})")  # at most 19 digits, like int64
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_METRIC_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DECIMAL_RE = re.compile(r"[-+]?\d+\.\d+")
_BOOLEANS = {"true": 1, "false": 0, "yes": 1, "no": 0, "y": 1, "n": 0, "1": 1, "0": 0, "": 0}
_DATETIME_HELP = "expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"


def shown(value: Any) -> str:
    """A value as a message quotes it: stripped, and cut short when long."""
    text = repr(value.strip() if isinstance(value, str) else value)
    return text if len(text) <= 60 else f"{text[:50]}... ({len(text):,} characters)"


def _storable(number: int | float, given: Any = None) -> int | float:
    """``number`` if SQLite can hold it: a whole number of 64 bits, a float that is not inf or NaN.

    ``given``: the value it was read from, as the message shows it.
    """
    if isinstance(number, float):
        if not math.isfinite(number):
            raise BadValue(f"{number!r} is not a number the database can hold")
    elif not -(2**63) <= number < 2**63:
        quoted = number if given is None else given
        as_text = "" if isinstance(quoted, str) else "; if it is an ID, give it as text"
        raise BadValue(
            f"{shown(quoted)} is too large for the database (whole numbers go up to "
            f"9,223,372,036,854,775,807){as_text}"
        )
    return number


def _text(value: Any) -> str | None:
    if type(value) is str:
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(_storable(value))
    if isinstance(value, dt.date):
        return value.isoformat()
    kind = "a list" if isinstance(value, list) else "an object"
    raise BadValue(f"{kind} is not a single value; flatten it, or pick a field with --map")


LIST_SEPARATORS = re.compile(r"[\n;]")  # a line each, or "a; b" as CRM multi-select fields export


def text_list(value: Any) -> str | None:
    """Free text or a list (JSON, or items on lines or between semicolons), kept as one item a line."""
    if isinstance(value, list):
        parts = [_text(item) for item in value]
    else:
        text = _text(value)
        parts = LIST_SEPARATORS.split(text) if text else []
    items = [part.strip() for part in parts if part and part.strip()]
    return "\n".join(items) or None


def _parse_number(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        if not _GROUPED_RE.fullmatch(text):
            raise BadValue(f"{shown(text)} is not a number") from None
        return float(text.replace(",", ""))
    if "_" in text or not math.isfinite(number):
        too_large = not math.isnan(number) and text.lstrip("+-")[:1].isdigit()  # 1e999, not inf
        raise BadValue(f"{shown(text)} is {'too large for the database' if too_large else 'not a number'}")
    return number


def _number(value: Any) -> float | int | None:
    if type(value) is str:
        text = value.strip()
        return _parse_number(text) if text else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadValue(f"{shown(value)} is not a number")
    return _storable(value)


def _integer(value: Any) -> int | None:
    if type(value) is str:
        text = value.strip()
        if text.isdecimal() and len(text) <= 19:  # 64 bits hold 19 digits, not all of them
            return int(text) if len(text) < 19 else int(_storable(int(text), value))
    number = _number(value)
    if number is None:
        return None
    if not float(number).is_integer():
        raise BadValue(f"{shown(value)} is not a whole number")
    return int(_storable(int(number), value))


def _date(value: Any) -> str | None:
    if type(value) is str:
        text = value.strip()
        if not text:
            return None
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            try:
                dt.date.fromisoformat(text)
                return text
            except ValueError:
                pass
    elif value is None:
        return None
    elif isinstance(value, dt.datetime):
        return value.date().isoformat()
    elif isinstance(value, dt.date):
        return value.isoformat()
    raise BadValue(f"{shown(value)} is not a date (expected YYYY-MM-DD)")


def _date_or_datetime(value: Any) -> str | None:
    """A date as given, or a date-time as YYYY-MM-DDTHH:MM:SS (in UTC if it had an offset)."""
    moment = value
    if type(value) is str and len(value.strip()) > 10:
        text = value.strip()
        if len(text) == 19 and text[10] == "T" and text[4] == "-" and text[7] == "-":
            try:  # already YYYY-MM-DDTHH:MM:SS
                dt.datetime.fromisoformat(text)
                return text
            except ValueError:
                pass
        try:
            if text[4] != "-" or text[7] != "-" or text[10] not in "T ":
                raise ValueError(text)
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise BadValue(f"{shown(text)} is not a date or date-time ({_DATETIME_HELP})") from None
    if not isinstance(moment, dt.datetime):
        try:
            return _date(value)
        except BadValue:
            raise BadValue(f"{shown(value)} is not a date or date-time ({_DATETIME_HELP})") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds")


def _email(value: Any) -> str | None:
    """An address as given, lower-cased; an internationalised one (user@bücher.de) too."""
    text = _text(value)
    if text is None:
        return None
    if not _EMAIL_RE.fullmatch(text):
        raise BadValue(f"{shown(text)} is not an email address (like name@example.com)")
    if not text.isprintable():  # control, bidi-override and zero-width characters
        odd = next(c for c in text if not c.isprintable())
        raise BadValue(f"{shown(text)} has an invisible character (U+{ord(odd):04X}) in it; retype it")
    address = text.lower()
    if not address.isascii():
        domain = address.rpartition("@")[2]
        problem = _idna_problem(domain)
        if problem:
            raise BadValue(f"{shown(text)}: {shown(domain)} is no domain mail can be sent to ({problem})")
    return address


@functools.lru_cache(maxsize=4096)
def _idna_problem(domain: str) -> str | None:
    """Why ``domain`` has no ASCII form for mail to be sent to (bücher.de has: xn--bcher-kva.de)."""
    import idna  # what sending encodes it with (UTS 46, IDNA 2008)

    try:
        idna.encode(domain, uts46=True)
    except UnicodeError as exc:  # idna.IDNAError: a label too long, or characters IDNA refuses
        return f"IDNA: {exc}"
    return None


def _boolean(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, int) and value in (0, 1):
        return int(value)
    if isinstance(value, str):
        flag = _BOOLEANS.get(value.strip().lower())
        if flag is not None:
            return flag
    raise BadValue(f"{shown(value)} is not true or false (expected true, false, yes, no, 1 or 0)")


def _status(value: Any) -> str:
    text = _text(value)
    return text.lower() if text else "active"


def _role(value: Any) -> str | None:
    text = _text(value)
    return re.sub(r"[\s-]+", "_", text.lower()) if text else None


def _metric(value: Any) -> str | None:
    text = _text(value)
    if text is not None and not _METRIC_RE.fullmatch(text):
        raise BadValue(f"{shown(text)} is not a metric name (letters, digits and _, like active_users)")
    return text


def _kind(value: Any) -> str | None:
    """An event's kind, as conditions name it: ticket, nps_response."""
    text = _text(value)
    if text is not None and not _METRIC_RE.fullmatch(text):
        raise BadValue(f"{shown(text)} is not an event kind (letters, digits and _, like nps_response)")
    return text.lower() if text else None


def _attributes(value: Any) -> dict[str, Any] | None:
    """An event's attributes given whole: a JSON object, or text holding one."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise BadValue(f"{shown(value)} is not a JSON object") from None
    if not isinstance(value, dict):
        raise BadValue(f"{shown(value)} is not a JSON object of attributes")
    return value


def attribute(value: Any) -> Any:
    """One free attribute of an event: numbers stay numbers (a CSV's "6" is 6), so conditions compare them."""
    if type(value) is str:
        text = value.strip()
        if _WHOLE_RE.fullmatch(text) and "," not in text:
            return int(_storable(int(text)))
        if _DECIMAL_RE.fullmatch(text):
            return _storable(float(text))
        return text or None
    if value is None or isinstance(value, bool | dict | list):
        return value
    if isinstance(value, int | float):
        return _storable(value)
    return _text(value)


def account_ref(ids: set[str]) -> Converter:
    """Text naming one of the accounts ``ids``."""

    def existing(value: Any) -> str | None:
        text = _text(value)
        if text is not None and text not in ids:
            raise BadValue(f"no account {shown(text)}; import accounts first")
        return text

    return existing


class _Required:
    """``convert``, refusing an empty value (a class, so :func:`convert_texts` can see a text inside)."""

    __slots__ = ("convert",)

    def __init__(self, convert: Converter) -> None:
        self.convert = convert

    def __call__(self, value: Any) -> Any:
        result = self.convert(value)
        if result is None:
            raise BadValue("a value is required")
        return result


def required(convert: Converter) -> Converter:
    """``convert``, refusing an empty value."""
    return _Required(convert)


class Remembered:
    """One CSV column's converted values, remembered from chunk to chunk of an import.

    A column's dates, owners and plans repeat all through a file: each distinct value is
    converted once per import, not once per chunk. Past ``limit`` distinct values (ids,
    amounts) it forgets them and converts a chunk's distinct values afresh, so memory
    stays flat.
    """

    __slots__ = ("altered", "as_given", "limit", "results", "wide")

    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        self.results: dict[str, Any] = {}
        self.as_given = True  # every value so far is stored as it was given
        self.wide = False  # too many distinct values to remember
        # The values so far a database would not read as what they convert to (None: too many).
        self.altered: set[str] | None = set()

    def convert(self, convert: Converter, values: Sequence[str]) -> Sequence[Any]:
        results = self.results
        if self.wide:
            results = {}
        elif not self.as_given:
            try:
                return list(map(results.__getitem__, values))
            except KeyError:  # a value not seen before
                pass
        fresh = set(values).difference(results)  # a set first: a column's few values, looked up once each
        if not fresh and self.as_given:  # the common case, after a chunk or two: nothing new
            return values
        for value in fresh:
            results[value] = convert(value)
        if self.altered is not None:
            self.altered.update(v for v in fresh if not reads_as(v, results[v]))
            if len(self.altered) > self.limit:
                self.altered = None
        self.as_given = self.as_given and all(map(operator.is_, fresh, map(results.__getitem__, fresh)))
        converted = values if self.as_given else list(map(results.__getitem__, values))
        if len(results) > self.limit:
            self.results, self.wide = {}, True
        return converted


_WHOLE_TEXT_RE = re.compile(r"[0-9]{1,19}|-[0-9]{1,15}")  # a negative one is read through a float
_DECIMAL_TEXT_RE = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,15})?")  # short: no float underflows


def reads_as(text: str, value: Any) -> bool:
    """Whether a database reading ``text`` into a column gets ``value`` (what ``text`` converted to).

    So when the text is the value's own spelling: the same text, an empty text for None, a
    plain whole number for an int, a plain decimal for a float (both sides round a decimal
    to the nearest float). Not: padding, a sign +, grouping, an exponent.
    """
    if value is None:
        return text == ""
    if type(value) is str:
        return value == text
    if type(value) is int:
        return _WHOLE_TEXT_RE.fullmatch(text) is not None
    return type(value) is float and _DECIMAL_TEXT_RE.fullmatch(text) is not None


# The spellings a database reads, as CSV, as what they convert to (:func:`spelling`); each one
# of a value not empty. In them ``{x}``: the characters no value may hold (the file's delimiter,
# the quote); ``{lower}``: printable lower-case ASCII but those and a space (what ``str.lower``
# leaves as it is), ``{address}`` the same but "@", ``{label}`` but "@" and "." too. Classes of
# ASCII, not "all but" ranges: compiling one up to U+10FFFF costs milliseconds.
_INNER = r"\n\r{x}"  # inside a value: no line break, delimiter or quote
_EDGE = r"\s{x}"  # at either end: no space (free text is stripped) either
_LOWER = "".join(c for c in map(chr, range(0x21, 0x7F)) if not c.isupper())
_YEAR_MONTH_DAY = (  # the common days first: the 29th to the 31st of the months that have them
    r"(?!0000)(?:[0-9]{{4}}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
    r"|(?:[0-9]{{2}}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)"
)

# Each converter's spelling, and whether an empty text (None: NULL to the database) is one.
_SPELLINGS: dict[Converter, tuple[str, bool]] = {
    _text: (f"[^{_EDGE}](?:[^{_INNER}]*[^{_EDGE}])?", True),
    text_list: (f"[^{_EDGE};](?:[^{_INNER};]*[^{_EDGE};])?", True),  # one item
    _status: ("[{lower}](?:[ {lower}]*[{lower}])?", False),  # empty: "active"
    _number: (r"-?[0-9]{{1,15}}(?:\.[0-9]{{1,15}})?", True),  # short: no float underflows
    _integer: (r"[0-9]{{1,18}}|-[0-9]{{1,15}}", True),  # in 64 bits; a negative one read exactly
    _date: (_YEAR_MONTH_DAY, True),
    _date_or_datetime: (_YEAR_MONTH_DAY + r"(?:T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9])?", True),
    _email: (r"[{address}]+@[{label}]+(?:\.[{label}]+)+", True),
    _boolean: (r"[01]", False),  # empty: false
    _metric: (r"[A-Za-z_][A-Za-z0-9_]*", True),
}


def spelling(convert: Converter, delimiter: str) -> str | None:
    """A regular expression for a column's values read as CSV text (split at ``delimiter``, no
    quote): a value it matches whole converts, with no error, to what a database reading the
    text gets (:func:`reads_as`); None when there is no such expression for ``convert``.

    A value it does not match may still convert: checking it is then :func:`convert_texts`' work.
    """
    needed = isinstance(convert, _Required)
    found = _SPELLINGS.get(convert.convert if isinstance(convert, _Required) else convert)
    if found is None:
        return None
    pattern, empty = found
    excluded = delimiter + '"'
    lower = "".join(re.escape(c) for c in _LOWER if c not in excluded)
    pattern = pattern.format(
        x=re.escape(excluded),
        lower=lower,
        address=lower.replace("@", ""),
        label=lower.replace("@", "").replace(re.escape("."), ""),
    )
    return f"(?:{pattern})" if needed or not empty else f"(?:{pattern})?"


def read_verbatim(
    convert: Converter, values: Sequence[str], converted: Sequence[Any], memo: Remembered
) -> bool:
    """Whether a database reading each of ``values`` as text gets what :func:`convert_texts` made
    of them (``converted``, with ``memo``): then a CSV's text can go to the database as it is."""
    if converted is values:  # stored as given
        return True
    if convert is _text or (isinstance(convert, _Required) and convert.convert is _text):
        return all(map(operator.is_, converted, values))  # nothing stripped, nothing empty
    return memo.altered is not None and (not memo.altered or memo.altered.isdisjoint(values))


def convert_texts(convert: Converter, values: Sequence[str], memo: Remembered | None = None) -> Sequence[Any]:
    """A CSV column's values (text, every one), converted; BadValue at any bad one.

    Each distinct value is converted once (a column's dates, owners and plans repeat; with
    ``memo``, once in all the chunks it remembers), and a column whose every value stores as
    given (dates, ids) comes back as it is; free text is stripped in one pass. The same
    values, one by one, give the same results.
    """
    if convert is _text or (isinstance(convert, _Required) and convert.convert is _text):
        # Free text in one pass: strip returns a value with nothing to strip as it is.
        texts = list(map(str.strip, values))
        if "" not in texts:
            return texts
        if convert is not _text:
            raise BadValue("a value is required")
        return [text or None for text in texts]
    # A required column's converter refuses an empty value itself: each distinct value, once.
    return (memo or Remembered()).convert(convert, values)


def scalar(value: Any) -> Any:
    """A new column's value, kept as it is until the column's type is known."""
    if type(value) is str:
        return value.strip() or None
    if value is None or isinstance(value, dt.date):
        return value
    return _storable(value) if isinstance(value, int | float) else _text(value)


def _whole(value: Any) -> int | None:
    if value is None or type(value) is int:
        return value
    if type(value) is str and _WHOLE_RE.fullmatch(value):
        return int(_storable(int(value.replace(",", ""))))
    raise BadValue("not a whole number")


def _true_false(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None if value is None else int(value)
    flag = {"true": 1, "false": 0}.get(value.lower()) if type(value) is str else None
    if flag is None:
        raise BadValue("not true or false")
    return flag


def infer_type(values: list[Any]) -> tuple[str, list[Any]]:
    """The declared type every value fits (INTEGER, REAL, DATE, BOOLEAN, else TEXT)."""
    if any(v is not None for v in values):
        for declared, convert in (
            ("INTEGER", _whole),
            ("REAL", _number),
            ("DATE", _date),
            ("BOOLEAN", _true_false),
        ):
            try:
                return declared, [convert(v) for v in values]
            except BadValue:
                continue
    return "TEXT", [_text(v) for v in values]


CONVERTERS: dict[str, Converter] = {
    "text": _text,
    "number": _number,
    "integer": _integer,
    "date": _date,
    "date_or_datetime": _date_or_datetime,
    "email": _email,
    "boolean": _boolean,
    "status": _status,
    "role": _role,
    "metric": _metric,
    "kind": _kind,
    "attributes": _attributes,
    "text_list": text_list,
}
