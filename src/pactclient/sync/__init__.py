"""Exchanging signed changes between copies: bundle files (this module's ``bundle``) and the peer protocol."""
