"""Screenshot the HTML report and an account page made from the demo, for the README.

    .venv/bin/python scripts/report_screenshot.py        # writes docs/report.png, docs/account.png

Builds a fresh demo workspace (deterministic, today pinned to 2026-11-23), runs
`csm report --html` and `csm account A1243 --html` as real processes, and has the
system's headless Chromium (the same flags as the browser tests: nothing fetched,
a throwaway profile) photograph each page at its full height, 1280 pixels wide.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
WIDTH = 1280
PAGES = (("report.png", ["report"]), ("account.png", ["account", "A1243"]))


def csm(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "csm", *args], check=True, capture_output=True)


def photograph(page: Path, out: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.browser import chromium  # the browser tests' launcher: the same flags, a fresh profile

    with chromium(WIDTH, 800) as driver:
        driver.get(page.as_uri())
        height = driver.execute_script("return document.documentElement.scrollHeight")
        frame = 800 - driver.execute_script("return window.innerHeight")  # the window around the page
        driver.set_window_size(WIDTH, height + frame)
        driver.save_screenshot(str(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DOCS, help="folder for the PNGs (default: docs/)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="csm-screenshot-") as tmp:
        demo = Path(tmp) / "demo"
        csm("demo", str(demo))
        for name, command in PAGES:
            page = Path(tmp) / name.replace(".png", ".html")
            csm("-w", str(demo), *command, "--html", str(page))
            photograph(page, args.out / name)
            print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
