"""A deterministic demo workspace: 500 accounts with cohorts every built-in step matches.

Each account belongs to one cohort, a recipe that pins the fields a playbook
step looks at (days since start, days to renewal, seat use, usage trend, NPS,
tickets, last touch). Background cohorts stay clear of every step, so each
step matches a readable handful of accounts on :data:`DEMO_TODAY`, not hundreds.
Everything comes from one seeded ``random.Random``: the same database every time.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from csm.data import store
from csm.data.importer import import_records
from csm.errors import WorkspaceError
from csm.init import create
from csm.workspace import SETTINGS_FILE

Rows = list[dict[str, object]]

DEMO_TODAY = dt.date(2026, 11, 23)
SEED = 20261123
USAGE_DAYS = 180
# Health snapshots: daily for three weeks (enough for `for: 14d`), weekly back to 17 weeks.
HEALTH_DAYS = tuple(
    DEMO_TODAY - dt.timedelta(days=t) for t in sorted({*range(21), *range(21, 120, 7)}, reverse=True)
)
# Past weekly runs of every playbook, all in Q3, so this quarter's steps still fire today.
HISTORY_RUNS = tuple(DEMO_TODAY - dt.timedelta(days=t) for t in range(119, 55, -7))
HOLDOUT_PLAYBOOK = "adoption-milestones"  # the demo measures its nudges against a 20% holdout
_SKIP_REASONS = ("already on a call this week", "champion on leave", "covered in the QBR")
# When the demo data was "imported": fixed, so every build is byte-identical.
NOW = "2026-11-23T07:00:00+00:00"

OWNERS = (
    ("alex.morgan@northbeam.example", "Alex Morgan", "Customer Success Manager"),
    ("priya.natarajan@northbeam.example", "Priya Natarajan", "Senior Customer Success Manager"),
    ("sam.okafor@northbeam.example", "Sam Okafor", "Customer Success Manager"),
)
ME = OWNERS[0][0]

PLANS = ("starter", "team", "business", "enterprise")
_PLAN_WEIGHTS = (25, 35, 28, 12)
_SEATS = {"starter": (5, 12), "team": (10, 40), "business": (40, 150), "enterprise": (150, 800)}
_SEAT_PRICE = {"starter": 360, "team": 540, "business": 720, "enterprise": 600}
_NOT_STARTER = PLANS[1:]

_NAME_HEADS = (  # noqa: SIM905 (a word list reads better as one string)
    "Northwind Bluefin Cedar Harbor Summit Quartz Ember Lumen Atlas Juniper Orchid Granite "
    "Silverline Redwood Brightwater Copper Falcon Meadow Pioneer Riverstone Sable Tidewater "
    "Everglade Kestrel Ironbark Lighthouse Maple Obsidian Pinecrest Saffron Starling Thistle "
    "Vantage Willow Aurora Beacon Cobalt Driftwood Evergreen Foxglove Halcyon Marigold"
).split()
_NAME_TAILS = (  # noqa: SIM905 (a word list reads better as one string)
    "Logistics Analytics Health Foods Robotics Capital Studios Labs Energy Freight Dental "
    "Insurance Manufacturing Media Retail Software Travel Legal Biotech Outdoor Realty "
    "Education Security Consulting Apparel"
).split()
_FIRST = (  # noqa: SIM905 (a word list reads better as one string)
    "Ava Ben Chloe Daniel Elena Farid Grace Hiro Isla Jonas Kara Leo Maya Nikhil Olivia Pablo "
    "Quinn Rosa Sven Tara Umar Vera Wes Ximena Yusuf Zoe Amara Bruno Carmen Dmitri Eshe Felix"
).split()
_LAST = (  # noqa: SIM905 (a word list reads better as one string)
    "Adams Bauer Chen Diaz Eriksen Fischer Garcia Haddad Ito Jensen Kowalski Lopez Moreau "
    "Nakamura Osei Patel Rossi Schmidt Tanaka Ueda Varga Walsh Yilmaz Zhang Novak Silva"
).split()
_ROLES = (
    ("champion", ("Head of Operations", "Director of Customer Operations", "Product Lead")),
    ("economic_buyer", ("VP Finance", "COO", "Chief Revenue Officer")),
    ("admin", ("IT Administrator", "Systems Manager", "Platform Owner")),
    ("user", ("Analyst", "Team Lead", "Operations Specialist")),
    ("user", ("Analyst", "Account Manager", "Coordinator")),
)
_EMAIL_SUBJECTS = (
    "Quarterly business review notes",
    "Your new dashboards",
    "Invitation: admin training webinar",
    "Release notes and what they mean for your team",
    "Following up on our call",
)
_CALL_TOPICS = ("roadmap questions", "rollout plan", "reporting needs", "quarterly review")
_NOTES = (
    "Champion asked about SSO; sent the guide",
    "Support escalation resolved, customer happy",
    "Budget planning starts next quarter",
    "New team onboarding next month",
)


@dataclass(frozen=True)
class _Cohort:
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
COHORTS: tuple[_Cohort, ...] = (
    # onboarding
    _Cohort("welcome", 10, dss=(0, 14), util=(0.1, 0.5), nps=None, integrations=(0, 1)),
    _Cohort(
        "first_value",
        6,
        dss=(30, 45),
        util=(0.2, 0.4),
        activity=(0.3, 0.45),
        nps=None,
        integrations=(0, 1),
        plans=_NOT_STARTER,
    ),
    _Cohort(
        "stalled",
        6,
        dss=(21, 60),
        util=(0.2, 0.5),
        nps=None,
        login=(15, 30),
        integrations=(0, 1),
        touch=(15, 21),
    ),
    _Cohort(
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
    _Cohort("roll_out", 12, util=(0.12, 0.38), activity=(0.6, 0.9), plans=_NOT_STARTER),
    _Cohort("no_integrations", 10, integrations=(0, 0)),
    _Cohort("milestone", 10, util=(0.8, 0.89), trend=(0.03, 0.12), plans=_NOT_STARTER),
    # expansion
    _Cohort("seats_full", 10, util=(0.9, 1.0), trend=(0.02, 0.1), nps=(8, 10), nps_null=0),
    _Cohort("next_plan", 8, trend=(0.35, 0.55), activity=(0.85, 1.0), plans=PLANS[:2]),
    # renewal
    _Cohort("heads_up", 15, dtr=(91, 120)),
    _Cohort("check_in", 12, dtr=(31, 60)),
    _Cohort("renewal_detractor", 3, dtr=(3, 60), nps=(2, 6), nps_null=0),
    _Cohort("renewal_tickets", 3, dtr=(3, 60), tickets=(5, 8)),
    _Cohort("renewal_falling", 3, dtr=(3, 60), trend=_FALLING, activity=_FALLING_ACTIVITY, trend_days=30),
    # at risk and silent
    _Cohort("falling", 8, trend=_FALLING, activity=_FALLING_ACTIVITY, trend_days=30),
    _Cohort("detractor", 8, nps=(0, 6), nps_null=0),
    _Cohort("tickets", 6, tickets=(5, 9)),
    _Cohort("silent", 12, touch=(70, 220)),
    # no step matches these
    _Cohort("churned", 25, status="churned", dtr=(-300, -10), util=(0.1, 0.6), nps=(0, 8)),
    _Cohort("renewed", 15, status="renewed", dtr=(300, 360)),
    _Cohort("steady_renewing_soon", 4, dtr=(1, 30)),
    _Cohort("steady_renewal_window", 6, dtr=(61, 90)),
    _Cohort("steady", 270),
)


@dataclass(frozen=True)
class DemoSummary:
    root: Path
    me: str
    counts: dict[str, int]


def build_demo(root: Path | None = None) -> DemoSummary:
    """Create a demo workspace in ``root`` (a new temp folder if None), with a summer of history."""
    root = Path(tempfile.mkdtemp(prefix="csm-demo-")) if root is None else root.resolve()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise WorkspaceError(
            f"{root} is not an empty folder; csm demo only builds in a new or empty one",
            hint="Pick a new folder, or run `csm demo` alone for a temporary one.",
        )
    create(root, me=ME, name=OWNERS[0][1])
    _pin_settings(root / SETTINGS_FILE)
    accounts, contacts, usage, timeline = generate(random.Random(SEED))
    conn = store.connect(root / "csm.db")
    try:
        for kind, rows in (("accounts", accounts), ("contacts", contacts), ("usage", usage)):
            records = ((f"{kind} record {n}", row) for n, row in enumerate(rows, 1))
            import_records(conn, kind, records, source=f"demo {kind}", now=NOW)
        with store.transaction(conn):
            _insert(conn, "timeline", timeline)
        _health_history(conn, root)
        _playbook_history(conn, root, random.Random(SEED + 1))
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("accounts", "contacts", "usage", "timeline", "health_history")
        }
    finally:
        conn.close()
    return DemoSummary(root=root, me=ME, counts=counts)


def _health_history(conn: sqlite3.Connection, root: Path) -> None:
    """Snapshots as if `csm health` had run on each of :data:`HEALTH_DAYS`, scored by the demo's model."""
    from csm import runtime, workspace
    from csm.health import model as health_model
    from csm.health import score as health

    fields = runtime.fields_for(conn)
    model = health_model.load(root / health_model.MODEL_FILE, fields)
    params = runtime.sql_params(workspace.load(explicit=root), DEMO_TODAY)
    health.snapshot(conn, model, fields, params, HEALTH_DAYS)


def _playbook_history(conn: sqlite3.Connection, root: Path, rng: random.Random) -> None:
    """Replay weekly `csm run`s over the summer, and a CSM working each morning's list.

    Four in five drafts are sent the next day, the rest skipped with a reason;
    four in five tasks are done within two days, the rest weeks later. This
    gives `csm report` its history. The accounts whose renewal was decided since
    are replayed as they stood then: active, before that renewal.
    """
    from csm import runtime, workspace
    from csm.data import timeline
    from csm.engine import matching as engine
    from csm.engine import tasks
    from csm.engine.drafting import queue
    from csm.language.playbooks import load_selected
    from csm.mail import outbox
    from csm.templating.render import Templates

    path = root / "playbooks" / f"{HOLDOUT_PLAYBOOK}.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("\npriority:", "\nholdout: 20%\npriority:", 1), encoding="utf-8")
    ws = workspace.load(explicit=root)
    fields = runtime.fields_for(conn)
    templates = Templates(ws.templates_dir)
    playbooks = load_selected(ws.playbooks_dir, fields, (), templates.exists)
    decided = _decided_renewals(conn)
    for day in HISTORY_RUNS:
        _as_of(conn, decided, day)
        params = runtime.sql_params(ws, day)
        results = engine.evaluate(conn, playbooks, fields, params, day)
        added = queue(conn, ws, templates, fields, params, results, day, f"{day}T07:00:00+00:00").added
        with store.transaction(conn):
            for item in added:
                at = f"{day + dt.timedelta(days=1 + (item.kind == 'task'))}T10:00:00+00:00"
                if item.kind == "draft" and rng.random() < 0.8:
                    outbox.move(conn, item.id, "approve", "approved", at)
                    outbox.claim(conn, item.id, "csm demo", at)
                    outbox.finish(conn, item.id, "sent", None, at)
                    summary = f"sent “{item.summary}” ({item.playbook} › {item.step})"
                    timeline.record(conn, item.account_id, "email_sent", summary, at, ref=f"draft:{item.id}")
                elif item.kind == "draft":
                    outbox.move(conn, item.id, "skip", "skipped", at, reason=rng.choice(_SKIP_REASONS))
                else:
                    if rng.random() >= 0.8:  # the CSM got to it late
                        at = f"{day + dt.timedelta(days=rng.randint(7, 30))}T16:00:00+00:00"
                    tasks.move(conn, item.id, "do", "done", done_at=at)
                    timeline.record(conn, item.account_id, "task_done", f"task done: {item.summary}", at)
    _as_of(conn, decided, DEMO_TODAY)


@dataclass(frozen=True)
class _Decided:
    """An account whose renewal was decided this year: what it looked like before."""

    id: str
    outcome: str
    renewal: str  # the renewal it decided
    renewal_after: str  # its renewal date now


def _decided_renewals(conn: sqlite3.Connection) -> list[_Decided]:
    """Renewed and churned accounts, with the outcome dated on the renewal it decided.

    The import dates a renewal it sees on its own day; the demo knows better:
    a renewed account's decided renewal is a year before its next one.
    """
    decided = [
        _Decided(
            row[0],
            row[1],
            row[2] if row[1] == "churned" else _a_year_before(row[2]),
            row[2],
        )
        for row in conn.execute(
            "SELECT id, status, renewal_date FROM accounts WHERE status IN ('renewed', 'churned') ORDER BY id"
        )
    ]
    with store.transaction(conn):
        conn.execute("DELETE FROM outcomes")
        conn.executemany(
            "INSERT INTO outcomes (account_id, date, outcome, source, recorded_at)"
            " VALUES (?, ?, ?, 'import', ?)",
            ((d.id, d.renewal, d.outcome, NOW) for d in decided),
        )
    return decided


def _as_of(conn: sqlite3.Connection, decided: list[_Decided], day: dt.date) -> None:
    """Decided accounts as they stood on ``day``: active, with the old renewal date, until it passed."""
    with store.transaction(conn):
        conn.executemany(
            "UPDATE accounts SET status = ?, renewal_date = ? WHERE id = ?",
            (
                ("active", d.renewal, d.id)
                if day.isoformat() < d.renewal
                else (d.outcome, d.renewal_after, d.id)
                for d in decided
            ),
        )


def _a_year_before(iso_day: str) -> str:
    day = dt.date.fromisoformat(iso_day)
    return day.replace(year=day.year - 1, day=min(day.day, 28) if day.month == 2 else day.day).isoformat()


def _pin_settings(path: Path) -> None:
    """Pin today (on init's commented example line, else at the top) and add two CSMs."""
    pinned = f'today = "{DEMO_TODAY.isoformat()}"  # the demo data is as of this date'
    text, found = re.subn(r"^# today = .*$", pinned, path.read_text(encoding="utf-8"), count=1, flags=re.M)
    if not found:
        text = f"{pinned}\n{text}"  # top-level keys must come before any [table]
    owners = "".join(
        f'\n[owners."{email}"]\nname = "{name}"\ntitle = "{title}"\nsignature = "{name}\\n{title}"\n'
        for email, name, title in OWNERS[1:]
    )
    path.write_text(text + owners, encoding="utf-8")


def _insert(conn: sqlite3.Connection, table: str, rows: Rows) -> None:
    columns = list(rows[0])
    conn.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        (tuple(row[c] for c in columns) for row in rows),
    )


def generate(rng: random.Random) -> tuple[Rows, Rows, Rows, Rows]:
    """The demo's accounts, contacts, usage and timeline rows, in insertion order."""
    drawn = [(cohort, _OWNER_PATTERN[i % 4]) for cohort in COHORTS for i in range(cohort.count)]
    rng.shuffle(drawn)
    names = _company_names(rng, len(drawn))
    days = [DEMO_TODAY - dt.timedelta(days=t) for t in range(USAGE_DAYS)]
    iso_days = [d.isoformat() for d in days]
    weekday = [d.weekday() < 5 for d in days]
    accounts: Rows = []
    contacts: Rows = []
    usage: Rows = []
    timeline: Rows = []
    for i, ((cohort, owner), name) in enumerate(zip(drawn, names, strict=True)):
        account, profile = _account(rng, cohort, f"A{1001 + i}", name, OWNERS[owner][0])
        accounts.append(account)
        people = _contacts(rng, account["id"], name)
        contacts.extend(people)
        usage.extend(_usage(rng, cohort, account, profile, iso_days, weekday))
        timeline.extend(_timeline(rng, cohort, account, profile, people))
    return accounts, contacts, usage, timeline


# Half of every cohort goes to "me", a quarter to each other CSM.
_OWNER_PATTERN = (0, 1, 0, 2)


@dataclass(frozen=True)
class _Profile:
    """What the usage and timeline generators need beyond the account row."""

    days_since_start: int
    days_active: int  # days the series ends before today (churned: since renewal)
    login_days: int
    level: float  # active users on the last day of use
    trend: float
    integrations: int


def _account(
    rng: random.Random, cohort: _Cohort, account_id: str, name: str, owner: str
) -> tuple[dict[str, object], _Profile]:
    plan = rng.choices(cohort.plans, [_PLAN_WEIGHTS[PLANS.index(p)] for p in cohort.plans])[0]
    licensed = rng.randint(*_SEATS[plan])
    used = _seats_used(rng, licensed, cohort.util)
    if cohort.dss is not None:
        dss = rng.randint(*cohort.dss)
        start = DEMO_TODAY - dt.timedelta(days=dss)
        renewal = start.replace(year=start.year + 1)
    else:
        renewal = DEMO_TODAY + dt.timedelta(days=rng.randint(*cohort.dtr))
        # Annual terms; a first year that began under 100 days ago would be onboarding.
        years = rng.randint(1, 4)
        if (renewal - DEMO_TODAY).days > 260:
            years += 1
        start = renewal.replace(year=renewal.year - years)
        dss = (DEMO_TODAY - start).days
    ended = max(0, (DEMO_TODAY - renewal).days) if cohort.status == "churned" else 0
    login_days = min(dss, ended + rng.randint(*cohort.login))
    # Today's logins came before the 07:00 import: the demo is a CSM's Monday morning.
    hour = rng.randint(5, 6) if login_days == 0 else rng.randint(7, 18)
    login_at = dt.datetime.combine(
        DEMO_TODAY - dt.timedelta(days=login_days), dt.time(hour, rng.randint(0, 59))
    )
    nps = None
    if cohort.nps is not None and rng.random() >= cohort.nps_null:
        nps = rng.randint(*cohort.nps)
    account = {
        "id": account_id,
        "name": name,
        "owner": owner,
        "plan": plan,
        "arr": round(licensed * _SEAT_PRICE[plan] * rng.uniform(0.9, 1.1), -2),
        "seats_licensed": licensed,
        "seats_used": used,
        "start_date": start.isoformat(),
        "renewal_date": renewal.isoformat(),
        "status": cohort.status,
        "nps": nps,
        "open_tickets": rng.randint(*cohort.tickets),
        "last_login_at": login_at.isoformat(timespec="seconds") + "+00:00",
    }
    profile = _Profile(
        days_since_start=dss,
        days_active=ended,
        login_days=login_days,
        level=used * rng.uniform(*cohort.activity),
        trend=rng.uniform(*cohort.trend),
        integrations=rng.randint(*cohort.integrations),
    )
    return account, profile


def _seats_used(rng: random.Random, licensed: int, util: tuple[float, float]) -> int:
    """A seat count whose utilization falls inside ``util`` (clamped to 1..licensed)."""
    low = max(1, math.ceil(round(util[0] * licensed, 6)))
    high = min(licensed, int(util[1] * licensed))
    return rng.randint(low, max(low, high))


def _company_names(rng: random.Random, count: int) -> list[str]:
    pairs = [(h, t) for h in _NAME_HEADS for t in _NAME_TAILS]
    return [f"{h} {t}" for h, t in rng.sample(pairs, count)]


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


def _contacts(rng: random.Random, account_id: object, company: str) -> Rows:
    rows: Rows = []
    for n, (role, titles) in enumerate(_ROLES[: rng.randint(2, 5)]):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        email = f"{first}.{last}@{_slug(company)}.example".lower()
        if any(row["email"] == email for row in rows):
            email = email.replace("@", f"{n}@")
        rows.append(
            {
                "account_id": account_id,
                "email": email,
                "name": f"{first} {last}",
                "role": role,
                "title": rng.choice(titles),
                "is_primary": int(role == "champion"),
                "unsubscribed": int(role == "user" and rng.random() < 0.1),
            }
        )
    return rows


def _usage(
    rng: random.Random,
    cohort: _Cohort,
    account: dict[str, object],
    profile: _Profile,
    iso_days: list[str],
    weekday: list[bool],
) -> Iterator[dict[str, object]]:
    """active_users (daily gauge), dashboards and integrations (cumulative) per day.

    Established accounts follow ``(1 + trend) ** (-t / 30)`` over their last
    60 days (flat before), so usage_change_30d lands on ``trend``; falling
    ones drop twice as fast over the last 30 days only (usage_change_30d near
    ``trend``, but none 30 days ago: their health fell this month); new accounts
    ramp up over their first 30 days; nobody is active after the last login.
    Counts round at random, so small accounts keep their trend on average.
    """
    first = profile.days_active
    last = min(USAGE_DAYS - 1, profile.days_since_start)
    if first > last:  # churned before the series begins
        return
    connect_days = [rng.randint(first, last) for _ in range(profile.integrations)]
    dashboards = rng.randint(1, 4)
    account_id = account["id"]
    for t in range(last, first - 1, -1):
        if cohort.dss is not None:
            shape = min(1.0, 0.3 + 0.7 * (profile.days_since_start - t) / 30)
        else:
            window = cohort.trend_days
            shape = (1 + profile.trend) ** (-min(t - first, window) * 2 / window)
        active = profile.level * shape * rng.uniform(0.92, 1.08) * (1 if weekday[t] else 0.35)
        if t < profile.login_days:
            active = 0
        elif weekday[t] and rng.random() < 0.04 * shape:
            dashboards += 1
        day = iso_days[t]
        connected = sum(1 for c in connect_days if c >= t)
        yield {
            "account_id": account_id,
            "metric": "active_users",
            "date": day,
            "value": int(active + rng.random()),
        }
        yield {"account_id": account_id, "metric": "dashboards", "date": day, "value": dashboards}
        yield {"account_id": account_id, "metric": "integrations", "date": day, "value": connected}


def _touch_summary(rng: random.Random, kind: str, champion: str) -> str:
    if kind == "email_sent":
        return "Sent: " + rng.choice(_EMAIL_SUBJECTS)
    if kind == "call":
        return f"Call with {champion}: {rng.choice(_CALL_TOPICS)}"
    return rng.choice(_NOTES)


def _timeline(
    rng: random.Random,
    cohort: _Cohort,
    account: dict[str, object],
    profile: _Profile,
    people: Rows,
) -> Iterator[dict[str, object]]:
    """Past touches: a sales handoff note at the start, then emails, calls, notes."""
    dss = profile.days_since_start
    touches = {dss} if 0 < dss <= 365 else set()
    if dss > 14:
        latest = profile.days_active + rng.randint(*cohort.touch)
        if latest < dss:
            touches.add(latest)
            touches.update(rng.randint(latest + 1, min(dss, latest + 150)) for _ in range(3))
    champion = str(people[0]["name"]).split()[0]
    for days_ago in sorted(touches, reverse=True):
        when = dt.datetime.combine(
            DEMO_TODAY - dt.timedelta(days=days_ago),
            dt.time(rng.randint(8, 17), rng.choice((0, 15, 30, 45))),
        )
        if days_ago == dss:
            kind, summary = "note", "Handoff from sales: goals and success plan agreed"
        else:
            kind = rng.choice(("email_sent", "call", "note"))
            summary = _touch_summary(rng, kind, champion)
        yield {
            "account_id": account["id"],
            "at": when.isoformat(timespec="seconds") + "+00:00",
            "kind": kind,
            "touch": 1,
            "summary": summary,
            "ref": None,
        }
