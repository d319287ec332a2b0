"""Field mappings: how a CRM export's fields become csm columns.

A mapping is a TOML table ``{csm_column = spec}``. A spec is the source
field's name, or a table with one of ``from`` / ``value`` and options::

    id = "Record ID"
    owner = { from = "Company owner", lowercase = true }
    arr = { from = "Annual Revenue", number = true }          # "$48,000.00" -> 48000.0
    renewal_date = { from = "Close Date", date_format = "%m/%d/%Y" }
    name = { from = "properties.name" }                       # dotted path into nested JSON
    status = { value = "active" }                             # a constant
    goals = { from = "Goals", optional = true }               # an export without it leaves goals as they are

Field names match exactly, else ignoring case and surrounding whitespace.
User mappings in ``<workspace>/mappings/NAME.toml`` win over the built-ins in
``csm/mappings/NAME.toml``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from csm import textfile
from csm.errors import DataImportError, InputError, did_you_mean

BUILTIN_DIR = Path(__file__).parent / "mappings"
USER_DIR = "mappings"

_COLUMN_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_OPTIONS = ("from", "value", "date_format", "number", "lowercase", "optional")
_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%f", "%p", "%X", "%c", "%z", "%T", "%R")
# A currency sign or code before or after the number, thousands separated by commas.
_CURRENCY = r"(?:[A-Z]{3}|[$€£¥])?"
_MONEY_RE = re.compile(rf"{_CURRENCY}\s*([-+]?(?:\d{{1,3}}(?:,\d{{3}})+|\d*)(?:\.\d+)?)\s*{_CURRENCY}")
_MISSING = object()


@dataclass(frozen=True)
class FieldSpec:
    """One csm column: where its value comes from and how it is transformed."""

    column: str
    source: str | None = None
    value: Any = None
    date_format: str | None = None
    number: bool = False
    lowercase: bool = False
    optional: bool = False  # an export without the field leaves the column as it was

    def convert(self, raw: Any, location: str) -> Any:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if self.date_format is not None:
            return self._date(raw, location)
        if self.number:
            return self._number(raw, location)
        if self.lowercase and isinstance(raw, str):
            return raw.lower()
        return raw

    def _date(self, raw: Any, location: str) -> dt.date:
        fmt = self.date_format or ""
        try:
            parsed = dt.datetime.strptime(str(raw).strip(), fmt)
        except ValueError:
            example = dt.datetime(2026, 3, 14, 9, 30).strftime(fmt)
            raise DataImportError(
                f"{location}, field '{self.source}': {raw!r:.60} does not match the date format "
                f"{fmt} (like {example})"
            ) from None
        return parsed if any(d in fmt for d in _TIME_DIRECTIVES) else parsed.date()

    def _number(self, raw: Any, location: str) -> float | int:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return raw
        match = _MONEY_RE.fullmatch(str(raw).strip())
        if match is None or not any(c.isdigit() for c in match.group(1)):
            raise DataImportError(f"{location}, field '{self.source}': {raw!r:.60} is not a number")
        text = match.group(1).replace(",", "")
        try:
            return float(text) if "." in text else int(text)
        except ValueError:  # Python's int() reads at most 4,300 digits
            raise DataImportError(f"{location}, field '{self.source}': {raw!r:.60} is too large") from None


@dataclass(frozen=True)
class Mapping:
    """A validated mapping; ``source`` names where it came from, for messages."""

    name: str
    source: str
    fields: tuple[FieldSpec, ...]

    def apply(self, record: MappingABC[str, Any], location: str) -> dict[str, Any]:
        """The record as csm columns; ``location`` (e.g. "accounts.csv: row 4") starts errors."""
        out: dict[str, Any] = {}
        for spec in self.fields:
            if spec.source is None:
                out[spec.column] = spec.value
                continue
            raw = _lookup(record, spec.source)
            if raw is _MISSING and spec.optional:
                continue
            if raw is _MISSING:
                raise DataImportError(
                    f"{location}: no field '{spec.source}' (mapping '{self.name}' reads it "
                    f"for '{spec.column}')",
                    hint=f"Check the export's columns, or edit the mapping ({self.source}).",
                )
            out[spec.column] = spec.convert(raw, location)
        return out


def _fold(key: str) -> str:
    return " ".join(key.split()).casefold()


def _get(record: MappingABC[str, Any], key: str) -> Any:
    value = record.get(key, _MISSING)
    if value is _MISSING:
        folded = _fold(key)
        value = next((v for k, v in record.items() if _fold(str(k)) == folded), _MISSING)
    return value


def _lookup(record: MappingABC[str, Any], source: str) -> Any:
    value = _get(record, source)
    if value is not _MISSING or "." not in source:
        return value
    value = record
    for part in source.split("."):
        if not isinstance(value, MappingABC):
            return _MISSING
        value = _get(value, part)
        if value is _MISSING:
            return _MISSING
    return value


def parse_mapping(raw: dict[str, Any], source: str, name: str | None = None) -> Mapping:
    """Validate a raw ``{csm_column: spec}`` table; errors name ``source`` and the key."""
    if not raw:
        raise InputError(f'{source}: the mapping is empty; add lines like id = "Record ID"')
    return Mapping(
        name=name or Path(source).stem,
        source=source,
        fields=tuple(_parse_spec(column, spec, source) for column, spec in raw.items()),
    )


def _parse_spec(column: str, spec: Any, source: str) -> FieldSpec:
    def error(message: str) -> InputError:
        return InputError(f"{source}: '{column}': {message}")

    if not _COLUMN_RE.match(column):
        raise error("not a csm column name (lowercase letters, digits and _, like renewal_date)")
    if isinstance(spec, str):
        spec = {"from": spec}
    if not isinstance(spec, dict):
        raise error(f'expected a field name or a table like {{ from = "..." }}, got {spec!r}')
    for key in spec:
        if key not in _OPTIONS:
            raise error(f"unknown option '{key}'{did_you_mean(key, _OPTIONS)}")
    if ("from" in spec) == ("value" in spec):
        raise error('give exactly one of from = "Field name" or value = constant')
    if "value" in spec:
        if len(spec) > 1:
            raise error("a constant value takes no other options")
        if not isinstance(spec["value"], str | int | float | bool):
            raise error(f"value must be text, a number or true/false, got {spec['value']!r}")
        return FieldSpec(column, value=spec["value"])
    field = spec["from"]
    if not isinstance(field, str) or not field.strip():
        raise error("from must be a field name")
    for flag in ("number", "lowercase", "optional"):
        if not isinstance(spec.get(flag, False), bool):
            raise error(f"{flag} must be true or false")
    date_format = spec.get("date_format")
    if date_format is not None:
        _check_date_format(date_format, error)
    if sum((date_format is not None, spec.get("number", False), spec.get("lowercase", False))) > 1:
        raise error("choose one of date_format, number and lowercase")
    return FieldSpec(
        column,
        source=field,
        date_format=date_format,
        number=spec.get("number", False),
        lowercase=spec.get("lowercase", False),
        optional=spec.get("optional", False),
    )


def _check_date_format(fmt: Any, error: Any) -> None:
    if not isinstance(fmt, str) or "%" not in fmt:
        raise error(f'date_format must be a format like "%m/%d/%Y", got {fmt!r}')
    try:
        dt.datetime.strptime(dt.datetime(2026, 3, 14, 9, 30).strftime(fmt), fmt)
    except ValueError as exc:
        raise error(f"date_format {fmt!r} does not work: {exc}") from None


def available_mappings(workspace_root: Path) -> list[str]:
    """Names of the user's and the built-in mappings, sorted."""
    folders = (workspace_root / USER_DIR, BUILTIN_DIR)
    return sorted({p.stem for folder in folders if folder.is_dir() for p in folder.glob("*.toml")})


def load_mapping(name: str, workspace_root: Path) -> Mapping:
    """The mapping called ``name``: the workspace's own first, then the built-in one."""
    if _NAME_RE.match(name):
        for folder in (workspace_root / USER_DIR, BUILTIN_DIR):
            path = folder / f"{name}.toml"
            if path.is_file():
                return _read(path, name)
    available = available_mappings(workspace_root)
    raise InputError(
        f"no mapping named '{name}'{did_you_mean(name, available)}; "
        f"available: {', '.join(available) or 'none'}",
        hint=f"Add your own as {workspace_root / USER_DIR / name}.toml.",
    )


def _read(path: Path, name: str) -> Mapping:
    return parse_mapping(textfile.load_toml(path), str(path), name)
