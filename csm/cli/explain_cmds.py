"""`csm explain`: why each step matched an account or not, and what holds a match back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.tree import Tree

from csm.cli.common import console, print_json, runtime
from csm.cli.completion import account_ids, playbook_names
from csm.cli.values import show

if TYPE_CHECKING:
    from csm.engine.explain import Clause, Explanation, StepVerdict


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)


def explain(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="Account id.", autocompletion=account_ids)],
    playbook: Annotated[
        str | None, typer.Argument(help="Only this playbook.", autocompletion=playbook_names)
    ] = None,
    step: Annotated[str | None, typer.Argument(help="Only this step of it.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Why each step matches ACCOUNT or not today, clause by clause, and why a match would not draft."""
    from csm.engine.explain import Context
    from csm.engine.explain import explain as explain_account

    rt = runtime(ctx)
    playbooks = rt.playbooks([playbook] if playbook else ())
    settings = rt.ws.settings
    context = Context(rt.stale, settings.timezone, settings.holidays)
    found = explain_account(
        rt.conn, playbooks, rt.fields, rt.params, rt.today, account, step, context=context
    )
    if as_json:
        print_json(explanation_json(found))
        return
    console.print(
        f"[bold]{escape(found.account_id)}[/] {escape(found.account_name)}, as of {found.today}",
        highlight=False,
    )
    for verdict in found.steps:
        console.print(_step_tree(verdict))


def explanation_json(found: Explanation) -> dict[str, Any]:
    return {
        "account": found.account_id,
        "name": found.account_name,
        "today": found.today.isoformat(),
        "steps": [
            {
                "playbook": v.playbook,
                "step": v.step,
                "title": v.title,
                "matched": v.matched,
                "would_act": v.would_act,
                "audience": _clause_json(v.audience) if v.audience else None,
                "when": _clause_json(v.when),
                "reasons": [
                    {"kind": r.kind, "message": r.message, "blocking": r.blocking, **r.details}
                    for r in v.reasons
                ],
            }
            for v in found.steps
        ],
    }


def _clause_json(clause: Clause) -> dict[str, Any]:
    return {
        "condition": clause.source,
        "value": clause.value,
        "reads": clause.reads,
        "unknown_because": list(clause.empty) if clause.value is None else [],
        "parts": [_clause_json(p) for p in clause.parts],
    }


def _headline(verdict: StepVerdict) -> str:
    if verdict.would_act:
        state = "[green]✓ matches[/]: a run today adds it"
    elif verdict.matched:
        state = "[yellow]✓ matches, held back[/]"
    elif verdict.reasons:
        state = "[yellow]✗ held back[/] though the conditions hold"
    else:
        state = "[dim]✗ no match[/]"
    return f"[bold]{escape(verdict.playbook)} › {escape(verdict.step)}[/]  {state}"


def _step_tree(verdict: StepVerdict) -> Tree:
    tree = Tree(_headline(verdict), highlight=False)
    if verdict.audience is not None:
        _add_clause(tree, "audience", verdict.audience)
    _add_clause(tree, "when", verdict.when)
    if verdict.reasons:
        branch = tree.add("[bold]held back[/]" if not verdict.would_act else "[bold]to know[/]")
        for reason in verdict.reasons:
            mark = "[red]•[/]" if reason.blocking else "[yellow]note[/]"
            branch.add(f"{mark} {escape(reason.message)}", highlight=False)
    return tree


def _value_text(clause: Clause) -> str:
    if clause.value is None:
        return f"[yellow]? unknown[/] ({', '.join(clause.empty)} empty)"
    return "[green]true[/]" if clause.value else "[red]false[/]"


def _add_clause(tree: Tree, label: str | None, clause: Clause) -> None:
    shown = () if clause.parts else clause.reads.items()  # a leaf says what it read
    reads = ", ".join(f"{name} = {'null' if value is None else show(name, value)}" for name, value in shown)
    head = f"[dim]{label}[/] " if label else ""
    branch = tree.add(
        f"{head}{escape(clause.source)}  {_value_text(clause)}"
        + (f"  [dim]{escape(reads)}[/]" if reads else ""),
        highlight=False,
    )
    for part in clause.parts:
        _add_clause(branch, None, part)
