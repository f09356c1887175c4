"""Queries of cases, the knowledge base and the outbox, on the read connection.

Like :class:`server.storage.reads.Reader` (whose connection it shares), it
only ever sees committed rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aiosqlite
import msgspec

from protocol.cases import ArticleView, CaseEvent, CaseQueueConfig, MailTemplate
from server.core.cases import CaseRow
from server.storage.case_rows import CASE_COLUMNS

_tags = msgspec.json.Decoder(list[str])
_queue = msgspec.json.Decoder(CaseQueueConfig)
#: The case's columns, then its contact's name.
_SELECT = (
    "SELECT "
    + ", ".join(f"k.{c}" for c in CASE_COLUMNS)
    + ", coalesce(n.name, '') FROM cases k LEFT JOIN contacts n ON n.id = k.contact"
)
FINAL = ("closed", "canceled")


def case_row(r: Any) -> CaseRow:
    values = dict(zip(CASE_COLUMNS, r[: len(CASE_COLUMNS)], strict=True))
    values["group"] = values.pop("grp")
    return CaseRow(**values, contact_name=r[len(CASE_COLUMNS)])


def article_view(r: Any) -> ArticleView:
    return ArticleView(
        id=r[0], title=r[1], body=r[2], tags=_tags.decode(r[3]), created_at=r[4],
        created_by=r[5], updated_at=r[6],
    )  # fmt: skip


class CaseReader:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def rows(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        async with self.db.execute(sql, tuple(params)) as cur:
            return list(await cur.fetchall())

    # ------------------------------------------------------------------ cases

    async def last_seq(self) -> int:
        rows = await self.rows("SELECT coalesce(max(seq), 0) FROM cases")
        return int(rows[0][0])

    async def _with_links(self, rows: list[CaseRow]) -> list[CaseRow]:
        if not rows:
            return rows
        by_number = {r.number: r for r in rows}
        marks = ",".join("?" * len(by_number))
        for case_id, ix in await self.rows(
            f"SELECT case_id, interaction FROM case_links WHERE case_id IN ({marks})"
            " ORDER BY at, rowid",
            by_number,
        ):
            by_number[case_id].interactions.append(ix)
        for case_id, article in await self.rows(
            f"SELECT case_id, article FROM case_articles WHERE case_id IN ({marks})"
            " ORDER BY at, rowid",
            by_number,
        ):
            by_number[case_id].articles.append(article)
        return rows

    async def open_cases(self) -> list[CaseRow]:
        marks = ",".join("?" * len(FINAL))
        rows = await self.rows(f"{_SELECT} WHERE k.status NOT IN ({marks}) ORDER BY k.seq", FINAL)
        return await self._with_links([case_row(r) for r in rows])

    async def case(self, number: str) -> CaseRow | None:
        rows = await self.rows(f"{_SELECT} WHERE k.number = ?", (number,))
        return (await self._with_links([case_row(rows[0])]))[0] if rows else None

    async def history(self, number: str) -> list[CaseEvent]:
        rows = await self.rows(
            "SELECT at, by, action, field, old, new, text FROM case_history"
            " WHERE case_id = ? ORDER BY at, rowid",
            (number,),
        )
        return [
            CaseEvent(at=r[0], by=r[1], action=r[2], field=r[3], old=r[4], new=r[5], text=r[6])
            for r in rows
        ]

    async def final_cases(
        self,
        *,
        queue: str | None = None,
        group: str | None = None,
        status: str | None = None,
        contact: str | None = None,
        assignee: str | None = None,
        interaction: str | None = None,
        visible: tuple[list[str], str, str | None] | None = None,
        limit: int = 50,
    ) -> list[CaseRow]:
        """Closed and canceled cases by the filters, newest first. ``visible``
        (queues, agent, contact served) keeps those an agent may see."""
        where = [f"k.status IN ({','.join('?' * len(FINAL))})"]
        params: list[Any] = list(FINAL)
        for column, value in (
            ("k.queue", queue), ("k.grp", group), ("k.status", status), ("k.contact", contact),
            ("k.assignee", assignee),
        ):  # fmt: skip
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if interaction is not None:
            where.append(
                "EXISTS (SELECT 1 FROM case_links l WHERE l.case_id = k.number"
                " AND l.interaction = ?)"
            )
            params.append(interaction)
        if visible is not None:
            queues, agent, serving = visible
            marks = ",".join("?" * len(queues)) or "NULL"
            where.append(
                f"(k.queue IN ({marks}) OR k.grp IN ({marks}) OR k.assignee = ?"
                " OR (? IS NOT NULL AND k.contact = ?))"
            )
            params += [*queues, *queues, agent, serving, serving]
        params.append(limit)
        rows = await self.rows(
            f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY k.seq DESC LIMIT ?", params
        )
        return await self._with_links([case_row(r) for r in rows])

    async def contact_brief(self, contact: str) -> tuple[str, str | None, str, str] | None:
        """(name, company id, company name, first email) of a contact."""
        rows = await self.rows(
            "SELECT c.name, c.account, coalesce(a.name, ''),"
            " (SELECT min(value) FROM contact_options o WHERE o.contact = c.id"
            "  AND o.kind = 'email') FROM contacts c LEFT JOIN companies a ON a.id = c.account"
            " WHERE c.id = ?",
            (contact,),
        )
        if not rows:
            return None
        r = rows[0]
        return r[0], r[1], r[2], r[3] or ""

    # ----------------------------------------------------------- configuration

    async def case_queues(self) -> list[CaseQueueConfig]:
        rows = await self.rows("SELECT data FROM case_queues ORDER BY rowid")
        return [_queue.decode(r[0]) for r in rows]

    async def mail_templates(self) -> list[MailTemplate]:
        rows = await self.rows("SELECT id, subject, body FROM mail_templates ORDER BY id")
        return [MailTemplate(id=r[0], subject=r[1], body=r[2]) for r in rows]

    # ---------------------------------------------------------- knowledge base

    _ARTICLE = "SELECT id, title, body, tags, created_at, created_by, updated_at FROM articles"

    async def articles(self, ids: list[str]) -> list[ArticleView]:
        if not ids:
            return []
        rows = await self.rows(f"{self._ARTICLE} WHERE id IN ({','.join('?' * len(ids))})", ids)
        found = {r[0]: article_view(r) for r in rows}
        return [found[i] for i in ids if i in found]

    async def search_articles(
        self, query: str, tag: str | None = None, limit: int = 20
    ) -> list[ArticleView]:
        """Every word of ``query`` in the title, body or tags; title hits first."""
        words = query.split()
        where, params = [], []
        for w in words:
            like = "%" + w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(
                "(title LIKE ? ESCAPE '\\' OR body LIKE ? ESCAPE '\\' OR tags LIKE ? ESCAPE '\\')"
            )
            params += [like, like, like]
        if tag is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(articles.tags) WHERE value = ?)")
            params.append(tag)
        first = words[0] if words else ""
        rows = await self.rows(
            f"{self._ARTICLE} WHERE {' AND '.join(where) or '1'}"
            " ORDER BY (instr(lower(title), lower(?)) = 0), updated_at DESC, id LIMIT ?",
            [*params, first, limit],
        )
        return [article_view(r) for r in rows]

    # ------------------------------------------------------------------ outbox

    async def due_mail(self, now: float, limit: int = 50) -> list[tuple[str, str, str, str, int]]:
        """(id, to, subject, body, attempts) of pending mails due by ``now``, oldest first."""
        rows = await self.rows(
            "SELECT id, to_addr, subject, body, attempts FROM outbox"
            " WHERE state = 'pending' AND next_at <= ? ORDER BY created_at, id LIMIT ?",
            (now, limit),
        )
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def next_mail_at(self) -> float | None:
        rows = await self.rows("SELECT min(next_at) FROM outbox WHERE state = 'pending'")
        return rows[0][0]
