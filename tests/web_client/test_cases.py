"""Cases in a real browser: add new case from a call the gateway simulator
places, advise on an existing case from a chat, the case page's status bar
and live updates, and the case queue's take next / take any."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from playwright.async_api import Page, expect

from protocol.calls import AgentAnswered
from protocol.cases import (
    CaseReply,
    CreateCase,
    EscalateCase,
    GetCase,
    ListCases,
    TakeCase,
    UpdateCase,
)
from protocol.chats import Identify, NewContact
from protocol.client import Client
from protocol.routing import Accept, End, SetStatus
from protocol.sources import CallIncoming, StartChat
from protocol.views import Customer
from server.gateway_sim import GatewaySim, SimSettings

pytestmark = pytest.mark.browser

#: The only number the simulator dials with ``numbers=1``.
SIM_NUMBER = "+15550000000"
#: The moves the status table allows by hand from new (and from reopened).
FROM_NEW = ["in_progress", "waiting_for_response", "resolved", "canceled"]


@asynccontextmanager
async def gateway_sim(gateway: Client) -> AsyncIterator[GatewaySim]:
    """The simulator answering the server's commands on ``gateway``. With this
    seed the caller talks for minutes: the call stays up for the whole test."""
    sim = GatewaySim(gateway, SimSettings(max_calls=1, talk=600, numbers=1, seed=4))
    worker = asyncio.ensure_future(sim.commands())
    try:
        yield sim
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        for task in list(sim._tasks.values()):
            task.cancel()


async def new_case(client: Client, subject: str, queue: str = "service", **kw: Any) -> str:
    detail = await client.request(CreateCase(id=0, subject=subject, queue=queue, **kw))
    return str(detail.case.number)


async def advise(page: Page, number: str, subject: str, note: str) -> None:
    """Advise on existing case, from the open call or chat: pick ``number`` (shown
    with ``subject``), record ``note``; the case is then listed as linked."""
    cases = page.locator(".cases-section")
    await cases.get_by_role("button", name="Advise on existing case").click()
    dialog = page.locator("dialog form.advise-form")
    choice = dialog.locator(f".case-choice[data-case={number}]")
    await expect(choice).to_contain_text(subject)
    await choice.get_by_role("radio").check()
    await dialog.get_by_label("Note").fill(note)
    await dialog.get_by_role("button", name="Record consultation").click()
    await expect(cases.locator(f".linked-cases .case-line[data-case={number}]")).to_be_visible()


async def status_bar(page: Page) -> list[str]:
    return await page.locator(".status-bar .status-to").evaluate_all(
        "els => els.map(e => e.dataset.status)"
    )


async def test_call_from_gateway_sim_add_new_case(web) -> None:
    """A simulated call: the agent accepts it, adds a new case with a new contact,
    and the case is on the server linked to the call and the contact."""
    page = await web.agent_page("alice")
    gateway = await web.gateway()
    async with gateway_sim(gateway) as sim:
        await sim.one_call()
        card = page.locator(".invitation[data-channel=call]")
        await expect(card.locator(".inv-source")).to_have_text(SIM_NUMBER)
        # The queue's name from the welcome, not its id.
        await expect(card.locator(".inv-queue")).to_have_text("Support line")
        await card.get_by_role("button", name="Accept").click()
        # The simulator bridges the call when the server says the agent accepted.
        await expect(page.locator(".steps li[data-step=answered_by_agent]")).to_be_visible()
        await expect(page.locator(".call-state")).to_have_text("Answered")
        assert sim.stats.answered == 1
        item = page.locator("#active-list .ix-item[data-channel=call]")
        ix = await item.get_attribute("data-interaction")
        assert ix
        await expect(page.locator(".ident-section .outcome")).to_have_attribute(
            "data-outcome", "none"
        )
        # The callback device comes from the agent's account (welcome.account).
        await expect(page.locator(".callback-form select option").first).to_have_text(
            "Softphone (alice-soft)"
        )

        cases = page.locator(".cases-section")
        await expect(cases.locator(".linked-cases")).to_have_text("No case linked yet.")
        await cases.get_by_role("button", name="Add new case").click()
        form = page.locator("dialog form.case-form")
        await expect(form.locator("select[name=queue]")).to_have_value("service")
        await expect(form.locator("input[name=contact_phone]")).to_have_value(SIM_NUMBER)
        await form.get_by_label("Subject").fill("Router keeps rebooting")
        await form.get_by_label("Description").fill("Since the firmware update <b>yesterday</b>.")
        await form.get_by_label("Priority").select_option("high")
        await form.get_by_label("Name").fill("Dana Caller")
        await form.get_by_label("Notify email").fill("dana@example.com")
        await form.get_by_role("button", name="Create case").click()
        await expect(page.locator("dialog")).to_have_count(0)
        await expect(page.locator(".toast").last).to_have_text("Case SR00000001 created.")

        # The page shows it, linked to the call; the caller is now the new contact.
        line = cases.locator(".linked-cases .case-line[data-case=SR00000001]")
        await expect(line).to_contain_text("Router keeps rebooting")
        await expect(line.locator(".pill")).to_have_text("New")
        outcome = page.locator(".ident-section .outcome")
        await expect(outcome).to_have_attribute("data-outcome", "one")
        await expect(outcome.locator(".c-name")).to_have_text("Dana Caller")
        await expect(
            page.locator(".facts dd").get_by_role("button", name="SR00000001")
        ).to_be_visible()

        # On the server: the case, linked to the call and to the contact.
        sam = await web.agent("sam")
        case = (await sam.request(GetCase(id=0, case="SR00000001"))).case
        assert (case.subject, case.priority, case.queue, case.status) == (
            "Router keeps rebooting",
            "high",
            "service",
            "new",
        )
        assert case.description == "Since the firmware update <b>yesterday</b>."
        assert case.created_by == "alice" and case.email == "dana@example.com"
        assert case.interactions == [ix]
        assert case.contact is not None
        assert web.server.runtime.router.interactions[ix].contact == case.contact
        linked = await sam.request(ListCases(id=0, interaction=ix))
        assert [c.number for c in linked.cases] == ["SR00000001"]
        by_contact = await sam.request(ListCases(id=0, contact=case.contact))
        assert [c.number for c in by_contact.cases] == ["SR00000001"]

        # The case page: its fields, the moves the status table allows from new.
        await line.get_by_role("button", name="SR00000001").click()
        ws = page.locator(".case-ws[data-case=SR00000001]")
        await expect(ws.locator(".case-title")).to_have_text("Router keeps rebooting")
        await expect(ws.locator("textarea[name=description]")).to_have_value(
            "Since the firmware update <b>yesterday</b>."
        )
        assert await status_bar(page) == FROM_NEW
        await expect(ws.locator(".case-event[data-action=created]")).to_contain_text("alice")
        # The call is still there to go back to.
        await item.click()
        await expect(page.locator(".call-ws")).to_be_visible()
        await expect(page.locator(".call-state")).to_have_text("Answered")


async def test_case_page_status_bar_and_live_updates(web) -> None:
    """Take any from the queue, move the case, see the customer's reply reopen it
    live, and resolve it (the page closes, as the status lookup says)."""
    bob = await web.agent("bob")
    number = await new_case(bob, "Invoice is wrong", email="zoe@example.com")
    page = await web.agent_page("alice", ready=False)
    await page.click("#case-queue-btn")
    queue = page.locator(".case-queue[data-queue=service]")
    await expect(queue.locator("h3")).to_contain_text("Service desk")
    row = queue.locator(f"tr[data-case={number}]")
    await expect(row).to_contain_text("Invoice is wrong")
    await row.get_by_role("button", name="Take").click()

    ws = page.locator(f".case-ws[data-case={number}]")
    await expect(ws.locator(".case-status")).to_have_text("In progress")
    await expect(ws.locator(".case-assignee")).to_have_text("assigned to alice")
    assert await status_bar(page) == ["waiting_for_response", "resolved", "canceled"]
    await expect(page.locator(f"#case-list .case-item[data-case={number}]")).to_be_visible()
    sam = await web.agent("sam")
    case = (await sam.request(GetCase(id=0, case=number))).case
    assert (case.status, case.assignee) == ("in_progress", "alice")

    await ws.get_by_label("Comment").fill("Asked for the invoice number")
    await page.click(".status-bar .status-to[data-status=waiting_for_response]")
    await expect(ws.locator(".case-status")).to_have_text("Waiting for response")
    await expect(page.locator(".status-bar .status-to")).to_have_count(3)
    assert await status_bar(page) == ["in_progress", "resolved", "canceled"]
    await expect(ws.locator(".case-event[data-action=comment]")).to_contain_text(
        "Asked for the invoice number"
    )
    detail = await sam.request(GetCase(id=0, case=number))
    assert detail.case.status == "waiting_for_response"

    # The customer answers by mail: the case reopens and the page follows live.
    bot = await web.bot()
    ack = await bot.request(
        CaseReply(id=0, case=number, text="<script>alert(1)</script> INV-7", channel="email")
    )
    assert ack.reopened
    await expect(ws.locator(".case-status")).to_have_text("Reopened")
    await expect(ws.locator(".case-assignee")).to_have_text("not assigned")
    reply = ws.locator(".case-event[data-action=customer_reply] .ev-text")
    await expect(reply).to_have_text("<script>alert(1)</script> INV-7")
    await expect(page.locator(".status-bar .status-to[data-status=in_progress]")).to_have_text(
        "Take into work"
    )
    assert await status_bar(page) == FROM_NEW  # reopened allows what new does

    # Resolved closes the page (close_on_save) and shows the queue again.
    await page.click(".status-bar .status-to[data-status=resolved]")
    await expect(page.locator(".case-queue-ws")).to_be_visible()
    await expect(page.locator(".toast").last).to_have_text(f"Case {number}: Resolved.")
    detail = await sam.request(GetCase(id=0, case=number))
    assert detail.case.status == "resolved" and detail.case.resolved_at is not None
    actions = [e.action for e in detail.history]
    assert "customer_reply" in actions and "comment" in actions


async def test_case_queue_take_next(web) -> None:
    """A queue that gives its next case only: no Take on the others, and Take
    next takes the most urgent one."""
    bob = await web.agent("bob")
    low = await new_case(bob, "Old printer", queue="second_line", priority="low")
    urgent = await new_case(bob, "Server down", queue="second_line", priority="critical")
    page = await web.agent_page("carol", ready=False)
    await page.click("#case-queue-btn")
    queue = page.locator(".case-queue[data-queue=second_line]")
    await expect(queue).to_have_attribute("data-take", "next")
    await expect(queue.locator(f"tr[data-case={urgent}]")).to_have_class(re.compile("next"))
    await expect(queue.locator(f"tr[data-case={low}] .take-case")).to_have_count(0)
    # Its page: carol may work it (her queue, nobody has it) but not take it out of turn.
    await queue.locator(f"tr[data-case={low}]").get_by_role("button", name=low).click()
    await expect(page.locator(f".case-ws[data-case={low}] .case-status")).to_have_text("New")
    take_low = page.locator(".status-bar .status-to[data-status=in_progress]")
    await expect(take_low).to_have_text("Take into work")
    await expect(take_low).to_be_disabled()
    await expect(page.locator(".status-bar .status-to[data-status=canceled]")).to_be_enabled()
    await page.click("#case-queue-btn")
    take = queue.locator(".take-next")
    await expect(take).to_have_text(f"Take next ({urgent})")
    await take.click()

    ws = page.locator(f".case-ws[data-case={urgent}]")
    await expect(ws.locator(".case-status")).to_have_text("In progress")
    await expect(ws.locator(".case-assignee")).to_have_text("assigned to carol")
    sam = await web.agent("sam")
    assert (await sam.request(GetCase(id=0, case=urgent))).case.assignee == "carol"
    assert (await sam.request(GetCase(id=0, case=low))).case.assignee is None

    # Back in the queue, the low-priority case is the next one now.
    await page.click("#case-queue-btn")
    await expect(queue.locator(".take-next")).to_have_text(f"Take next ({low})")
    await expect(queue.locator(f"tr[data-case={low}] .take-case")).to_have_count(1)
    await expect(queue.locator(f"tr[data-case={urgent}]")).to_contain_text("carol")

    # Escalated to the service desk as a group: it leaves carol for the group to take.
    await page.click(f"#case-list .case-item[data-case={urgent}]")
    await page.click(".escalate-section summary")
    await page.get_by_label("Group").select_option("service")
    await page.get_by_role("button", name="Escalate").click()
    await expect(page.locator(".toast").last).to_have_text(f"Case {urgent} escalated.")
    await expect(ws.locator(".case-assignee")).to_have_text("not assigned")
    case = (await sam.request(GetCase(id=0, case=urgent))).case
    assert (case.group, case.assignee, case.status) == ("service", None, "in_progress")
    await page.click("#case-queue-btn")
    service = page.locator(".case-queue[data-queue=service]")
    # Listed by the server under the group it was escalated to.
    escalated = service.locator(".case-escalated[data-group=service]")
    await expect(escalated.locator("h4")).to_have_text("Escalated to Service desk")
    await expect(escalated.locator(f"tr[data-case={urgent}] .take-case")).to_be_visible()
    await expect(page.locator(f"#case-list .case-item[data-case={urgent}]")).to_have_count(0)


async def test_chat_advise_on_existing_case(web) -> None:
    """From a chat with a known customer: pick one of the contact's cases and
    record a consultation; the chat lists the case."""
    bob = await web.agent("bob", ready=True)
    bot = await web.bot()
    created = await bot.request(
        StartChat(id=0, queue="support", customer=Customer(name="Zoë"), text="Hi")
    )
    offer = await bob.next_push("offer")
    await bob.request(Accept(id=0, offer=offer.offer))
    made = await bob.request(
        Identify(
            id=0,
            interaction=created.interaction.id,
            new_contact=NewContact(name="Zoë Example", email="zoe@example.com"),
        )
    )
    contact = made.contact.id
    number = await new_case(bob, "Parcel lost", contact=contact)
    await bob.request(End(id=0, interaction=created.interaction.id))
    await bob.request(SetStatus(id=0, status="offline"))

    page = await web.agent_page("alice")
    ix = await web.start_chat(bot, "About my parcel", email="zoe@example.com")
    await page.locator(".invitation").get_by_role("button", name="Accept").click()
    await expect(page.locator(".chat-ws")).to_be_visible()
    await advise(page, number, "Parcel lost", "Customer asked for news")
    await expect(page.locator(".toast").last).to_have_text(f"Consultation recorded on {number}.")

    sam = await web.agent("sam")
    detail = await sam.request(GetCase(id=0, case=number))
    assert ix in detail.case.interactions
    consult = [e for e in detail.history if e.action == "consultation"]
    assert [(e.by, e.new, e.text) for e in consult] == [("alice", ix, "Customer asked for news")]


async def test_case_page_reply_comment_and_live_changes(web) -> None:
    """The contact's name on the page; a reply mailed to the customer and a
    comment, both in the history; a case someone else works is read-only but
    takes comments, and follows their changes live."""
    bob = await web.agent("bob")
    mine = await new_case(
        bob, "Jacket torn", email="dana@example.com",
        new_contact=NewContact(name="Dana Smith", phone="+15550100200"),
    )  # fmt: skip
    theirs = await new_case(bob, "Printer jammed", email="zoe@example.com")
    await bob.request(TakeCase(id=0, case=theirs))
    page = await web.agent_page("alice", ready=False)
    await page.click("#case-queue-btn")
    await page.locator(f"tr[data-case={mine}]").get_by_role("button", name="Take").click()
    ws = page.locator(f".case-ws[data-case={mine}]")
    await expect(ws.locator(".case-assignee")).to_have_text("assigned to alice")
    await expect(page.locator(".case-contact-name")).to_have_text("Dana Smith")
    await expect(ws.locator(".case-reply-to")).to_contain_text("mailed to dana@example.com")

    # A reply to the customer: in the history, and mailed through the outbox.
    await ws.get_by_label("Message").fill("A new <b>jacket</b> is on its way.")
    await ws.get_by_role("button", name="Reply to customer").click()
    reply = ws.locator(".case-event[data-action=agent_reply]")
    await expect(reply.locator(".ev-text")).to_have_text("A new <b>jacket</b> is on its way.")
    await expect(reply.locator(".ev-what")).to_have_text("to dana@example.com")
    await expect(ws.get_by_label("Message")).to_have_value("")
    rt = web.server.runtime
    mails = await rt.case_reader.due_mail(rt.clock() + 1)
    (mail,) = [m for m in mails if m[2] == f"[{mine}] Re: Jacket torn"]
    assert mail[1] == "dana@example.com" and "A new <b>jacket</b> is on its way." in mail[3]
    # An internal comment: in the history, no mail.
    await ws.get_by_label("Message").fill("Courier says the first parcel is lost")
    await ws.get_by_role("button", name="Add comment").click()
    await expect(ws.locator(".case-event[data-action=comment] .ev-text")).to_have_text(
        "Courier says the first parcel is lost"
    )
    assert len(await rt.case_reader.due_mail(rt.clock() + 1)) == len(mails)
    sam = await web.agent("sam")
    history = (await sam.request(GetCase(id=0, case=mine))).history
    assert [(e.by, e.action) for e in history if e.action in ("agent_reply", "comment")] == [
        ("alice", "agent_reply"), ("alice", "comment"),
    ]  # fmt: skip

    # bob's case: alice sees it (same queue) but the server says it is not hers to work.
    await page.click("#case-queue-btn")
    await page.locator(f"tr[data-case={theirs}]").get_by_role("button", name=theirs).click()
    other = page.locator(f".case-ws[data-case={theirs}]")
    await expect(other.locator(".case-assignee")).to_have_text("assigned to bob")
    for status in ("waiting_for_response", "resolved", "canceled"):
        await expect(page.locator(f".status-to[data-status={status}]")).to_be_disabled()
    await expect(other.get_by_role("button", name="Reply to customer")).to_be_disabled()
    await expect(other.locator("input[name=subject]")).to_be_disabled()
    await other.get_by_label("Message").fill("Same printer broke last week")
    await other.get_by_role("button", name="Add comment").click()
    await expect(other.locator(".case-event[data-action=comment]")).to_contain_text(
        "Same printer broke last week"
    )
    # bob changes it: alice has it open, so the page follows (and says who).
    await bob.request(UpdateCase(id=0, case=theirs, priority="critical"))
    await expect(other.locator(".case-priority")).to_have_attribute("data-priority", "critical")
    await expect(page.locator(".toast").last).to_have_text(f"Case {theirs}: Updated by bob.")
    await expect(other.locator(".case-event[data-action=field]")).to_contain_text(
        "Priority: medium → critical"
    )
    # bob lets it go to the queue's members: alice may take it now.
    await bob.request(EscalateCase(id=0, case=theirs, group="service"))
    await expect(other.locator(".case-assignee")).to_have_text("not assigned")
    await expect(page.locator(".status-to[data-status=resolved]")).to_be_enabled()
    await expect(other.get_by_role("button", name="Reply to customer")).to_be_enabled()


async def test_my_cases_refresh_keeps_unchanged_items(web) -> None:
    """The sidebar list refreshes on every case_changed. The items that did not
    change stay the same nodes: keyboard focus stays where it was, and a click
    landing during a refresh is not split across two nodes (and lost)."""
    carol = await web.agent("carol")
    first = await new_case(carol, "Keyboard stays", queue="second_line")
    second = await new_case(carol, "Renamed later", queue="second_line")
    for number in (first, second):
        await carol.request(TakeCase(id=0, case=number))
    page = await web.agent_page("carol", ready=False)
    item = page.locator(f"#case-list .case-item[data-case={first}]")
    await expect(item).to_contain_text("Keyboard stays")
    # A JS property on the node (not markup: a rebuilt node would not have it).
    await item.evaluate("(el) => { el.kept = true; }")
    await item.focus()

    sam = await web.agent("sam")
    await sam.request(UpdateCase(id=0, case=second, subject="Renamed now"))
    await expect(page.locator(f"#case-list .case-item[data-case={second}]")).to_contain_text(
        "Renamed now"
    )
    assert await item.evaluate("(el) => el.kept === true")
    assert await page.evaluate("document.activeElement.dataset.case") == first
    # Opening a case moves the current mark without rebuilding the list.
    await item.press("Enter")
    await expect(page.locator(f".case-ws[data-case={first}] .case-status")).to_have_text(
        "In progress"
    )
    await expect(item).to_have_attribute("aria-current", "true")
    assert await item.evaluate("(el) => el.kept === true")


async def test_call_advise_on_existing_case(web) -> None:
    """A known caller: the call page offers the contact's cases, and the
    consultation is recorded on the chosen one, linked to the call."""
    [contact] = await web.make_contacts([("Yann Caller", "+15550108080")])
    sam = await web.agent("sam")
    number = await new_case(sam, "Router keeps rebooting", contact=contact)

    page = await web.agent_page("alice")
    gateway = await web.gateway()
    call = await gateway.request(
        CallIncoming(id=0, call_id="pbx-80", caller="+15550108080", queue="calls")
    )
    card = page.locator(".invitation[data-channel=call]")
    await card.get_by_role("button", name="Accept").click()
    connect = await gateway.next_push("connect")
    await gateway.request(AgentAnswered(id=0, call_id="pbx-80", device=connect.device))
    await expect(page.locator(".ident-section .outcome .c-name")).to_have_text("Yann Caller")
    await advise(
        page, number, "Router keeps rebooting", "Still rebooting after the firmware update"
    )

    detail = await sam.request(GetCase(id=0, case=number))
    ix = call.interaction.id
    assert ix in detail.case.interactions
    consult = [(e.by, e.new, e.text) for e in detail.history if e.action == "consultation"]
    assert consult == [("alice", ix, "Still rebooting after the firmware update")]
