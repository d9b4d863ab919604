"""Command palette: namespaced commands ("contract: new", "contract: accept proposal", ...).

Each command runs an action of the screen that is open, so the palette offers exactly what the
keys offer on that screen.
"""

from __future__ import annotations

import ast
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (title, screen action, help); only those the open screen has are offered. The palette calls the action
# method itself, past ``check_action``: an edit the user's role may not make then says why, as a notification.
COMMANDS = (
    ("contract: new", "new_contract", "Start a contract from a template"),
    ("contract: open", "open_contract", "Open the selected contract"),
    ("contract: filter", "focus_filter", "Search the work queue as you type"),
    ("contract: join with an invite code", "join", "Join a contract someone invited you to"),
    ("peers: connect to an address", "connect", "Sync with a peer at HOST:PORT and keep dialling it"),
    ("contract: import bundle", "import_bundle", "Admit the signed changes of a bundle file"),
    ("contract: set item", "set_item", "Set the value of the selected data item"),
    ("contract: start activity", "status('start')", "Start the selected activity"),
    ("contract: wait on a party", "status('wait')", "Mark the selected activity as waiting on a party"),
    ("contract: done", "status('done')", "Finish the selected activity"),
    ("contract: cancel activity", "status('cancel')", "Cancel the selected activity"),
    ("contract: message", "note(False)", "Write a message on the timeline"),
    ("contract: record decision", "note(True)", "Record a decision on the timeline"),
    ("contract: add activity", "add_activity", "Propose a new activity"),
    ("contract: propose change", "propose", "Propose a change to the terms"),
    ("contract: accept proposal", "answer(True)", "Accept the selected open proposal"),
    ("contract: reject proposal", "answer(False)", "Reject the selected open proposal"),
    ("contract: invite party", "invite", "Make a one-time invite code for a new party"),
    ("contract: add party by key", "add_party", "Add a party by their public key (no network needed)"),
    ("contract: attachments", "attachments", "The files attached to this contract: attach one, save one"),
    ("contract: export bundle", "export_bundle", "Write the contract to a bundle file"),
    ("evidence: export", "export_evidence", "Write a signed evidence file that anyone can verify offline"),
    ("contract: hand over", "hand_over", "Make a colleague of your party the problem owner of this case"),
    ("devices: list", "devices", "This party's devices: pair a new one, revoke one"),
    ("devices: add a device", "add_device", "Make a one-time pairing code for a new device of your party"),
    ("devices: revoke", "revoke", "Revoke the selected device: its later changes are refused everywhere"),
    ("app: toggle theme", "app.toggle_dark", "Switch between dark and light"),
)


class PactCommands(Provider):
    def _available(self):
        screen = self.screen
        for title, action, help_text in COMMANDS:
            if action.startswith("app."):
                yield title, partial(self.app.run_action, action[4:]), help_text
                continue
            name, _, arg = action.partition("(")
            method = getattr(screen, f"action_{name}", None)
            if method is not None:
                args = (ast.literal_eval(arg[:-1]),) if arg else ()
                yield title, partial(method, *args), help_text

    async def discover(self) -> Hits:
        for title, run, help_text in self._available():
            yield DiscoveryHit(title, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, run, help_text in self._available():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), run, help=help_text)
