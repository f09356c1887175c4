"""Call frames: the gateway's events, callbacks, scheduled calls, journeys."""

from __future__ import annotations

from websockets.asyncio.server import ServerConnection

from protocol.calls import (
    AgentAnswered,
    CallbackQueued,
    CallbackRequest,
    CallDetail,
    CallFailed,
    CallList,
    CallRecord,
    CallRinging,
    CallSummary,
    CallTransferred,
    CancelScheduledCall,
    CustomerAnswered,
    GetCall,
    GetJourney,
    Journey,
    JourneyEntry,
    JourneyStep,
    ListCalls,
    PlaceCallback,
    ScheduleCall,
    Scheduled,
    SetCallResult,
    StartScheduledCall,
)
from protocol.common import Ok
from protocol.errors import ErrorCode
from protocol.sources import CallHangup, CallIncoming, Created
from server import contacts
from server.core.calls import CallRow
from server.core.errors import RoutingError
from server.runtime import Runtime
from server.sessions import Session
from server.storage import change_for
from server.storage.reads import Reader
from server.transport.chat_dispatch import ChatDispatcher

GatewayEvent = (
    CallHangup | CallRinging | AgentAnswered | CustomerAnswered | CallTransferred | CallFailed
)


class CallDispatcher:
    def __init__(self, runtime: Runtime, chats: ChatDispatcher) -> None:
        self.rt = runtime
        self.router = runtime.router
        self.calls = runtime.calls
        self.chats = chats  # shares who-may-see-what and the contact lookups
        self.handlers = {
            CallIncoming: self.call_incoming,
            CallHangup: self.call_hangup,
            CallRinging: self.ringing,
            AgentAnswered: self.agent_answered,
            CustomerAnswered: self.customer_answered,
            CallTransferred: self.transferred,
            CallFailed: self.failed,
            CallbackRequest: self.callback_request,
            PlaceCallback: self.place_callback,
            ScheduleCall: self.schedule_call,
            CancelScheduledCall: self.cancel_scheduled,
            StartScheduledCall: self.start_scheduled,
            ListCalls: self.list_calls,
            SetCallResult: self.set_result,
            GetCall: self.get_call,
            GetJourney: self.get_journey,
        }

    @property
    def reader(self) -> Reader:
        assert self.rt.reader is not None
        return self.rt.reader

    def _number(self, raw: str) -> str:
        number = contacts.normalize_phone(raw, self.rt.settings.contacts.country_code)
        if not number:
            raise RoutingError(ErrorCode.INVALID, f"not a phone number: {raw!r}")
        return number

    def _queue_for(self, s: Session, queue: str | None, dialed: str) -> str:
        if queue is None:
            # Until inbox numbers exist, a dialed number may name a queue.
            queue = dialed if dialed in self.router.queues else None
        if queue is None:
            raise RoutingError(ErrorCode.INVALID, f"no queue for dialed number {dialed!r}")
        if queue not in self.rt.keys[s.principal].cfg.queues:
            raise RoutingError(ErrorCode.FORBIDDEN, f"this key may not use queue {queue!r}")
        return queue

    # -------------------------------------------------------- gateway events

    def call_incoming(self, s: Session, conn: ServerConnection, f: CallIncoming) -> None:
        queue = self._queue_for(s, f.queue, f.dialed)
        number = contacts.normalize_phone(f.caller, self.rt.settings.contacts.country_code)
        ix = self.calls.incoming(s.principal, f.call_id, number or f.caller, f.dialed, queue)
        self.rt.commit(s, Created(id=f.id, interaction=ix.view()), conn)
        self.rt.spawn(self.chats.identify_on_arrival(ix.id, ix.customer, "phone"))

    def _event(
        self, s: Session, conn: ServerConnection, f: GatewayEvent, event: str, detail: str = ""
    ) -> None:
        # Repeated and late events change nothing, and are still answered ok.
        self.calls.event(s.principal, f.call_id, event, detail)
        self.rt.commit(s, Ok(id=f.id), conn)

    def call_hangup(self, s: Session, conn: ServerConnection, f: CallHangup) -> None:
        self._event(s, conn, f, "hangup", f.cause)

    def ringing(self, s: Session, conn: ServerConnection, f: CallRinging) -> None:
        self._event(s, conn, f, "ringing", f.device)

    def agent_answered(self, s: Session, conn: ServerConnection, f: AgentAnswered) -> None:
        self._event(s, conn, f, "agent_answered", f.device)

    def customer_answered(self, s: Session, conn: ServerConnection, f: CustomerAnswered) -> None:
        self._event(s, conn, f, "customer_answered")

    def transferred(self, s: Session, conn: ServerConnection, f: CallTransferred) -> None:
        self._event(s, conn, f, "transferred", f.target)

    def failed(self, s: Session, conn: ServerConnection, f: CallFailed) -> None:
        self._event(s, conn, f, "failed", f.cause)

    def callback_request(self, s: Session, conn: ServerConnection, f: CallbackRequest) -> None:
        queue = self._queue_for(s, f.queue, "")
        number = self._number(f.number)
        at = f.requested_at if f.requested_at is not None else self.rt.clock()
        outcome, ix = self.calls.callback_request(s.principal, number, queue, at, f.name)
        reply = CallbackQueued(id=f.id, outcome=outcome, interaction=ix.view())
        self.rt.commit(s, reply, conn)

    # ---------------------------------------------------------------- agents

    def place_callback(self, s: Session, conn: ServerConnection, f: PlaceCallback) -> None:
        agent = self.router._agent(s.principal)
        queue = self.calls._call_queue(agent)
        if queue is None:
            raise RoutingError(ErrorCode.CONFLICT, "you are in no call queue")
        number = self._number(f.number)
        ix = self.calls.place_callback(
            s.principal, f.interaction, number, f.device, f.verified, queue
        )
        self.rt.commit(s, Created(id=f.id, interaction=ix.view()), conn)

    def schedule_call(self, s: Session, conn: ServerConnection, f: ScheduleCall) -> None:
        if f.at <= self.rt.clock():
            raise RoutingError(ErrorCode.INVALID, "schedule a call in the future")
        number = self._number(f.number)
        row = self.calls.schedule(s.principal, number, f.at, f.device, f.queue, f.interaction)
        self.rt.commit(s, Scheduled(id=f.id, call=row.view()), conn)

    def cancel_scheduled(self, s: Session, conn: ServerConnection, f: CancelScheduledCall) -> None:
        row = self.calls.cancel(s.principal, f.scheduled)
        self.rt.commit(s, Scheduled(id=f.id, call=row.view()), conn)

    def start_scheduled(self, s: Session, conn: ServerConnection, f: StartScheduledCall) -> None:
        row = self.calls.start(s.principal, f.scheduled)
        self.rt.commit(s, Scheduled(id=f.id, call=row.view()), conn)

    def _whose(self, s: Session, agent: str | None) -> str:
        """The agent whose calls ``s`` asks for: agents only their own."""
        if s.role == "agent":
            if agent is not None and agent != s.principal:
                raise RoutingError(ErrorCode.FORBIDDEN, "agents see only their own calls")
            return s.principal
        if agent is None:
            raise RoutingError(ErrorCode.INVALID, "name the agent whose calls to list")
        account = self.rt.accounts.get(agent)
        if account is None or account.cfg.role != "agent":
            raise RoutingError(ErrorCode.NOT_FOUND, f"no agent {agent!r}")
        return agent

    async def list_calls(self, s: Session, conn: ServerConnection, f: ListCalls) -> None:
        agent = self._whose(s, f.agent)
        # Pending scheduled calls live in memory (a restart restores them).
        pending = sorted(
            (r for r in self.calls.scheduled.values() if r.agent == agent),
            key=lambda r: (r.at, r.id),
        )
        found = await self.reader.recent_calls(agent, f.limit)
        ids = [view.contact for view, *_ in found if view.contact]
        known = {c.id: c for c in await self.reader.contacts(list(dict.fromkeys(ids)))}
        recent = []
        for view, row, result, reason, case in found:
            live = self.router.interactions.get(view.id)
            view = live.view() if live is not None else view  # fresher than what is committed
            row = self.calls.live.get(view.id, row)
            recent.append(
                CallSummary(
                    interaction=view.id,
                    kind=row.kind,
                    direction="inbound" if row.kind == "inbound" else "outbound",
                    state=row.state,
                    number=row.number,
                    queue=view.queue,
                    contact=known.get(view.contact) if view.contact else None,
                    started_at=view.created_at,
                    answered_at=row.answered_at,
                    ended_at=row.ended_at or view.ended_at,
                    talking=_talking(row),
                    result=result,
                    reason=reason,
                    case=case,
                )
            )
        reply = CallList(id=f.id, agent=agent, scheduled=[r.view() for r in pending], recent=recent)
        self.rt.commit(s, reply, conn)

    async def set_result(self, s: Session, conn: ServerConnection, f: SetCallResult) -> None:
        found = await self.reader.call(f.interaction)
        if found is None or not await self.chats.may_see(s, f.interaction):
            raise RoutingError(ErrorCode.NOT_FOUND, f"no call {f.interaction!r}")
        if f.result is not None and f.result not in self.rt.results:
            raise RoutingError(ErrorCode.INVALID, f"no result {f.result!r} in the lookup")
        _, result, reason = found
        row = (f.result or result, f.reason if f.reason is not None else reason, f.interaction)
        self.rt.commit(s, Ok(id=f.id), conn, extra=[change_for("call_result", row)])

    async def get_call(self, s: Session, conn: ServerConnection, f: GetCall) -> None:
        view = await self.chats.view_of(f.interaction)
        found = await self.reader.call(f.interaction)
        if view is None or found is None or not await self.chats.may_see(s, f.interaction):
            raise RoutingError(ErrorCode.NOT_FOUND, f"no call {f.interaction!r}")
        row, result, reason = found
        live = self.calls.live.get(f.interaction)
        if live is not None:
            row = live  # fresher than what is committed
        fields = await self.reader.record_fields(f.interaction)
        candidates = fields[5] if fields else []
        contact = await self.reader.contacts([view.contact]) if view.contact else []
        record = CallRecord(
            interaction=view,
            kind=row.kind,
            state=row.state,
            call_id=row.call_id,
            number=row.number,
            caller_id=self.rt.settings.calls.caller_id,
            device=row.device,
            answered_at=row.answered_at,
            talking=_talking(row),
            result=result,
            reason=reason,
            related=row.related,
            verified=row.verified,
            contact=contact[0] if contact else None,
            candidates=await self.reader.contacts(candidates),
            case=fields[4] if fields else None,
            steps=[
                JourneyStep(at=at, step=step, detail=detail)
                for at, step, detail in await self.reader.steps(f.interaction)
            ],
        )
        self.rt.commit(s, CallDetail(id=f.id, record=record), conn)

    async def get_journey(self, s: Session, conn: ServerConnection, f: GetJourney) -> None:
        found = await self.reader.contacts([f.contact])
        if not found:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no contact {f.contact!r}")
        entries = []
        for view, kind in await self.reader.journey(f.contact):
            live = self.router.interactions.get(view.id)
            view = live.view() if live is not None else view
            if s.role == "agent" and view.queue not in self.rt.accounts[s.principal].cfg.inboxes:
                continue  # members see only their assigned inboxes
            entries.append(
                JourneyEntry(
                    interaction=view.id,
                    channel=view.channel,
                    kind=kind,
                    status=view.status,
                    agent=view.agent,
                    queue=view.queue,
                    created_at=view.created_at,
                    ended_at=view.ended_at,
                )
            )
        self.rt.commit(s, Journey(id=f.id, contact=found[0], entries=entries), conn)


def _talking(row: CallRow) -> float | None:
    """Talking duration: end minus answered."""
    return row.ended_at - row.answered_at if row.ended_at and row.answered_at else None
