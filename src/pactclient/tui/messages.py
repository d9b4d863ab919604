"""Messages the app posts to its screens."""

from __future__ import annotations

from textual.message import Message


class StoreChanged(Message):
    """Changes were committed to the store by someone other than this screen (a peer, another process).

    ``contract_ids`` names the contracts whose changes grew; empty when unknown (then refresh everything).
    """

    def __init__(self, contract_ids: frozenset[str]) -> None:
        super().__init__()
        self.contract_ids = contract_ids


class SyncEventReceived(Message):
    """The sync engine reported ``event`` (a ``pactclient.sync.events`` fact), possibly from its thread.

    Posting a message never blocks the engine's thread: the engine must not wait on the UI, since the UI
    waits on the engine (an invite code, stopping) and the two would deadlock.
    """

    def __init__(self, event: object) -> None:
        super().__init__()
        self.event = event
