"""The sample context `csm check` renders every template with."""

from __future__ import annotations

import datetime as dt

from csm.language.fields import standard_fields
from csm.templating.sample import sample_context


def test_sample_context_has_the_engine_shape() -> None:
    ctx = sample_context(standard_fields({"region": "text"}))
    assert set(ctx) == {"account", "contact", "csm", "playbook", "step", "today"}
    assert set(ctx["account"]) == set(standard_fields({"region": "text"}))
    assert set(ctx["contact"]) == {"name", "first_name", "email", "role", "title"}
    assert set(ctx["csm"]) == {"name", "first_name", "email", "title", "signature"}
    assert ctx["account"]["renewal_date"] == "2026-12-31"
    assert ctx["account"]["arr"] == 42
    assert ctx["account"]["region"] == "Acme Corp"
    assert isinstance(ctx["today"], dt.date)
