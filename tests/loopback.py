"""Real servers on loopback for tests: aiosmtpd handlers and a controller on a free port."""

import asyncio
import socket

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- SMTP -----------------------------------------------------------------


class Collect:
    """An aiosmtpd handler that keeps every envelope and the client's address."""

    def __init__(self) -> None:
        self.envelopes: list = []
        self.peers: set = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.peers.add(session.peer)
        return "250 2.0.0 Ok: queued as ABC123"


class Busy(Collect):
    async def handle_DATA(self, server, session, envelope):
        return "451 4.3.0 Try again later"


class Stall(Collect):
    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(30)
        return "250 OK"


class LoopbackController(Controller):
    """Listens on a free port of 127.0.0.1 (aiosmtpd's own start needs a fixed port)."""

    def __init__(self, handler, **kwargs) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=0, server_hostname="smtp.test", **kwargs)

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class Picky(Collect):
    """Says 451 "not now" at RCPT to the addresses in ``busy``, 550 to those in ``refused``."""

    def __init__(self, busy=(), refused=()) -> None:
        super().__init__()
        self.busy, self.refused = set(busy), set(refused)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.busy:
            return "451 4.2.1 Mailbox busy, try later"
        if address in self.refused:
            return "550 5.1.1 No such user here"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


class StallFor(Collect):
    """Takes the message for most recipients; stalls forever after DATA for ``address``."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    async def handle_DATA(self, server, session, envelope):
        if self.address in envelope.rcpt_tos:
            await asyncio.sleep(60)
        return await super().handle_DATA(server, session, envelope)
