"""The outbox and sending: a draft's life, the send ledger, MIME messages, transports."""
