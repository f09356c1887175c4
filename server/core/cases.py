"""Cases: the status table, case queues, who sees and works what, notifications.

Pure like the router it rides on: time and ids come from the router, and a
change is a set of :class:`Persist` effects (the case row, its history, its
links, the customer's mail in the outbox) plus :class:`Send` effects
(``case_changed`` pushes), all collected on the router, so the runtime
commits the case and its mail in one transaction before anyone hears of it.

Open cases live in memory (the runtime loads them at start); closed and
canceled ones are only on disk, where they can still be read, advised on and
replied to (the history grows), but never change status again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from string import Template
from typing import Any, Literal

import msgspec

from protocol.cases import (
    CaseChanged,
    CaseQueueConfig,
    CaseStatus,
    CaseView,
    MailTemplate,
    Priority,
    SatisfactionLevel,
    StatusInfo,
)
from protocol.errors import ErrorCode
from server.core import effects as fx
from server.core.errors import IllegalTransition, RoutingError
from server.core.router import Actor, Router

# ------------------------------------------------------------------ the tables


@dataclass(frozen=True, slots=True)
class Flags:
    """An entry of the case status lookup."""

    name: str
    pause: bool = False
    resolved: bool = False
    final: bool = False
    close_on_save: bool = False


STATUSES: dict[CaseStatus, Flags] = {
    "new": Flags("New"),
    "in_progress": Flags("In progress"),
    "waiting_for_response": Flags("Waiting for response", pause=True),
    "reopened": Flags("Reopened"),
    "resolved": Flags("Resolved", resolved=True, close_on_save=True),
    "closed": Flags("Closed", final=True, close_on_save=True),
    "canceled": Flags("Canceled", final=True, close_on_save=True),
}

#: What moves a case: an agent or supervisor ("hand"), the customer's reply
#: by mail or portal ("reply"), the customer's satisfaction grade ("rating").
Cause = Literal["hand", "reply", "rating"]
_HAND: frozenset[Cause] = frozenset({"hand"})

#: (from, to) -> what may cause it. A pair missing here is refused.
TRANSITIONS: dict[tuple[CaseStatus, CaseStatus], frozenset[Cause]] = {
    ("new", "in_progress"): _HAND,
    ("new", "waiting_for_response"): _HAND,
    ("new", "resolved"): _HAND,
    ("new", "canceled"): _HAND,
    ("in_progress", "waiting_for_response"): _HAND,
    ("in_progress", "resolved"): _HAND,
    ("in_progress", "canceled"): _HAND,
    ("waiting_for_response", "in_progress"): _HAND,
    ("waiting_for_response", "reopened"): frozenset({"reply"}),
    ("waiting_for_response", "resolved"): _HAND,
    ("waiting_for_response", "canceled"): _HAND,
    ("reopened", "in_progress"): _HAND,
    ("reopened", "waiting_for_response"): _HAND,
    ("reopened", "resolved"): _HAND,
    ("reopened", "canceled"): _HAND,
    ("resolved", "closed"): frozenset({"hand", "rating"}),
    ("resolved", "reopened"): frozenset({"rating", "reply"}),
}

#: The satisfaction lookup: grade -> (name, status it leads to).
SATISFACTION: dict[int, tuple[str, CaseStatus]] = {
    1: ("Very dissatisfied", "reopened"),
    2: ("Dissatisfied", "reopened"),
    3: ("Neutral", "closed"),
    4: ("Satisfied", "closed"),
    5: ("Very satisfied", "closed"),
}

#: Most urgent first: the rank orders a queue's line.
PRIORITIES: dict[Priority, int] = {"critical": 0, "high": 1, "medium": 2, "low": 3}

#: The customer's mail (template id) on entering a status.
NOTIFY: dict[CaseStatus, str] = {
    "in_progress": "case_in_progress",
    "waiting_for_response": "case_waiting",
    "resolved": "case_resolved",
    "canceled": "case_canceled",
}

#: The mail carrying an agent's reply to the customer (``add_case_note``).
AGENT_REPLY = "case_agent_reply"

#: Templates the server brings itself: used until a supervisor edits them
#: (the edited text is stored and wins).
DEFAULT_TEMPLATES: tuple[MailTemplate, ...] = (
    MailTemplate(
        id=AGENT_REPLY,
        subject="[$number] Re: $subject",
        body="Hello,\n\n$text\n\n$agent\nCustomer service\n\n"
        "(About your request $number. Answer this message to reply.)",
    ),
)


def move(status: CaseStatus, to: CaseStatus, cause: Cause) -> CaseStatus:
    """``to`` if the table lets ``cause`` move a case there from ``status``."""
    if cause not in TRANSITIONS.get((status, to), frozenset()):
        how = "" if cause == "hand" else f" on a customer {cause}"
        err = IllegalTransition("case", status, f"move to {to}{how}")
        err.details = {"from": status, "to": to}
        raise err
    return to


def reopens_on_reply(status: CaseStatus) -> bool:
    """A customer reply reopens a paused or resolved case that is not final."""
    flags = STATUSES[status]
    return (flags.pause or flags.resolved) and not flags.final


def status_lookup() -> list[StatusInfo]:
    return [
        StatusInfo(
            id=s,
            name=f.name,
            pause=f.pause,
            resolved=f.resolved,
            final=f.final,
            close_on_save=f.close_on_save,
            to=[to for (frm, to), causes in TRANSITIONS.items() if frm == s and "hand" in causes],
        )
        for s, f in STATUSES.items()
    ]


def satisfaction_lookup() -> list[SatisfactionLevel]:
    return [
        SatisfactionLevel(score=n, name=name, status=status)
        for n, (name, status) in SATISFACTION.items()
    ]


def when(ts: float) -> str:
    """A deadline as the customer reads it (UTC)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def render(template: MailTemplate, fields: dict[str, str]) -> tuple[str, str]:
    """Subject (one line) and body; ``$name`` placeholders that are unknown stay."""
    subject = Template(template.subject).safe_substitute(fields)
    return " ".join(subject.split()), Template(template.body).safe_substitute(fields)


# ------------------------------------------------------------------- the rows


class CaseRow(msgspec.Struct, kw_only=True):
    """A case as stored and as the core keeps it while it is open."""

    number: str
    seq: int
    subject: str
    description: str = ""
    contact: str | None = None
    account: str | None = None
    account_name: str = ""
    email: str = ""
    queue: str
    group: str | None = None
    priority: Priority = "medium"
    status: CaseStatus = "new"
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
    #: Not columns: the link tables, loaded with the case, and the
    #: contact's name (from the contacts table).
    interactions: list[str] = []
    articles: list[str] = []
    contact_name: str = ""

    def view(self) -> CaseView:
        return msgspec.convert(msgspec.to_builtins(self), CaseView)


class OutboxRow(msgspec.Struct, kw_only=True):
    """A customer's mail, written with the change that caused it."""

    id: str
    case: str
    template: str
    to: str
    subject: str
    body: str
    created_at: float


@dataclass(frozen=True, slots=True)
class CaseSettings:
    number_prefix: str = "SR"
    #: Offer to write a knowledge-base article when a case is resolved with none.
    suggest_article: bool = False


def by_of(actor: Actor) -> str:
    """How the history names who did it."""
    kind, who = actor
    if kind in ("agent", "supervisor"):
        return who
    if kind == "key":
        return f"key:{who}"
    return kind  # "customer", "system"


class Cases:
    def __init__(
        self,
        router: Router,
        settings: CaseSettings | None = None,
        link: Callable[[str, int], str] | None = None,
    ) -> None:
        self.router = router
        self.settings = settings or CaseSettings()
        #: (case number, grade) -> the satisfaction link put in "resolved" mails.
        self.link = link or (lambda number, score: "")
        self.queues: dict[str, CaseQueueConfig] = {}
        self.templates: dict[str, MailTemplate] = {}
        self.open: dict[str, CaseRow] = {}
        self.next_seq = 1
        #: Person -> the case they have open (``get_case`` with ``watch``).
        self.watching: dict[str, str] = {}
        #: Person -> why, of the command being run: who hears of it (see ``_publish``).
        self._told: dict[str, str] = {}

    # ------------------------------------------------------------ configuration

    def put_queue(self, cfg: CaseQueueConfig) -> None:
        self.queues[cfg.id] = cfg
        self.router._persist("case_queue", cfg)

    def put_template(self, template: MailTemplate) -> None:
        self.templates[template.id] = template
        self.router._persist("mail_template", template)

    def restore(self, rows: Iterable[CaseRow], last_seq: int) -> None:
        """Open cases after a restart; numbering goes on after ``last_seq``."""
        self.open = {r.number: r for r in rows if not STATUSES[r.status].final}
        self.next_seq = last_seq + 1

    # --------------------------------------------------------------- who may

    def members(self, queue_id: str | None) -> list[str]:
        cfg = self.queues.get(queue_id or "")
        return list(cfg.members) if cfg is not None else []

    def member_of(self, agent: str) -> list[str]:
        return [q for q, cfg in self.queues.items() if agent in cfg.members]

    def serving(self, agent: str) -> str | None:
        """The contact of the call or chat the agent is on, if any."""
        a = self.router.agents.get(agent)
        ix = a.interaction if a is not None else None
        return ix.contact if ix is not None else None

    def _member(self, agent: str, row: CaseRow) -> bool:
        return agent in self.members(row.queue) or agent in self.members(row.group)

    def visible(self, actor: Actor, row: CaseRow) -> bool:
        """Supervisors see every case; an agent the cases of its queues and
        group, those assigned to it, and the cases of the customer it serves."""
        kind, who = actor
        if kind == "supervisor":
            return True
        if kind != "agent":
            return False
        if row.assignee == who or self._member(who, row):
            return True
        return row.contact is not None and row.contact == self.serving(who)

    def _workable(self, actor: Actor, row: CaseRow) -> bool:
        kind, who = actor
        if kind == "supervisor":
            return True
        if kind != "agent":
            return False
        return row.assignee == who or (row.assignee is None and self._member(who, row))

    def workable(self, actor: Actor, row: CaseRow) -> bool:
        """``actor`` may change the case now: it is open and theirs to work."""
        return row.number in self.open and self._workable(actor, row)

    def takeable(
        self, actor: Actor, row: CaseRow, heads: dict[str, str | None] | None = None
    ) -> bool:
        """The case waits to be taken and ``take_case`` would give it to ``actor``.
        ``heads`` caches each queue's next case across calls (it is the same for all)."""
        return (
            row.number in self.open
            and self._takeable(row)
            and self._can_take(actor, row, {} if heads is None else heads)
        )

    def view_for(
        self, actor: Actor, row: CaseRow, heads: dict[str, str | None] | None = None
    ) -> CaseView:
        """The case as ``actor`` sees it: with what they may do with it."""
        row = self.open.get(row.number, row)
        return msgspec.structs.replace(
            row.view(),
            workable=self.workable(actor, row),
            takeable=self.takeable(actor, row, heads),
        )

    def watch(self, actor: Actor, number: str) -> None:
        """``actor`` has the case open: its changes reach them (one case each)."""
        kind, who = actor
        if kind in ("agent", "supervisor"):
            self.watching[who] = number

    def unwatch(self, who: str) -> None:
        """``who`` went away: nothing is open on their screen any more."""
        self.watching.pop(who, None)

    def _open(self, actor: Actor, number: str) -> CaseRow:
        row = self.open.get(number)
        if row is None or not self.visible(actor, row):
            raise RoutingError(ErrorCode.NOT_FOUND, f"no open case {number!r}")
        return row

    def _mine(self, actor: Actor, number: str) -> CaseRow:
        """An open case ``actor`` may change."""
        row = self._open(actor, number)
        if not self._workable(actor, row):
            raise RoutingError(
                ErrorCode.FORBIDDEN,
                f"case {number} is assigned to {row.assignee}"
                if row.assignee
                else f"case {number} is not in your queues",
            )
        return row

    # ------------------------------------------------------------- the lines

    @staticmethod
    def _takeable(row: CaseRow) -> bool:
        if row.assignee is not None:
            return False
        return row.status == "in_progress" or "hand" in TRANSITIONS.get(
            (row.status, "in_progress"), frozenset()
        )

    @staticmethod
    def order(row: CaseRow) -> tuple[int, float, int]:
        """Line order: most urgent priority, then earliest deadline, then oldest."""
        return (PRIORITIES[row.priority], row.resolution_due, row.seq)

    def line(self, queue_id: str) -> list[CaseRow]:
        """Cases waiting to be taken in ``queue_id`` (its own and those escalated
        to it as a group), in the order "take next" gives them."""
        waiting = [
            r
            for r in self.open.values()
            if (r.queue == queue_id or r.group == queue_id) and self._takeable(r)
        ]
        return sorted(waiting, key=self.order)

    def next_for(self, actor: Actor, queue: str | None = None) -> CaseRow | None:
        kind, who = actor
        if queue is not None:
            if queue not in self.queues:
                raise RoutingError(ErrorCode.NOT_FOUND, f"no case queue {queue!r}")
            if kind == "agent" and who not in self.members(queue):
                raise RoutingError(ErrorCode.FORBIDDEN, f"you are not in case queue {queue!r}")
            queues = [queue]
        else:
            queues = list(self.queues) if kind == "supervisor" else self.member_of(who)
        heads = [line[0] for q in queues if (line := self.line(q))]
        return min(heads, key=self.order, default=None)

    def _head(self, queue: str, heads: dict[str, str | None]) -> str | None:
        """The number of the case "take next" gives in ``queue`` (cached in ``heads``)."""
        if queue not in heads:
            line = self.line(queue)
            heads[queue] = line[0].number if line else None
        return heads[queue]

    def _can_take(self, actor: Actor, row: CaseRow, heads: dict[str, str | None]) -> bool:
        """The one rule of who may take ``row``: supervisors, its assignee, and the
        members of its queue or group (of a "next" queue, only its next case)."""
        kind, who = actor
        if kind == "supervisor":
            return True
        if kind != "agent":
            return False
        if row.assignee == who:
            return True
        for q in (row.queue, row.group):
            if not q or who not in self.members(q):
                continue
            if self.queues[q].take == "any" or self._head(q, heads) == row.number:
                return True
        return False

    def _may_take(self, actor: Actor, row: CaseRow) -> None:
        """Refuse taking ``row`` out of turn from a queue that gives its next case only."""
        heads: dict[str, str | None] = {}
        if self._can_take(actor, row, heads):
            return
        who = actor[1]
        via = [q for q in (row.queue, row.group) if q and who in self.members(q)]
        if not via:
            raise RoutingError(ErrorCode.FORBIDDEN, f"case {row.number} is not in your queues")
        nxt = [n for q in via if (n := self._head(q, heads)) is not None]
        raise RoutingError(
            ErrorCode.REFUSED,
            f"case queue {via[0]!r} gives its next case only: take {nxt[0]}"
            if nxt
            else f"case queue {via[0]!r} gives its next case only",
            {"rule": "take_next", "next": nxt[0] if nxt else None},
        )

    # --------------------------------------------------------------- effects

    def _save(self, row: CaseRow) -> None:
        row.updated_at = self.router.clock()
        self.router._persist("case", msgspec.structs.replace(row))

    def _event(
        self,
        row: CaseRow,
        by: str,
        action: str,
        field: str = "",
        old: str | None = None,
        new: str | None = None,
        text: str = "",
    ) -> None:
        at = self.router.clock()
        self.router._persist("case_event", (row.number, at, by, action, field, old, new, text))

    def _tell(self, names: Iterable[str | None], reason: str) -> None:
        """``names`` hear of this command's change with ``reason`` (the first
        reason a person is given wins); sent by :meth:`_publish`."""
        for name in names:
            if name and name not in self._told:
                self._told[name] = reason

    def _actor_of(self, name: str) -> Actor:
        return ("agent", name) if name in self.router.agents else ("supervisor", name)

    def _publish(self, row: CaseRow, actor: Actor, reason: str) -> None:
        """The end of every change: one ``case_changed`` to each person it
        concerns — those told a reason on the way (queue, group, new
        assignee...), the assignee, who registered it, who changed it, and who
        has it open — each with the case as they see it. Only the changer
        hears of it without being able to see it (they made the change)."""
        kind, who = actor
        changer = who if kind in ("agent", "supervisor") else ""
        watchers = [name for name, number in self.watching.items() if number == row.number]
        self._tell([row.assignee, row.created_by, changer, *watchers], reason)
        told, self._told = self._told, {}
        by = by_of(actor)
        heads: dict[str, str | None] = {}
        for name, why in told.items():
            if name not in self.router.agents and (":" in name or name in _NOBODY):
                continue  # a bot's key, the customer, the system: nobody to push to
            person = self._actor_of(name)
            if name != changer and not self.visible(person, row):
                continue
            frame = CaseChanged(case=self.view_for(person, row, heads), reason=why, by=by)
            to = fx.agent(name) if person[0] == "agent" else person
            self.router._send(to, frame)

    def _notify(self, row: CaseRow, template_id: str, extra: dict[str, str] | None = None) -> None:
        """Put the customer's mail in the outbox (same transaction as the change)."""
        template = self.templates.get(template_id)
        if template is None:
            return
        if not row.email:
            self._event(row, "system", "notification", template_id, text="no email address")
            return
        fields = {
            "number": row.number,
            "subject": row.subject,
            "status": STATUSES[row.status].name,
            "assignee": row.assignee or "",
            "resolution_due": when(row.resolution_due),
            "satisfaction_links": "\n".join(
                f"{n} - {name}: {self.link(row.number, n)}" for n, (name, _) in SATISFACTION.items()
            ),
            **(extra or {}),
        }
        subject, body = render(template, fields)
        mail = OutboxRow(
            id=self.router.new_id("mail"),
            case=row.number,
            template=template_id,
            to=row.email,
            subject=subject,
            body=body,
            created_at=self.router.clock(),
        )
        self.router._persist("outbox", mail)
        self._event(row, "system", "notification", template_id, new=row.email, text=subject)

    def _link(self, row: CaseRow, interaction: str, role: str, by: str, event: bool) -> None:
        if interaction not in row.interactions:
            row.interactions.append(interaction)
        at = self.router.clock()
        self.router._persist("case_link", (row.number, interaction, role, at))
        # The chat (or call) record shows the case it raised or discussed.
        self.router._persist("chat_field", (interaction, "case_id", row.number))
        if event:
            self._event(row, by, "linked", role, new=interaction)

    def _assign(self, row: CaseRow, name: str | None, by: str) -> None:
        old, row.assignee = row.assignee, name
        self._event(row, by, "assignee", "assignee", old, name)
        if name is not None:
            self._tell([name], "assigned")

    def _enter(
        self, row: CaseRow, to: CaseStatus, cause: Cause, by: str, assignee: str | None = None
    ) -> None:
        """Move ``row`` to ``to``: the table first (it raises before any change)."""
        old = row.status
        row.status = move(old, to, cause)
        now = self.router.clock()
        self._event(row, by, "status", "status", old, to)
        if to == "in_progress":
            self._assign(row, assignee, by)  # entering in progress sets the assignee
            row.responded_at = row.responded_at or now
        elif to == "reopened" and row.assignee is not None:
            self._assign(row, None, by)  # entering reopened clears it
        if STATUSES[to].resolved:
            row.resolved_at = now
        if STATUSES[to].final:
            row.closed_at = now
            self.open.pop(row.number, None)
        if to in NOTIFY:
            self._notify(row, NOTIFY[to])

    def _back_in_queue(self, row: CaseRow, previous: str | None, by: str) -> None:
        """Reopened: the group is told when there is one, else the queue, and
        the assignee who lost the case."""
        names = self.members(row.group) if row.group else self.members(row.queue)
        self._tell([*names, previous], "reopened")

    # -------------------------------------------------------------- commands

    def create(
        self,
        actor: Actor,
        *,
        subject: str,
        queue: str,
        description: str = "",
        priority: Priority = "medium",
        contact: str | None = None,
        account: str | None = None,
        account_name: str = "",
        email: str = "",
        interaction: str | None = None,
        contact_name: str = "",
    ) -> CaseRow:
        """Register a case (status new, no assignee) in ``queue``, deadlines from its SLA."""
        self._told.clear()
        cfg = self.queues.get(queue)
        if cfg is None:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no case queue {queue!r}")
        kind, who = actor
        if kind == "agent" and who not in cfg.members:
            raise RoutingError(ErrorCode.FORBIDDEN, f"you are not in case queue {queue!r}")
        now = self.router.clock()
        number = f"{self.settings.number_prefix.upper()}{self.next_seq:08d}"
        if number in self.open:
            raise RoutingError(ErrorCode.CONFLICT, f"case {number} exists")
        by = by_of(actor)
        row = CaseRow(
            number=number,
            seq=self.next_seq,
            subject=subject,
            description=description,
            contact=contact,
            contact_name=contact_name if contact is not None else "",
            account=account,
            account_name=account_name,
            email=email,
            queue=queue,
            priority=priority,
            created_at=now,
            created_by=by,
            updated_at=now,
            response_due=now + cfg.response_hours * 3600,
            resolution_due=now + cfg.resolution_hours * 3600,
        )
        self.next_seq += 1
        self.open[number] = row
        self._save(row)
        self._event(row, by, "created", new=number, text=subject)
        if interaction is not None:
            self._link(row, interaction, "raised", by, event=True)
        self._tell(cfg.members, "created")
        self._publish(row, actor, "created")
        return row

    def take(self, actor: Actor, number: str | None = None, queue: str | None = None) -> CaseRow:
        """Take a case into work: in progress, the actor its assignee."""
        self._told.clear()
        kind, who = actor
        if number is None:
            row = self.next_for(actor, queue)
            if row is None:
                raise RoutingError(ErrorCode.NOT_FOUND, "no case is waiting to be taken")
        else:
            row = self._open(actor, number)
            if row.assignee == who and row.status == "in_progress":
                return row
            if row.assignee not in (None, who) and kind != "supervisor":
                raise RoutingError(
                    ErrorCode.FORBIDDEN, f"case {number} is assigned to {row.assignee}"
                )
            self._may_take(actor, row)
        by = by_of(actor)
        if row.status == "in_progress":
            self._assign(row, who, by)  # escalated to a group: the member takes it over
        else:
            self._enter(row, "in_progress", "hand", by, assignee=who)
        self._save(row)
        self._publish(row, actor, "status")
        return row

    def set_status(
        self,
        actor: Actor,
        number: str,
        status: CaseStatus,
        articles: Iterable[str] = (),
        comment: str = "",
    ) -> tuple[CaseRow, bool]:
        """Move the case by hand; ``(case, suggest an article)``."""
        if status == "in_progress":
            row = self._open(actor, number)
            if row.status == "in_progress":
                move(row.status, status, "hand")  # already: refused, as the table says
            return self.take(actor, number), False
        row = self._mine(actor, number)
        move(row.status, status, "hand")  # refuse before changing anything
        self._told.clear()
        by = by_of(actor)
        for article in articles:
            self._link_article(actor, row, article)
        if comment:
            self._event(row, by, "comment", text=comment)
        self._enter(row, status, "hand", by)
        self._save(row)
        self._publish(row, actor, "status")
        suggest = status == "resolved" and self.settings.suggest_article and not row.articles
        return row, suggest

    def escalate(
        self, actor: Actor, number: str, assignee: str | None, group: str | None
    ) -> CaseRow:
        """Pass the case on: a new assignee is told; a new group's members are
        told, and without a named assignee the case is theirs to take."""
        if assignee is None and group is None:
            raise RoutingError(ErrorCode.INVALID, "give an assignee or an assignee group")
        row = self._mine(actor, number)
        if group is not None and group not in self.queues:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no case queue {group!r}")
        if assignee is not None and assignee not in self.router.agents:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no agent {assignee!r}")
        self._told.clear()
        by = by_of(actor)
        if group is not None and group != row.group:
            self._event(row, by, "group", "group", row.group, group)
            row.group = group
            if assignee is None and row.assignee is not None:
                self._assign(row, None, by)
            self._tell([m for m in self.members(group) if m != assignee], "escalated")
        if assignee is not None and assignee != row.assignee:
            self._assign(row, assignee, by)
        self._save(row)
        self._publish(row, actor, "escalated")
        return row

    #: Fields ``update`` may change, and whether the history records them.
    _FIELDS = {
        "subject": True,
        "description": True,
        "priority": True,
        "contact": True,
        "email": True,
        "account": False,
        "account_name": False,
        "contact_name": False,
    }

    def update(self, actor: Actor, number: str, changes: dict[str, Any]) -> CaseRow:
        row = self._mine(actor, number)
        unknown = set(changes) - set(self._FIELDS)
        if unknown:
            raise RoutingError(ErrorCode.INVALID, f"not case fields: {sorted(unknown)}")
        self._told.clear()
        by = by_of(actor)
        changed = False
        for name, value in changes.items():
            old = getattr(row, name)
            if value == old:
                continue
            if self._FIELDS[name]:
                self._event(row, by, "field", name, _text(old), _text(value))
                changed = True
            setattr(row, name, value)
        self._save(row)
        if changed:
            self._publish(row, actor, "updated")
        return row

    def advise(self, actor: Actor, row: CaseRow, interaction: str, note: str) -> None:
        """A consultation during a call or chat (also on a closed case)."""
        self._told.clear()
        by = by_of(actor)
        row = self.open.get(row.number, row)
        self._event(row, by, "consultation", "interaction", new=interaction, text=note)
        self._link(row, interaction, "consulted", by, event=False)
        if row.number in self.open:
            self._save(row)
        self._publish(row, actor, "consultation")

    def link_article(self, actor: Actor, row: CaseRow, article: str) -> None:
        """Link a knowledge-base article (also to a closed case)."""
        self._told.clear()
        row = self.open.get(row.number, row)
        if self._link_article(actor, row, article):
            self._publish(row, actor, "article")

    def _link_article(self, actor: Actor, row: CaseRow, article: str) -> bool:
        if article in row.articles:
            return False
        row.articles.append(article)
        by = by_of(actor)
        self.router._persist("case_article", (row.number, article, self.router.clock(), by))
        self._event(row, by, "article", "article", new=article)
        return True

    def note(
        self, actor: Actor, row: CaseRow, kind: Literal["comment", "reply"], text: str
    ) -> None:
        """Write on a case without moving it. A comment is for colleagues: anyone
        who sees the case, also a closed one. A reply goes to the customer (by
        mail when the case has an address): only on an open case you may change."""
        text = text.strip()
        if not text:
            raise RoutingError(ErrorCode.INVALID, "the text is empty")
        by = by_of(actor)
        if not self.visible(actor, row):
            raise RoutingError(ErrorCode.NOT_FOUND, f"no case {row.number!r}")
        if kind == "comment":
            self._told.clear()
            row = self.open.get(row.number, row)
            self._event(row, by, "comment", text=text)
            if row.number in self.open:
                self._save(row)
            self._publish(row, actor, "comment")
            return
        live = self._mine(actor, row.number)
        self._told.clear()
        self._event(live, by, "agent_reply", "email", new=live.email or None, text=text)
        agent = self.router.agents.get(actor[1])
        name = agent.cfg.display_name if agent is not None and agent.cfg.display_name else by
        self._notify(live, AGENT_REPLY, {"text": text, "agent": name})
        self._save(live)
        self._publish(live, actor, "agent_reply")

    def reply(self, actor: Actor, row: CaseRow, channel: str, text: str, sender: str = "") -> bool:
        """The customer wrote: recorded; a paused or resolved, non-final case is
        reopened, its assignee cleared, and it is back in its queue."""
        self._told.clear()
        by = by_of(actor)
        self._event(row, by, "customer_reply", channel, new=sender or None, text=text)
        live = self.open.get(row.number)
        if live is None:
            self._publish(row, actor, "customer_reply")
            return False  # closed or canceled: recorded, nothing reopens
        if not reopens_on_reply(live.status):
            self._save(live)
            self._publish(live, actor, "customer_reply")
            return False
        previous = live.assignee
        self._enter(live, "reopened", "reply", by)
        self._save(live)
        self._back_in_queue(live, previous, by)
        self._publish(live, actor, "customer_reply")
        return True

    def rate(self, actor: Actor, number: str, score: int) -> CaseRow:
        """The customer's grade of a resolved case: the lookup says reopen or close."""
        row = self.open.get(number)
        if row is None:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no open case {number!r}")
        if score not in SATISFACTION:
            raise RoutingError(ErrorCode.INVALID, f"grades are {min(SATISFACTION)} to 5")
        to = SATISFACTION[score][1]
        move(row.status, to, "rating")  # only a resolved case is graded
        self._told.clear()
        by = by_of(actor)
        row.satisfaction = score
        self._event(row, by, "satisfaction", "satisfaction", None, str(score))
        previous = row.assignee
        self._enter(row, to, "rating", by)
        self._save(row)
        if to == "reopened":
            self._back_in_queue(row, previous, by)
        self._publish(row, actor, "rated")
        return row


#: What the history calls those who are not people with a session.
_NOBODY = frozenset({"customer", "system"})


def _text(value: object) -> str | None:
    return None if value is None else str(value)
