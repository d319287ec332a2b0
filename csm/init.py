"""Creating a workspace: csm.toml, the built-in playbooks, templates, content and health model, csm.db."""

from __future__ import annotations

import shutil
from pathlib import Path

from csm.builtins import builtin_dir, builtin_path
from csm.data import store
from csm.data.backend import is_postgres_url
from csm.errors import WorkspaceError
from csm.health.model import MODEL_FILE
from csm.workspace import SETTINGS_FILE

DEFAULT_SETTINGS = """\
# csm workspace settings. Secrets never go here: name environment variables.

database = "{database}"
timezone = "UTC"
# Who "me" is for `csm today` (CSM_OWNER overrides).
me = "{me}"
# Pin "today" for reproducible runs (the --today flag overrides):
# today = "2026-11-25"
primary_metric = "active_users"   # the usage metric behind usage_30d / usage_change_30d
renewal_window_days = 90          # `csm today` lists renewals this close
silent_after_days = 60            # no touch for this long = a silent account
# internal_domains = ["yourcompany.com"]   # whom cc_internal may copy (me's and the owners' domains count)

[touch_budget]                    # at most this many emails to one contact, across all playbooks
max_emails = 2                    # 0: no budget
per_days = 7

# Fresh data or no firing: a step whose condition reads data older than this
# does not fire, and `csm run` says so and exits 3. Off until you set it.
# [freshness]
# accounts = "2d"
# contacts = "7d"
# usage = "3d"

[owners."{me}"]
name = "{name}"
title = "Customer Success Manager"
signature = "{name}\\nCustomer Success"

[send]
transport = "eml"                 # eml | smtp | http
eml_dir = "outbox-eml"
"""


def create(
    root: Path, *, me: str = "me@example.com", name: str = "Your Name", database: str = "csm.db"
) -> Path:
    """Create a workspace in ``root``; refuse if one is already there.

    ``database``: the SQLite file (beside csm.toml), or a ``postgresql://`` URL whose schema
    csm creates (the password from PGPASSWORD or ~/.pgpass, never the URL).
    """
    root.mkdir(parents=True, exist_ok=True)
    clashes = [
        p
        for p in (SETTINGS_FILE, "csm.db", "playbooks", "templates", "content", MODEL_FILE)
        if (root / p).exists()
    ]
    if clashes:
        raise WorkspaceError(
            f"{root} already holds {', '.join(clashes)}; csm init never overwrites",
            hint="Choose an empty folder, or remove those first.",
        )
    target: Path | str = database if is_postgres_url(database) else root / database
    store.connect(target, create=True).close()  # first: an unreachable server leaves no half workspace
    shutil.copytree(builtin_dir("playbooks"), root / "playbooks")
    shutil.copytree(builtin_dir("templates"), root / "templates")
    shutil.copytree(builtin_dir("content"), root / "content")
    shutil.copyfile(builtin_path(MODEL_FILE), root / MODEL_FILE)
    settings = DEFAULT_SETTINGS.format(me=me, name=name, database=database)
    (root / SETTINGS_FILE).write_text(settings, encoding="utf-8")
    return root
