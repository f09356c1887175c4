"""Case frames: registering and working cases, customer replies and grades,
the knowledge base, case queues and mail templates.

Every change goes through :class:`server.core.cases.Cases` (which refuses
before it changes anything) and is committed at once, with the customer's
mail in the same transaction; the mail sender is woken after the commit.
Replies carrying a case's history are read back after that commit.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

from protocol.cases import (
    AddCaseNote,
    AdviseCase,
    Articles,
    ArticleSaved,
    ArticleView,
    CaseAck,
    CaseDetail,
    CaseList,
    CaseLookups,
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
from protocol.common import Ok
from protocol.errors import ErrorCode
from server import contacts
from server.core.cases import (
    PRIORITIES,
    STATUSES,
    CaseRow,
    satisfaction_lookup,
    status_lookup,
)
from server.core.errors import RoutingError
from server.core.router import Actor
from server.mail import check_satisfaction
from server.runtime import Runtime
from server.sessions import Session
from server.storage import change_for
from server.storage.case_reads import CaseReader
from server.storage.writer import Change
from server.transport.chat_dispatch import ChatDispatcher
from server.transport.http import text


def actor_of(s: Session) -> Actor:
    return ("key" if s.role in ("bot", "gateway") else s.role, s.principal)


def number_of(ref: str) -> str:
    return ref.strip().upper()


class CaseDispatcher:
    def __init__(self, runtime: Runtime, chats: ChatDispatcher) -> None:
        self.rt = runtime
        self.router = runtime.router
        self.cases = runtime.cases
        self.chats = chats  # who may see which interaction
        self.handlers = {
            CreateCase: self.create_case,
            GetCase: self.get_case,
            ListCases: self.list_cases,
            UpdateCase: self.update_case,
            TakeCase: self.take_case,
            SetCaseStatus: self.set_case_status,
            EscalateCase: self.escalate_case,
            AdviseCase: self.advise_case,
            AddCaseNote: self.add_case_note,
            CaseReply: self.case_reply,
            RateCase: self.rate_case,
            PutArticle: self.put_article,
            SearchArticles: self.search_articles,
            GetCaseLookups: self.get_case_lookups,
            PutCaseQueue: self.put_case_queue,
            PutMailTemplate: self.put_mail_template,
        }

    @property
    def reader(self) -> CaseReader:
        assert self.rt.case_reader is not None
        return self.rt.case_reader

    # ---------------------------------------------------------------- helpers

    async def _committed(self, extra: list[Change] | None = None) -> None:
        """Commit what the core did (and ``extra``); wait until it is durable."""
        barrier = self.rt.commit(extra=extra or [])
        self.rt.mailer.after(barrier)
        if barrier is not None:
            await asyncio.shield(barrier)  # shared with others: never cancel it

    async def _find(self, s: Session, ref: str) -> CaseRow:
        """A case ``s`` may see, open or not."""
        number = number_of(ref)
        row = self.cases.open.get(number) or await self.reader.case(number)
        if row is None or (s.role in ("agent", "supervisor") and not self.cases.visible(
            actor_of(s), row
        )):  # fmt: skip
            raise RoutingError(ErrorCode.NOT_FOUND, f"no case {number!r}")
        return row

    async def _open(self, s: Session, ref: str) -> str:
        """The number of an open case; a closed one is a conflict, not a mystery."""
        number = number_of(ref)
        if number not in self.cases.open:
            row = await self._find(s, number)
            raise RoutingError(ErrorCode.CONFLICT, f"case {number} is {row.status}")
        return number

    async def _detail(
        self, s: Session, conn: ServerConnection, rid: Any, number: str, suggest: bool = False
    ) -> None:
        row = self.cases.open.get(number) or await self.reader.case(number)
        assert row is not None
        history = await self.reader.history(number)
        view = self.cases.view_for(actor_of(s), row)
        reply = CaseDetail(id=rid, case=view, history=history, suggest_article=suggest)
        self.rt.commit(s, reply, conn)

    async def _contact(self, contact: str) -> tuple[str, str | None, str, str]:
        brief = await self.reader.contact_brief(contact)
        if brief is None:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no contact {contact!r}")
        return brief

    # ---------------------------------------------------------------- cases

    async def create_case(self, s: Session, conn: ServerConnection, f: CreateCase) -> None:
        """Add new case: for the identified (or a new) contact, linked to the call or chat."""
        if f.contact is not None and f.new_contact is not None:
            raise RoutingError(ErrorCode.INVALID, "give either contact or new_contact")
        queue = f.queue
        if queue is None:
            mine = self.cases.member_of(s.principal)
            if not mine:
                raise RoutingError(ErrorCode.INVALID, "give the case queue")
            queue = mine[0]
        view = None
        if f.interaction is not None:
            view = await self.chats.view_of(f.interaction)
            if view is None or not await self.chats.may_see(s, f.interaction):
                raise RoutingError(ErrorCode.NOT_FOUND, f"no interaction {f.interaction!r}")
        cc = self.rt.settings.contacts.country_code
        changes: list[Change] = []
        contact, account, account_name, email = f.contact, None, "", ""
        contact_name = ""
        if f.new_contact is not None:
            new = f.new_contact
            contact, contact_name = self.router.new_id("c"), new.name
            if new.account.strip():
                account_name = new.account.strip()
                account = "co-" + account_name.lower()
                changes.append(contacts.company_change(account, account_name))
            changes.append(contacts.contact_change(contact, new.name, account, self.rt.clock()))
            email = contacts.normalize_email(new.email)
            phone = contacts.normalize_phone(new.phone, cc)
            changes += contacts.option_changes(
                contact, [(k, v) for k, v in (("phone", phone), ("email", email)) if v]
            )
        elif contact is None and view is not None:
            contact = view.contact
        if contact is not None and f.new_contact is None:
            contact_name, account, account_name, email = await self._contact(contact)
        # The caller's number (or the chat's identity) joins the chosen contact.
        link = view is not None and contact is not None and view.contact != contact
        if link and view is not None and contact is not None:
            changes += contacts.option_changes(
                contact, contacts.options_of(view.customer, view.source, cc)
            )
        if not email and view is not None:
            email = contacts.normalize_email(view.customer.email)
        row = self.cases.create(
            actor_of(s),
            subject=f.subject,
            description=f.description,
            queue=queue,
            priority=f.priority,
            contact=contact,
            account=account,
            account_name=account_name,
            email=f.email if f.email is not None else email,
            interaction=f.interaction,
            contact_name=contact_name,
        )
        if link and f.interaction is not None:
            if f.interaction in self.router.interactions:
                self.router.set_contact(f.interaction, contact)
            else:
                changes.append(change_for("interaction_contact", (f.interaction, contact)))
        await self._committed(changes)
        await self._detail(s, conn, f.id, row.number)

    async def get_case(self, s: Session, conn: ServerConnection, f: GetCase) -> None:
        row = await self._find(s, f.case)
        if f.watch:
            self.cases.watch(actor_of(s), row.number)
        await self._detail(s, conn, f.id, row.number)

    async def list_cases(self, s: Session, conn: ServerConnection, f: ListCases) -> None:
        actor = actor_of(s)
        filters: dict[str, Any] = {
            "queue": f.queue, "group": f.group, "status": f.status, "contact": f.contact,
            "assignee": f.assignee,
        }  # fmt: skip
        found = [
            r
            for r in self.cases.open.values()
            if all(v is None or getattr(r, k) == v for k, v in filters.items())
            and (f.interaction is None or f.interaction in r.interactions)
            and self.cases.visible(actor, r)
        ]
        if not f.open_only and (f.status is None or STATUSES[f.status].final):
            visible = None
            if s.role == "agent":
                who = s.principal
                visible = (self.cases.member_of(who), who, self.cases.serving(who))
            found += await self.reader.final_cases(
                **filters, interaction=f.interaction, visible=visible, limit=f.limit
            )
        found.sort(key=self.cases.order if f.order == "line" else lambda r: -r.seq)
        found = found[: f.limit]
        nxt = None
        if f.queue is not None and (
            s.role == "supervisor" or s.principal in self.cases.members(f.queue)
        ):
            head = self.cases.next_for(actor, f.queue)
            nxt = head.number if head is not None else None
        heads: dict[str, str | None] = {}  # each queue's next case, worked out once
        views = [self.cases.view_for(actor, r, heads) for r in found]
        reply = CaseList(id=f.id, cases=views, next=nxt)
        self.rt.commit(s, reply, conn)

    async def update_case(self, s: Session, conn: ServerConnection, f: UpdateCase) -> None:
        number = await self._open(s, f.case)
        fields = {
            "subject": f.subject, "description": f.description, "priority": f.priority,
            "email": f.email,
        }  # fmt: skip
        changes: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
        if f.contact is not None:
            name, account, account_name, email = await self._contact(f.contact)
            changes.update(
                contact=f.contact, contact_name=name, account=account, account_name=account_name
            )
            if f.email is None and email:
                changes["email"] = email
        self.cases.update(actor_of(s), number, changes)
        await self._committed()
        await self._detail(s, conn, f.id, number)

    async def take_case(self, s: Session, conn: ServerConnection, f: TakeCase) -> None:
        number = await self._open(s, f.case) if f.case is not None else None
        row = self.cases.take(actor_of(s), number, f.queue)
        await self._committed()
        await self._detail(s, conn, f.id, row.number)

    async def set_case_status(self, s: Session, conn: ServerConnection, f: SetCaseStatus) -> None:
        number = await self._open(s, f.case)
        articles = list(dict.fromkeys(f.articles))
        known = {a.id for a in await self.reader.articles(articles)}
        missing = [a for a in articles if a not in known]
        if missing:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no articles {missing}")
        row, suggest = self.cases.set_status(actor_of(s), number, f.status, articles, f.comment)
        await self._committed()
        await self._detail(s, conn, f.id, row.number, suggest)

    async def escalate_case(self, s: Session, conn: ServerConnection, f: EscalateCase) -> None:
        number = await self._open(s, f.case)
        self.cases.escalate(actor_of(s), number, f.assignee, f.group)
        await self._committed()
        await self._detail(s, conn, f.id, number)

    async def advise_case(self, s: Session, conn: ServerConnection, f: AdviseCase) -> None:
        """Advise on existing case: recorded on the case, the interaction linked."""
        row = await self._find(s, f.case)
        view = await self.chats.view_of(f.interaction)
        if view is None or not await self.chats.may_see(s, f.interaction):
            raise RoutingError(ErrorCode.NOT_FOUND, f"no interaction {f.interaction!r}")
        self.cases.advise(actor_of(s), row, f.interaction, f.note)
        await self._committed()
        await self._detail(s, conn, f.id, row.number)

    async def add_case_note(self, s: Session, conn: ServerConnection, f: AddCaseNote) -> None:
        """A comment for colleagues, or a reply mailed to the customer."""
        if f.kind == "reply":
            await self._open(s, f.case)  # a closed case is not answered: conflict
        row = await self._find(s, f.case)
        self.cases.note(actor_of(s), row, f.kind, f.text)
        await self._committed()
        await self._detail(s, conn, f.id, row.number)

    # ------------------------------------------------------------- customers

    async def _any(self, ref: str) -> CaseRow:
        number = number_of(ref)
        row = self.cases.open.get(number) or await self.reader.case(number)
        if row is None:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no case {number!r}")
        return row

    async def case_reply(self, s: Session, conn: ServerConnection, f: CaseReply) -> None:
        row = await self._any(f.case)
        reopened = self.cases.reply(actor_of(s), row, f.channel, f.text, f.sender)
        row = self.cases.open.get(row.number, row)
        reply = CaseAck(id=f.id, case=row.number, status=row.status, reopened=reopened)
        self.rt.mailer.after(self.rt.commit(s, reply, conn))

    async def rate_case(self, s: Session, conn: ServerConnection, f: RateCase) -> None:
        row = await self._any(f.case)
        if row.number not in self.cases.open:
            raise RoutingError(ErrorCode.CONFLICT, f"case {row.number} is {row.status}")
        row = self.cases.rate(actor_of(s), row.number, f.score)
        reply = CaseAck(
            id=f.id, case=row.number, status=row.status, reopened=row.status == "reopened"
        )
        self.rt.mailer.after(self.rt.commit(s, reply, conn))

    # -------------------------------------------------------- knowledge base

    async def put_article(self, s: Session, conn: ServerConnection, f: PutArticle) -> None:
        """Write (or edit) an article; with ``case`` it is linked to that case."""
        now = self.rt.clock()
        created_at, created_by = now, s.principal
        if f.article is not None:
            old = await self.reader.articles([f.article])
            if not old:
                raise RoutingError(ErrorCode.NOT_FOUND, f"no article {f.article!r}")
            created_at, created_by = old[0].created_at, old[0].created_by
        row = await self._find(s, f.case) if f.case is not None else None
        article = ArticleView(
            id=f.article or self.router.new_id("kb"),
            title=f.title,
            body=f.body,
            tags=list(dict.fromkeys(f.tags)),
            created_at=created_at,
            created_by=created_by,
            updated_at=now,
        )
        if row is not None:
            self.cases.link_article(actor_of(s), row, article.id)
        await self._committed([change_for("article", article)])
        self.rt.commit(s, ArticleSaved(id=f.id, article=article), conn)

    async def search_articles(self, s: Session, conn: ServerConnection, f: SearchArticles) -> None:
        found = await self.reader.search_articles(f.query, f.tag, f.limit)
        self.rt.commit(s, Articles(id=f.id, articles=found), conn)

    # --------------------------------------------------------------- lookups

    def get_case_lookups(self, s: Session, conn: ServerConnection, f: GetCaseLookups) -> None:
        reply = CaseLookups(
            id=f.id,
            statuses=status_lookup(),
            satisfaction=satisfaction_lookup(),
            priorities=list(PRIORITIES),
            queues=list(self.cases.queues.values()),
            mail_templates=(
                sorted(self.cases.templates.values(), key=lambda t: t.id)
                if s.role == "supervisor"
                else []
            ),
        )
        self.rt.commit(s, reply, conn)

    def put_case_queue(self, s: Session, conn: ServerConnection, f: PutCaseQueue) -> None:
        unknown = [m for m in f.queue.members if m not in self.router.agents]
        if unknown:
            raise RoutingError(ErrorCode.INVALID, f"not agents: {unknown}")
        self.cases.put_queue(f.queue)
        self.rt.commit(s, Ok(id=f.id), conn)

    def put_mail_template(self, s: Session, conn: ServerConnection, f: PutMailTemplate) -> None:
        if f.template.id not in self.cases.templates:
            known = sorted(self.cases.templates)
            raise RoutingError(ErrorCode.NOT_FOUND, f"no mail template {f.template.id!r}: {known}")
        self.cases.put_template(f.template)
        self.rt.commit(s, Ok(id=f.id), conn)


# ------------------------------------------------------ the satisfaction link


async def satisfaction_page(rt: Runtime, query: str) -> Response:
    """GET /satisfaction?case=&score=&exp=&sig=: the customer's grade from the mail."""
    found = check_satisfaction(rt.signer.key, dict(urllib.parse.parse_qsl(query)), rt.clock())
    if found is None:
        return text(403, "This link is not valid (or no longer).")
    case, score = found
    try:
        row = rt.cases.rate(("customer", ""), case, score)
    except RoutingError:
        rt.router.take_effects()  # a refused command has none; be sure
        return text(200, f"Thank you. Request {case} has already been graded.")
    barrier = rt.commit()
    rt.mailer.after(barrier)
    if barrier is not None:
        await asyncio.shield(barrier)
    status = STATUSES[row.status].name.lower()
    return text(200, f"Thank you for your grade ({score} of 5). Request {case} is {status}.")
