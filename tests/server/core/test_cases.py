"""Cases on a fake clock: the status table, case queues, visibility, replies,
satisfaction, escalation and the customer's mails in the outbox."""

from __future__ import annotations

import itertools
from typing import Any, get_args

import msgspec
import pytest

from protocol.cases import CaseChanged, CaseQueueConfig, CaseStatus, MailTemplate
from protocol.errors import ErrorCode
from server.core import RoutingError
from server.core.cases import (
    AGENT_REPLY,
    DEFAULT_TEMPLATES,
    NOTIFY,
    SATISFACTION,
    STATUSES,
    TRANSITIONS,
    CaseRow,
    Cases,
    CaseSettings,
    OutboxRow,
    move,
    reopens_on_reply,
    status_lookup,
)

ALL: tuple[CaseStatus, ...] = get_args(CaseStatus)

#: SPEC §8, transcribed: from -> the statuses it may go to (by anyone or anything).
SPEC_TABLE: dict[str, set[str]] = {
    "new": {"in_progress", "waiting_for_response", "resolved", "canceled"},
    "in_progress": {"waiting_for_response", "resolved", "canceled"},
    "waiting_for_response": {"in_progress", "reopened", "resolved", "canceled"},
    "reopened": {"in_progress", "waiting_for_response", "resolved", "canceled"},
    "resolved": {"closed", "reopened"},
    "closed": set(),
    "canceled": set(),
}
BY_HAND = [(a, b) for (a, b), causes in TRANSITIONS.items() if "hand" in causes]
NOT_BY_HAND = [(a, b) for a, b in itertools.product(ALL, ALL) if (a, b) not in BY_HAND]

ANN = ("agent", "ann")
BOB = ("agent", "bob")
CY = ("agent", "cy")
SAM = ("supervisor", "sam")


@pytest.fixture
def cases(desk) -> Cases:
    """Two case queues: service (take any: ann, bob) and second (take next: bob, cy)."""
    for name in ("ann", "bob", "cy", "dee"):
        desk.agent(name, inboxes=())
    c = Cases(desk.router, CaseSettings(), link=lambda number, n: f"https://sb/r/{number}/{n}")
    c.put_queue(CaseQueueConfig(id="service", members=["ann", "bob"], resolution_hours=24))
    c.put_queue(CaseQueueConfig(id="second", members=["bob", "cy"], take="next"))
    for template in NOTIFY.values():
        c.put_template(
            MailTemplate(
                id=template,
                subject=f"[$number] {template}: $subject",
                body="due $resolution_due\n$satisfaction_links",
            )
        )
    desk.effects()
    return c


def new_case(cases: Cases, queue: str = "service", **kw: Any) -> CaseRow:
    kw.setdefault("subject", "Jacket torn")
    kw.setdefault("email", "dana@example.com")
    actor = kw.pop("actor", SAM)
    return cases.create(actor, queue=queue, **kw)


def at_status(desk, cases: Cases, status: CaseStatus, assignee: str | None = "ann") -> CaseRow:
    """A service case put straight into ``status`` (test setup only)."""
    row = new_case(cases)
    row.status = status
    row.assignee = assignee if status not in ("new", "reopened") else None
    if STATUSES[status].final:
        cases.open.pop(row.number)
    desk.effects()
    return row


def state(cases: Cases) -> Any:
    return (msgspec.to_builtins(list(cases.open.values())), cases.next_seq)


def refused(desk, cases: Cases, command: Any, *args: Any) -> RoutingError:
    """Run a refused command; nothing changed and no effect was produced."""
    desk.effects()
    before = state(cases)
    with pytest.raises(RoutingError) as caught:
        command(*args)
    assert state(cases) == before
    assert desk.effects() == []
    return caught.value


def outbox(effects: list[Any]) -> list[OutboxRow]:
    return [e.row for e in effects if getattr(e, "kind", "") == "outbox"]


def history(effects: list[Any]) -> list[tuple[Any, ...]]:
    """(by, action, field, old, new) of the history rows written."""
    return [
        (e.row[2], e.row[3], e.row[4], e.row[5], e.row[6])
        for e in effects
        if getattr(e, "kind", "") == "case_event"
    ]


# ------------------------------------------------------------------ the table


def test_table_is_the_spec_table() -> None:
    """The transition table allows exactly the moves of SPEC §8, nothing more."""
    table: dict[str, set[str]] = {s: set() for s in ALL}
    for frm, to in TRANSITIONS:
        table[frm].add(to)
    assert table == SPEC_TABLE


def test_flags_are_the_spec_flags() -> None:
    """Waiting is the pause status, resolved the resolved one, closed and canceled final."""
    assert [s for s in ALL if STATUSES[s].pause] == ["waiting_for_response"]
    assert [s for s in ALL if STATUSES[s].resolved] == ["resolved"]
    assert [s for s in ALL if STATUSES[s].final] == ["closed", "canceled"]


def test_reopen_only_by_customer() -> None:
    """Nobody reopens by hand: a reply or a grade does; closing a resolved case is both."""
    assert TRANSITIONS[("waiting_for_response", "reopened")] == {"reply"}
    assert TRANSITIONS[("resolved", "reopened")] == {"reply", "rating"}
    assert TRANSITIONS[("resolved", "closed")] == {"hand", "rating"}


@pytest.mark.parametrize("status", ALL)
def test_reply_rule_agrees_with_table(status: CaseStatus) -> None:
    """A reply reopens exactly the paused or resolved, non-final statuses the table lets it."""
    assert reopens_on_reply(status) == ("reply" in TRANSITIONS.get((status, "reopened"), ()))


@pytest.mark.parametrize(
    ("frm", "to", "cause"), list(itertools.product(ALL, ALL, ("hand", "reply", "rating")))
)
def test_move_follows_table(frm: CaseStatus, to: CaseStatus, cause: Any) -> None:
    """move() allows a (from, to, cause) exactly when the table lists it, else conflict."""
    if cause in TRANSITIONS.get((frm, to), ()):
        assert move(frm, to, cause) == to
    else:
        with pytest.raises(RoutingError) as caught:
            move(frm, to, cause)
        assert caught.value.code == ErrorCode.CONFLICT
        assert caught.value.details == {"from": frm, "to": to}


def test_lookup_lists_hand_moves() -> None:
    """The status lookup carries the flags and, per status, where an agent may move it."""
    lookup = {s.id: s for s in status_lookup()}
    assert set(lookup) == set(ALL)
    assert lookup["waiting_for_response"].pause and not lookup["waiting_for_response"].final
    assert lookup["closed"].final and lookup["closed"].close_on_save
    assert set(lookup["resolved"].to) == {"closed"}
    assert lookup["closed"].to == [] and lookup["canceled"].to == []
    assert set(lookup["new"].to) == SPEC_TABLE["new"]


# ------------------------------------------------------------ transitions


@pytest.mark.parametrize(("frm", "to"), BY_HAND, ids=[f"{a}->{b}" for a, b in BY_HAND])
def test_every_allowed_transition(desk, cases: Cases, frm: CaseStatus, to: CaseStatus) -> None:
    """Each move the table allows by hand is made by the case's assignee (or a taker)."""
    row = at_status(desk, cases, frm)
    actor = ANN
    row, _ = cases.set_status(actor, row.number, to)
    assert row.status == to
    effects = desk.effects()
    assert ("ann", "status", "status", frm, to) in history(effects)
    if to == "in_progress":
        assert row.assignee == "ann" and row.responded_at is not None
    if STATUSES[to].final:
        assert row.number not in cases.open and row.closed_at is not None
    else:
        assert cases.open[row.number] is row
    assert [m.template for m in outbox(effects)] == ([NOTIFY[to]] if to in NOTIFY else [])


@pytest.mark.parametrize(("frm", "to"), NOT_BY_HAND, ids=[f"{a}->{b}" for a, b in NOT_BY_HAND])
def test_every_refused_transition(desk, cases: Cases, frm: CaseStatus, to: CaseStatus) -> None:
    """Each move the table does not allow by hand is refused and changes nothing."""
    row = at_status(desk, cases, frm)
    err = refused(desk, cases, cases.set_status, ANN, row.number, to)
    if STATUSES[frm].final:
        assert err.code == ErrorCode.NOT_FOUND  # closed cases are no longer open
    else:
        assert err.code == ErrorCode.CONFLICT
        assert row.status == frm


def test_taking_sets_in_progress_and_assignee(desk, cases: Cases) -> None:
    """Taking a new case: in progress, the taker assigned, the customer told the deadline."""
    row = new_case(cases)
    desk.effects()
    desk.clock.advance(60)
    taken = cases.take(ANN, row.number)
    assert (taken.status, taken.assignee, taken.responded_at) == ("in_progress", "ann", 1060.0)
    effects = desk.effects()
    (mail,) = outbox(effects)
    assert (mail.to, mail.template, mail.case) == (
        "dana@example.com",
        "case_in_progress",
        row.number,
    )
    assert mail.subject == f"[{row.number}] case_in_progress: Jacket torn"
    assert "due 1970-01-02 00:16 UTC" in mail.body  # created at 1000 s + 24 h
    assert ("ann", "assignee", "assignee", None, "ann") in history(effects)


def test_taking_someone_elses_case_is_refused(desk, cases: Cases) -> None:
    """A case assigned to ann cannot be taken or moved by bob."""
    row = new_case(cases)
    cases.take(ANN, row.number)
    assert refused(desk, cases, cases.take, BOB, row.number).code == ErrorCode.FORBIDDEN
    err = refused(desk, cases, cases.set_status, BOB, row.number, "resolved")
    assert err.code == ErrorCode.FORBIDDEN


def test_no_email_no_mail(desk, cases: Cases) -> None:
    """Without an address nothing goes to the outbox, and the history says why."""
    row = new_case(cases, email="")
    cases.take(ANN, row.number)
    effects = desk.effects()
    assert outbox(effects) == []
    notes = [e.row for e in desk.persists(effects, "case_event") if e.row[3] == "notification"]
    assert [n[7] for n in notes] == ["no email address"]


def test_resolved_mail_has_five_links(desk, cases: Cases) -> None:
    """The resolved mail carries a satisfaction link per grade, 1 to 5."""
    row = new_case(cases)
    cases.take(ANN, row.number)
    desk.effects()
    cases.set_status(ANN, row.number, "resolved")
    (mail,) = outbox(desk.effects())
    for n in range(1, 6):
        assert f"{n} - {SATISFACTION[n][0]}: https://sb/r/{row.number}/{n}" in mail.body


def test_suggest_article_only_when_enabled_and_none_linked(desk, router) -> None:
    """Resolving without an article suggests one only when the setting is on."""
    desk.agent("ann", inboxes=())
    for on in (False, True):
        c = Cases(router, CaseSettings(suggest_article=on, number_prefix=f"X{int(on)}"))
        c.put_queue(CaseQueueConfig(id="service", members=["ann"]))
        bare, linked = new_case(c), new_case(c)
        for r in (bare, linked):
            c.take(ANN, r.number)
        assert c.set_status(ANN, bare.number, "resolved")[1] is on
        assert c.set_status(ANN, linked.number, "resolved", ["kb-1"])[1] is False
        assert linked.articles == ["kb-1"]


# ----------------------------------------------------------- replies, grades


@pytest.mark.parametrize("status", ["waiting_for_response", "resolved"])
def test_reply_reopens_and_clears_assignee(desk, cases: Cases, status: CaseStatus) -> None:
    """A reply to a paused or resolved case reopens it, unassigned, back in its queue."""
    row = at_status(desk, cases, status)
    assert cases.reply(("key", "portal"), row, "portal", "Still broken") is True
    assert (row.status, row.assignee) == ("reopened", None)
    assert cases.line("service") == [row]
    effects = desk.effects()
    assert ("key:portal", "customer_reply", "portal", None, None) in history(effects)
    assert ("key:portal", "assignee", "assignee", "ann", None) in history(effects)
    told = sorted((s.to[1], s.frame.reason, s.frame.by) for s in desk.sends(effects, CaseChanged))
    assert told == [
        ("ann", "reopened", "key:portal"),  # the queue, and ann who lost it
        ("bob", "reopened", "key:portal"),
        ("sam", "customer_reply", "key:portal"),  # who registered it
    ]


@pytest.mark.parametrize("status", ["new", "in_progress", "reopened"])
def test_reply_to_active_case_only_records(desk, cases: Cases, status: CaseStatus) -> None:
    """A reply to a case being worked is recorded and told to its assignee; no status change."""
    row = at_status(desk, cases, status)
    assert cases.reply(("key", "portal"), row, "email", "More details") is False
    assert row.status == status
    effects = desk.effects()
    assert [h[1] for h in history(effects)] == ["customer_reply"]
    told = [s.to for s in desk.sends(effects, CaseChanged)]
    assignee = [("agent", row.assignee)] if row.assignee else []
    assert told == [*assignee, ("supervisor", "sam")]  # and who registered it


@pytest.mark.parametrize("status", ["closed", "canceled"])
def test_reply_to_final_case_is_recorded_only(desk, cases: Cases, status: CaseStatus) -> None:
    """A reply to a closed or canceled case is kept in its history and reopens nothing."""
    row = at_status(desk, cases, status)
    assert cases.reply(("key", "portal"), row, "email", "Thanks!") is False
    assert row.status == status and row.number not in cases.open
    assert [h[1] for h in history(desk.effects())] == ["customer_reply"]


def test_reply_keeps_group_and_tells_it(desk, cases: Cases) -> None:
    """Reopened with an assignee group kept: the group's members are told, not the queue's."""
    row = new_case(cases)
    cases.take(ANN, row.number)
    cases.escalate(ANN, row.number, None, "second")
    cases.take(CY, row.number)
    cases.set_status(CY, row.number, "waiting_for_response")
    desk.effects()
    cases.reply(("key", "portal"), row, "portal", "Here it is")
    assert (row.status, row.assignee, row.group) == ("reopened", None, "second")
    told = sorted((s.to[1], s.frame.reason) for s in desk.sends(desk.effects(), CaseChanged))
    assert told == [("bob", "reopened"), ("cy", "reopened"), ("sam", "customer_reply")]


@pytest.mark.parametrize("score", [1, 2, 3, 4, 5])
def test_satisfaction(desk, cases: Cases, score: int) -> None:
    """Grades 1-2 reopen the resolved case (assignee cleared), 3-5 close it."""
    row = at_status(desk, cases, "resolved")
    cases.rate(("customer", ""), row.number, score)
    assert row.satisfaction == score
    if score <= 2:
        assert (row.status, row.assignee) == ("reopened", None)
        assert cases.open[row.number] is row
    else:
        assert row.status == "closed" and row.number not in cases.open
    assert ("customer", "satisfaction", "satisfaction", None, str(score)) in history(desk.effects())


@pytest.mark.parametrize("status", ["new", "in_progress", "waiting_for_response", "reopened"])
def test_only_resolved_cases_are_graded(desk, cases: Cases, status: CaseStatus) -> None:
    """A grade for a case that is not resolved is refused and changes nothing."""
    row = at_status(desk, cases, status)
    err = refused(desk, cases, cases.rate, ("customer", ""), row.number, 5)
    assert err.code == ErrorCode.CONFLICT


# ------------------------------------------------------------- case queues


def test_numbers_are_sequential_and_survive_restore(desk, cases: Cases) -> None:
    """Numbers go SR00000001, SR00000002...; after a restore they go on from the last."""
    assert [new_case(cases).number for _ in range(3)] == [
        "SR00000001", "SR00000002", "SR00000003",
    ]  # fmt: skip
    cases.restore(list(cases.open.values()), last_seq=41)
    assert new_case(cases).number == "SR00000042"


def test_deadlines_from_queue_sla(desk, cases: Cases) -> None:
    """Response and resolution deadlines are the queue's hours after registration."""
    row = new_case(cases, queue="second")
    assert (row.response_due, row.resolution_due) == (1000 + 4 * 3600, 1000 + 24 * 3600)


def test_take_next_is_oldest_by_priority_then_deadline(desk, cases: Cases) -> None:
    """Take next gives the most urgent priority first, then the earliest deadline."""
    low = new_case(cases, queue="second", priority="low")
    desk.clock.advance(10)
    medium_late = new_case(cases, queue="second", priority="medium")
    cases.put_queue(CaseQueueConfig(id="second", members=["bob", "cy"], take="next",
                                    resolution_hours=1))  # fmt: skip
    medium_soon = new_case(cases, queue="second", priority="medium")
    high = new_case(cases, queue="second", priority="high")
    assert cases.line("second") == [high, medium_soon, medium_late, low]
    assert [cases.take(CY, None, "second").number for _ in range(2)] == [
        high.number, medium_soon.number,
    ]  # fmt: skip
    assert cases.take(BOB).number == medium_late.number


def test_next_queue_refuses_out_of_turn(desk, cases: Cases) -> None:
    """In a "next" queue a member may take only the head of the line."""
    first = new_case(cases, queue="second")
    second = new_case(cases, queue="second")
    err = refused(desk, cases, cases.take, CY, second.number)
    assert err.code == ErrorCode.REFUSED
    assert err.details == {"rule": "take_next", "next": first.number}
    assert cases.take(CY, first.number).assignee == "cy"
    assert cases.take(CY, second.number).assignee == "cy"  # now it is the head


def test_any_queue_takes_any(desk, cases: Cases) -> None:
    """In an "any" queue a member may take any waiting case, in any order."""
    first, second = new_case(cases), new_case(cases)
    assert cases.take(ANN, second.number).assignee == "ann"
    assert cases.take(BOB, first.number).assignee == "bob"


def test_nothing_to_take(desk, cases: Cases) -> None:
    """Take next with an empty line is refused."""
    assert refused(desk, cases, cases.take, ANN).code == ErrorCode.NOT_FOUND


def test_non_members_cannot_create_or_take(desk, cases: Cases) -> None:
    """Only a queue's members (and supervisors) register cases there and take them."""
    err = refused(desk, cases, lambda: new_case(cases, "second", actor=ANN))
    assert err.code == ErrorCode.FORBIDDEN
    row = new_case(cases, queue="second")
    assert refused(desk, cases, cases.take, ANN, row.number).code == ErrorCode.NOT_FOUND
    err = refused(desk, cases, cases.take, ANN, None, "second")
    assert err.code == ErrorCode.FORBIDDEN


def test_visibility(desk, cases: Cases) -> None:
    """Members see their queues' cases, supervisors all, others none, bots none."""
    row = new_case(cases, queue="second")
    assert [cases.visible(a, row) for a in (ANN, BOB, CY, SAM, ("key", "webchat"))] == [
        False, True, True, True, False,
    ]  # fmt: skip
    cases.escalate(SAM, row.number, "dee", None)
    assert cases.visible(("agent", "dee"), row)  # the assignee sees it


def test_serving_agent_sees_contacts_cases(desk, cases: Cases) -> None:
    """An agent on a chat with a contact sees that contact's cases (advise on existing case)."""
    desk.queue("q")
    row = new_case(cases, queue="second", contact="c-1")
    assert not cases.visible(ANN, row)
    desk.agent("ann", inboxes=("q",))
    ix = desk.chat()
    desk.accept("ann")
    desk.router.set_contact(ix.id, "c-1")
    assert cases.visible(ANN, row)
    cases.advise(ANN, row, ix.id, "told her it ships Monday")
    effects = desk.effects()
    assert ("ann", "consultation", "interaction", None, ix.id) in history(effects)
    assert [e.row[:3] for e in desk.persists(effects, "case_link")] == [
        (row.number, ix.id, "consulted")
    ]
    assert [e.row for e in desk.persists(effects, "chat_field")] == [(ix.id, "case_id", row.number)]


def test_created_from_interaction_is_linked(desk, cases: Cases) -> None:
    """A case added from a chat is linked to it and shown on its record."""
    row = new_case(cases, interaction="i-7")
    effects = desk.effects()
    assert row.interactions == ["i-7"]
    assert [e.row for e in desk.persists(effects, "chat_field")] == [("i-7", "case_id", row.number)]
    assert (row.created_by, row.status, row.assignee) == ("sam", "new", None)
    told = sorted((s.to[1], s.frame.reason) for s in desk.sends(effects, CaseChanged))
    assert told == [("ann", "created"), ("bob", "created"), ("sam", "created")]


# -------------------------------------------------------------- escalation


def test_escalation_to_group_tells_members_and_frees_case(desk, cases: Cases) -> None:
    """A new group is told; without a named assignee the case waits for its members."""
    row = new_case(cases)
    cases.take(ANN, row.number)
    desk.effects()
    cases.escalate(ANN, row.number, None, "second")
    assert (row.group, row.assignee, row.status) == ("second", None, "in_progress")
    effects = desk.effects()
    pushes = desk.sends(effects, CaseChanged)
    assert sorted((p.to[1], p.frame.reason) for p in pushes) == [
        ("ann", "escalated"), ("bob", "escalated"), ("cy", "escalated"), ("sam", "escalated"),
    ]  # fmt: skip
    # Each sees the case as it may work it: ann (service) no longer may, the group may take it.
    # Unassigned again: its queue's members and its new group's may take it.
    flags = {p.to[1]: (p.frame.case.workable, p.frame.case.takeable) for p in pushes}
    assert set(flags.values()) == {(True, True)}
    assert cases.line("second") == [row]
    taken = cases.take(CY, row.number)
    assert (taken.assignee, taken.status) == ("cy", "in_progress")
    assert outbox(desk.effects()) == []  # still in progress: no new mail


def test_escalation_to_assignee(desk, cases: Cases) -> None:
    """A new assignee gets the case and a push; unknown agents and groups are refused."""
    row = new_case(cases)
    cases.take(ANN, row.number)
    desk.effects()
    cases.escalate(ANN, row.number, "bob", None)
    assert row.assignee == "bob"
    pushes = desk.sends(desk.effects(), CaseChanged)
    assert sorted((p.to[1], p.frame.reason) for p in pushes) == [
        ("ann", "escalated"), ("bob", "assigned"), ("sam", "escalated"),
    ]  # fmt: skip
    assert refused(desk, cases, cases.escalate, BOB, row.number, "zed", None).code == (
        ErrorCode.NOT_FOUND
    )
    assert refused(desk, cases, cases.escalate, BOB, row.number, None, "nope").code == (
        ErrorCode.NOT_FOUND
    )
    assert refused(desk, cases, cases.escalate, ANN, row.number, "cy", None).code == (
        ErrorCode.FORBIDDEN
    )


def test_update_records_each_field(desk, cases: Cases) -> None:
    """Edited fields are each recorded with old and new values; unchanged ones are not."""
    row = new_case(cases)
    desk.effects()
    cases.update(SAM, row.number, {"subject": "Jacket torn", "priority": "critical"})
    assert history(desk.effects()) == [("sam", "field", "priority", "medium", "critical")]
    err = refused(desk, cases, cases.update, SAM, row.number, {"status": "closed"})
    assert err.code == ErrorCode.INVALID


def test_template_placeholders_are_safe(desk, cases: Cases) -> None:
    """Unknown placeholders stay as written and a subject never spans lines."""
    cases.put_template(MailTemplate(id="case_canceled", subject="$subject\n$nope", body="${x}"))
    row = new_case(cases, subject="Line one\nBcc: evil@example.com")
    desk.effects()
    cases.set_status(SAM, row.number, "canceled")
    (mail,) = outbox(desk.effects())
    assert mail.subject == "Line one Bcc: evil@example.com $nope"
    assert mail.body == "${x}"


# ------------------------------------------------- what a person may do, told


def flags(cases: Cases, actor: Any, row: CaseRow) -> tuple[bool, bool]:
    view = cases.view_for(actor, row)
    return view.workable, view.takeable


def test_flags_follow_the_rules(desk, cases: Cases) -> None:
    """workable and takeable say what take/set_status/update would allow, per person."""
    low = new_case(cases, "second", priority="low")
    head = new_case(cases, "second", priority="high")
    # A "next" queue: its members may work both, but take only the next one.
    assert flags(cases, BOB, head) == (True, True)
    assert flags(cases, BOB, low) == (True, False)
    assert refused(desk, cases, cases.take, BOB, low.number).code == ErrorCode.REFUSED
    assert flags(cases, ANN, head) == (False, False)  # not her queue
    assert flags(cases, SAM, low) == (True, True)  # supervisors take anything
    cases.take(CY, head.number)
    assert flags(cases, CY, head) == (True, False)  # hers: worked, nothing to take
    assert flags(cases, BOB, head) == (False, False)  # assigned to cy
    assert refused(desk, cases, cases.update, BOB, head.number, {"priority": "low"}).code == (
        ErrorCode.FORBIDDEN
    )
    assert flags(cases, BOB, low) == (True, True)  # the next one now
    # A final case changes no more, for anyone.
    cases.set_status(CY, head.number, "canceled")
    assert flags(cases, CY, head) == (False, False)
    assert flags(cases, SAM, head) == (False, False)


def test_contact_name_in_the_view(desk, cases: Cases) -> None:
    """The case carries its contact's name; changing the contact changes it."""
    row = new_case(cases, contact="c-1", contact_name="Dana Smith")
    assert (row.view().contact, row.view().contact_name) == ("c-1", "Dana Smith")
    cases.update(SAM, row.number, {"contact": "c-2", "contact_name": "Zoë"})
    assert row.view().contact_name == "Zoë"
    assert new_case(cases, contact_name="stray").contact_name == ""  # no contact, no name


@pytest.mark.parametrize(
    "change",
    ["take", "status", "update", "escalate", "advise", "article", "comment", "reply", "customer"],
)
def test_every_change_reaches_assignee_creator_changer(desk, cases: Cases, change: str) -> None:
    """Whatever changes a case, its assignee, who registered it and who changed it hear of it."""
    row = new_case(cases, actor=ANN)  # ann registers it
    cases.take(BOB, row.number)  # bob works it
    desk.effects()
    actor = SAM
    if change == "take":
        cases.take(SAM, row.number)
    elif change == "status":
        cases.set_status(SAM, row.number, "waiting_for_response")
    elif change == "update":
        cases.update(SAM, row.number, {"priority": "high"})
    elif change == "escalate":
        cases.escalate(SAM, row.number, "bob", "second")
    elif change == "advise":
        cases.advise(SAM, row, "i-1", "asked")
    elif change == "article":
        cases.link_article(SAM, row, "kb-1")
    elif change == "comment":
        cases.note(SAM, row, "comment", "looks like the courier")
    elif change == "reply":
        cases.note(SAM, row, "reply", "We sent a new one.")
    else:
        actor = ("key", "portal")
        cases.reply(actor, row, "email", "Any news?")
    pushes = desk.sends(desk.effects(), CaseChanged)
    told = {p.to[1] for p in pushes}
    assert {"ann", row.assignee} <= told
    if actor == SAM:
        assert "sam" in told
    assert all(p.frame.case.number == row.number for p in pushes)
    assert len(told) == len(pushes)  # one push each


def test_watchers_hear_of_changes_while_they_may_see(desk, cases: Cases) -> None:
    """Who has the case open hears of it; one case each; not once it is out of sight."""
    row = new_case(cases, "second")
    other = new_case(cases, "second")
    cases.watch(CY, row.number)
    cases.watch(SAM, row.number)
    desk.effects()
    cases.update(BOB, row.number, {"priority": "high"})
    pushes = desk.sends(desk.effects(), CaseChanged)
    assert sorted((p.to[1], p.frame.reason, p.frame.by) for p in pushes) == [
        ("bob", "updated", "bob"), ("cy", "updated", "bob"), ("sam", "updated", "bob"),
    ]  # fmt: skip
    cases.watch(CY, other.number)  # cy opened another case
    cases.watch(("key", "portal"), row.number)  # only people watch
    cases.take(BOB, row.number)
    assert {p.to[1] for p in desk.sends(desk.effects(), CaseChanged)} == {"bob", "sam"}
    # Out of cy's sight (escalated to the service queue's group and to ann): no more pushes.
    cases.watch(CY, row.number)
    cases.put_queue(CaseQueueConfig(id="second", members=["bob"], take="next"))
    desk.effects()
    cases.update(BOB, row.number, {"priority": "low"})
    assert "cy" not in {p.to[1] for p in desk.sends(desk.effects(), CaseChanged)}


def test_comment_records_and_changes_nothing_else(desk, cases: Cases) -> None:
    """An internal comment: in the history, no status change, no mail; closed cases too."""
    row = new_case(cases)
    cases.take(ANN, row.number)
    desk.effects()
    cases.note(BOB, row, "comment", "  Courier lost it  ")  # bob sees it (same queue)
    effects = desk.effects()
    assert history(effects) == [("bob", "comment", "", None, None)]
    assert [e.row[7] for e in desk.persists(effects, "case_event")] == ["Courier lost it"]
    assert outbox(effects) == [] and (row.status, row.assignee) == ("in_progress", "ann")
    cases.set_status(ANN, row.number, "canceled")
    desk.effects()
    cases.note(ANN, row, "comment", "Customer called to thank us")
    assert [h[1] for h in history(desk.effects())] == ["comment"]
    hidden = new_case(cases, "second")
    assert refused(desk, cases, cases.note, ANN, hidden, "comment", "x").code == (
        ErrorCode.NOT_FOUND
    )
    assert refused(desk, cases, cases.note, ANN, row, "comment", "   ").code == ErrorCode.INVALID


def test_reply_to_customer_is_mailed(desk, cases: Cases) -> None:
    """An agent's reply: in the history and, through the outbox, to the case's email."""
    for template in DEFAULT_TEMPLATES:
        cases.put_template(template)
    row = new_case(cases, subject="Jacket torn")
    cases.take(ANN, row.number)
    desk.effects()
    cases.note(ANN, row, "reply", "A new jacket is on its way.")
    effects = desk.effects()
    (mail,) = outbox(effects)
    assert (mail.to, mail.template, mail.case) == ("dana@example.com", AGENT_REPLY, row.number)
    assert mail.subject == f"[{row.number}] Re: Jacket torn"
    assert "A new jacket is on its way." in mail.body and "\nann\n" in mail.body
    assert [h[:3] for h in history(effects)] == [
        ("ann", "agent_reply", "email"), ("system", "notification", AGENT_REPLY),
    ]  # fmt: skip
    assert row.status == "in_progress"
    # Only who may work the case answers the customer; nothing is written otherwise.
    assert refused(desk, cases, cases.note, BOB, row, "reply", "Me too").code == (
        ErrorCode.FORBIDDEN
    )
    bare = new_case(cases, email="")
    cases.note(SAM, bare, "reply", "Hello?")
    effects = desk.effects()
    assert outbox(effects) == []
    notes = [e.row[7] for e in desk.persists(effects, "case_event") if e.row[3] == "notification"]
    assert notes == ["no email address"]
    cases.set_status(SAM, bare.number, "canceled")
    assert refused(desk, cases, cases.note, SAM, bare, "reply", "Late").code == ErrorCode.NOT_FOUND
