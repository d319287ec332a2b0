"""What a step's email template sees: the account, the contact, the CSM, the playbook and step."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from csm.engine.recipients import Recipient
from csm.language.playbooks import Playbook, Step
from csm.workspace import Owner, Workspace


def context(
    ws: Workspace,
    account: dict[str, Any],
    contact: Recipient,
    playbook: Playbook,
    step: Step,
    today: dt.date,
) -> dict[str, Any]:
    """What a template sees."""
    return {
        "account": account,
        "contact": {
            "name": contact.name,
            "first_name": contact.first_name,
            "email": contact.email,
            "role": contact.role,
            "title": contact.title,
        },
        "csm": _csm(ws.owner(account.get("owner"))),
        "playbook": {"id": playbook.id, "title": playbook.title},
        "step": {"id": step.id, "title": step.title},
        "today": today,
    }


@functools.lru_cache(maxsize=1024)
def _csm(owner: Owner) -> dict[str, str]:
    """The CSM as templates see them: one dict a CSM, shared by their drafts (a run drafts
    thousands; the sandbox is immutable, so no template can change it for the next)."""
    return {
        "name": owner.name,
        "first_name": owner.name.split()[0] if owner.name else "",
        "email": owner.email,
        "title": owner.title,
        "signature": owner.signature or f"{owner.name}\n{owner.title}",
    }
