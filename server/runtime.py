"""The one stateful async piece: it owns the router, the writer and the sessions.

Every command runs synchronously on the event loop (no awaits inside, so
no locks are needed): call the router, collect its effects, queue their rows
to the writer, and hand the frames to sessions behind the commit barrier of
those rows. A timer task wakes the router at its next deadline; a stats task
pushes queue figures to watching supervisors a few times a second.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from protocol.base import Frame, Push
from protocol.chats import ResultOption, Template
from protocol.codec import Codec
from protocol.config import AgentConfig, ApiKeyConfig, QueueConfig
from protocol.routing import AgentChanged, Offered
from protocol.supervision import QueueFigures
from protocol.views import QueueStats
from server import auth, contacts
from server.cases import link_for, load_cases
from server.core import Persist, Router, Send
from server.core.calls import Calls, CallSettings
from server.core.cases import Cases
from server.core.chats import Conversations
from server.core.compliance import ComplianceLists
from server.core.effects import SUPERVISORS, Target
from server.files import FileStore, Signer
from server.mail import MailSender
from server.metrics import Metrics
from server.sessions import Barrier, Session
from server.settings import Settings
from server.storage import Store, change_for
from server.storage.case_reads import CaseReader
from server.storage.reads import Reader
from server.storage.writer import Change, StorageFailed

log = structlog.get_logger(__name__)


@dataclass
class Account:
    cfg: AgentConfig
    password_hash: str


@dataclass
class ApiKey:
    cfg: ApiKeyConfig
    secret_hash: str


def make_id_factory() -> Callable[[str], str]:
    """Ids unique across restarts without asking the database: time + counter."""
    start = f"{time.time_ns() // 1_000_000:x}"  # formatted once: every message takes an id
    counter = itertools.count()

    def new_id(prefix: str) -> str:
        return f"{prefix}-{start}-{next(counter):x}"

    return new_id


def overflow_order(queues: list[QueueConfig]) -> list[QueueConfig]:
    """``queues`` with every overflow target before the queues that use it
    (the router checks that a target exists), whatever order the file used."""
    by_id = {q.id: q for q in queues}
    out: list[QueueConfig] = []
    placed: set[str] = set()

    def place(q: QueueConfig, path: tuple[str, ...]) -> None:
        if q.id in placed or q.id in path:
            return  # a loop is reported by the router
        target = by_id.get(q.overflow or "")
        if target is not None:
            place(target, (*path, q.id))
        placed.add(q.id)
        out.append(q)

    for q in queues:
        place(q, ())
    return out


class Runtime:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.router = Router(clock, make_id_factory(), settings.routing.settings())
        self.chats = Conversations(self.router, settings.chat.settings())
        self.calls = Calls(self.router)
        self.cases = Cases(self.router, settings.cases.settings(), self._case_link)
        self.mailer = MailSender(self, settings.mail)
        self.case_reader: CaseReader | None = None
        self.templates: dict[str, Template] = {}
        self.results: dict[str, ResultOption] = {}
        self.reader: Reader | None = None
        files_dir = settings.chat.files_dir or f"{settings.server.db}.files"
        self.files = FileStore(Path(files_dir))
        self.signer = Signer(b"")
        self.accounts: dict[str, Account] = {}
        self.keys: dict[str, ApiKey] = {}
        self.keys_by_hash: dict[str, ApiKey] = {}
        self.tokens: dict[str, tuple[str, float]] = {}  # token hash -> (username, expires)
        self.sessions: dict[Target, Session] = {}
        self.watchers: dict[Session, None] = {}  # ordered set
        self.failed: BaseException | None = None
        self.stopped = asyncio.Event()
        #: Sessions with frames held for a commit, by the commit (its future):
        #: a commit releases the sessions that waited for it, no others.
        self._held: dict[asyncio.Future[None], dict[Session, None]] = {}
        self._batching = 0  # > 0 while the messages of one socket read are handled
        #: Sessions holding an offer's frames until the end of the commit (see deliver).
        self._corked: list[Session] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._timer_changes = -1  # router.timers.changes when last scheduled
        self._firing = False  # in _on_timer: its own commit must not fire it again
        self._last_stats: dict[str, QueueStats] = {}
        self._spawned: set[asyncio.Task[Any]] = set()
        store.writer.on_commit = self._flush_held

    # ------------------------------------------------------------------- start

    async def start(self) -> None:
        """Load the database, apply the settings' seeds, restore live state."""
        loaded = await self.store.load(self.clock())
        router = self.router
        seeded = {q.id for q in self.settings.queues}
        queues = [q for q in loaded.queues if q.id not in seeded] + self.settings.queues
        for q in overflow_order(queues):
            router.put_queue(q)
        for cfg, pw in loaded.accounts:
            self.put_account(cfg, pw)
        changes: list[Change] = []
        for seed in self.settings.agents:
            cfg = AgentConfig(**{f: getattr(seed, f) for f in AgentConfig.__struct_fields__})
            known = self.accounts.get(cfg.username)
            if seed.password:
                if known and auth.check_password(known.password_hash, seed.password):
                    pw = known.password_hash
                else:
                    pw = auth.hash_password(seed.password)
                    changes.append(change_for("password", (cfg.username, pw)))
            elif known:
                pw = known.password_hash
            else:
                raise SystemExit(f"account {cfg.username!r} in the settings needs a password")
            changes.insert(0, change_for("agent", cfg))
            self.put_account(cfg, pw)
        for cfg, h in loaded.api_keys:
            self.put_key(ApiKey(cfg, h))
        for seed_key in self.settings.api_keys:
            kcfg = ApiKeyConfig(**{f: getattr(seed_key, f) for f in ApiKeyConfig.__struct_fields__})
            key = ApiKey(kcfg, auth.secret_hash(seed_key.secret))
            self.put_key(key)
            changes.append(change_for("api_key", (kcfg, key.secret_hash)))
        self.tokens = {h: (u, exp) for h, u, exp in loaded.sessions}
        router.restore(loaded.interactions, loaded.statuses)
        self.reader = reader = await Reader.open(self.store.path)
        live_chats = [ix.id for ix in router.interactions.values() if ix.channel == "chat"]
        self.chats.restore(await reader.live_messages(live_chats))
        self.calls.settings = self._call_settings()
        live_calls = [ix.id for ix in router.interactions.values() if ix.channel == "call"]
        self.calls.restore(await reader.live_calls(live_calls), await reader.pending_scheduled())
        self.templates = {t.id: t for t in await reader.templates()}
        for t in self.settings.templates:
            self.templates[t.id] = t
            changes.append(change_for("template", t))
        self.results = {r.id: r for r in await reader.results()}
        link_key = await reader.meta("link_key")
        if link_key is None:
            link_key = secrets.token_hex(32)
            changes.append(change_for("meta", ("link_key", link_key)))
        self.signer = Signer(bytes.fromhex(link_key))
        self.case_reader = await load_cases(self)
        effects = router.take_effects()
        # Writing config rows again is harmless; seeds must be written at least once.
        changes = [change_for(e.kind, e.row) for e in effects if isinstance(e, Persist)] + changes
        if changes:
            await self.store.writer.submit(changes)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._stats_loop(), name="queue-stats")]
        self._tasks.append(loop.create_task(self.mailer.run(self.case_reader), name="mail"))
        self._schedule()
        log.info(
            "runtime_started",
            queues=len(router.queues),
            agents=len(router.agents),
            restored=len(router.interactions),
        )

    def put_account(self, cfg: AgentConfig, password_hash: str) -> None:
        old = self.accounts.get(cfg.username)
        self.accounts[cfg.username] = Account(cfg, password_hash)
        if cfg.role == "agent":
            self.router.put_agent(cfg)
        elif old is not None and old.cfg.role == "agent":
            self.router.delete_agent(cfg.username)

    def put_key(self, key: ApiKey) -> None:
        old = self.keys.get(key.cfg.id)
        if old is not None:
            self.keys_by_hash.pop(old.secret_hash, None)
        self.keys[key.cfg.id] = key
        self.keys_by_hash[key.secret_hash] = key

    def forget_tokens(self, username: str) -> None:
        """Resume tokens of a deleted account stop working at once (in memory;
        the rows expire on their own)."""
        self.tokens = {h: v for h, v in self.tokens.items() if v[0] != username}

    def spawn(self, coro: Any) -> None:
        """Run a fire-and-forget coroutine, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    def _call_settings(self) -> CallSettings:
        c = self.settings.calls
        cc = self.settings.contacts.country_code
        gateways = sorted(k for k, key in self.keys.items() if key.cfg.role == "gateway")
        norm = [contacts.normalize_phone(n, cc) for n in c.do_not_call]

        def patterns(items: list[str]) -> tuple[str, ...]:
            # Prefixes keep their "*"; whole numbers are normalised like the dialed one.
            return tuple(p if p.endswith("*") else contacts.normalize_phone(p, cc) for p in items)

        return CallSettings(
            callback_cap=c.callback_cap,
            gateway=c.gateway or (gateways[0] if gateways else ""),
            caller_id=c.caller_id,
            compliance=ComplianceLists(
                do_not_call=frozenset(n for n in norm if n),
                blacklist=patterns(c.blacklist),
                whitelist=patterns(c.whitelist),
                countries=tuple(c.countries),
                personal={a: patterns(v) for a, v in c.personal.items()},
            ),
        )

    def _case_link(self, case: str, score: int) -> str:
        return link_for(self, case, score)

    def file_link(self, file_id: str) -> str:
        return self.signer.link(file_id, self.clock() + self.settings.chat.link_ttl)

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.reader is not None:
            await self.reader.close()
            self.reader = None

    # ---------------------------------------------------------------- commands

    def commit(
        self,
        origin: Session | None = None,
        reply: Frame | None = None,
        conn: Any = None,
        extra: Iterable[Change] = (),
        replay: list[bytes] | None = None,
    ) -> Barrier:
        """Carry out the router's effects (and ``extra`` rows): persist, then send.

        ``reply`` goes to ``origin`` first, then ``replay`` (pushes a resumed
        session missed), then the new pushes, all held until the rows are
        committed.
        """
        effects = self.router.take_effects()
        changes: list[Change] = []
        sends: list[Send] = []
        for e in effects:
            if isinstance(e, Persist):
                changes.append(change_for(e.kind, e.row))
            else:
                sends.append(e)
        changes.extend(extra)
        barrier: Barrier = None
        if changes:
            try:
                barrier = self.store.writer.submit(changes)
            except StorageFailed as exc:
                self.fail(exc)
                return None
        if origin is not None and reply is not None:
            origin.reply(reply, conn, barrier)
            if replay:
                origin.replay(replay)
        try:
            for send in sends:
                self._deliver(send.to, send.frame, barrier)
        finally:
            if self._corked:
                for session in self._corked:
                    session.uncork()
                self._corked.clear()
        if not self._batching:
            self._settle()
        return barrier

    def _settle(self) -> None:
        if self.router.timers.changes != self._timer_changes:
            self._schedule()
        # A deadline that has passed is acted on at the first command after
        # it, not only when the loop gets to its timers: a loaded loop runs
        # its socket events first, in rounds of up to 48 polls of 1,024, and
        # a timer (an offer's timeout, a wrap-up's end) fired up to 0.9 s late
        # at 2,000 chats/s. Commands come often then, and each looks.
        if self._timer_at is not None and not self._firing and self.clock() >= self._timer_at:
            try:
                self._on_timer()
            except Exception:  # the command that happened to come is not to blame
                log.exception("timer_failed")
        # Release what earlier commits made durable now rather than after the
        # loop's next round of socket events (see BatchWriter.poll).
        self.store.writer.poll()

    def batch_begin(self) -> None:
        """The messages of one socket read follow: settle once, after the last."""
        self._batching += 1

    def batch_end(self) -> None:
        self._batching -= 1
        if not self._batching:
            self._settle()

    def _deliver(self, to: Target, frame: Push, barrier: Barrier = None) -> None:
        """One of a commit's sends (only commit() calls this: an offer's frames
        wait for the end of it, to go out in one write)."""
        early = False
        if isinstance(frame, Offered):
            # An offer is not an acknowledgement and carries no message: it
            # goes out without waiting for the commit (still behind anything
            # already held for that agent). If the server dies before the
            # interaction's row is on disk, the agent's reconnect shows no
            # offer and the source, never acknowledged, starts it again.
            # Waiting would put a commit (an fsync) into every offer's latency.
            early = True
            self.metrics.offers.observe(max(0.0, self.clock() - frame.interaction.created_at))
        elif isinstance(frame, AgentChanged) and frame.agent.state == "offered":
            # The agent's own state change to "offered" says no more than the
            # offer beside it, so it goes with it: one socket write for both
            # (after the commit it would be a write of its own, per offer).
            early = True
        if early:
            barrier = None
        if to == SUPERVISORS:
            for s in self.watchers:
                s.push(frame, barrier)
            return
        session = self.sessions.get(to)
        if session is not None:
            if early and session.cork():
                self._corked.append(session)
            session.push(frame, barrier)

    def _note_held(self, session: Session, barrier: asyncio.Future[None]) -> None:
        waiting = self._held.get(barrier)
        if waiting is None:
            waiting = self._held[barrier] = {}
        waiting[session] = None

    def _flush_held(self) -> None:
        """After each commit: release held frames whose rows are now durable.

        Only the sessions that waited for a commit now done are looked at
        (there are a few commits in flight, and hundreds of sessions); one
        still holding frames for a later commit was noted under that one too.
        """
        if self.store.writer.failed is not None:
            # Frames waiting on a failed batch must never go out.
            self.fail(self.store.writer.failed)
            return
        for barrier in [b for b in self._held if b.done()]:
            for session in self._held.pop(barrier):
                session.flush_held()

    def fail(self, exc: BaseException) -> None:
        """Storage failed: stop serving. What was not acknowledged is retried by
        clients after the restart; what was, is on disk."""
        if self.failed is None:
            self.failed = exc
            log.error("runtime_failed", error=repr(exc))
            self.stopped.set()

    # ---------------------------------------------------------------- sessions

    def session_for(self, role: str, principal: str, target: Target, codec: Codec) -> Session:
        session = Session(
            role,
            principal,
            target,
            codec,
            replay=self.settings.limits.replay,
            replay_bytes=self.settings.limits.replay_bytes,
            max_buffer=self.settings.limits.max_write_buffer,
            on_held=self._note_held,
        )
        self.sessions[target] = session
        return session

    def set_watching(self, session: Session, on: bool) -> None:
        session.watching = on
        if on:
            self.watchers[session] = None
        else:
            self.watchers.pop(session, None)
        self.router.watching = bool(self.watchers)
        if on:
            self._last_stats.clear()

    # ------------------------------------------------------------------ timers

    def _schedule(self) -> None:
        """Make sure the loop calls the router back at its next deadline."""
        self._timer_changes = self.router.timers.changes
        deadline = self.router.next_deadline()
        if deadline is None or (self._timer_at is not None and self._timer_at <= deadline):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        # A millisecond late rather than early: the loop's clock and the wall
        # clock drift apart a little, and an early call would find nothing due.
        delay = max(0.0, deadline - self.clock()) + 0.001
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        if self._timer is not None:  # called by _settle, before the loop got to it
            self._timer.cancel()
        self._timer = self._timer_at = None
        self._firing = True
        try:
            self.router.advance()
            self.commit()
        finally:
            self._firing = False
            # Rescheduled even when nothing was due (the loop woke a little
            # early) and the timers did not change: this loop timer has
            # fired, and _settle only reschedules on a change. Also when the
            # firing failed, or later deadlines would never come.
            self._schedule()

    async def _stats_loop(self, period: float = 0.5) -> None:
        while True:
            await asyncio.sleep(period)
            self.push_stats()

    def push_stats(self) -> None:
        """Queue figures that changed since the last push, to watching supervisors."""
        stats = [self.router.queue_stats(q) for q in self.router.queues]
        for s in stats:
            self.metrics.queue_waiting.labels(s.queue).set(s.waiting)
            self.metrics.queue_oldest_wait.labels(s.queue).set(s.oldest_wait)
        if not self.watchers:
            return
        changed = [s for s in stats if self._changed(s)]
        if changed:
            frame = QueueFigures(queues=changed)
            for s in self.watchers:
                s.push(frame)

    def _changed(self, s: QueueStats) -> bool:
        last = self._last_stats.get(s.queue)
        self._last_stats[s.queue] = s
        # Waits grow every tick; push them only when something else moved or
        # at whole-second steps, so an idle dashboard stays quiet.
        return last is None or (
            (last.waiting, last.offered, last.active, last.ready_agents)
            != (s.waiting, s.offered, s.active, s.ready_agents)
            or int(last.oldest_wait) != int(s.oldest_wait)
        )
