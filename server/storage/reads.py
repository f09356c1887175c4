"""Queries, on a connection of their own.

SQLite in WAL mode lets a reader run while the writer commits, so history
searches and transcripts never wait behind a batch, and they only ever see
committed rows: what a client reads has been acknowledged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aiosqlite
import msgspec

from protocol.chats import ContactView, FileView, MessageView, ResultOption, Template
from protocol.views import Customer, InteractionView
from server import contacts
from server.core.calls import CallRow, ScheduledRow

_customer = msgspec.json.Decoder(Customer)
_template = msgspec.json.Decoder(Template)
_ids = msgspec.json.Decoder(list[str])

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif"})

INTERACTION_COLUMNS = (
    "i.id, i.channel, i.queue, i.status, i.customer, i.source, i.created_at, i.agent,"
    " i.accepted_at, i.ended_at, i.end_reason, i.chat_state, i.contact, i.previous"
)


def interaction_view(r: Any) -> InteractionView:
    return InteractionView(
        id=r[0],
        channel=r[1],
        queue=r[2],
        status=r[3],
        customer=_customer.decode(r[4]),
        source=r[5],
        created_at=r[6],
        agent=r[7],
        accepted_at=r[8],
        ended_at=r[9],
        end_reason=r[10],
        chat_state=r[11],
        contact=r[12],
        previous=r[13],
    )


def file_view(r: Any) -> FileView:
    """(id, name, mime, size)"""
    return FileView(id=r[0], name=r[1], mime=r[2], size=r[3], preview=r[2] in IMAGE_TYPES)


class Reader:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    @classmethod
    async def open(cls, path: str) -> Reader:
        db = await aiosqlite.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        await db.execute("PRAGMA busy_timeout = 5000")
        await db.execute("PRAGMA query_only = ON")
        return cls(db)

    async def close(self) -> None:
        await self.db.close()

    async def rows(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        async with self.db.execute(sql, tuple(params)) as cur:
            return list(await cur.fetchall())

    # ------------------------------------------------------------- contacts

    async def match_contacts(self, options: list[tuple[str, str]]) -> list[str]:
        """Contacts having any of ``options``, oldest first."""
        if not options:
            return []
        where = " OR ".join("(o.kind = ? AND o.value = ?)" for _ in options)
        params = [x for kv in options for x in kv]
        rows = await self.rows(
            f"SELECT DISTINCT c.id FROM contact_options o JOIN contacts c ON c.id = o.contact"
            f" WHERE {where} ORDER BY c.created_at, c.id",
            params,
        )
        return [r[0] for r in rows]

    async def contacts(self, ids: list[str]) -> list[ContactView]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        heads = await self.rows(
            "SELECT c.id, c.name, coalesce(a.name, '') FROM contacts c"
            f" LEFT JOIN companies a ON a.id = c.account WHERE c.id IN ({marks})",
            ids,
        )
        opts = await self.rows(
            f"SELECT contact, kind, value FROM contact_options WHERE contact IN ({marks})", ids
        )
        by_contact: dict[str, list[tuple[str, str]]] = {}
        for contact_id, kind, value in opts:
            by_contact.setdefault(contact_id, []).append((kind, value))
        found = {
            cid: contacts.view(cid, name, account, by_contact.get(cid, []))
            for cid, name, account in heads
        }
        return [found[i] for i in ids if i in found]

    async def search_contacts(
        self, query: str, limit: int = 20, country_code: str = ""
    ) -> list[ContactView]:
        """By name, company name, phone, email or identity (prefix/substring),
        or the number of one of the contact's cases."""
        like = f"%{query.strip()}%"
        phone = contacts.normalize_phone(query, country_code)
        rows = await self.rows(
            "SELECT DISTINCT c.id, c.created_at FROM contacts c"
            " LEFT JOIN companies a ON a.id = c.account"
            " LEFT JOIN contact_options o ON o.contact = c.id"
            " WHERE c.name LIKE ? OR a.name LIKE ? OR o.value LIKE ?"
            " OR (? != '' AND o.kind = 'phone' AND o.value LIKE ?)"
            " OR EXISTS (SELECT 1 FROM cases k WHERE k.contact = c.id AND k.number = ?)"
            " ORDER BY c.created_at, c.id LIMIT ?",
            (like, like, like.lower(), phone, f"%{phone}%", query.strip().upper(), limit),
        )
        return await self.contacts([r[0] for r in rows])

    # ---------------------------------------------------------------- chats

    async def interaction(self, interaction_id: str) -> InteractionView | None:
        rows = await self.rows(
            f"SELECT {INTERACTION_COLUMNS} FROM interactions i WHERE i.id = ?", (interaction_id,)
        )
        return interaction_view(rows[0]) if rows else None

    async def owner(self, interaction_id: str) -> str | None:
        rows = await self.rows("SELECT owner FROM interactions WHERE id = ?", (interaction_id,))
        return rows[0][0] if rows else None

    async def handled_by(self, interaction_id: str) -> list[str]:
        rows = await self.rows(
            "SELECT agent FROM interaction_agents WHERE interaction = ? ORDER BY at, agent",
            (interaction_id,),
        )
        return [r[0] for r in rows]

    async def transcript(self, interaction_id: str) -> list[MessageView]:
        return await self._messages("m.interaction = ? ORDER BY m.n", (interaction_id,))

    async def message_by_client_id(
        self, interaction_id: str, author: str, by: str, client_id: str
    ) -> MessageView | None:
        found = await self._messages(
            "m.interaction = ? AND m.author = ? AND m.by = ? AND m.client_id = ?",
            (interaction_id, author, by, client_id),
        )
        return found[0] if found else None

    async def _messages(self, where: str, params: tuple[Any, ...]) -> list[MessageView]:
        rows = await self.rows(
            "SELECT m.id, m.n, m.author, m.by, m.text, m.client_id, m.template, m.sent_at,"
            " f.id, f.name, f.mime, f.size, m.interaction FROM messages m"
            f" LEFT JOIN files f ON f.id = m.file WHERE {where}",
            params,
        )
        return [
            MessageView(
                id=r[0],
                interaction=r[12],
                n=r[1],
                author=r[2],
                by=r[3],
                text=r[4],
                client_id=r[5],
                template=r[6],
                sent_at=r[7],
                file=file_view(r[8:12]) if r[8] else None,
            )
            for r in rows
        ]

    async def record_fields(self, interaction_id: str) -> tuple[Any, ...] | None:
        """(name, result, result_details, notes, case_id, candidates)"""
        rows = await self.rows(
            "SELECT name, result, result_details, notes, case_id, candidates"
            " FROM chat_records WHERE interaction = ?",
            (interaction_id,),
        )
        if not rows:
            return None
        r = rows[0]
        return (r[0], r[1], r[2], r[3], r[4], _ids.decode(r[5]))

    async def files_of(self, interaction_id: str) -> list[FileView]:
        rows = await self.rows(
            "SELECT id, name, mime, size FROM files WHERE interaction = ? ORDER BY created_at",
            (interaction_id,),
        )
        return [file_view(r) for r in rows]

    async def message_count(self, interaction_id: str) -> int:
        rows = await self.rows(
            "SELECT count(*) FROM messages WHERE interaction = ?", (interaction_id,)
        )
        return int(rows[0][0])

    async def file(self, file_id: str) -> tuple[FileView, str, str] | None:
        """The file, its interaction and its content hash."""
        rows = await self.rows(
            "SELECT id, name, mime, size, interaction, sha256 FROM files WHERE id = ?", (file_id,)
        )
        if not rows:
            return None
        r = rows[0]
        return file_view(r), r[4], r[5]

    async def closed_chats(self, agent: str, limit: int = 10) -> list[InteractionView]:
        """The agent's last ``limit`` ended chats, newest first."""
        rows = await self.rows(
            f"SELECT {INTERACTION_COLUMNS} FROM interactions i"
            " JOIN interaction_agents h ON h.interaction = i.id AND h.agent = ?"
            " WHERE i.channel = 'chat' AND i.status IN ('ended', 'failed')"
            " ORDER BY i.ended_at DESC, i.id DESC LIMIT ?",
            (agent, limit),
        )
        return [interaction_view(r) for r in rows]

    async def search_chats(
        self,
        *,
        handled_by: str | None,
        contact: str | None = None,
        agent: str | None = None,
        source: str | None = None,
        queue: str | None = None,
        state: str | None = None,
        since: float | None = None,
        until: float | None = None,
        owner: str | None = None,
        limit: int = 50,
    ) -> list[InteractionView]:
        """Chats by the given filters, newest first; ``handled_by`` restricts
        the search to one agent's chats, ``owner`` to one bot's."""
        where = ["i.channel = 'chat'"]
        params: list[Any] = []
        for column, value in (
            ("i.contact", contact),
            ("i.source", source),
            ("i.queue", queue),
            ("i.owner", owner),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if state is not None:
            where.append("coalesce(i.chat_state, '') = ?")
            params.append(state)
        if since is not None:
            where.append("i.created_at >= ?")
            params.append(since)
        if until is not None:
            where.append("i.created_at < ?")
            params.append(until)
        for who in (handled_by, agent):
            if who is not None:
                where.append(
                    "EXISTS (SELECT 1 FROM interaction_agents h"
                    " WHERE h.interaction = i.id AND h.agent = ?)"
                )
                params.append(who)
        params.append(limit)
        rows = await self.rows(
            f"SELECT {INTERACTION_COLUMNS} FROM interactions i WHERE {' AND '.join(where)}"
            " ORDER BY i.created_at DESC, i.id DESC LIMIT ?",
            params,
        )
        return [interaction_view(r) for r in rows]

    async def live_messages(self, interaction_ids: list[str]) -> list[MessageView]:
        """Every message of these (live) chats, for numbering and resends."""
        out: list[MessageView] = []
        for ix in interaction_ids:
            out.extend(await self.transcript(ix))
        return out

    async def meta(self, key: str) -> str | None:
        rows = await self.rows("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    # ---------------------------------------------------------------- calls

    _CALL_COLUMNS = (
        "interaction", "call_id", "kind", "state", "number", "dialed", "device", "address",
        "answered_at", "ended_at", "cause", "related", "verified", "requested_at", "result",
        "reason",
    )  # fmt: skip
    _CALL = f"SELECT {', '.join(_CALL_COLUMNS)} FROM calls"

    @staticmethod
    def _call_row(r: Any) -> tuple[CallRow, str | None, str]:
        row = CallRow(
            interaction=r[0], call_id=r[1], kind=r[2], state=r[3], number=r[4], dialed=r[5],
            device=r[6], address=r[7], answered_at=r[8], ended_at=r[9], cause=r[10],
            related=r[11], verified=bool(r[12]), requested_at=r[13],
        )  # fmt: skip
        return row, r[14], r[15]

    async def call(self, interaction_id: str) -> tuple[CallRow, str | None, str] | None:
        """The call's row, its result and the reason given."""
        rows = await self.rows(f"{self._CALL} WHERE interaction = ?", (interaction_id,))
        return self._call_row(rows[0]) if rows else None

    async def live_calls(self, interaction_ids: list[str]) -> list[CallRow]:
        out = []
        for ix in interaction_ids:
            found = await self.call(ix)
            if found is not None:
                out.append(found[0])
        return out

    async def recent_calls(
        self, agent: str, limit: int = 10
    ) -> list[tuple[InteractionView, CallRow, str | None, str, str | None]]:
        """The last ``limit`` calls ``agent`` handled, newest first: the
        interaction, the call's row, its result, the reason and the linked case."""
        columns = ", ".join(f"c.{c}" for c in self._CALL_COLUMNS)
        rows = await self.rows(
            f"SELECT {INTERACTION_COLUMNS}, {columns}, r.case_id FROM interactions i"
            " JOIN interaction_agents h ON h.interaction = i.id AND h.agent = ?"
            " JOIN calls c ON c.interaction = i.id"
            " LEFT JOIN chat_records r ON r.interaction = i.id"
            " WHERE i.channel = 'call' ORDER BY i.created_at DESC, i.id DESC LIMIT ?",
            (agent, limit),
        )
        n = INTERACTION_COLUMNS.count(",") + 1
        out = []
        for r in rows:
            row, result, reason = self._call_row(r[n:-1])
            out.append((interaction_view(r), row, result, reason, r[-1]))
        return out

    async def steps(self, interaction_id: str) -> list[tuple[float, str, str]]:
        rows = await self.rows(
            "SELECT at, step, detail FROM call_steps WHERE interaction = ? ORDER BY at, rowid",
            (interaction_id,),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def pending_scheduled(self) -> list[ScheduledRow]:
        rows = await self.rows(
            "SELECT id, agent, number, at, device, queue, related, status, interaction"
            " FROM scheduled_calls WHERE status = 'pending' ORDER BY at"
        )
        fields = ("id", "agent", "number", "at", "device", "queue", "related", "status")
        return [
            ScheduledRow(**dict(zip(fields, r[:8], strict=True)), interaction=r[8]) for r in rows
        ]

    async def journey(self, contact: str) -> list[tuple[InteractionView, str]]:
        """Every interaction of a contact, oldest first, with the call kind."""
        rows = await self.rows(
            f"SELECT {INTERACTION_COLUMNS}, coalesce(c.kind, '') FROM interactions i"
            " LEFT JOIN calls c ON c.interaction = i.id"
            " WHERE i.contact = ? ORDER BY i.created_at, i.id",
            (contact,),
        )
        return [(interaction_view(r), r[14]) for r in rows]

    # -------------------------------------------------------------- lookups

    async def templates(self) -> list[Template]:
        rows = await self.rows("SELECT data FROM templates ORDER BY id")
        return [_template.decode(r[0]) for r in rows]

    async def results(self) -> list[ResultOption]:
        rows = await self.rows("SELECT id, name FROM chat_results ORDER BY rowid")
        return [ResultOption(id=r[0], name=r[1]) for r in rows]
