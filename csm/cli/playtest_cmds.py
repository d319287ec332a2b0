"""`csm test`: run the playbooks' test files, each case in its own in-memory database."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from csm.cli.common import console, err_console, print_json
from csm.templating.filters import plural

if TYPE_CHECKING:
    from csm.playtest.runner import CaseResult, Failure, SuiteResult


def register(app: typer.Typer) -> None:
    app.command("test")(test)


def _root(ctx: typer.Context, paths: list[Path]) -> Path:
    """The workspace the tests belong to: the one holding the paths given, else the current one."""
    from csm.cli.common import workspace
    from csm.errors import InputError
    from csm.playtest.testfile import root_of

    if not paths:
        return workspace(ctx).root
    roots = {root_of(p) for p in paths}
    if None in roots or len(roots) > 1:
        raise InputError(
            f"{', '.join(map(str, paths))}: test files live in a workspace's playbooks/tests folder",
            hint="Give test files or folders under one playbooks/ folder (beside templates/).",
        )
    (root,) = roots
    assert root is not None
    return root


def test(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Test files or folders (default: playbooks/tests).")
    ] = None,
    keyword: Annotated[
        str | None, typer.Option("-k", help="Only cases whose file::name contains this.", metavar="NAME")
    ] = None,
    update: Annotated[
        bool, typer.Option("--update", help="Rewrite golden files to what is drafted.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Run playbook tests: exit 0 all pass, 1 a case failed, 2 a test file is wrong."""
    from csm.playtest.runner import run_suite

    root = _root(ctx, paths or [])
    printer = _Printer(root)
    result = run_suite(
        root, paths or [], keyword=keyword, update=update, on_case=None if as_json else printer
    )
    if as_json:
        print_json(_suite_json(result, root))
    else:
        _summary(result)
    if result.problems:
        raise typer.Exit(2)
    if result.failed:
        raise typer.Exit(1)


class _Printer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.file: Path | None = None

    def __call__(self, result: CaseResult) -> None:
        if result.case.path != self.file:
            self.file = result.case.path
            console.print(f"[bold]{escape(_relative(self.file, self.root))}[/]", highlight=False)
        mark = "[green]✓[/]" if result.passed else "[red]✗[/]"
        console.print(
            f"  {mark} {escape(result.case.name)}  [dim]{result.seconds * 1000:.0f} ms[/]", highlight=False
        )
        for path in result.updated:
            console.print(f"      [yellow]updated[/] {escape(_relative(path, self.root))}", highlight=False)
        for failure in result.failures:
            _print_failure(failure)


def _print_failure(failure: Failure) -> None:
    console.print(f"      [red]{escape(failure.what)}[/]", highlight=False)
    if failure.diff:
        for line in failure.diff.splitlines():
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
            console.print(f"        [{style}]{escape(line)}[/]", highlight=False)
        return
    console.print(f"        expected: {escape(str(failure.expected))}", highlight=False)
    console.print(f"        actual:   {escape(str(failure.actual))}", highlight=False)


def _summary(result: SuiteResult) -> None:
    for problem in result.problems:
        err_console.print(str(problem), markup=False, highlight=False, soft_wrap=True)
    if not result.cases and not result.problems:
        console.print(
            'No test cases: write them in playbooks/tests/*.yaml (the README\'s "Your first playbook test").',
            highlight=False,
        )
    passed = len(result.cases) - len(result.failed)
    parts = [f"{passed} passed"]
    if result.failed:
        parts.append(f"[red]{len(result.failed)} failed[/]")
    if result.problems:
        parts.append(f"[red]{plural(len(result.problems), 'problem')} in test files[/]")
    console.print(f"{', '.join(parts)} in {result.seconds:.2f} s", highlight=False)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _suite_json(result: SuiteResult, root: Path) -> dict[str, Any]:
    return {
        "passed": len(result.cases) - len(result.failed),
        "failed": len(result.failed),
        "seconds": round(result.seconds, 3),
        "problems": [str(p) for p in result.problems],
        "cases": [
            {
                "file": _relative(c.case.path, root),
                "name": c.case.name,
                "passed": c.passed,
                "ms": round(c.seconds * 1000, 1),
                "updated": [_relative(p, root) for p in c.updated],
                "failures": [
                    {"what": f.what, "expected": f.expected, "actual": f.actual, "diff": f.diff or None}
                    for f in c.failures
                ],
            }
            for c in result.cases
        ],
    }
