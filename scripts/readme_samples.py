"""Rewrite the README's sample outputs from what the demo workspace prints.

    .venv/bin/python scripts/readme_samples.py           # build a demo, rewrite README.md
    .venv/bin/python scripts/readme_samples.py --check   # exit 1 if a sample has drifted

A sample sits between two markers, the command it shows named in the first:

    <!-- sample: csm today -->
    ```
    ...
    ```
    <!-- /sample -->

Each command runs as a real `csm` process on one fresh copy of the demo, in
the order of SAMPLES, with NO_COLOR and a fixed width; long outputs are cut
to the parts SAMPLES names, a line "…" marking each cut. tests/test_readme.py
runs the same functions and fails when the README no longer matches.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
WIDTH = 100
CUT = "…"


@dataclass(frozen=True)
class Sample:
    command: str  # as the README shows it, after `csm`
    # The parts to keep: (the start of a line that opens a part, how many lines from it); none: all.
    keep: tuple[tuple[str, int], ...] = ()
    language: str = ""


SAMPLES = (
    Sample("inbox --mbox inbox.mbox"),
    Sample(
        "today",
        (
            ("Good morning.", 7),
            ("Drafts to review (", 3),
            ("Tasks (", 3),
            ("Renewals coming up (", 3),
            ("Health falling (", 3),
            ("Silent accounts (", 5),
        ),
    ),
    Sample("today --json --no-run", language="json"),
    Sample("outbox", (("id ", 4), ("+ ", 1))),
    Sample("account A1035", (("Kestrel Robotics", 6),)),
    Sample("health", (("Health of", 4), ("Biggest drops", 3))),
    Sample("health A1179", (("Redwood Dental", 5), ("Health fell", 2))),
    Sample("report", (("Playbook report", 6), ("After the touch", 5), ("Holdouts", 10))),
    Sample("account A1225", (("Orchid Insurance", 6), ("Timeline", 5))),
    Sample("explain A1026 renewal-ahead heads-up"),
    Sample(
        "backtest --from 2026-07-27 --to 2026-09-27 --playbook renewal-ahead",
        (("Backtest", 2), ("renewal-ahead › heads-up", 14)),
    ),
)


def run(workspace: Path, command: str) -> str:
    """`csm -w WORKSPACE COMMAND` as a person would run it, without colour, at a fixed width."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSM_")}
    env.update(NO_COLOR="1", COLUMNS=str(WIDTH), PYTHONIOENCODING="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "csm", "-w", str(workspace), *command.split()],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=workspace,  # as the README's `cd csm-demo`: relative paths are the workspace's
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"csm {command} exited {result.returncode}: {result.stderr}")
    return result.stdout


def trim(output: str, keep: tuple[tuple[str, int], ...]) -> str:
    """The kept parts of an output, each cut marked with a line "…"; trailing spaces dropped."""
    lines = [line.rstrip() for line in output.rstrip("\n").splitlines()]
    if not keep:
        return "\n".join(lines)
    kept: list[str] = []
    end = 0
    for start, count in keep:
        at = next((i for i in range(end, len(lines)) if lines[i].startswith(start)), None)
        if at is None:
            raise ValueError(f"no line starting {start!r} after line {end} of:\n{output}")
        if at > end:
            kept.append(CUT)
        kept.extend(lines[at : at + count])
        end = at + count
    if end < len(lines):
        kept.append(CUT)
    return "\n".join(kept)


def json_shape(output: str) -> str:
    """A JSON object with each list cut to its first item: the shape, not the data."""
    data = json.loads(output)
    shape = {key: value[:1] if isinstance(value, list) else value for key, value in data.items()}
    return json.dumps(shape, indent=2, ensure_ascii=False)


def render(workspace: Path) -> dict[str, str]:
    """Every sample's text, run in order on the workspace (which it changes, as a morning would)."""
    texts = {}
    for sample in SAMPLES:
        output = run(workspace, sample.command)
        texts[sample.command] = json_shape(output) if sample.language == "json" else trim(output, sample.keep)
    return texts


_BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)<!-- sample: csm (?P<command>[^>]+?) -->\n.*?^(?P=indent)<!-- /sample -->$",
    re.M | re.S,
)


def rewrite(readme: str, texts: dict[str, str]) -> str:
    """The README with every marked sample replaced by its text."""
    languages = {s.command: s.language for s in SAMPLES}

    def block(match: re.Match[str]) -> str:
        indent, command = match["indent"], match["command"]
        if command not in texts:
            raise KeyError(f"README marks a sample 'csm {command}' that scripts/readme_samples.py lacks")
        body = [f"{indent}{line}" if line else "" for line in texts[command].splitlines()]
        fence = f"{indent}```"
        return "\n".join(
            [
                f"{indent}<!-- sample: csm {command} -->",
                fence + languages[command],
                *body,
                fence,
                f"{indent}<!-- /sample -->",
            ]
        )

    return _BLOCK.sub(block, readme)


def drift(readme: str, texts: dict[str, str]) -> str:
    """A unified diff of the README against its regenerated samples ('' when they match)."""
    fresh = rewrite(readme, texts)
    diff = difflib.unified_diff(
        readme.splitlines(), fresh.splitlines(), "README.md", "README.md (from the demo)", lineterm=""
    )
    return "\n".join(diff)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a sample has drifted; write nothing")
    args = parser.parse_args()
    from csm.demo import build_demo

    with tempfile.TemporaryDirectory() as tmp:
        texts = render(build_demo(Path(tmp) / "demo").root)
    readme = README.read_text(encoding="utf-8")
    if args.check:
        diff = drift(readme, texts)
        print(diff or "The README's samples match the demo.")
        return 1 if diff else 0
    README.write_text(rewrite(readme, texts), encoding="utf-8")
    print(f"Rewrote {len(_BLOCK.findall(readme))} samples in {README}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
