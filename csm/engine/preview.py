"""`csm preview`: the exact email a step would draft for one account."""

from __future__ import annotations

from dataclasses import dataclass

from csm.engine import drafting
from csm.engine.matching import Match, account_rows, evaluate
from csm.engine.recipients import NOTE_KEY, account_contacts, contact_addresses, respondents
from csm.errors import InputError, NotFound, did_you_mean
from csm.language.playbooks import Playbook, Step
from csm.runtime import Runtime
from csm.templating.render import to_html
from csm.workspace import Owner


@dataclass(frozen=True)
class Preview:
    step: str
    matches_today: bool
    headers: tuple[tuple[str, str], ...]
    body: str
    html: str
    note: str | None = None  # a role nobody holds, and who gets the email instead


def render_preview(rt: Runtime, playbook_id: str, account_id: str, step_id: str | None) -> Preview:
    (playbook,) = rt.playbooks([playbook_id])
    accounts = account_rows(rt.conn, rt.fields, rt.params, [account_id])
    if account_id not in accounts:
        raise NotFound(f"no account '{account_id}'", hint="`csm account ID` takes an id from your import.")
    named = _email_step(playbook, step_id) if step_id is not None else None
    results = evaluate(rt.conn, [playbook], rt.fields, rt.params, rt.today, account_id=account_id)
    matched = {r.step.id: r.matches[0] for r in results if r.matches and r.step.email}
    step = named or _first_matching(rt, playbook, account_id, matched)
    account = accounts[account_id]
    match = matched.get(step.id) or Match(account_id, account["name"], account["owner"], {}, "preview")
    contacts = account_contacts(rt.conn, [account_id]).get(account_id, [])
    respondent = respondents(rt.conn, step, rt.params, [account_id]).get(account_id)
    on_file = contact_addresses(rt.conn)
    made = drafting.draft(
        rt.ws, rt.templates, contacts, playbook, step, match, account, rt.today, respondent, on_file
    )
    if isinstance(made, drafting.Unaddressed):
        raise InputError(
            f"{playbook.id} › {step.id} would not be drafted: {made.reason}",
            hint="Import a contact in that role (`csm import contacts FILE`),"
            " or set `fallback: primary` on the step's email.",
        )
    headers = _headers(rt.ws.owner(account["owner"]), made)
    note = made.why.get(NOTE_KEY)
    return Preview(step.id, step.id in matched, headers, made.body, to_html(made.body), note)


def _email_steps(playbook: Playbook) -> list[Step]:
    return [s for s in playbook.steps if s.email]


def _email_step(playbook: Playbook, step_id: str) -> Step:
    """The step ``--step`` names, which must send an email."""
    step = playbook.step(step_id)
    if step is None or step.email is None:
        names = [s.id for s in _email_steps(playbook)]
        raise NotFound(
            f"playbook '{playbook.id}' has no email step '{step_id}'{did_you_mean(step_id, names)}",
            hint=f"Email steps: {', '.join(names) or 'none'}.",
        )
    return step


def _first_matching(rt: Runtime, playbook: Playbook, account_id: str, matched: dict[str, Match]) -> Step:
    """The first email step the account matches today."""
    email_steps = _email_steps(playbook)
    step = next((s for s in email_steps if s.id in matched), None)
    if step is None:
        raise InputError(
            f"account '{account_id}' matches no email step of '{playbook.id}' as of {rt.today}",
            hint="Pass --step STEP to preview one anyway: " + ", ".join(s.id for s in email_steps),
        )
    return step


def _headers(owner: Owner, made: drafting.Draft) -> tuple[tuple[str, str], ...]:
    headers = [
        ("From", f"{owner.name} <{owner.email}>"),
        ("To", ", ".join(f"{r.name} <{r.email}>" for r in made.to)),
    ]
    if made.cc or made.cc_internal:
        headers.append(("Cc", ", ".join((*made.cc, *made.cc_internal))))
    if made.reply_to:
        headers.append(("Reply-To", made.reply_to))
    headers.append(("Subject", made.subject))
    return tuple(headers)
