"""Cases over a real server: add new case from a chat, advise from a call, the
status table on the wire, replies and grades, queues, visibility, the
knowledge base, roles, and a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from protocol.cases import (
    AddCaseNote,
    AdviseCase,
    CaseQueueConfig,
    CaseReply,
    CreateCase,
    EscalateCase,
    GetCase,
    GetCaseLookups,
    ListCases,
    MailTemplate,
    PutArticle,
    PutCaseQueue,
    PutMailTemplate,
    RateCase,
    SearchArticles,
    SetCaseStatus,
    TakeCase,
    UpdateCase,
)
from protocol.chats import FindContacts, GetChat, NewContact
from protocol.client import Client, ServerError
from protocol.routing import Accept
from protocol.sources import CallIncoming, StartChat
from protocol.views import Customer
from server.app import App
from server.demo import with_demo
from server.settings import Settings, load_settings

PHONE = "+15550100200"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Suggest a knowledge-base article when a case is resolved without one."""
    settings.cases.suggest_article = True
    return settings


@pytest.fixture
async def sam(connect) -> Client:
    c = await connect()
    await c.login("sam", "sam-demo")
    return c


async def new_case(c: Client, subject: str = "Jacket torn", **kw: Any) -> Any:
    kw.setdefault("email", "dana@example.com")
    return (await c.request(CreateCase(id=0, subject=subject, **kw))).case


async def refused(c: Client, frame: Any) -> ServerError:
    with pytest.raises(ServerError) as caught:
        await c.request(frame)
    return caught.value


async def pushes(c: Client, tag: str, timeout: float = 2.0) -> list[Any]:
    """Pushes of ``tag`` arriving within ``timeout`` (after a first one, briefly)."""
    found = [await c.next_push(tag, timeout=timeout)]
    await asyncio.sleep(0.2)
    found += c.drain(tag)
    return found


async def chat_with(bot: Client, alice: Client, customer: Customer) -> str:
    created = await bot.request(StartChat(id=0, queue="support", customer=customer, text="hi"))
    offer = await alice.next_push("offer")
    await alice.request(Accept(id=0, offer=offer.offer))
    return str(created.interaction.id)


# --------------------------------------------------------------- the processes


async def test_add_new_case_from_chat_shows_on_record(agent, bot) -> None:
    """Add new case from a chat: a new contact, the case linked, the chat record shows it."""
    alice = await agent("alice", ready=True)
    b = await bot()
    customer = Customer(name="Dana", email="Dana@Example.com", external_id="v-1")
    chat = await chat_with(b, alice, customer)
    case = await new_case(
        alice,
        subject="Blue jacket arrived torn",
        description="Order 48151623",
        interaction=chat,
        new_contact=NewContact(name="Dana Smith", account="Acme"),
        email=None,
    )
    assert case.number == "SR00000001" and case.queue == "service"  # alice's first case queue
    assert (case.status, case.assignee, case.interactions) == ("new", None, [chat])
    assert (case.account, case.account_name, case.email) == ("co-acme", "Acme", "dana@example.com")
    record = (await alice.request(GetChat(id=0, interaction=chat))).record
    assert record.case == case.number
    assert record.contact is not None and record.contact.id == case.contact
    assert record.contact.identities == ["webchat:v-1"]  # the chat's identity joined the contact
    found = await alice.request(FindContacts(id=0, query=case.number.lower()))
    assert [c.id for c in found.contacts] == [case.contact]  # found by case number
    detail = await alice.request(GetCase(id=0, case=case.number))
    assert [(e.action, e.field) for e in detail.history][:2] == [
        ("created", ""),
        ("linked", "raised"),
    ]


async def test_advise_on_existing_case_from_call(agent, sam, connect) -> None:
    """Advise on existing case from a call: the caller's cases, the consultation recorded."""
    case = await new_case(
        sam,
        queue="second_line",
        new_contact=NewContact(name="Dana", phone=PHONE, email="dana@example.com"),
    )
    alice = await agent("alice", ready=True)  # not in second_line
    assert (await refused(alice, GetCase(id=0, case=case.number))).code == "not_found"
    gw = await connect()
    await gw.login_key("sbk_demo_gateway")
    created = await gw.request(CallIncoming(id=0, call_id="pbx-9", caller=PHONE, queue="calls"))
    call = created.interaction.id
    offer = await alice.next_push("offer")
    await alice.request(Accept(id=0, offer=offer.offer))
    while True:  # the caller is identified by number
        push = await alice.next_push("interaction")
        if push.interaction.contact == case.contact:
            break
    history = await alice.request(ListCases(id=0, contact=case.contact))
    assert [c.number for c in history.cases] == [case.number]
    detail = await alice.request(
        AdviseCase(id=0, case=case.number, interaction=call, note="Told her it ships Monday")
    )
    assert detail.case.interactions == [call]
    consult = detail.history[-1]
    assert (consult.by, consult.action, consult.new, consult.text) == (
        "alice", "consultation", call, "Told her it ships Monday",
    )  # fmt: skip
    linked = await sam.request(ListCases(id=0, interaction=call))
    assert [c.number for c in linked.cases] == [case.number]


# --------------------------------------------------------------- the statuses


async def test_status_moves_on_the_wire(agent) -> None:
    """Allowed moves go through, refused ones are conflicts that change nothing."""
    alice = await agent("alice")
    case = await new_case(alice)
    err = await refused(alice, SetCaseStatus(id=0, case=case.number, status="closed"))
    assert (err.code, err.frame.details) == ("conflict", {"from": "new", "to": "closed"})
    taken = (await alice.request(TakeCase(id=0, case=case.number))).case
    assert (taken.status, taken.assignee) == ("in_progress", "alice")
    waiting = await alice.request(
        SetCaseStatus(id=0, case=case.number, status="waiting_for_response")
    )
    assert waiting.case.status == "waiting_for_response"
    err = await refused(alice, SetCaseStatus(id=0, case=case.number, status="reopened"))
    assert err.code == "conflict"  # only the customer reopens
    resolved = await alice.request(SetCaseStatus(id=0, case=case.number, status="resolved"))
    assert resolved.case.status == "resolved" and resolved.suggest_article is True
    closed = await alice.request(SetCaseStatus(id=0, case=case.number, status="closed"))
    assert closed.case.status == "closed" and closed.case.closed_at is not None
    err = await refused(alice, SetCaseStatus(id=0, case=case.number, status="in_progress"))
    assert (err.code, err.frame.message) == ("conflict", f"case {case.number} is closed")
    moves = [(e.old, e.new) for e in closed.history if e.action == "status"]
    assert moves == [
        ("new", "in_progress"), ("in_progress", "waiting_for_response"),
        ("waiting_for_response", "resolved"), ("resolved", "closed"),
    ]  # fmt: skip
    lookups = await alice.request(GetCaseLookups(id=0))
    assert {s.id: s.final for s in lookups.statuses}["closed"] is True
    assert lookups.mail_templates == []  # for supervisors only


async def test_reply_reopens_and_returns_to_queue(agent, bot) -> None:
    """A customer's portal reply to a waiting case reopens it unassigned; the queue is told."""
    alice = await agent("alice")
    bob = await agent("bob")
    case = await new_case(alice)
    await alice.request(TakeCase(id=0, case=case.number))
    await alice.request(SetCaseStatus(id=0, case=case.number, status="waiting_for_response"))
    alice.drain(), bob.drain()
    b = await bot()
    ack = await b.request(
        CaseReply(id=0, case=case.number, text="Photo attached", channel="portal")
    )
    assert (ack.case, ack.status, ack.reopened) == (case.number, "reopened", True)
    for who in (alice, bob):
        push = await who.next_push("case_changed")
        assert (push.reason, push.case.status, push.case.assignee) == ("reopened", "reopened", None)
    detail = await alice.request(GetCase(id=0, case=case.number))
    reply = next(e for e in detail.history if e.action == "customer_reply")
    assert (reply.by, reply.field, reply.text) == ("key:webchat", "portal", "Photo attached")
    listed = await bob.request(ListCases(id=0, queue="service", open_only=True))
    assert listed.next == case.number  # back in its queue
    again = await b.request(CaseReply(id=0, case=case.number, text="Any news?"))
    assert (again.status, again.reopened) == ("reopened", False)


@pytest.mark.parametrize("score", [1, 2, 3, 4, 5])
async def test_satisfaction_from_portal(agent, bot, score: int) -> None:
    """The customer's grade: 1-2 reopen (assignee cleared), 3-5 close."""
    alice = await agent("alice")
    case = await new_case(alice)
    await alice.request(TakeCase(id=0, case=case.number))
    await alice.request(SetCaseStatus(id=0, case=case.number, status="resolved"))
    b = await bot()
    ack = await b.request(RateCase(id=0, case=case.number, score=score))
    detail = (await alice.request(GetCase(id=0, case=case.number))).case
    assert detail.satisfaction == score
    if score <= 2:
        assert (ack.status, ack.reopened, detail.assignee) == ("reopened", True, None)
    else:
        assert (ack.status, ack.reopened, detail.status) == ("closed", False, "closed")
    err = await refused(b, RateCase(id=0, case=case.number, score=5))
    assert err.code == "conflict"  # graded once: no longer resolved


# ------------------------------------------------------------- the case queues


async def test_visibility_by_queue_membership(agent, sam) -> None:
    """Agents see only their case queues' cases; supervisors see all; membership is live."""
    bob = await agent("bob")
    alice = await agent("alice")
    hidden = await new_case(bob, queue="second_line")
    shown = await new_case(bob, queue="service")
    assert (await refused(alice, GetCase(id=0, case=hidden.number))).code == "not_found"
    err = await refused(alice, TakeCase(id=0, case=hidden.number))
    assert err.code == "not_found"
    mine = await alice.request(ListCases(id=0))
    assert [c.number for c in mine.cases] == [shown.number]
    everything = await sam.request(ListCases(id=0))
    assert [c.number for c in everything.cases] == [shown.number, hidden.number]
    await sam.request(
        PutCaseQueue(
            id=0,
            queue=CaseQueueConfig(id="second_line", take="next", members=["alice", "bob"]),
        )
    )
    assert (await alice.request(GetCase(id=0, case=hidden.number))).case.number == hidden.number
    err = await refused(sam, PutCaseQueue(id=0, queue=CaseQueueConfig(id="x", members=["sam"])))
    assert err.code == "invalid"  # members are agents


async def test_take_any_and_take_next(agent) -> None:
    """Service takes any case; second line gives only its next, most urgent first."""
    bob = await agent("bob")
    carol = await agent("carol")
    first = await new_case(bob, queue="second_line", priority="low")
    urgent = await new_case(bob, queue="second_line", priority="high")
    err = await refused(carol, TakeCase(id=0, case=first.number))
    assert (err.code, err.frame.details) == (
        "refused",
        {"rule": "take_next", "next": urgent.number},
    )
    assert (await carol.request(TakeCase(id=0, queue="second_line"))).case.number == urgent.number
    assert (await carol.request(TakeCase(id=0, case=first.number))).case.assignee == "carol"
    one = await new_case(bob)
    two = await new_case(bob)
    assert (await carol.request(TakeCase(id=0, case=two.number))).case.assignee == "carol"
    assert (await bob.request(TakeCase(id=0))).case.number == one.number
    assert (await refused(bob, TakeCase(id=0))).code == "not_found"  # nothing waits


async def test_escalation_to_group_notifies_members(agent) -> None:
    """Escalating to an assignee group pushes the case to each member of the group."""
    alice = await agent("alice")
    bob = await agent("bob")
    carol = await agent("carol")
    case = await new_case(alice)
    await alice.request(TakeCase(id=0, case=case.number))
    bob.drain(), carol.drain()
    detail = await alice.request(EscalateCase(id=0, case=case.number, group="second_line"))
    assert (detail.case.group, detail.case.assignee) == ("second_line", None)
    for who in (bob, carol):
        push = await who.next_push("case_changed")
        assert (push.reason, push.case.number) == ("escalated", case.number)
    taken = await carol.request(TakeCase(id=0, case=case.number))
    assert (taken.case.assignee, taken.case.status) == ("carol", "in_progress")
    bumped = await carol.request(UpdateCase(id=0, case=case.number, priority="critical"))
    assert bumped.history[-1].field == "priority" and bumped.case.priority == "critical"


# -------------------------------------------- what the asker may do, the contact


async def test_flags_for_the_asker(agent, sam) -> None:
    """workable and takeable are the server's rules, worked out for whoever asks."""
    bob = await agent("bob")
    carol = await agent("carol")
    alice = await agent("alice")
    low = await new_case(bob, queue="second_line", priority="low")
    urgent = await new_case(bob, queue="second_line", priority="high")
    listed = await carol.request(ListCases(id=0, queue="second_line", open_only=True))
    flags = {c.number: (c.workable, c.takeable) for c in listed.cases}
    assert flags == {urgent.number: (True, True), low.number: (True, False)}  # "next" only
    err = await refused(carol, TakeCase(id=0, case=low.number))
    assert err.code == "refused"  # as the flag said
    await carol.request(TakeCase(id=0, case=urgent.number))
    for who, expected in ((carol, (True, False)), (bob, (False, False)), (sam, (True, False))):
        case = (await who.request(GetCase(id=0, case=urgent.number))).case
        assert (case.workable, case.takeable) == expected
    err = await refused(bob, UpdateCase(id=0, case=urgent.number, priority="low"))
    assert err.code == "forbidden"  # as the flag said
    low_now = (await bob.request(GetCase(id=0, case=low.number))).case
    assert (low_now.workable, low_now.takeable) == (True, True)  # the next one now
    service = await new_case(alice)
    seen = (await alice.request(ListCases(id=0, open_only=True))).cases
    assert [(c.number, c.workable, c.takeable) for c in seen] == [(service.number, True, True)]
    done = await alice.request(SetCaseStatus(id=0, case=service.number, status="canceled"))
    assert (done.case.workable, done.case.takeable) == (False, False)


async def test_list_by_group_in_line_order(agent, sam) -> None:
    """list_cases by assignee group; order "line" is the order take next follows."""
    alice = await agent("alice")
    carol = await agent("carol")
    for cfg in (
        CaseQueueConfig(id="billing", name="Billing", members=["alice"]),
        CaseQueueConfig(id="experts", name="Experts", take="next", members=["carol"]),
    ):
        await sam.request(PutCaseQueue(id=0, queue=cfg))
    old = await new_case(alice, "Old", queue="billing", priority="low")
    hot = await new_case(alice, "Hot", queue="billing", priority="critical")
    mid = await new_case(alice, "Mid", queue="billing")
    stays = await new_case(alice, "Stays", queue="billing")
    for case in (old, hot, mid):
        await alice.request(EscalateCase(id=0, case=case.number, group="experts"))
    grouped = await carol.request(ListCases(id=0, group="experts", open_only=True))
    assert [c.number for c in grouped.cases] == [mid.number, hot.number, old.number]  # newest
    line = await carol.request(ListCases(id=0, group="experts", open_only=True, order="line"))
    assert [c.number for c in line.cases] == [hot.number, mid.number, old.number]
    assert [c.takeable for c in line.cases] == [True, False, False]  # experts: next only
    assert line.next is None  # "next" is given with a queue filter
    by_queue = await carol.request(ListCases(id=0, queue="experts", open_only=True))
    assert (by_queue.cases, by_queue.next) == ([], hot.number)  # the group's cases are its line
    assert (await carol.request(TakeCase(id=0, queue="experts"))).case.number == hot.number
    both = await sam.request(ListCases(id=0, queue="billing", group="experts", open_only=True))
    assert {c.number for c in both.cases} == {old.number, hot.number, mid.number}
    alone = await sam.request(ListCases(id=0, queue="billing", group=None, open_only=True))
    assert stays.number in {c.number for c in alone.cases}
    assert (await sam.request(ListCases(id=0, group="billing"))).cases == []
    await alice.request(SetCaseStatus(id=0, case=old.number, status="canceled"))
    final = await sam.request(ListCases(id=0, group="experts", status="canceled"))
    assert [c.number for c in final.cases] == [old.number]  # also the closed ones, from disk
    err = await refused(carol, ListCases(id=0, group="Not An Id!"))
    assert err.code == "invalid"


async def test_contact_name_in_the_case(agent, sam, bot) -> None:
    """The case names its contact: a new one, a chosen one, and after it is closed."""
    alice = await agent("alice", ready=True)
    made = await new_case(alice, new_contact=NewContact(name="Dana Smith", phone=PHONE))
    assert (made.contact is not None, made.contact_name) == (True, "Dana Smith")
    again = await new_case(alice, "Second one", contact=made.contact)
    assert again.contact_name == "Dana Smith"
    b = await bot()
    chat = await chat_with(b, alice, Customer(name="Zoë"))
    other = await new_case(
        alice, "From a chat", interaction=chat, new_contact=NewContact(name="Zoë")
    )
    moved = await alice.request(UpdateCase(id=0, case=again.number, contact=other.contact))
    assert (moved.case.contact, moved.case.contact_name) == (other.contact, "Zoë")
    await sam.request(SetCaseStatus(id=0, case=made.number, status="canceled"))
    closed = (await sam.request(GetCase(id=0, case=made.number))).case  # read from disk
    assert (closed.status, closed.contact_name) == ("canceled", "Dana Smith")
    listed = await sam.request(ListCases(id=0, contact=made.contact))
    assert [(c.number, c.contact_name) for c in listed.cases] == [(made.number, "Dana Smith")]


# ------------------------------------------------------- who hears of a change


async def test_case_changed_reaches_those_concerned(agent, sam) -> None:
    """The changer, the assignee, who registered it and who has it open hear of a change."""
    alice = await agent("alice")
    bob = await agent("bob")
    carol = await agent("carol")
    case = await new_case(alice)  # alice registers it
    await bob.request(TakeCase(id=0, case=case.number))  # bob works it
    opened = await carol.request(GetCase(id=0, case=case.number, watch=True))
    assert opened.case.number == case.number  # carol has it open
    await asyncio.sleep(0.2)
    for c in (alice, bob, carol, sam):
        c.drain()
    await sam.request(UpdateCase(id=0, case=case.number, priority="high"))
    for c in (alice, bob, carol, sam):
        push = await c.next_push("case_changed")
        assert (push.case.number, push.case.priority) == (case.number, "high")
        assert (push.reason, push.by) == ("updated", "sam")
    # Each sees it as it may work it: bob's, and nobody else's to take.
    assert (push.case.workable, push.case.takeable) == (True, False)  # sam
    # carol opens another case: this one's changes no longer reach her.
    other = await new_case(alice, "Other")
    await carol.request(GetCase(id=0, case=other.number, watch=True))
    await asyncio.sleep(0.2)
    for c in (alice, bob, carol):
        c.drain()
    await bob.request(SetCaseStatus(id=0, case=case.number, status="waiting_for_response"))
    for c in (alice, bob):
        push = await c.next_push("case_changed")
        assert (push.case.status, push.reason, push.by) == ("waiting_for_response", "status", "bob")
    await asyncio.sleep(0.3)
    assert carol.drain("case_changed") == []


async def test_a_closed_connection_watches_nothing(agent, server) -> None:
    """Who disconnects has no case open any more (no pushes kept for a screen that is gone)."""
    alice = await agent("alice")
    carol = await agent("carol")
    case = await new_case(alice)
    await carol.request(GetCase(id=0, case=case.number, watch=True))
    assert server.runtime.cases.watching.get("carol") == case.number
    await carol.close()
    async with asyncio.timeout(5):
        while "carol" in server.runtime.cases.watching:
            await asyncio.sleep(0.01)


# ---------------------------------------------- the agent writes on the case


async def test_reply_to_customer_and_comment(agent, bot, server) -> None:
    """An agent answers the customer (mailed through the outbox) or comments for
    colleagues; neither moves the case; who may is the server's rule."""
    alice = await agent("alice")
    bob = await agent("bob")
    case = await new_case(alice, "Jacket torn", email="dana@example.com")
    await alice.request(TakeCase(id=0, case=case.number))
    replied = await alice.request(
        AddCaseNote(id=0, case=case.number, kind="reply", text="A new jacket is on its way.")
    )
    assert (replied.case.status, replied.case.assignee) == ("in_progress", "alice")
    reply, notice = replied.history[-2:]
    assert (reply.by, reply.action, reply.new, reply.text) == (
        "alice", "agent_reply", "dana@example.com", "A new jacket is on its way.",
    )  # fmt: skip
    assert (notice.action, notice.field, notice.new) == (
        "notification", "case_agent_reply", "dana@example.com",
    )  # fmt: skip
    assert server.runtime is not None and server.runtime.case_reader is not None
    mails = await server.runtime.case_reader.due_mail(server.runtime.clock() + 1)
    mail = next(m for m in mails if m[2] == f"[{case.number}] Re: Jacket torn")
    assert mail[1] == "dana@example.com"
    assert "A new jacket is on its way." in mail[3] and "Alice Agent" in mail[3]

    commented = await bob.request(AddCaseNote(id=0, case=case.number, text="Courier lost it"))
    last = commented.history[-1]
    assert (last.by, last.action, last.text) == ("bob", "comment", "Courier lost it")
    assert len(await server.runtime.case_reader.due_mail(server.runtime.clock() + 1)) == len(mails)
    # Refusals change nothing: not bob's case to answer, empty text, bots, unknown cases.
    err = await refused(bob, AddCaseNote(id=0, case=case.number, kind="reply", text="Me too"))
    assert err.code == "forbidden"
    assert (await refused(bob, AddCaseNote(id=0, case=case.number, text=" \n "))).code == (
        "invalid"
    )
    raw = await refused(bob, AddCaseNote(id=0, case=case.number, text=""))
    assert raw.code == "invalid"
    b = await bot()
    assert (await refused(b, AddCaseNote(id=0, case=case.number, text="hi"))).code == "forbidden"
    assert (await refused(bob, AddCaseNote(id=0, case="SR99", text="hi"))).code == "not_found"
    unchanged = await alice.request(GetCase(id=0, case=case.number))
    assert unchanged.history == commented.history
    # A closed case takes comments, not replies.
    await alice.request(SetCaseStatus(id=0, case=case.number, status="canceled"))
    err = await refused(alice, AddCaseNote(id=0, case=case.number, kind="reply", text="Hi"))
    assert (err.code, err.frame.message) == ("conflict", f"case {case.number} is canceled")
    late = await alice.request(AddCaseNote(id=0, case=case.number, text="Customer said thanks"))
    assert late.history[-1].text == "Customer said thanks"


# ------------------------------------------------------------ knowledge base


async def test_knowledge_base(agent) -> None:
    """Articles are searchable, linked when resolving, and a new one links to its case."""
    alice = await agent("alice")
    saved = await alice.request(
        PutArticle(id=0, title="Damaged goods", body="Ask for a photo.", tags=["returns"])
    )
    await alice.request(PutArticle(id=0, title="Invoices", body="From the portal.", tags=["bills"]))
    found = await alice.request(SearchArticles(id=0, query="damaged PHOTO"))
    assert [a.id for a in found.articles] == [saved.article.id]
    by_tag = await alice.request(SearchArticles(id=0, tag="bills"))
    assert [a.title for a in by_tag.articles] == ["Invoices"]
    case = await new_case(alice)
    await alice.request(TakeCase(id=0, case=case.number))
    resolved = await alice.request(
        SetCaseStatus(id=0, case=case.number, status="resolved", articles=[saved.article.id])
    )
    assert resolved.case.articles == [saved.article.id] and resolved.suggest_article is False
    other = await new_case(alice)
    await alice.request(TakeCase(id=0, case=other.number))
    bare = await alice.request(SetCaseStatus(id=0, case=other.number, status="resolved"))
    assert bare.suggest_article is True
    written = await alice.request(
        PutArticle(id=0, title="Late parcels", body="Check the tracking.", case=other.number)
    )
    linked = await alice.request(GetCase(id=0, case=other.number))
    assert linked.case.articles == [written.article.id]
    err = await refused(
        alice, SetCaseStatus(id=0, case=case.number, status="closed", articles=["x"])
    )
    assert err.code == "not_found"


# ------------------------------------------------------------------- roles


async def test_roles(agent, bot, sam) -> None:
    """Bots only reply and grade; agents cannot edit queues or templates; supervisors can."""
    alice = await agent("alice")
    b = await bot()
    assert (await refused(b, CreateCase(id=0, subject="x"))).code == "forbidden"
    assert (await refused(alice, CaseReply(id=0, case="SR1", text="x"))).code == "forbidden"
    template = MailTemplate(id="case_canceled", subject="[$number] Canceled", body="Canceled.")
    assert (await refused(alice, PutMailTemplate(id=0, template=template))).code == "forbidden"
    await sam.request(PutMailTemplate(id=0, template=template))
    lookups = await sam.request(GetCaseLookups(id=0))
    assert template in lookups.mail_templates
    unknown = MailTemplate(id="nope", subject="x", body="y")
    assert (await refused(sam, PutMailTemplate(id=0, template=unknown))).code == "not_found"
    assert (await refused(b, CaseReply(id=0, case="SR99", text="x"))).code == "not_found"


async def test_cases_survive_restart(settings: Settings, tmp_path: Path) -> None:
    """Open cases, their history and the numbering come back after a restart."""
    settings.server.db = str(tmp_path / "restart.db")
    url = "ws://127.0.0.1:{}/ws"
    for round_ in range(2):
        app = App(settings)
        await app.start()
        try:
            async with await Client.connect(url.format(app.port)) as alice:
                await alice.login("alice", "alice-demo")
                case = await new_case(alice, subject=f"round {round_}")
                assert case.number == f"SR0000000{round_ + 1}"
                if round_ == 0:
                    await alice.request(TakeCase(id=0, case=case.number))
                else:
                    old = await alice.request(GetCase(id=0, case="SR00000001"))
                    assert (old.case.status, old.case.assignee) == ("in_progress", "alice")
                    assert old.history[0].action == "created"
                    mine = await alice.request(ListCases(id=0, assignee="alice"))
                    assert [c.number for c in mine.cases] == ["SR00000001"]
        finally:
            await app.stop()


CONFIG = """\
[cases]
number_prefix = "inc"
suggest_article = true

[mail]
host = "smtp.example.com"
port = 587
starttls = true
username = "desk"
password = "secret"

[[case_queues]]
id = "billing"
take = "next"
resolution_hours = 8
members = ["alice"]
"""


async def test_case_settings_from_file(tmp_path: Path) -> None:
    """Case queues, the number prefix and the mail server come from the TOML file."""
    path = tmp_path / "switchboard.toml"
    path.write_text(CONFIG, encoding="utf-8")
    settings = with_demo(load_settings(path))
    assert (settings.mail.host, settings.mail.port, settings.mail.starttls) == (
        "smtp.example.com", 587, True,
    )  # fmt: skip
    settings.mail.host = ""  # nothing to send to here
    settings.server.port, settings.server.db = 0, str(tmp_path / "x.db")
    app = App(settings)
    await app.start()
    try:
        assert app.runtime is not None
        assert set(app.runtime.cases.queues) == {"billing", "service", "second_line"}
        async with await Client.connect(f"ws://127.0.0.1:{app.port}/ws") as alice:
            await alice.login("alice", "alice-demo")
            case = await new_case(alice, queue="billing")
            assert case.number == "INC00000001"
            assert case.resolution_due - case.created_at == 8 * 3600
    finally:
        await app.stop()
