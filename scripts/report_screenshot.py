"""Screenshot the HTML report and an account page made from the demo, for the README.

    .venv/bin/python scripts/report_screenshot.py        # writes docs/report.png, docs/account.png

Builds a fresh demo workspace (deterministic, today pinned to 2026-11-23), runs
`csm report --html` and `csm account A1243 --html` as real processes, and has the
system's headless Chromium (the same flags as the browser tests: nothing fetched,
a throwaway profile) photograph each page at its full height, 1280 pixels wide.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
WIDTH = 1280
PAGES = (("report.png", ["report"]), ("account.png", ["account", "A1243"]))
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)


def csm(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "csm", *args], check=True, capture_output=True)


def photograph(page: Path, out: Path, profile: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTH},800"):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        options=options, service=Service(shutil.which("chromedriver") or "chromedriver")
    )
    try:
        driver.get(page.as_uri())
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(WIDTH, height + 140)  # the window's frame: the viewport gets the page
        inner = driver.execute_script("return window.innerHeight")
        driver.set_window_size(WIDTH, height + (height + 140 - inner))
        driver.save_screenshot(str(out))
    finally:
        driver.quit()


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
            photograph(page, args.out / name, Path(tmp) / f"profile-{name}")
            print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
