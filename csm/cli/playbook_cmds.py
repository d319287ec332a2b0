"""`csm check`, `csm run`, `csm preview`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from csm.cli.common import console, err_console, print_json, runtime
from csm.cli.completion import account_ids, playbook_names
from csm.cli.values import show
from csm.templating.filters import plural

if TYPE_CHECKING:
    from csm.engine.drafting import QueueReport
    from csm.engine.matching import Match, StepResult
    from csm.engine.recipients import Choice
    from csm.runtime import Runtime

Addressing = dict[tuple[str, str, str], "Choice"]


def register(app: typer.Typer) -> None:
    app.command("check")(check)
    app.command("run")(run)
    app.command("preview")(preview)


def check(ctx: typer.Context) -> None:
    """Validate settings, playbooks, templates and the health model; exit 1 on any problem."""
    from csm.checks import check as run_check

    report = run_check(runtime(ctx))
    for problem in report.problems:
        err_console.print(str(problem), markup=False, highlight=False, soft_wrap=True)
    for warning in report.warnings:
        err_console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    summary = f"{report.playbooks} playbooks, {report.templates} templates, the health model"
    if report.problems:
        err_console.print(f"[red]{plural(len(report.problems), 'problem')}[/] in {summary}.")
        raise typer.Exit(1)
    console.print(f"[green]OK[/]: settings, {summary}.")


def _recipients_json(result: StepResult, match: Match, addressing: Addressing) -> dict[str, Any] | None:
    choice = addressing.get((result.playbook.id, result.step.id, match.account_id))
    if choice is None:
        return None
    return {
        "to": [p.email for p in choice.people],
        "skipped": None if choice.people else choice.reason(match.account_name),
        "note": choice.note(match.account_name) if choice.people else None,
    }


def _results_json(results: list[StepResult], addressing: Addressing) -> list[dict[str, Any]]:
    return [
        {
            "playbook": r.playbook.id,
            "step": r.step.id,
            "when": r.step.when.source,
            "email": r.step.email.template if r.step.email else None,
            "task": r.step.task.title if r.step.task else None,
            "matches": [
                {
                    "account": m.account_id,
                    "name": m.account_name,
                    "owner": m.owner,
                    "values": m.values,
                    "dedupe_key": m.dedupe_key(r.playbook, r.step),
                    "recipients": _recipients_json(r, m, addressing),
                }
                for m in r.matches
            ],
            "held_out": [m.account_id for m in r.held_out],
            "exits": list(r.exits),
            "stale": [s.as_json() for s in r.stale],
        }
        for r in results
    ]


def print_stale(rt: Runtime, steps: list[str]) -> None:
    """Loudly, on stderr: which data is stale, since when, and what did not fire because of it."""
    stale = rt.stale_list()
    if not stale:
        return
    err_console.print("[bold red]Stale data[/]: steps that read it do not fire.", highlight=False)
    for item in stale:
        err_console.print(f"  [red]{item}[/]", highlight=False)
    if steps:
        err_console.print(f"  held back: {', '.join(steps)}", highlight=False)
    err_console.print(
        "  Import or sync fresh data (`csm import`, `csm sync`), then run again.", highlight=False
    )


def _print_addressing(result: StepResult, addressing: Addressing, limit: int) -> None:
    """Under a step's matches: the emails nobody would receive, and those missing a role."""
    for match in result.matches[:limit]:
        choice = addressing.get((result.playbook.id, result.step.id, match.account_id))
        if choice is None:
            continue
        if not choice.people:
            console.print(
                f"  [yellow]not drafted[/] {match.account_id}: {choice.reason(match.account_name)}"
                " (a skipped row and a task instead)",
                highlight=False,
            )
        elif note := choice.note(match.account_name):
            console.print(f"  [yellow]note[/] {match.account_id}: {note}", highlight=False)


def _print_results(results: list[StepResult], addressing: Addressing, limit: int) -> None:
    from rich.table import Table  # only a dry run prints one: `csm run` need not import it (17 ms)

    for result in results:
        count = result.match_count
        plural = "account" if count == 1 else "accounts"
        extra = "".join(
            f"  [dim]{label}[/]"
            for label in (
                f"+{result.held_out_count} held out" if result.held_out_count else "",
                f"{len(result.exits)} to exit (until met)" if result.exits else "",
            )
            if label
        )
        held_for = f" for {result.step.for_days}d" if result.step.for_days > 1 else ""
        if result.stale:
            extra += f"  [red]not evaluated: stale {', '.join(s.label for s in result.stale)}[/]"
        console.print(
            f"\n[bold]{result.playbook.id} › {result.step.id}[/]  {count} {plural}{extra}"
            f"  [dim]when {result.step.when.source}{held_for}[/]",
            highlight=False,
        )
        if not count:
            continue
        table = Table(box=None, pad_edge=False, show_header=True, header_style="dim")
        table.add_column("account")
        table.add_column("name", overflow="ellipsis", max_width=28)
        fields = list(result.matches[0].values)
        for name in fields:
            table.add_column(name, justify="right")
        for match in result.matches[:limit]:
            table.add_row(match.account_id, match.account_name, *(show(f, match.values[f]) for f in fields))
        console.print(table)
        _print_addressing(result, addressing, limit)
        if count > limit:
            console.print(f"[dim]… and {count - limit} more (--limit to see more, --json for all)[/]")


def run(
    ctx: typer.Context,
    playbooks: Annotated[
        list[str] | None,
        typer.Argument(help="Playbooks to run (default: all).", autocompletion=playbook_names),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what matches; write nothing.")] = False,
    owner: Annotated[str | None, typer.Option(help="Only accounts owned by this CSM email.")] = None,
    limit: Annotated[int, typer.Option(help="Accounts shown per step.", min=1)] = 20,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing unless something fails (for cron).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Take today's health snapshot, evaluate playbooks, queue drafts and tasks (--dry-run: show only).

    Steps that read stale data (csm.toml's [freshness]) do not fire; the run says so and exits 3.
    """
    rt = runtime(ctx)
    if dry_run:
        _dry_run(rt, playbooks or (), owner, limit, quiet=quiet, as_json=as_json)
        return
    from csm.collector import paused
    from csm.engine import incremental

    with paused():  # a run makes no cycles
        outcome = incremental.run(rt, playbooks or (), owner)
    stale = {"stale": [s.as_json() for s in rt.stale_list()], "held_back": outcome.held_back}
    if not as_json:
        print_stale(rt, outcome.held_back)
    if outcome.report is None:
        if as_json:
            print_json(
                {"today": rt.today.isoformat(), "unchanged": True, "added": [], "skipped": [], **stale}
            )
        elif not quiet:
            console.print(f"Nothing changed since the last run as of {rt.today}: nothing to add.")
    else:
        _print_report(rt, outcome.report, quiet, as_json, stale)
    if outcome.held_back:
        raise typer.Exit(3)


def _dry_run(
    rt: Runtime, names: Sequence[str], owner: str | None, limit: int, *, quiet: bool, as_json: bool
) -> None:
    from csm.engine.matching import evaluate, held_back
    from csm.engine.recipients import addressing

    selected = rt.checked_playbooks(names)
    # A dry run shows `limit` matches per step; only --json needs them all.
    keep = None if as_json else limit
    results = evaluate(
        rt.conn, selected, rt.fields, rt.params, rt.today, owner=owner, keep=keep, stale=rt.stale
    )
    stale = {"stale": [s.as_json() for s in rt.stale_list()], "held_back": held_back(results)}
    if not as_json:
        print_stale(rt, stale["held_back"])
    if not quiet or as_json:
        chosen = addressing(rt.conn, results, rt.params)
        if as_json:
            steps = _results_json(results, chosen)
            print_json({"today": rt.today.isoformat(), "dry_run": True, **stale, "steps": steps})
        else:
            _print_results(results, chosen, limit)
            console.print(f"\n[dim]Dry run as of {rt.today}: nothing was written.[/]")
    if stale["held_back"]:
        raise typer.Exit(3)


def _print_report(
    rt: Runtime, report: QueueReport, quiet: bool, as_json: bool, stale: dict[str, Any]
) -> None:
    if as_json:
        from csm.mail import outbox

        print_json(
            {
                "today": rt.today.isoformat(),
                "unchanged": False,
                "added": [asdict(q) for q in report.added],
                "skipped": [asdict(q) for q in report.skipped],
                "not_drafted": [
                    {"dedupe_key": k, "account": a, "reason": r} for k, a, r in report.not_drafted
                ],
                "exited": [{"playbook": p, "step": s, "account": a} for p, s, a in report.exited],
                "deferred": [
                    {"id": i, "reason": r} for i, r in outbox.reasons(rt.conn, sorted(report.deferred))
                ],
                **stale,
            }
        )
        return
    for key, _account, reason in report.not_drafted:
        err_console.print(f"[yellow]Not drafted[/] {key}: {reason}", highlight=False)
    if quiet:
        return
    drafts = [q for q in report.added if q.kind == "draft"]
    tasks = [q for q in report.added if q.kind == "task"]
    for item in report.added:
        label = "[cyan]draft[/]" if item.kind == "draft" else "[magenta]task [/]"
        console.print(
            f"{label} #{item.id:<5} {item.playbook} › {item.step}  {item.account_name}: {item.summary}",
            highlight=False,
        )
    for item in report.skipped:
        console.print(
            f"[yellow]skip [/] #{item.id:<5} {item.playbook} › {item.step}  {item.account_name}:"
            f" not drafted, {item.summary}",
            highlight=False,
        )
    for playbook_id, step_id, account_id in report.exited:
        console.print(
            f"[green]exit [/] {playbook_id} › {step_id}  {account_id}: until met;"
            " its open tasks closed, unsent drafts withdrawn",
            highlight=False,
        )
    console.print(f"Added {plural(len(drafts), 'draft')} and {plural(len(tasks), 'task')} as of {rt.today}.")
    if report.skipped:
        console.print(
            f"{plural(len(report.skipped), 'email')} not drafted: nobody in the step's roles to write to;"
            " a task for each says what to do."
        )
    if report.deferred:
        console.print(
            f"{plural(len(report.deferred), 'draft')} deferred by the touch budget"
            " (`csm today` says why; each is drafted again once its contact has room)."
        )
    if drafts:
        console.print("Next: `csm today` to see your morning, `csm review` to work the drafts.")


def preview(
    ctx: typer.Context,
    playbook: Annotated[str, typer.Argument(help="Playbook id.", autocompletion=playbook_names)],
    account: Annotated[str, typer.Option("--account", "-a", help="Account id.", autocompletion=account_ids)],
    step: Annotated[
        str | None, typer.Option(help="Step id (default: the first email step that matches).")
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Also write the HTML part to this file.")] = None,
) -> None:
    """Render exactly the email a step would draft for one account, without queueing it."""
    from csm.engine.preview import render_preview

    rt = runtime(ctx)
    result = render_preview(rt, playbook, account, step)
    if not result.matches_today:
        err_console.print(
            f"[yellow]Note:[/] {account} does not match {playbook} › {result.step} as of {rt.today}; "
            "this is what it would get if it did.",
            highlight=False,
        )
    if result.note:
        err_console.print(f"[yellow]Note:[/] {result.note}", highlight=False)
    for name, value in result.headers:
        console.print(f"[bold]{name}:[/] {value}", highlight=False)
    console.print()
    console.print(result.body, markup=False, highlight=False)
    if html is not None:
        html.write_text(result.html, encoding="utf-8")
        err_console.print(f"Wrote the HTML part to {html}")
