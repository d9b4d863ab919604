"""Signing local changes and deciding which received changes may enter a copy."""

from pactclient.signing.admission import AdmittedChange, admit_changes, party_keys_at
from pactclient.signing.changes import change_message, sign_change, verify_change

__all__ = ["AdmittedChange", "admit_changes", "party_keys_at", "change_message", "sign_change", "verify_change"]
