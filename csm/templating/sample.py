"""A plausible render context, every field with a value of its type, for `csm check`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from csm.language.fields import FieldSet

_SAMPLES: dict[str, Any] = {
    "id": "ACME-001",
    "name": "Acme Corp",
    "owner": "dana.reyes@example.com",
    "plan": "business",
    "status": "active",
    "lifecycle_stage": "adoption",
    "seat_utilization": 0.42,
    "usage_change_30d": 0.12,
    "nps": 9,
}
_SAMPLE_BY_TYPE = {"text": "Acme Corp", "number": 42, "date": "2026-12-31", "bool": True}


SAMPLE_CSM: dict[str, str] = {
    "name": "Dana Reyes",
    "first_name": "Dana",
    "email": "dana.reyes@example.com",
    "title": "Customer Success Manager",
    "signature": "Dana Reyes\nCustomer Success Manager",
}


def sample_context(fields: FieldSet) -> dict[str, Any]:
    """A plausible context where every field has a value of its type, for `csm check`."""
    account = {name: _SAMPLES.get(name, _SAMPLE_BY_TYPE[f.type]) for name, f in fields.items()}
    return {
        "account": account,
        "contact": {
            "name": "Sam Lee",
            "first_name": "Sam",
            "email": "sam.lee@acme.example",
            "role": "champion",
            "title": "Head of Operations",
        },
        "csm": dict(SAMPLE_CSM),
        "playbook": {"id": "sample-playbook", "title": "Sample playbook"},
        "step": {"id": "sample-step"},
        "today": dt.date(2026, 6, 1),
    }
