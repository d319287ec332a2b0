"""Editing a draft in $EDITOR: a Subject line, a blank line, then the body."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from csm.errors import InputError


def to_text(subject: str, body: str) -> str:
    return f"Subject: {subject}\n\n{body}"


def from_text(text: str, draft_id: int) -> tuple[str, str]:
    """Parse the edited file back; the first line must be the Subject header."""
    head, _, body = text.partition("\n")
    if not head.startswith("Subject:"):
        raise InputError(
            f"draft #{draft_id}: the edited text must start with a 'Subject: ...' line",
            hint="Keep the first line as 'Subject: ...', then a blank line, then the body.",
        )
    return head[len("Subject:") :].strip(), body.lstrip("\n")


def run_editor(text: str, draft_id: int) -> str:
    """Open $VISUAL / $EDITOR on the text and return what was saved."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="csm-edit-") as folder:
        path = Path(folder) / f"draft-{draft_id}.md"
        path.write_text(text, encoding="utf-8")
        try:
            result = subprocess.run([*shlex.split(editor), str(path)], check=False)
        except FileNotFoundError:
            raise InputError(f"editor not found: {editor}", hint="Set $EDITOR, e.g. EDITOR=nano.") from None
        if result.returncode != 0:
            raise InputError(
                f"the editor exited with status {result.returncode}; draft #{draft_id} unchanged"
            )
        return path.read_text(encoding="utf-8")
