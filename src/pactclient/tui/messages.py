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
