"""Every error a user can see is one of these.

    PactError                      base; ``str(err)`` is the one line shown to the user
    ├── UsageError                 the command line or an argument is wrong (exit code 2)
    ├── NotInitialised             no identity in this home yet
    ├── IdentityError              key files missing, unreadable or with unsafe permissions
    ├── ContractNotFound           no contract matches an id or prefix (or it is ambiguous)
    ├── SchemaError                a document of an unknown or newer schema
    ├── RefusedOperation           the model refuses an action (wrong state, not allowed for this party)
    ├── AdmissionError             a change may not enter a copy (unsigned, forged, not by a party)
    ├── StoreError                 the database is corrupt, foreign or unusable
    ├── FormatError                a bundle, template or other file is malformed
    └── RemoteProtocolError        a peer broke the protocol (sync and net layers)

Exit codes of the ``pact`` command: 2 for UsageError, 1 for every other PactError.
"""

from __future__ import annotations


class PactError(Exception):
    """Base of every user-facing error."""

    exit_code = 1


class UsageError(PactError):
    exit_code = 2


class NotInitialised(PactError):
    pass


class IdentityError(PactError):
    pass


class ContractNotFound(PactError):
    pass


class SchemaError(PactError):
    pass


class RefusedOperation(PactError):
    pass


class AdmissionError(PactError):
    """A change was refused. ``change_hash`` and ``key`` name the culprit when known."""

    def __init__(self, message: str, change_hash: bytes | None = None, key: bytes | None = None):
        super().__init__(message)
        self.change_hash = change_hash
        self.key = key


class StoreError(PactError):
    pass


class FormatError(PactError):
    pass


class RemoteProtocolError(PactError):
    pass
