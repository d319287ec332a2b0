"""The demo's day, its CSMs, and the cohorts: recipes that each give a handful of steps work.

Each account belongs to one cohort, a recipe that pins the fields a playbook
step looks at (days since start, days to renewal, seat use, usage trend, NPS,
tickets, last touch). Background cohorts stay clear of every step, so each
step matches a readable handful of accounts on :data:`DEMO_TODAY`, not hundreds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

DEMO_TODAY = dt.date(2026, 11, 23)
SEED = 20261123
# When the demo data was "imported": fixed, so every build is byte-identical.
NOW = "2026-11-23T07:00:00+00:00"

OWNERS = (
    ("alex.morgan@northbeam.example", "Alex Morgan", "Customer Success Manager"),
    ("priya.natarajan@northbeam.example", "Priya Natarajan", "Senior Customer Success Manager"),
    ("sam.okafor@northbeam.example", "Sam Okafor", "Customer Success Manager"),
)
ME = OWNERS[0][0]
# The account executives who sell the larger plans' renewals (cc'd on renewal talks, assigned the
# at-risk renewal calls); the smaller plans have none.
ACCOUNT_EXECUTIVES = ("jordan.lee@northbeam.example", "casey.rivera@northbeam.example")

PLANS = ("starter", "team", "business", "enterprise")
_NOT_STARTER = PLANS[1:]


@dataclass(frozen=True)
class Cohort:
    """How to draw one kind of account. Ranges are inclusive."""

    name: str
    count: int
    status: str = "active"
    dss: tuple[int, int] | None = None  # onboarding: days since start (else from dtr)
    dtr: tuple[int, int] = (121, 365)  # days to renewal
    util: tuple[float, float] = (0.42, 0.78)  # seats_used / seats_licensed
    activity: tuple[float, float] = (0.75, 0.95)  # active_users / seats_used, today
    trend: tuple[float, float] = (-0.04, 0.08)  # usage_change_30d
    trend_days: int = 60  # the trend runs over this many last days; 30: a drop that began this month
    nps: tuple[int, int] | None = (7, 10)
    nps_null: float = 0.25
    tickets: tuple[int, int] = (0, 2)
    login: tuple[int, int] = (0, 0)  # days since last login; no active users after it
    integrations: tuple[int, int] = (1, 6)
    touch: tuple[int, int] = (2, 50)  # days since the last touch
    plans: tuple[str, ...] = PLANS


_FALLING = (-0.45, -0.3)
_FALLING_ACTIVITY = (0.3, 0.45)
COHORTS: tuple[Cohort, ...] = (
    # onboarding
    Cohort("welcome", 10, dss=(0, 14), util=(0.1, 0.5), nps=None, integrations=(0, 1)),
    Cohort(
        "first_value",
        6,
        dss=(30, 45),
        util=(0.2, 0.4),
        activity=(0.3, 0.45),
        nps=None,
        integrations=(0, 1),
        plans=_NOT_STARTER,
    ),
    Cohort(
        "stalled",
        6,
        dss=(21, 60),
        util=(0.2, 0.5),
        nps=None,
        login=(15, 30),
        integrations=(0, 1),
        touch=(15, 21),
    ),
    Cohort(
        "onboarding",
        38,
        dss=(15, 89),
        util=(0.45, 0.75),
        activity=(0.85, 1.0),
        nps=None,
        integrations=(1, 3),
        touch=(2, 14),
    ),
    # adoption
    Cohort("roll_out", 12, util=(0.12, 0.38), activity=(0.6, 0.9), plans=_NOT_STARTER),
    Cohort("no_integrations", 10, integrations=(0, 0)),
    Cohort("milestone", 10, util=(0.8, 0.89), trend=(0.03, 0.12), plans=_NOT_STARTER),
    # expansion
    Cohort("seats_full", 10, util=(0.9, 1.0), trend=(0.02, 0.1), nps=(8, 10), nps_null=0),
    Cohort("next_plan", 8, trend=(0.35, 0.55), activity=(0.85, 1.0), plans=PLANS[:2]),
    # renewal
    Cohort("heads_up", 15, dtr=(91, 120)),
    Cohort("check_in", 12, dtr=(31, 60)),
    Cohort("renewal_detractor", 3, dtr=(3, 60), nps=(2, 6), nps_null=0),
    Cohort("renewal_tickets", 3, dtr=(3, 60), tickets=(5, 8)),
    Cohort("renewal_falling", 3, dtr=(3, 60), trend=_FALLING, activity=_FALLING_ACTIVITY, trend_days=30),
    # at risk and silent
    Cohort("falling", 8, trend=_FALLING, activity=_FALLING_ACTIVITY, trend_days=30),
    Cohort("detractor", 8, nps=(0, 6), nps_null=0),
    Cohort("tickets", 6, tickets=(5, 9)),
    Cohort("silent", 12, touch=(70, 220)),
    # no step matches these
    Cohort("churned", 25, status="churned", dtr=(-300, -10), util=(0.1, 0.6), nps=(0, 8)),
    Cohort("renewed", 15, status="renewed", dtr=(300, 360)),
    Cohort("steady_renewing_soon", 4, dtr=(1, 30)),
    Cohort("steady_renewal_window", 6, dtr=(61, 90)),
    Cohort("steady", 270),
)
