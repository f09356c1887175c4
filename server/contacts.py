"""Contacts: normalising the ways to recognise a customer, and finding them.

A customer is recognised by a phone number, an email address or a source
identity ("telegram:48151623"). Options are stored normalised, so that
"+1 (555) 010-0100", "001 555 0100100" and "+15550100100" are one number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from protocol.chats import ContactView
from protocol.views import Customer
from server.storage.writer import Change

_DIGITS = re.compile(r"\d+")


def normalize_phone(raw: str, country_code: str = "") -> str:
    """E.164 where it can be told (``+`` and digits); national numbers get
    ``country_code`` when one is configured, else stay digits only."""
    raw = raw.strip()
    digits = "".join(_DIGITS.findall(raw))
    if not digits:
        return ""
    if raw.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    if country_code:
        return "+" + country_code + digits.lstrip("0")
    return digits


def normalize_email(raw: str) -> str:
    return raw.strip().lower()


def identity(source: str, external_id: str) -> str:
    return f"{source}:{external_id.strip()}" if external_id.strip() else ""


def options_of(customer: Customer, source: str, country_code: str = "") -> list[tuple[str, str]]:
    """The (kind, value) options a customer brings, normalised, without blanks."""
    found = [
        ("phone", normalize_phone(customer.phone, country_code)),
        ("email", normalize_email(customer.email)),
        ("identity", identity(source, customer.external_id)),
    ]
    return [(k, v) for k, v in found if v]


def option_changes(contact_id: str, options: Iterable[tuple[str, str]]) -> list[Change]:
    return [
        (
            "INSERT OR IGNORE INTO contact_options (contact, kind, value) VALUES (?, ?, ?)",
            (contact_id, kind, value),
        )
        for kind, value in options
    ]


def contact_change(contact_id: str, name: str, account: str | None, now: float) -> Change:
    return (
        "INSERT INTO contacts (id, name, account, created_at) VALUES (?, ?, ?, ?)",
        (contact_id, name, account, now),
    )


def company_change(company_id: str, name: str) -> Change:
    return ("INSERT OR IGNORE INTO companies (id, name) VALUES (?, ?)", (company_id, name))


def view(contact_id: str, name: str, account: str, rows: Iterable[tuple[str, str]]) -> ContactView:
    by_kind: dict[str, list[str]] = {"phone": [], "email": [], "identity": []}
    for kind, value in rows:
        by_kind.setdefault(kind, []).append(value)
    return ContactView(
        id=contact_id,
        name=name,
        phones=sorted(by_kind["phone"]),
        emails=sorted(by_kind["email"]),
        identities=sorted(by_kind["identity"]),
        account=account,
    )
