"""Reading the files a CSM writes (settings, playbooks, templates, health model, mappings).

Each is read with a size cap and as UTF-8, so a huge or binary file gets one
:class:`UnreadableFile` problem naming it (and the line of a bad byte) before
any parser sees it: the parsers are pure Python and a 50 MB file would take
minutes. The cap is far above any hand-written file (the built-ins are 1-3 KB).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from csm.errors import Problem, ProblemsError

MAX_FILE_BYTES = 128 * 1024
_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


class UnreadableFile(ProblemsError):
    """A file too big, not UTF-8, not there, or (TOML) not parseable; nothing was read."""

    def __init__(self, problem: Problem) -> None:
        super().__init__([problem])
        self.problem = problem


def read_text(path: Path, shown: str | None = None) -> str:
    """The file's text; ``shown`` is how messages name it (default: the path)."""
    name = str(path) if shown is None else shown
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UnreadableFile(Problem(name, 1, 1, f"cannot read it: {exc.strerror or exc}")) from None
    if len(data) > MAX_FILE_BYTES:
        message = f"the file is larger than {MAX_FILE_BYTES // 1024} KB, the most csm reads; split it up"
        raise UnreadableFile(Problem(name, 1, 1, message))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        message = f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        raise UnreadableFile(Problem(name, line, exc.start - line_start + 1, message)) from None


def load_toml(path: Path) -> dict[str, Any]:
    """A TOML file's tables, bounded like :func:`read_text`; any problem is an UnreadableFile."""
    text = read_text(path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_WHERE.search(message)
        line, column = (int(found[1]), int(found[2])) if found else (1, 1)
        lines = text.splitlines()
        source = lines[line - 1] if 0 < line <= len(lines) else ""
        problem = Problem(
            str(path), line, column, f"TOML syntax: {message[: found.start()] if found else message}", source
        )
        raise UnreadableFile(problem) from None
    except RecursionError:
        message = "TOML syntax: arrays or inline tables nested too deeply"
        raise UnreadableFile(Problem(str(path), 1, 1, message)) from None
