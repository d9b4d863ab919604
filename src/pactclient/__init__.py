"""pactclient: signed, local-first process contracts shared between organisations."""

__version__ = "0.1.0"
