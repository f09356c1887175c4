"""SQLite storage: what the runtime loads at start and the rows it writes.

The runtime never reads in its hot path: configuration, credentials,
sessions and live interactions are loaded once at start, and every later
change is a row written through the :class:`BatchWriter`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite
import msgspec

from protocol.chats import MessageView
from protocol.config import AgentConfig, ApiKeyConfig, QueueConfig
from protocol.views import AgentStatus, Customer
from server.core.model import InteractionRecord
from server.storage import case_rows
from server.storage.batches import WriterConfig
from server.storage.migrate import migrate
from server.storage.writer import BatchWriter, Change
from server.storage.writer_process import ProcessWriter

_json = msgspec.json.Encoder()

UPSERT_INTERACTION = (
    "INSERT OR REPLACE INTO interactions (id, channel, queue, owner, status, created_at,"
    " enqueued_at, priority, band, ord, customer, source, call_id, agent, accepted_at,"
    " ended_at, end_reason, chat_state, contact, previous)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def interaction_change(r: InteractionRecord) -> Change:
    return (
        UPSERT_INTERACTION,
        (
            r.id,
            r.channel,
            r.queue,
            r.owner,
            r.status,
            r.created_at,
            r.enqueued_at,
            r.priority,
            r.band,
            r.order,
            _json.encode(r.customer).decode(),
            r.source,
            r.call_id,
            r.agent,
            r.accepted_at,
            r.ended_at,
            r.end_reason,
            r.chat_state,
            r.contact,
            r.previous,
        ),
    )


CHAT_FIELDS = frozenset({"name", "result", "result_details", "notes", "case_id", "candidates"})


_INSERT_MESSAGE = (
    "INSERT INTO messages (id, interaction, n, author, by, text, file, client_id, template,"
    " sent_at) VALUES (?,?,?,?,?,?,?,?,?,?)"
)


#: How each kind of persisted row becomes SQL. The core names the kinds;
#: the runtime adds credentials and sessions.
def change_for(kind: str, row: Any) -> Change:
    if kind == "message":  # first, and inline: one for every chat message
        m: MessageView = row
        return (
            _INSERT_MESSAGE,
            (
                m.id, m.interaction, m.n, m.author, m.by, m.text,
                m.file.id if m.file else None, m.client_id, m.template, m.sent_at,
            ),
        )  # fmt: skip
    if kind == "interaction":
        return interaction_change(row)
    if kind == "handled":  # (interaction, agent, at)
        return (
            "INSERT OR IGNORE INTO interaction_agents (interaction, agent, at) VALUES (?, ?, ?)",
            row,
        )
    if kind == "file":  # (id, interaction, name, mime, size, sha256, by, created_at)
        return (
            "INSERT INTO files (id, interaction, name, mime, size, sha256, by, created_at)"
            " VALUES (?,?,?,?,?,?,?,?)",
            row,
        )
    if kind == "chat_field":  # (interaction, column, value): one field of the record page
        interaction, column, value = row
        if column not in CHAT_FIELDS:
            raise ValueError(f"not a chat record field: {column!r}")
        return (
            f"INSERT INTO chat_records (interaction, {column}) VALUES (?, ?)"
            f" ON CONFLICT (interaction) DO UPDATE SET {column} = excluded.{column}",
            (interaction, value),
        )
    if kind == "interaction_contact":  # (interaction, contact) for a chat no longer live
        return ("UPDATE interactions SET contact = ? WHERE id = ?", (row[1], row[0]))
    if kind == "call":  # CallRow snapshot (result and reason are kept)
        return (
            "INSERT INTO calls (interaction, call_id, kind, state, number, dialed, device, address,"
            " answered_at, ended_at, cause, related, verified, requested_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (interaction) DO UPDATE SET"
            " state = excluded.state, device = excluded.device, address = excluded.address,"
            " answered_at = excluded.answered_at, ended_at = excluded.ended_at,"
            " cause = excluded.cause",
            (
                row.interaction, row.call_id, row.kind, row.state, row.number, row.dialed,
                row.device, row.address, row.answered_at, row.ended_at, row.cause, row.related,
                int(row.verified), row.requested_at,
            ),
        )  # fmt: skip
    if kind == "call_step":  # (interaction, at, step, detail)
        return ("INSERT INTO call_steps (interaction, at, step, detail) VALUES (?,?,?,?)", row)
    if kind == "call_result":  # (interaction, result, reason)
        return ("UPDATE calls SET result = ?, reason = ? WHERE interaction = ?", row)
    if kind == "scheduled":  # ScheduledRow snapshot
        return (
            "INSERT OR REPLACE INTO scheduled_calls (id, agent, number, at, device, queue,"
            " related, status, interaction) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                row.id, row.agent, row.number, row.at, row.device, row.queue, row.related,
                row.status, row.interaction,
            ),
        )  # fmt: skip
    if kind == "template":
        return (
            "INSERT OR REPLACE INTO templates (id, data) VALUES (?, ?)",
            (row.id, _json.encode(row).decode()),
        )
    if kind == "template_deleted":
        return ("DELETE FROM templates WHERE id = ?", (row,))
    if kind == "meta":  # (key, value)
        return ("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", row)
    if kind == "agent_status":
        return (
            "INSERT OR REPLACE INTO agent_status (username, status, reason) VALUES (?,?,?)",
            row,
        )
    if kind == "queue":
        return (
            "INSERT OR REPLACE INTO queues (id, data) VALUES (?, ?)",
            (row.id, _json.encode(row).decode()),
        )
    if kind == "queue_deleted":
        return ("DELETE FROM queues WHERE id = ?", (row,))
    if kind == "agent":
        return (
            # An upsert, not REPLACE: a REPLACE would delete the row and cascade
            # to its password.
            "INSERT INTO accounts (username, data) VALUES (?, ?)"
            " ON CONFLICT (username) DO UPDATE SET data = excluded.data",
            (row.username, _json.encode(row).decode()),
        )
    if kind == "password":  # (username, argon2 hash)
        return ("INSERT OR REPLACE INTO passwords (username, hash) VALUES (?, ?)", row)
    if kind == "agent_deleted":
        return ("DELETE FROM accounts WHERE username = ?", (row,))  # cascades
    if kind == "api_key":  # (ApiKeyConfig, secret hash)
        cfg, secret_hash = row
        return (
            "INSERT OR REPLACE INTO api_keys (id, data, secret_hash) VALUES (?,?,?)",
            (cfg.id, _json.encode(cfg).decode(), secret_hash),
        )
    if kind == "api_key_deleted":
        return ("DELETE FROM api_keys WHERE id = ?", (row,))
    if kind == "session":  # (token hash, username, created, expires)
        return (
            "INSERT OR REPLACE INTO sessions (token_hash, username, created_at, expires_at)"
            " VALUES (?,?,?,?)",
            row,
        )
    if kind in case_rows.KINDS:  # cases, knowledge base, mail outbox
        return case_rows.case_change(kind, row)
    raise ValueError(f"unknown row kind {kind!r}")


@dataclass
class Loaded:
    """Everything the runtime needs at start."""

    queues: list[QueueConfig] = field(default_factory=list)
    accounts: list[tuple[AgentConfig, str]] = field(default_factory=list)
    api_keys: list[tuple[ApiKeyConfig, str]] = field(default_factory=list)
    statuses: dict[str, tuple[AgentStatus, str]] = field(default_factory=dict)
    sessions: list[tuple[str, str, float]] = field(default_factory=list)  # hash, user, expires
    interactions: list[InteractionRecord] = field(default_factory=list)


class Store:
    """An open SQLite database in WAL mode with its batch writer."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        path: str,
        synchronous: str = "FULL",
        writer: str = "process",
    ) -> None:
        self.db = db
        self.path = path
        # The writer has a connection of its own; these settings are per connection.
        kind = ProcessWriter if writer == "process" else BatchWriter
        config = WriterConfig(
            path,
            pragmas=(
                f"PRAGMA synchronous = {synchronous.upper()}",
                "PRAGMA foreign_keys = ON",
                "PRAGMA busy_timeout = 5000",
            ),
            snapshots=frozenset({UPSERT_INTERACTION}),
        )
        self.writer: BatchWriter | ProcessWriter = kind(config)

    @classmethod
    async def open(
        cls, path: str | Path, synchronous: str = "FULL", writer: str = "process"
    ) -> Store:
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError("synchronous must be FULL, NORMAL or EXTRA")
        if writer not in ("process", "thread"):
            raise ValueError("writer must be process or thread")
        if str(path) == ":memory:":
            raise ValueError("the store needs a file: its writer has a connection of its own")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves (one per batch).
        db = await aiosqlite.connect(str(path), isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute("PRAGMA busy_timeout = 5000")
            await migrate(db)
        except BaseException:
            await db.close()  # a refused database must not leak its connection thread
            raise
        store = cls(db, str(path), synchronous, writer)
        store.writer.start()
        try:
            await store.writer.ready()
        except BaseException:
            await store.close()
            raise
        return store

    async def load(self, now: float) -> Loaded:
        out = Loaded()
        dec_q = msgspec.json.Decoder(QueueConfig)
        dec_a = msgspec.json.Decoder(AgentConfig)
        dec_k = msgspec.json.Decoder(ApiKeyConfig)
        dec_c = msgspec.json.Decoder(Customer)
        db = self.db
        async with db.execute("SELECT data FROM queues ORDER BY rowid") as cur:
            out.queues = [dec_q.decode(r[0]) async for r in cur]
        async with db.execute(
            "SELECT a.data, coalesce(p.hash, '') FROM accounts a"
            " LEFT JOIN passwords p USING (username) ORDER BY a.rowid"
        ) as cur:
            out.accounts = [(dec_a.decode(r[0]), r[1]) async for r in cur]
        async with db.execute("SELECT data, secret_hash FROM api_keys ORDER BY rowid") as cur:
            out.api_keys = [(dec_k.decode(r[0]), r[1]) async for r in cur]
        async with db.execute("SELECT username, status, reason FROM agent_status") as cur:
            out.statuses = {r[0]: (r[1], r[2]) async for r in cur}
        await db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
        async with db.execute("SELECT token_hash, username, expires_at FROM sessions") as cur:
            out.sessions = [(r[0], r[1], r[2]) async for r in cur]
        async with db.execute(
            "SELECT id, channel, queue, owner, status, created_at, enqueued_at, priority, band,"
            " ord, customer, source, call_id, agent, accepted_at, ended_at, end_reason,"
            " chat_state, contact, previous"
            " FROM interactions WHERE status NOT IN ('ended', 'failed')"
        ) as cur:
            out.interactions = [
                InteractionRecord(
                    id=r[0],
                    channel=r[1],
                    queue=r[2],
                    owner=r[3],
                    status=r[4],
                    created_at=r[5],
                    enqueued_at=r[6],
                    priority=r[7],
                    band=r[8],
                    order=r[9],
                    customer=dec_c.decode(r[10]),
                    source=r[11],
                    call_id=r[12],
                    agent=r[13],
                    accepted_at=r[14],
                    ended_at=r[15],
                    end_reason=r[16],
                    chat_state=r[17],
                    contact=r[18],
                    previous=r[19],
                )
                async for r in cur
            ]
        return out

    async def fetch_interaction(self, interaction_id: str) -> tuple[Any, ...] | None:
        async with self.db.execute(
            "SELECT id, status, queue, agent, end_reason FROM interactions WHERE id = ?",
            (interaction_id,),
        ) as cur:
            row = await cur.fetchone()
        return tuple(row) if row else None

    async def close(self) -> None:
        await self.writer.close()
        await self.db.close()
