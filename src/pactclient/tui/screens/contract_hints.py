"""The "not offered" lines of the contract screen: why a key is missing from the footer.

Each line sits under the table it is about, and only the focused table's line is shown: the reason
follows the focus (after ``tab`` to the items, the line says why ``i`` is missing, not why ``s`` is).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable, Static

from pactclient.display import shown

# table id -> the id of the line under it
HINT_IDS = {"items": "items-hint", "activities": "activity-hint", "proposals": "proposals-hint"}


def lines_for(screen, table: str) -> list[str]:
    """Why keys about ``table``'s selected row are not offered on ``screen`` (a ContractScreen)."""
    lines = []
    if table == "items" and (why := screen.why_not_item()):
        lines.append(f"i (set item) not offered: {why}")
    if table == "activities":
        if why := screen.why_not_status():
            lines.append(f"s/w/d/x not offered: {why}")
        elif why := screen.why_not_status("done"):
            lines.append(f"s/d not offered: {why}")
        elif why := screen.why_not_status("start"):
            lines.append(f"s not offered: {why}")
    if table == "proposals" and screen.view.open_proposals() and not screen.answerable():
        lines.append("y/n (answer) not offered: the open proposals wait on the other parties, not on you")
    return lines


def focused_table(screen) -> str:
    focused = screen.focused
    return focused.id if isinstance(focused, DataTable) and focused.id in HINT_IDS else "activities"


def paint(screen) -> None:
    """Fill the line under the focused table; hide the others."""
    focused = focused_table(screen)
    for table, hint_id in HINT_IDS.items():
        lines = lines_for(screen, table) if table == focused else []
        hint = screen.query_one(f"#{hint_id}", Static)
        hint.update(Text("\n".join(shown(line) for line in lines), style="dim"))
        hint.display = bool(lines)
