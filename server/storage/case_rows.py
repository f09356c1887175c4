"""How the rows of cases, the knowledge base and the outbox become SQL.

:func:`server.storage.sqlite.change_for` hands these kinds over here.
"""

from __future__ import annotations

from typing import Any

import msgspec

from server.storage.writer import Change

_json = msgspec.json.Encoder()

CASE_COLUMNS = (
    "number", "seq", "subject", "description", "contact", "account", "account_name", "email",
    "queue", "grp", "priority", "status", "assignee", "created_at", "created_by", "updated_at",
    "response_due", "resolution_due", "responded_at", "resolved_at", "closed_at", "satisfaction",
)  # fmt: skip
_FIXED = {"number", "seq", "created_at", "created_by"}

UPSERT_CASE = (
    f"INSERT INTO cases ({', '.join(CASE_COLUMNS)}) VALUES ({','.join('?' * len(CASE_COLUMNS))})"
    " ON CONFLICT (number) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in CASE_COLUMNS if c not in _FIXED)
)

KINDS = frozenset(
    {
        "case",
        "case_event",
        "case_link",
        "case_article",
        "case_queue",
        "article",
        "mail_template",
        "outbox",
        "outbox_sent",
        "outbox_retry",
    }
)


def case_values(row: Any) -> tuple[Any, ...]:
    """A ``CaseRow`` as the values of ``CASE_COLUMNS``."""
    return tuple(getattr(row, "group" if c == "grp" else c) for c in CASE_COLUMNS)


def case_change(kind: str, row: Any) -> Change:
    if kind == "case":  # CaseRow snapshot
        return (UPSERT_CASE, case_values(row))
    if kind == "case_event":  # (case, at, by, action, field, old, new, text)
        return (
            "INSERT INTO case_history (case_id, at, by, action, field, old, new, text)"
            " VALUES (?,?,?,?,?,?,?,?)",
            row,
        )
    if kind == "case_link":  # (case, interaction, role, at)
        return (
            "INSERT OR IGNORE INTO case_links (case_id, interaction, role, at) VALUES (?,?,?,?)",
            row,
        )
    if kind == "case_article":  # (case, article, at, by)
        return (
            "INSERT OR IGNORE INTO case_articles (case_id, article, at, by) VALUES (?,?,?,?)",
            row,
        )
    if kind == "case_queue":  # CaseQueueConfig
        return (
            "INSERT OR REPLACE INTO case_queues (id, data) VALUES (?, ?)",
            (row.id, _json.encode(row).decode()),
        )
    if kind == "article":  # ArticleView
        return (
            "INSERT INTO articles (id, title, body, tags, created_at, created_by, updated_at)"
            " VALUES (?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET title = excluded.title,"
            " body = excluded.body, tags = excluded.tags, updated_at = excluded.updated_at",
            (
                row.id, row.title, row.body, _json.encode(row.tags).decode(), row.created_at,
                row.created_by, row.updated_at,
            ),
        )  # fmt: skip
    if kind == "mail_template":  # MailTemplate
        return (
            "INSERT OR REPLACE INTO mail_templates (id, subject, body) VALUES (?,?,?)",
            (row.id, row.subject, row.body),
        )
    if kind == "outbox":  # OutboxRow: due at once
        return (
            "INSERT INTO outbox (id, case_id, template, to_addr, subject, body, created_at,"
            " next_at) VALUES (?,?,?,?,?,?,?,?)",
            (
                row.id, row.case, row.template, row.to, row.subject, row.body, row.created_at,
                row.created_at,
            ),
        )  # fmt: skip
    if kind == "outbox_sent":  # (id, at)
        mail_id, at = row
        return (
            "UPDATE outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1 WHERE id = ?",
            (at, mail_id),
        )
    if kind == "outbox_retry":  # (id, next_at, error, state)
        mail_id, next_at, error, state = row
        return (
            "UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ?, state = ?"
            " WHERE id = ?",
            (next_at, error, state, mail_id),
        )
    raise ValueError(f"unknown row kind {kind!r}")
