"""What each role may send, and what each frame does.

Handlers validate (via the router, which raises before it mutates), then
let the runtime commit: persist, reply, push. A handler returns nothing; a
:class:`RoutingError` it raises becomes an error frame naming the request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.server import ServerConnection

from protocol.base import Request
from protocol.calls import (
    AgentAnswered,
    CallbackRequest,
    CallFailed,
    CallRinging,
    CallTransferred,
    CancelScheduledCall,
    CustomerAnswered,
    GetCall,
    GetJourney,
    ListCalls,
    PlaceCallback,
    ScheduleCall,
    SetCallResult,
    StartScheduledCall,
)
from protocol.cases import (
    AddCaseNote,
    AdviseCase,
    CaseReply,
    CreateCase,
    EscalateCase,
    GetCase,
    GetCaseLookups,
    ListCases,
    PutArticle,
    PutCaseQueue,
    PutMailTemplate,
    RateCase,
    SearchArticles,
    SetCaseStatus,
    TakeCase,
    UpdateCase,
)
from protocol.chats import (
    DeleteTemplate,
    FindContacts,
    GetChat,
    GetFile,
    GetLookups,
    Identify,
    ListChats,
    PutTemplate,
    SearchChats,
    SendFile,
    SendMessage,
    UpdateChat,
)
from protocol.common import Ok, Ping, Pong
from protocol.config import AgentConfig
from protocol.errors import CloseCode, ErrorCode
from protocol.routing import Accept, Decline, End, SetStatus, WrapUpDone
from protocol.sources import CallHangup, CallIncoming, StartChat
from protocol.supervision import (
    ApiKeyCreated,
    ConfigSnapshot,
    CreateApiKey,
    Dashboard,
    DeleteAgent,
    DeleteApiKey,
    DeleteQueue,
    EndInteraction,
    GetConfig,
    ListWaiting,
    PutAgent,
    PutQueue,
    Reassign,
    SetAgentStatus,
    Unwatch,
    WaitingInteraction,
    WaitingList,
    Watch,
)
from server import auth
from server.core.errors import RoutingError
from server.core.model import Interaction
from server.runtime import ApiKey, Runtime
from server.sessions import Session
from server.storage import change_for
from server.transport.call_dispatch import CallDispatcher
from server.transport.case_dispatch import CaseDispatcher
from server.transport.chat_dispatch import ChatDispatcher

Handler = Callable[[Session, ServerConnection, Any], Awaitable[None] | None]

#: The frames each role may send after logging in.
_CHAT_READ = {GetChat, GetFile, SearchChats}
_CALL_AGENT = {
    PlaceCallback,
    ScheduleCall,
    CancelScheduledCall,
    StartScheduledCall,
    SetCallResult,
    GetCall,
    GetJourney,
    ListCalls,
}
_GATEWAY = {
    CallIncoming,
    CallHangup,
    CallRinging,
    AgentAnswered,
    CustomerAnswered,
    CallTransferred,
    CallFailed,
    CallbackRequest,
}
_CHAT_AGENT = {SendMessage, SendFile, UpdateChat, ListChats, Identify, FindContacts, GetLookups}
_CASE_AGENT = {
    CreateCase,
    GetCase,
    ListCases,
    UpdateCase,
    TakeCase,
    SetCaseStatus,
    EscalateCase,
    AdviseCase,
    AddCaseNote,
    PutArticle,
    SearchArticles,
    GetCaseLookups,
}
_CASE_CUSTOMER = {CaseReply, RateCase}

ALLOWED: dict[str, frozenset[type[Request]]] = {
    "agent": frozenset(
        {SetStatus, Accept, Decline, End, WrapUpDone, Ping}
        | _CHAT_READ
        | _CHAT_AGENT
        | _CALL_AGENT
        | _CASE_AGENT
    ),
    "supervisor": frozenset(
        {
            Watch,
            Unwatch,
            SetAgentStatus,
            GetConfig,
            PutQueue,
            DeleteQueue,
            PutAgent,
            DeleteAgent,
            CreateApiKey,
            DeleteApiKey,
            End,
            EndInteraction,
            Reassign,
            ListWaiting,
            Ping,
            UpdateChat,
            Identify,
            FindContacts,
            GetLookups,
            PutTemplate,
            DeleteTemplate,
            GetCall,
            GetJourney,
            SetCallResult,
            ListCalls,
        }
        | _CHAT_READ
        | _CASE_AGENT
        | _CASE_CUSTOMER
        | {PutCaseQueue, PutMailTemplate}
    ),
    "bot": frozenset(
        {StartChat, End, Ping, SendMessage, SendFile, CallbackRequest} | _CHAT_READ | _CASE_CUSTOMER
    ),
    "gateway": frozenset({Ping} | _GATEWAY),
}


def actor(session: Session) -> tuple[str, str]:
    kind = "key" if session.role in ("bot", "gateway") else session.role
    return (kind, session.principal)


class Dispatcher:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.router = runtime.router
        self.handlers: dict[type, Handler] = {
            Ping: self.ping,
            SetStatus: self.set_status,
            Accept: self.accept,
            Decline: self.decline,
            End: self.end,
            WrapUpDone: self.wrap_up_done,
            Watch: self.watch,
            Unwatch: self.unwatch,
            SetAgentStatus: self.set_agent_status,
            EndInteraction: self.end_interaction,
            Reassign: self.reassign,
            ListWaiting: self.list_waiting,
            GetConfig: self.get_config,
            PutQueue: self.put_queue,
            DeleteQueue: self.delete_queue,
            PutAgent: self.put_agent,
            DeleteAgent: self.delete_agent,
            CreateApiKey: self.create_api_key,
            DeleteApiKey: self.delete_api_key,
        }
        chats = ChatDispatcher(runtime)
        self.handlers.update(chats.handlers)
        self.handlers.update(CallDispatcher(runtime, chats).handlers)
        self.handlers.update(CaseDispatcher(runtime, chats).handlers)

    def ok(self, s: Session, conn: ServerConnection, f: Request) -> None:
        self.rt.commit(s, Ok(id=f.id), conn)

    # ------------------------------------------------------------ every role

    def ping(self, s: Session, conn: ServerConnection, f: Ping) -> None:
        self.rt.commit(s, Pong(id=f.id, server_time=self.rt.clock()), conn)

    def end(self, s: Session, conn: ServerConnection, f: End) -> None:
        if s.role == "supervisor":  # the same as end_interaction: the reason names them
            self.router.end_by_supervisor(f.interaction, s.principal, f.reason)
        else:
            self.router.end(f.interaction, actor(s), f.reason)
        self.ok(s, conn, f)

    # ---------------------------------------------------------------- agents

    def set_status(self, s: Session, conn: ServerConnection, f: SetStatus) -> None:
        self.router.set_status(s.principal, f.status, f.reason)
        self.ok(s, conn, f)

    def accept(self, s: Session, conn: ServerConnection, f: Accept) -> None:
        self.router.accept(s.principal, f.offer)
        self.ok(s, conn, f)

    def decline(self, s: Session, conn: ServerConnection, f: Decline) -> None:
        self.router.decline(s.principal, f.offer)
        self.ok(s, conn, f)

    def wrap_up_done(self, s: Session, conn: ServerConnection, f: WrapUpDone) -> None:
        self.router.finish_wrap_up(s.principal)
        self.ok(s, conn, f)

    # ------------------------------------------------------------ supervisors

    def watch(self, s: Session, conn: ServerConnection, f: Watch) -> None:
        self.rt.set_watching(s, True)
        agents = [a.view() for a in sorted(self.router.agents.values(), key=lambda a: a.order)]
        queues = [self.router.queue_stats(q) for q in self.router.queues]
        self.rt.commit(s, Dashboard(id=f.id, agents=agents, queues=queues), conn)

    def unwatch(self, s: Session, conn: ServerConnection, f: Unwatch) -> None:
        self.rt.set_watching(s, False)
        self.ok(s, conn, f)

    def set_agent_status(self, s: Session, conn: ServerConnection, f: SetAgentStatus) -> None:
        self.router.set_status(f.agent, f.status, f.reason)
        self.ok(s, conn, f)

    def end_interaction(self, s: Session, conn: ServerConnection, f: EndInteraction) -> None:
        self.router.end_by_supervisor(f.interaction, s.principal, f.reason)
        self.ok(s, conn, f)

    def reassign(self, s: Session, conn: ServerConnection, f: Reassign) -> None:
        self.router.reassign(f.interaction, s.principal, f.agent)
        self.ok(s, conn, f)

    def list_waiting(self, s: Session, conn: ServerConnection, f: ListWaiting) -> None:
        router = self.router
        if f.queue is not None and f.queue not in router.queues:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no queue {f.queue!r}")
        queues = [f.queue] if f.queue is not None else sorted(router.queues)
        offered: dict[str, list[Interaction]] = {q: [] for q in queues}
        for ix in router.interactions.values():
            if ix.status == "assigning" and ix.queue in offered:
                offered[ix.queue].append(ix)
        now = router.clock()
        items = [
            WaitingInteraction(interaction=ix.view(), waited=max(0.0, now - ix.enqueued_at))
            for q in queues
            for ix in [*router.waiting(q), *sorted(offered[q], key=lambda ix: ix.key)]
        ]
        self.rt.commit(s, WaitingList(id=f.id, interactions=items), conn)

    def get_config(self, s: Session, conn: ServerConnection, f: GetConfig) -> None:
        self.rt.commit(
            s,
            ConfigSnapshot(
                id=f.id,
                queues=list(self.router.queues.values()),
                agents=[a.cfg for a in self.rt.accounts.values()],
                api_keys=[k.cfg for k in self.rt.keys.values()],
            ),
            conn,
        )

    def put_queue(self, s: Session, conn: ServerConnection, f: PutQueue) -> None:
        self.router.put_queue(f.queue)
        self.ok(s, conn, f)

    def delete_queue(self, s: Session, conn: ServerConnection, f: DeleteQueue) -> None:
        self.router.delete_queue(f.queue)
        self.ok(s, conn, f)

    async def put_agent(self, s: Session, conn: ServerConnection, f: PutAgent) -> None:
        cfg: AgentConfig = f.agent
        old = self.rt.accounts.get(cfg.username)
        if old is None and f.password is None:
            raise RoutingError(ErrorCode.INVALID, "a new account needs a password")
        if old is not None and old.cfg.role == "agent" and cfg.role != "agent":
            agent = self.router.agents[cfg.username]
            if agent.connected or agent.offer or agent.interaction:
                raise RoutingError(ErrorCode.CONFLICT, "log the agent out before changing role")
        extra = []
        if f.password is not None:
            password_hash = await auth.hash_password_async(f.password)
            # The account may have changed while the hash was computed; start over.
            if self.rt.accounts.get(cfg.username) is not old:
                raise RoutingError(ErrorCode.CONFLICT, "the account changed meanwhile, try again")
        else:
            assert old is not None
            password_hash = old.password_hash
        extra.append(change_for("agent", cfg))
        if f.password is not None:
            extra.append(change_for("password", (cfg.username, password_hash)))
        self.rt.put_account(cfg, password_hash)
        self.rt.commit(s, Ok(id=f.id), conn, extra=extra)

    def delete_agent(self, s: Session, conn: ServerConnection, f: DeleteAgent) -> None:
        account = self.rt.accounts.get(f.username)
        if account is None:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no account {f.username!r}")
        if f.username == s.principal:
            raise RoutingError(ErrorCode.CONFLICT, "you cannot delete your own account")
        if account.cfg.role == "agent":
            self.router.delete_agent(f.username)
        else:
            live = self.rt.sessions.get(("supervisor", f.username))
            if live is not None and live.conn is not None:
                raise RoutingError(ErrorCode.CONFLICT, f"{f.username!r} is logged in")
        del self.rt.accounts[f.username]
        self.rt.forget_tokens(f.username)
        self.rt.commit(s, Ok(id=f.id), conn, extra=[change_for("agent_deleted", f.username)])

    def create_api_key(self, s: Session, conn: ServerConnection, f: CreateApiKey) -> None:
        if f.key.id in self.rt.keys:
            raise RoutingError(ErrorCode.CONFLICT, f"key {f.key.id!r} exists")
        secret = auth.new_secret(auth.API_KEY_PREFIX)
        key = ApiKey(f.key, auth.secret_hash(secret))
        self.rt.put_key(key)
        change = change_for("api_key", (key.cfg, key.secret_hash))
        reply = ApiKeyCreated(id=f.id, key_id=key.cfg.id, api_key=secret)
        self.rt.commit(s, reply, conn, extra=[change])

    def delete_api_key(self, s: Session, conn: ServerConnection, f: DeleteApiKey) -> None:
        key = self.rt.keys.pop(f.key_id, None)
        if key is None:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no key {f.key_id!r}")
        self.rt.keys_by_hash.pop(key.secret_hash, None)
        live = self.rt.sessions.get(("key", f.key_id))
        if live is not None and live.conn is not None:
            self.rt.spawn(live.conn.close(CloseCode.AUTH_FAILED, "API key revoked"))
        self.rt.commit(s, Ok(id=f.id), conn, extra=[change_for("api_key_deleted", f.key_id)])
