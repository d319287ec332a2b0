"""A throwaway PostgreSQL cluster for the tests: initdb into a temp dir, a Unix socket, no TCP.

Started once per test session (see the ``pg_cluster`` fixture in conftest.py); each test
gets a fresh database in it. The server binaries come from the system package
(``apt-get install postgresql``); ``CSM_PG_BIN`` names another directory. Under
CI=true a server that cannot start fails the tests; elsewhere they skip, loudly.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

PG_USER = "postgres"  # initdb refuses to run as root: the cluster runs as this system user


def find_bin() -> Path | None:
    """The directory holding initdb and pg_ctl, or None."""
    named = os.environ.get("CSM_PG_BIN")
    candidates = [named] if named else sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    on_path = shutil.which("initdb")
    if on_path and not named:
        candidates.append(str(Path(on_path).parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


class PgCluster:
    """One running cluster; :meth:`new_database` makes an empty database and returns its URL."""

    def __init__(self) -> None:
        bin_dir = find_bin()
        if bin_dir is None:
            raise RuntimeError("no PostgreSQL server binaries (initdb): apt-get install postgresql")
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="csm-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, PG_USER)
        self.user = PG_USER if self.as_root else os.environ.get("USER", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8", "--no-sync")
        options = f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")
        self.admin_url = self.url("postgres")

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self.as_root:
            command = ["runuser", "-u", PG_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = self.root / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{program} failed: {result.stderr or result.stdout}{tail}")

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@/{database}?host={self.socket_dir}"

    def new_database(self, template: str | None = None) -> str:
        """A fresh database's URL: empty, or a copy of the database at the URL ``template``
        (which nothing may be connected to)."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:16]
        copy_of = f" TEMPLATE {urlsplit(template).path.lstrip('/')}" if template else ""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}{copy_of}")
        return self.url(name)

    def drop(self, url: str) -> None:
        """Drop the database at ``url``, cutting off whatever is still connected to it."""
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {urlsplit(url).path.lstrip('/')} WITH (FORCE)")

    def as_login(self, url: str, login: str) -> str:
        """``url`` with ``login`` as its user (a CSM's own login), the role made first if new.

        A superuser, so that it may use the tables another login's csm created.
        """
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (login,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER").format(sql.Identifier(login)))
        return url.replace(f"//{self.user}@", f"//{quote(login, safe='')}@", 1)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


if __name__ == "__main__":
    import time

    cluster = PgCluster()
    print(f"PostgreSQL running; a fresh database: {cluster.new_database()}  (Ctrl-C stops it)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        cluster.stop()
