"""csm: a command-line customer-success playbook runner."""

__version__ = "0.1.0"
