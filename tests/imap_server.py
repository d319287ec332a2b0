"""A real IMAP server on loopback for tests: Dovecot (Debian's dovecot-imapd) in a throwaway folder.

    .venv/bin/python tests/imap_server.py     # run one by hand; prints where and how to log in

The server runs from its own config in a temporary folder: plaintext login on
one port (loopback only), implicit TLS with a fresh self-signed certificate on
another, one user whose mail is a Maildir there. Nothing of the system's
Dovecot is used or changed. ``.ci/run`` installs the package; under CI
(``CI=true``) a missing or failing Dovecot fails the tests instead of
skipping them.
"""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from loopback import free_port

USER = "alex.morgan@northbeam.example"
PASSWORD = "correct horse battery staple"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


class Unavailable(RuntimeError):
    """Dovecot is not installed, or did not start."""


@dataclass
class Dovecot:
    folder: Path
    port: int  # plaintext IMAP
    tls_port: int  # IMAPS, the self-signed certificate in cert.pem
    process: subprocess.Popen[bytes]

    @property
    def cafile(self) -> Path:
        return self.folder / "cert.pem"

    def client(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login(USER, PASSWORD)
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver a message into a folder (IMAP APPEND), as a mail server would."""
        client = self.client()
        try:
            if folder != "INBOX":
                client.create(folder)  # NO when it exists: fine
            status, data = client.append(folder, "", imaplib.Time2Internaldate(time.time()), raw)
            assert status == "OK", data
        finally:
            client.logout()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        elsewhere = self.folder / "mail-folder"
        if elsewhere.exists():
            shutil.rmtree(elsewhere.read_text(encoding="utf-8"), ignore_errors=True)


def start(folder: Path) -> Dovecot:
    """Start Dovecot with its own config in ``folder``; raises Unavailable when it cannot."""
    if not os.access(DOVECOT, os.X_OK):
        raise Unavailable("dovecot is not installed (apt-get install dovecot-imapd)")
    folder.mkdir(parents=True, exist_ok=True)
    _certificate(folder)
    (folder / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n", encoding="utf-8")
    port, tls_port = free_port(), free_port()
    config = folder / "dovecot.conf"
    config.write_text(_config(folder, port, tls_port), encoding="utf-8")
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    server = Dovecot(folder, port, tls_port, process)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Unavailable(f"dovecot exited {process.returncode}: {_log(folder, process)}")
        try:
            server.client().logout()
            return server
        except (OSError, imaplib.IMAP4.error):
            time.sleep(0.1)
    server.stop()
    raise Unavailable(f"dovecot did not answer on 127.0.0.1:{port}: {_log(folder, process)}")


def _log(folder: Path, process: subprocess.Popen[bytes]) -> str:
    log = folder / "dovecot.log"
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    if process.poll() is not None and process.stderr is not None:
        text += process.stderr.read().decode("utf-8", "replace")
    return text.strip()[-2000:]


def _certificate(folder: Path) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True,
        capture_output=True,
    )  # fmt: skip


def _mail_owner(folder: Path) -> tuple[str, str, Path]:
    """Who owns the mail, and where it lives: this user in ``folder``, or as root (which Dovecot
    will not store mail as) the package's ``dovecot`` user in a folder it can reach."""
    if os.getuid() != 0:
        return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name, folder / "mail"
    owner = pwd.getpwnam("dovecot")
    mail = Path(tempfile.mkdtemp(prefix="csm-dovecot-mail-"))
    mail.chmod(0o755)
    os.chown(mail, owner.pw_uid, owner.pw_gid)
    (folder / "mail-folder").write_text(str(mail), encoding="utf-8")
    return owner.pw_name, grp.getgrgid(owner.pw_gid).gr_name, mail


def _config(folder: Path, port: int, tls_port: int) -> str:
    user, group, mail = _mail_owner(folder)
    me = pwd.getpwuid(os.getuid()).pw_name
    # As root, Dovecot's own unprivileged users run the login processes, as the package sets them up.
    internal = "dovecot" if os.getuid() == 0 else me
    login = "dovenull" if os.getuid() == 0 else me
    return f"""
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{folder}/cert.pem
ssl_key = <{folder}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {internal}
default_login_user = {login}
first_valid_uid = 1
mail_location = maildir:{mail}/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {folder}/users
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={mail}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
service auth {{
  user = {me}
}}
service auth-worker {{
  user = {me}
}}
"""


if __name__ == "__main__":
    server = start(Path(tempfile.mkdtemp(prefix="csm-dovecot-")))
    print(
        f"Dovecot on 127.0.0.1:{server.port} (plaintext) and :{server.tls_port} (TLS, cafile {server.cafile})"
    )
    print(f"user {USER!r}, password {PASSWORD!r}; Ctrl-C stops it")
    try:
        server.process.wait()
    except KeyboardInterrupt:
        server.stop()
