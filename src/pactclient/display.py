"""Text written by others, shown as text: never as terminal commands, never as markup.

Every string in a contract comes from some party's signed change, and peers, bundles and evidence
files bring more (names in hellos, refusal reasons). A party is free to put anything in them, so
wherever such text reaches a terminal, a Textual widget or the HTML report it goes through ``shown``:

* C0 controls (U+0000–U+001F), DEL and C1 controls (U+0080–U+009F) are replaced by the escape Python
  would write for them (``\\x1b``, ``\\x9b``, ``\\r``, ``\\t``…), so an escape sequence (CSI, OSC, DCS,
  OSC-8 links, window titles, clearing the screen) arrives as harmless visible characters;
* bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) are replaced the
  same way (``\\u202e``), so text cannot be shown reordered;
* newline and tab are kept only where the text is meant to span lines (``multiline=True``: messages and
  decisions on the timeline, notifications).

Markup is not escaped here but avoided: the CLI and the TUI put other parties' text into rich ``Text``
(``text`` below) or Textual ``Content`` objects, which are never parsed for markup or emoji codes.

Only presentation changes: ``--json`` output and everything stored or signed keep the exact data.
This module imports nothing from pactclient, so every presentation layer (cli, tui, the evidence
report) can use it.
"""

from __future__ import annotations

from rich.text import Text

BIDI_CONTROLS = (*range(0x202A, 0x202F), *range(0x2066, 0x206A))
_SHORT = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}


def _escape_of(cp: int) -> str:
    if cp in _SHORT:
        return _SHORT[cp]
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"


_ONE_LINE = {cp: _escape_of(cp) for cp in (*range(0x20), 0x7F, *range(0x80, 0xA0), *BIDI_CONTROLS)}
_MULTI_LINE = {cp: v for cp, v in _ONE_LINE.items() if cp not in (0x09, 0x0A)}


def shown(value: object, multiline: bool = False) -> str:
    """``value`` as a string that a terminal, Textual or a browser displays as the characters it holds."""
    s = value if isinstance(value, str) else "" if value is None else str(value)
    return s.translate(_MULTI_LINE if multiline else _ONE_LINE)


def text(value: object, style: str = "", multiline: bool = False) -> Text:
    """A rich ``Text`` of ``shown(value)``: no markup, no emoji codes, no escape sequences."""
    return Text(shown(value, multiline), style=style)


def assemble(*parts: object, style: str = "") -> Text:
    """Like ``Text.assemble``, but every plain string or ``(string, style)`` part is ``shown`` first.

    A ``Text`` part is taken as it is: build it with ``text`` when it holds others' words.
    """
    out = Text(style=style)
    for part in parts:
        if isinstance(part, Text):
            out.append_text(part)
        elif isinstance(part, tuple):
            out.append(shown(part[0]), style=part[1])
        else:
            out.append(shown(part))
    return out

