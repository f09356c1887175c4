"""One websocket connection: authenticate, then read, check and dispatch frames.

Everything a client sends passes the same gate, in this order: size, rate,
decoding, authentication, role. Each refusal is an error frame with a stable
code and changes nothing; a client that keeps sending garbage or floods is
closed with 1008. Nothing a client sends can raise out of this module.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, cast

import structlog
from websockets.asyncio.server import ServerConnection, broadcast
from websockets.exceptions import ConnectionClosed

from protocol import PROTOCOL_VERSION
from protocol.auth import Login, LoginKey, Resume, Role, Welcome
from protocol.base import Request, RequestId, tag_of
from protocol.chats import SendFile
from protocol.codec import Codec, FrameError, codec_for
from protocol.common import Error
from protocol.errors import CloseCode, ErrorCode
from protocol.frames import AUTH_FRAMES
from server import __version__, auth
from server.core.errors import RoutingError
from server.runtime import Runtime
from server.sessions import Session
from server.storage import change_for
from server.transport.direct import DirectConnection, Inbox
from server.transport.dispatch import ALLOWED, Dispatcher

log = structlog.get_logger(__name__)


def _peer(ws: ServerConnection) -> str:
    addr = ws.remote_address
    return f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) else str(addr)


class Closing(Exception):
    """Stop reading: the connection is being closed with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


class Gate:
    """Per-connection counters: bad frames in a row, failed logins, rate."""

    __slots__ = ("bad", "burst", "failed_logins", "limited", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.bad = 0
        self.failed_logins = 0
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()
        self.limited = 0

    def allow(self) -> bool:
        """Token bucket: ``rate`` frames per second, bursts up to ``burst``."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.limited = 0
            return True
        self.limited += 1
        return False


class ConnectionHandler:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.limits = runtime.settings.limits
        self.dispatch = Dispatcher(runtime)
        # A file frame: the file as base64 (JSON) plus room for the other fields.
        self.max_file_frame = runtime.settings.chat.max_file * 4 // 3 + 4096
        self._frame_tags: dict[type, str] = {}

    async def __call__(self, ws: ServerConnection) -> None:
        # Every log line of this connection's task carries its id and peer.
        structlog.contextvars.bind_contextvars(conn=str(ws.id)[:8], peer=_peer(ws))
        codec = codec_for(ws.subprotocol)
        limits = self.limits
        gate = Gate(limits.rate["agent"], limits.rate["agent"] * limits.burst_seconds)
        session: Session | None = None
        try:
            async with asyncio.timeout(limits.auth_timeout):
                while session is None:
                    session = await self._authenticate(ws, codec, gate, await ws.recv())
            structlog.contextvars.bind_contextvars(role=session.role, principal=session.principal)
            rate = limits.rate.get(session.role, limits.rate["agent"])
            gate = Gate(rate, max(1.0, rate * limits.burst_seconds))
            self.rt.metrics.connections.labels(session.role).inc()
            try:
                await self._serve(session, ws, codec, gate)
            finally:
                self.rt.metrics.connections.labels(session.role).dec()
        except TimeoutError:
            await ws.close(CloseCode.AUTH_TIMEOUT, "no login in time")
        except Closing as c:
            await ws.close(c.code, c.reason)
        except ConnectionClosed:
            pass
        finally:
            if session is not None:
                self._detach(session, ws)

    async def _serve(self, s: Session, ws: ServerConnection, codec: Codec, gate: Gate) -> None:
        """Handle the logged-in client's frames, in order, until it goes."""
        if not isinstance(ws, DirectConnection):
            async for data in ws:
                result = self._on_frame(s, ws, codec, gate, data)
                if result is not None:
                    await result
            return

        def handle(data: bytes | str) -> asyncio.Future[None] | None:
            try:
                return self._on_frame(s, ws, codec, gate, data)
            except Closing as c:
                ws.stop_delivery(c.code, c.reason)  # frames behind it are dropped
                return None
            except Exception:  # never into websockets' data_received
                log.exception("frame_failed", principal=s.principal)
                return None

        ws.batch_hooks = (self.rt.batch_begin, self.rt.batch_end)
        await ws.deliver_to(Inbox(ws, handle).feed)
        if ws.stop_reason is not None:
            raise Closing(*ws.stop_reason)

    # -------------------------------------------------------------- checking

    def _error(
        self,
        ws: ServerConnection,
        codec: Codec,
        code: ErrorCode,
        message: str,
        request_id: RequestId | None = None,
        session: Session | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.rt.metrics.errors.labels(code.value).inc()
        frame = Error(id=request_id, code=code.value, message=message, details=details or {})
        if session is not None:
            session.reply(frame, ws)  # behind anything already held for it
        else:
            broadcast((ws,), codec.encode(frame), text=codec.text)

    def _bad(self, gate: Gate) -> None:
        gate.bad += 1
        if gate.bad >= self.limits.max_bad_frames:
            raise Closing(CloseCode.POLICY_VIOLATION, "too many bad frames")

    def _read(
        self, ws: ServerConnection, codec: Codec, gate: Gate, data: bytes | str, s: Session | None
    ) -> Request | None:
        """Decode one frame, or answer the error and return None."""
        try:
            frame = codec.decode_client(data)
        except FrameError as e:
            self._error(ws, codec, e.code, e.message, e.request_id, s)
            self._bad(gate)
            return None
        if len(data) > self.limits.max_frame and (
            not isinstance(frame, SendFile) or len(data) > self.max_file_frame
        ):
            # Only file uploads may be big (up to the file limit, base64 included).
            self._error(ws, codec, ErrorCode.TOO_LARGE, "frame too large", frame.id, s)
            self._bad(gate)
            return None
        kind = type(frame)
        tag = self._frame_tags.get(kind)
        if tag is None:
            tag = self._frame_tags[kind] = tag_of(kind)
        self.rt.metrics.frames.by_type[tag] += 1
        return frame

    # ---------------------------------------------------------- authenticated

    def _on_frame(
        self, s: Session, ws: ServerConnection, codec: Codec, gate: Gate, data: bytes | str
    ) -> asyncio.Future[None] | None:
        if not gate.allow():
            self._error(ws, codec, ErrorCode.RATE_LIMITED, "slow down", None, s)
            if gate.limited > gate.burst:
                raise Closing(CloseCode.POLICY_VIOLATION, "flooding")
            return None
        frame = self._read(ws, codec, gate, data, s)
        if frame is None:
            return None
        kind = type(frame)
        if kind in AUTH_FRAMES:
            self._error(
                ws, codec, ErrorCode.ALREADY_AUTHENTICATED, "already logged in", frame.id, s
            )
            self._bad(gate)
            return None
        if kind not in ALLOWED[s.role]:
            message = f"role {s.role!r} may not send {tag_of(kind)!r}"
            self._error(ws, codec, ErrorCode.FORBIDDEN, message, frame.id, s)
            self._bad(gate)
            return None
        gate.bad = 0
        try:
            result = self.dispatch.handlers[kind](s, ws, frame)
        except RoutingError as e:
            self.rt.router.take_effects()  # a refused command has none; be sure
            self._error(ws, codec, e.code, e.message, frame.id, s, e.details)
            return None
        except Exception:
            log.exception("handler_failed", frame=kind.__name__, principal=s.principal)
            self._error(ws, codec, ErrorCode.INTERNAL, "internal error", frame.id, s)
            return None
        if result is None:  # handlers return None or an awaitable (isawaitable() is an ABC check)
            return None
        return asyncio.ensure_future(self._finish(s, ws, codec, frame, result))

    async def _finish(
        self,
        s: Session,
        ws: ServerConnection,
        codec: Codec,
        frame: Request,
        result: Awaitable[None],
    ) -> None:
        try:
            await result
        except RoutingError as e:
            self._error(ws, codec, e.code, e.message, frame.id, s, e.details)
        except Exception:
            log.exception("handler_failed", frame=type(frame).__name__, principal=s.principal)
            self._error(ws, codec, ErrorCode.INTERNAL, "internal error", frame.id, s)

    # ---------------------------------------------------------- authentication

    async def _authenticate(
        self, ws: ServerConnection, codec: Codec, gate: Gate, data: bytes | str
    ) -> Session | None:
        frame = self._read(ws, codec, gate, data, None)
        if frame is None:
            return None
        if not isinstance(frame, Login | LoginKey | Resume):
            self._error(ws, codec, ErrorCode.NOT_AUTHENTICATED, "log in first", frame.id)
            self._bad(gate)
            return None
        rt = self.rt
        if isinstance(frame, Login):
            account = rt.accounts.get(frame.username)
            stored = account.password_hash if account else None
            if not await auth.check_password_async(stored, frame.password) or account is None:
                return self._login_failed(ws, codec, gate, frame.id)
            if rt.accounts.get(frame.username) is not account:
                return self._login_failed(ws, codec, gate, frame.id)  # changed meanwhile
            return self._user_session(ws, codec, frame.id, account.cfg.role, frame.username, None)
        if isinstance(frame, Resume):
            entry = rt.tokens.get(auth.secret_hash(frame.token))
            if entry is None or entry[1] <= rt.clock() or entry[0] not in rt.accounts:
                return self._login_failed(ws, codec, gate, frame.id)
            username = entry[0]
            role = rt.accounts[username].cfg.role
            return self._user_session(ws, codec, frame.id, role, username, frame)
        key = rt.keys_by_hash.get(auth.secret_hash(frame.api_key))
        if key is None:
            return self._login_failed(ws, codec, gate, frame.id)
        return self._key_session(ws, codec, frame, key.cfg.role, key.cfg.id)

    def _login_failed(
        self, ws: ServerConnection, codec: Codec, gate: Gate, request_id: RequestId
    ) -> None:
        self._error(ws, codec, ErrorCode.AUTH_FAILED, "wrong credentials", request_id)
        gate.failed_logins += 1
        if gate.failed_logins >= self.limits.max_failed_logins:
            raise Closing(CloseCode.AUTH_FAILED, "too many failed logins")
        return None

    def _take_over(self, target: tuple[str, str], ws: ServerConnection) -> Session | None:
        """The session already open for ``target``; its old connection is closed."""
        session = self.rt.sessions.get(target)
        if session is not None and session.conn is not None and session.conn is not ws:
            old, session.conn = session.conn, None
            self.rt.spawn(old.close(CloseCode.SESSION_REPLACED, "logged in elsewhere"))
        return session

    def _continue(
        self, session: Session | None, role: str, principal: str, target: tuple[str, str],
        ws: ServerConnection, codec: Codec, last_seq: int | None,
    ) -> tuple[Session, list[bytes], bool]:  # fmt: skip
        """Attach ``ws`` to the existing session (resume) or a new one."""
        rt = self.rt
        if last_seq is not None and session is not None:
            session.attach(ws, codec)
            frames, gap = session.missed_since(last_seq)
            return session, frames, gap
        session = rt.session_for(role, principal, target, codec)
        session.conn = ws
        if last_seq:
            # Resumed after a restart: number on from where the client was.
            session.seq = last_seq
            return session, [], True
        return session, [], False

    def _user_session(
        self, ws: ServerConnection, codec: Codec, request_id: RequestId, role: str,
        username: str, resume: Resume | None,
    ) -> Session:  # fmt: skip
        rt = self.rt
        target = (role, username)
        old = self._take_over(target, ws)
        last_seq = resume.last_seq if resume else None
        session, frames, gap = self._continue(old, role, username, target, ws, codec, last_seq)
        now = rt.clock()
        token = resume.token if resume else auth.new_secret(auth.TOKEN_PREFIX)
        expires = now + self.limits.token_ttl
        extra = []
        if resume is None:
            h = auth.secret_hash(token)
            rt.tokens[h] = (username, expires)
            extra.append(change_for("session", (h, username, now, expires)))
        else:
            expires = rt.tokens[auth.secret_hash(token)][1]
        account = rt.accounts[username]
        welcome = Welcome(
            id=request_id,
            protocol=PROTOCOL_VERSION,
            server=__version__,
            role=cast(Role, role),
            principal=username,
            display_name=account.cfg.display_name,
            session_token=token,
            token_expires_at=expires,
            resumed=resume is not None,
            replayed=len(frames),
            replay_gap=gap,
        )
        welcome.account = account.cfg
        welcome.queues = [rt.router.queues[q] for q in account.cfg.inboxes if q in rt.router.queues]
        if role == "agent":
            agent = rt.router.connect(username)
            welcome.agent = agent.view()
            welcome.offer = agent.offer.view() if agent.offer else None
            welcome.interactions = [agent.interaction.view()] if agent.interaction else []
        rt.commit(session, welcome, ws, extra=extra, replay=frames)
        log.info("logged_in", role=role, principal=username, resumed=resume is not None)
        return session

    def _key_session(
        self, ws: ServerConnection, codec: Codec, frame: LoginKey, role: str, key_id: str
    ) -> Session:
        rt = self.rt
        target = ("key", key_id)
        old = self._take_over(target, ws)
        session, frames, gap = self._continue(old, role, key_id, target, ws, codec, frame.last_seq)
        owned = rt.router.by_owner.get(key_id, {})
        welcome = Welcome(
            id=frame.id,
            protocol=PROTOCOL_VERSION,
            server=__version__,
            role=cast(Role, role),
            principal=key_id,
            display_name=rt.keys[key_id].cfg.name,
            resumed=frame.last_seq is not None,
            replayed=len(frames),
            replay_gap=gap,
            interactions=[ix.view() for ix in owned.values()],
        )
        rt.commit(session, welcome, ws, replay=frames)
        log.info("logged_in", role=role, principal=key_id)
        return session

    def _detach(self, session: Session, ws: ServerConnection) -> None:
        if session.conn is not ws:
            return  # replaced by a newer connection, which owns the session now
        session.conn = None
        if session.role in ("agent", "supervisor"):
            self.rt.cases.unwatch(session.principal)
        if session.watching:
            self.rt.set_watching(session, False)
        if session.role == "agent":
            self.rt.router.disconnect(session.principal)
            self.rt.commit()
        log.info("disconnected", role=session.role, principal=session.principal)
