"""What a template says a broken commitment triggers (``[activities.on_broken]``), turned into fields of
the activity's terms when a contract is opened. What these fields mean is in ``model.compensation``."""

from __future__ import annotations

from pactclient.errors import UsageError
from pactclient.model.money import parse_amount

RULE_KEYS = ("escalation", "owner", "person", "within", "compensation", "currency", "to")


def _duration(text: str) -> int:
    from pactclient.model.actions import parse_duration  # actions imports this module

    return parse_duration(text)


def check_template_rule(activity: dict, roles: set[str], need) -> None:
    """Validate an activity's ``on_broken`` table in a template (``need(cond, what)`` raises)."""
    rule = activity.get("on_broken")
    if rule is None:
        return
    aid = activity.get("id")
    need(isinstance(rule, dict), f"activity {aid!r}: on_broken must be a table")
    unknown = sorted(set(rule) - set(RULE_KEYS))
    need(not unknown, f"activity {aid!r}: on_broken has unknown keys {unknown}")
    for key in ("escalation", "owner", "person", "within", "compensation", "currency", "to"):
        need(isinstance(rule.get(key, ""), str), f"activity {aid!r}: on_broken.{key} must be text")
    for key in ("owner", "to"):
        need(rule.get(key, "") in roles | {""}, f"activity {aid!r}: on_broken.{key} is not a party role")
    if rule.get("within"):
        try:
            _duration(rule["within"])
        except UsageError as exc:
            need(False, f"activity {aid!r}: on_broken.within: {exc}")
    if rule.get("compensation"):
        need(bool(rule.get("currency")), f"activity {aid!r}: on_broken.compensation needs a currency")
        try:
            parse_amount(rule["compensation"], rule["currency"])
        except UsageError as exc:
            need(False, f"activity {aid!r}: on_broken.compensation: {exc}")


def template_rules(activity: dict, role_to_pid: dict[str, str]) -> dict:
    """The fields an activity's ``on_broken`` table adds to its terms (plain scalars, signed with them)."""
    rule = activity.get("on_broken") or {}
    out: dict = {}
    if rule.get("escalation"):
        out["escalation_title"] = rule["escalation"]
    if rule.get("owner"):
        out["escalation_owner"] = role_to_pid.get(rule["owner"], rule["owner"])
    if rule.get("person"):
        out["escalation_person"] = rule["person"]
    if rule.get("within"):
        out["escalation_within"] = _duration(rule["within"])
    if rule.get("compensation"):
        currency = rule["currency"].upper()
        out["compensation_minor"] = parse_amount(rule["compensation"], currency)
        out["compensation_currency"] = currency
        if rule.get("to"):
            out["compensation_to"] = role_to_pid.get(rule["to"], rule["to"])
    return out


