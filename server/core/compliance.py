"""Outgoing-call compliance: may this agent dial this number?

Pure: the lists come in, the first rule that refuses comes out. Numbers are
compared normalised (E.164 ``+`` and digits); list entries may be whole
numbers or prefixes ending in ``*`` ("+44*").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

RULES = (
    "do_not_call",
    "company_blacklist",
    "company_whitelist",
    "personal_whitelist",
    "country_whitelist",
)


@dataclass(frozen=True, slots=True)
class ComplianceLists:
    do_not_call: frozenset[str] = frozenset()
    blacklist: tuple[str, ...] = ()
    #: Empty: every number the other rules allow; else only these.
    whitelist: tuple[str, ...] = ()
    #: Country calling codes ("1", "44"); empty: every country.
    countries: tuple[str, ...] = ()
    #: Per agent; an agent with a list may only call numbers on it.
    personal: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _matches(number: str, patterns: Iterable[str]) -> bool:
    for p in patterns:
        if p.endswith("*"):
            if number.startswith(p[:-1]):
                return True
        elif number == p:
            return True
    return False


def refusal(number: str, agent: str, lists: ComplianceLists) -> str | None:
    """The rule that forbids ``agent`` to dial ``number`` (normalised), or None."""
    if number in lists.do_not_call:
        return "do_not_call"
    if _matches(number, lists.blacklist):
        return "company_blacklist"
    if lists.whitelist and not _matches(number, lists.whitelist):
        return "company_whitelist"
    personal = lists.personal.get(agent)
    if personal and not _matches(number, personal):
        return "personal_whitelist"
    if lists.countries and not any(number.startswith("+" + cc) for cc in lists.countries):
        return "country_whitelist"
    return None
