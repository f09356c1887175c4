"""Cases: the service desk that calls and chats feed.

A case has a human-readable number ("SR00000001") that is also its id on the
wire. It waits in a case queue until an agent takes it into work, moves
through the statuses of the case status lookup (one transition table, see
``get_case_lookups``), and notifies the customer by mail on the way. Every
change is kept in the case's history: who, when, what.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from protocol.base import Push, Record, Reply, Request
from protocol.chats import NewContact
from protocol.config import Ident

CaseStatus = Literal[
    "new",
    "in_progress",
    "waiting_for_response",
    "reopened",
    "resolved",
    "closed",
    "canceled",
]
Priority = Literal["critical", "high", "medium", "low"]
#: "any": members take any waiting case; "next": only the next one in line.
TakeMode = Literal["any", "next"]
#: A case number ("SR00000001"); matched without regard to case.
CaseRef = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Hours = Annotated[float, msgspec.Meta(ge=0, le=24 * 366)]
Subject = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
LongText = Annotated[str, msgspec.Meta(max_length=20_000)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Email = Annotated[str, msgspec.Meta(max_length=256)]
NoteText = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]


class CaseQueueConfig(Record, kw_only=True):
    """A case queue: who works it, how cases are taken, and its service levels."""

    id: Ident
    name: str = ""
    #: Hours from registration by which the case must be first taken into work.
    response_hours: Hours = 4.0
    #: Hours from registration by which the case must be resolved.
    resolution_hours: Hours = 24.0
    take: TakeMode = "any"
    #: Agents (usernames) who see this queue's cases and take them.
    members: list[Ident] = []


class StatusInfo(Record, kw_only=True):
    """An entry of the case status lookup with its flags and allowed next statuses."""

    id: CaseStatus
    name: str
    #: The case waits for the customer (a reply reopens it).
    pause: bool = False
    #: The case is resolved (a reply or a low satisfaction grade reopens it).
    resolved: bool = False
    #: Nothing changes the case any more.
    final: bool = False
    #: Clients close the case page once this status is saved.
    close_on_save: bool = False
    #: Statuses an agent may move the case to from here.
    to: list[CaseStatus] = []


class SatisfactionLevel(Record, kw_only=True):
    """An entry of the satisfaction lookup: a grade and the status it leads to."""

    score: int
    name: str
    status: CaseStatus


class CaseView(Record, kw_only=True):
    number: str
    subject: str
    description: str = ""
    contact: str | None = None
    #: The contact's display name.
    contact_name: str = ""
    #: The contact's company (account) id and name.
    account: str | None = None
    account_name: str = ""
    #: Where the customer's notifications go.
    email: str = ""
    queue: str
    #: The assignee group (a case queue whose members share the case).
    group: str | None = None
    priority: Priority = "medium"
    status: CaseStatus
    assignee: str | None = None
    created_at: float
    created_by: str = ""
    updated_at: float
    response_due: float
    resolution_due: float
    responded_at: float | None = None
    resolved_at: float | None = None
    closed_at: float | None = None
    satisfaction: int | None = None
    #: Calls and chats that raised or discussed the case, first first.
    interactions: list[str] = []
    #: Knowledge-base articles linked to the case.
    articles: list[str] = []
    #: For whoever receives this view: you may change the case now (edit its
    #: fields, move its status, escalate it, reply to the customer). False
    #: once it is closed or canceled.
    workable: bool = False
    #: For whoever receives this view: it waits to be taken into work and
    #: ``take_case`` would give it to you (a case queue that gives its next
    #: case only lets you take that one).
    takeable: bool = False


class CaseEvent(Record, kw_only=True):
    """One entry of a case's history."""

    at: float
    #: Username, ``key:<api key id>`` of a bot, ``customer`` or ``system``.
    by: str
    #: created, status, assignee, group, field, linked, consultation,
    #: customer_reply, satisfaction, article, notification, comment,
    #: agent_reply.
    action: str
    field: str = ""
    old: str | None = None
    new: str | None = None
    text: str = ""


class ArticleView(Record, kw_only=True):
    id: str
    title: str
    body: str
    tags: list[str] = []
    created_at: float
    created_by: str = ""
    updated_at: float


class MailTemplate(Record, kw_only=True):
    """A customer notification. ``$number``, ``$subject``, ``$status``,
    ``$assignee``, ``$resolution_due`` and ``$satisfaction_links`` are filled
    in; in an agent's reply (``case_agent_reply``) also ``$text`` and ``$agent``."""

    id: Ident
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    body: LongText


# ------------------------------------------------------------------ cases


class CreateCase(Request, tag="create_case", kw_only=True):
    """Register a case ("add new case"). From a call or chat (``interaction``)
    the case is linked to it and gets its contact; ``new_contact`` creates the
    contact on the spot (with the caller's number or the chat's identity)."""

    subject: Subject
    description: LongText = ""
    #: Default: the first case queue you are a member of.
    queue: Ident | None = None
    priority: Priority = "medium"
    contact: str | None = None
    new_contact: NewContact | None = None
    #: Notifications go here; default: the contact's (or customer's) email.
    email: Email | None = None
    interaction: str | None = None


class GetCase(Request, tag="get_case", kw_only=True):
    """A case and its history. ``watch``: you have it open; its
    ``case_changed`` pushes reach you (one watched case per person: the last
    one asked for with ``watch``) as long as you may see it."""

    case: CaseRef
    watch: bool = False


class CaseDetail(Reply, tag="case", kw_only=True):
    """A case and its whole history (oldest first)."""

    case: CaseView
    history: list[CaseEvent] = []
    #: After resolving with no article linked: offer to write one (if enabled).
    suggest_article: bool = False


class ListCases(Request, tag="list_cases", kw_only=True):
    """Cases you may see, newest first (``order: "line"``: in the order "take
    next" gives them: most urgent priority, earliest resolution deadline,
    oldest). ``contact`` gives a contact's case history: an agent serving that
    contact sees all of its cases."""

    queue: Ident | None = None
    #: Cases escalated to this case queue as their assignee group.
    group: Ident | None = None
    status: CaseStatus | None = None
    contact: str | None = None
    assignee: Ident | None = None
    #: Cases linked to this call or chat.
    interaction: str | None = None
    open_only: bool = False
    order: Literal["newest", "line"] = "newest"
    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 50


class CaseList(Reply, tag="case_list", kw_only=True):
    cases: list[CaseView]
    #: With ``queue``: the case "take next" would give you there.
    next: str | None = None


class UpdateCase(Request, tag="update_case", kw_only=True):
    """Edit a case's fields; those left out are unchanged."""

    case: CaseRef
    subject: Subject | None = None
    description: LongText | None = None
    priority: Priority | None = None
    contact: str | None = None
    email: Email | None = None


class TakeCase(Request, tag="take_case", kw_only=True):
    """Take a case into work (status in progress, you the assignee). Without
    ``case``: the next case of ``queue`` (or of all your queues), oldest by
    priority then deadline. A queue that takes "next" only gives its next case."""

    case: CaseRef | None = None
    queue: Ident | None = None


class SetCaseStatus(Request, tag="set_case_status", kw_only=True):
    """Move a case along the status table. ``articles`` are linked when resolving."""

    case: CaseRef
    status: CaseStatus
    articles: list[str] = []
    comment: LongText = ""


class EscalateCase(Request, tag="escalate_case", kw_only=True):
    """Pass the case to another assignee and/or assignee group; a new group
    without an assignee leaves the case for the group's members to take."""

    case: CaseRef
    assignee: Ident | None = None
    group: Ident | None = None


class AdviseCase(Request, tag="advise_case", kw_only=True):
    """Advise on an existing case during a call or chat: the consultation is
    recorded in the case's history and the interaction is linked."""

    case: CaseRef
    interaction: str
    note: LongText = ""


class AddCaseNote(Request, tag="add_case_note", kw_only=True):
    """Write on a case without changing its status. ``comment``: an internal
    note for colleagues (on any case you may see, also a closed one).
    ``reply``: an answer to the customer, mailed to the case's email through
    the outbox (on an open case you may change). Both go into the history."""

    case: CaseRef
    kind: Literal["comment", "reply"] = "comment"
    text: NoteText


class CaseReply(Request, tag="case_reply", kw_only=True):
    """Bot (portal or mail bridge) or supervisor: the customer replied. A case
    waiting for the customer, or resolved, is reopened and back in its queue."""

    case: CaseRef
    text: LongText
    channel: Literal["email", "portal"] = "portal"
    sender: Email = ""


class RateCase(Request, tag="rate_case", kw_only=True):
    """Bot or supervisor: the customer's satisfaction grade for a resolved case."""

    case: CaseRef
    score: Annotated[int, msgspec.Meta(ge=1, le=5)]


class CaseAck(Reply, tag="case_ack", kw_only=True):
    """What a customer's reply or grade did to the case."""

    case: str
    status: CaseStatus
    reopened: bool = False


class CaseChanged(Push, tag="case_changed", kw_only=True):
    """A case that concerns you changed: it is yours (assignee), you
    registered it, you changed it, you have it open (``get_case`` with
    ``watch``), or it was created in, escalated to or reopened in your case
    queue or group. ``case`` is as you see it (``workable``, ``takeable``)."""

    case: CaseView
    #: created, assigned, escalated, reopened, status, updated, comment,
    #: agent_reply, consultation, article, customer_reply, rated.
    reason: str
    #: Who changed it (as the history names them).
    by: str = ""


# --------------------------------------------------------- knowledge base


class PutArticle(Request, tag="put_article", kw_only=True):
    """Write a knowledge-base article (``article``: the id of one to edit);
    with ``case`` the article is linked to that case."""

    article: Ident | None = None
    title: Subject
    body: LongText
    tags: Annotated[list[Tag], msgspec.Meta(max_length=32)] = []
    case: CaseRef | None = None


class ArticleSaved(Reply, tag="article", kw_only=True):
    article: ArticleView


class SearchArticles(Request, tag="search_articles", kw_only=True):
    """Articles whose title, body or tags contain every word of ``query``."""

    query: Annotated[str, msgspec.Meta(max_length=256)] = ""
    tag: Tag | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20


class Articles(Reply, tag="articles", kw_only=True):
    articles: list[ArticleView]


# ---------------------------------------------------------------- lookups


class GetCaseLookups(Request, tag="get_case_lookups", kw_only=True):
    """The case status lookup, satisfaction levels, priorities and case queues
    (and, for supervisors, the mail templates)."""


class CaseLookups(Reply, tag="case_lookups", kw_only=True):
    statuses: list[StatusInfo]
    satisfaction: list[SatisfactionLevel]
    priorities: list[Priority]
    queues: list[CaseQueueConfig]
    mail_templates: list[MailTemplate] = []


class PutCaseQueue(Request, tag="put_case_queue", kw_only=True):
    """Supervisor: create or replace a case queue."""

    queue: CaseQueueConfig


class PutMailTemplate(Request, tag="put_mail_template", kw_only=True):
    """Supervisor: replace a customer notification's text."""

    template: MailTemplate
