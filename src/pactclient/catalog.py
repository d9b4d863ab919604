"""Contract templates: one TOML file per common event ("for each common event, a protocol").

A template names its parties by role, its items and its activities with deadlines relative to the
moment the contract is opened (``due_in = "24h"``). See docs/model.md for the format.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pactclient.errors import FormatError, UsageError
from pactclient.model.case_rules import check_template_rule

BUILTIN_DIR = Path(__file__).parent / "templates"


def builtin() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.toml"))}


def load(name_or_path: str) -> dict:
    """A built-in template by name, or a template file by path."""
    path = builtin().get(name_or_path)
    if path is None:
        candidate = Path(name_or_path).expanduser()
        if candidate.suffix == ".toml" or candidate.exists():
            path = candidate
    if path is None:
        raise UsageError(f"no template {name_or_path!r}; see: pact templates (or give a path to a .toml file)")
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"no template file {path}") from None
    except UnicodeDecodeError:
        raise FormatError(f"template {path} is not a text file (TOML is UTF-8 text)") from None
    except tomllib.TOMLDecodeError as exc:
        raise FormatError(f"template {path} is not valid TOML: {exc}") from None
    validate(data, str(path))
    data.setdefault("name", path.stem)
    return data


def validate(data: dict, where: str) -> None:
    def need(cond: bool, what: str) -> None:
        if not cond:
            raise FormatError(f"template {where}: {what}")

    parties = data.get("parties", [])
    need(isinstance(parties, list) and len(parties) >= 2, "needs at least two [[parties]], each with a role")
    roles = set()
    for p in parties:
        need(isinstance(p, dict) and isinstance(p.get("role"), str) and p["role"], "every party needs a role")
        roles.add(p.get("id", p["role"]))
        roles.add(p["role"])
    ids = set()
    for it in data.get("items", []):
        need(isinstance(it, dict) and isinstance(it.get("id"), str), "every item needs an id")
        need(it.get("owner", "") in roles, f"item {it['id']!r} has an owner that is not a party role")
        need(it.get("kind", "text") in ("text", "number", "date", "choice", "money"), f"item {it['id']!r} has an unknown kind")
    for a in data.get("activities", []):
        need(isinstance(a, dict) and isinstance(a.get("id"), str), "every activity needs an id")
        need(a.get("assignee", "") in roles, f"activity {a['id']!r} has an assignee that is not a party role")
        check_template_rule(a, roles, need)
        ids.add(a["id"])
    for a in data.get("activities", []):
        for dep in a.get("depends_on", []):
            need(dep in ids, f"activity {a['id']!r} depends on unknown activity {dep!r}")


def summaries() -> list[dict]:
    out = []
    for name, path in builtin().items():
        data = load(str(path))
        out.append({
            "name": name,
            "title": data.get("title", name),
            "description": data.get("description", ""),
            "roles": [p["role"] for p in data.get("parties", [])],
            "items": len(data.get("items", [])),
            "activities": len(data.get("activities", [])),
            "path": str(path),
        })
    return out
