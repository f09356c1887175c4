"""The call workspace in a real browser: an incoming call from the gateway, caller
identification (none, one, several), callback compliance, scheduled calls, journeys."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from protocol.calls import AgentAnswered, GetCall
from protocol.client import Client
from protocol.sources import CallHangup, CallIncoming

pytestmark = pytest.mark.browser


async def ring(gateway: Client, call_id: str, caller: str) -> str:
    created = await gateway.request(
        CallIncoming(id=0, call_id=call_id, caller=caller, queue="calls")
    )
    return str(created.interaction.id)


async def take_call(page: Page, gateway: Client, call_id: str) -> None:
    """Accept the invited call in the page; the gateway bridges it."""
    card = page.locator(".invitation[data-channel=call]")
    await expect(card).to_be_visible()
    await card.get_by_role("button", name="Accept").click()
    connect = await gateway.next_push("connect")
    assert connect.call_id == call_id
    await gateway.request(AgentAnswered(id=0, call_id=call_id, device=connect.device))
    await expect(page.locator(".call-ws")).to_be_visible()


async def test_unknown_caller_new_contact_and_refused_callback(web) -> None:
    """An unknown caller: the search/new-contact form, a do-not-call refusal, result, journey."""
    page = await web.agent_page("alice")
    gateway = await web.gateway()
    ix = await ring(gateway, "pbx-1", "+1 (555) 000-0001")

    card = page.locator(".invitation[data-channel=call]")
    await expect(card.locator("h2")).to_have_text("Incoming call")
    await expect(card.locator(".inv-source")).to_have_text("+15550000001")
    await expect(card.locator(".inv-queue")).to_have_text("Support line")
    await take_call(page, gateway, "pbx-1")

    outcome = page.locator(".ident-section .outcome")
    await expect(outcome).to_have_attribute("data-outcome", "none")
    await expect(outcome).to_contain_text("No contact matches +15550000001")
    await expect(page.locator(".ident-section .contact-search")).to_be_visible()
    await expect(page.locator(".steps li[data-step=answered_by_agent]")).to_be_visible()

    # Callback: the device learned from the call, the number pre-filled; refused.
    form = page.locator(".callback-form")
    await expect(form.locator("select")).to_have_value("alice-soft")
    await expect(form.locator("input[type=tel]")).to_have_value("+15550000001")
    await form.locator("input[type=checkbox]").check()
    await form.get_by_role("button", name="Call back").click()
    refusal = form.locator(".callback-result.refused")
    await expect(refusal).to_contain_text("do-not-call")
    await expect(refusal).to_have_attribute("data-rule", "do_not_call")
    # Pushes about the call do not wipe the refusal the agent is reading.
    await page.wait_for_timeout(400)
    await expect(refusal).to_be_visible()

    # Nobody matches: search finds nothing, so the agent creates the contact.
    await page.fill(".ident-section .contact-query", "Dana")
    await (
        page.locator(".ident-section .contact-search").get_by_role("button", name="Search").click()
    )
    await expect(page.locator(".ident-section .contact-results")).to_have_text("No contact found.")
    await page.click(".ident-section .new-contact-box summary")
    new = page.locator(".ident-section .new-contact")
    await expect(new.locator("input[name=phone]")).to_have_value("+15550000001")
    await new.locator("input[name=name]").fill("Dana Caller")
    await new.locator("input[name=account]").fill("Acme Ltd")
    await new.get_by_role("button", name="Create contact and link").click()
    await expect(outcome).to_have_attribute("data-outcome", "one")
    await expect(outcome.locator(".c-name")).to_have_text("Dana Caller")
    await expect(outcome).to_contain_text("+15550000001")
    contact = web.server.runtime.router.interactions[ix].contact
    assert contact is not None
    journey = page.locator(f".customer-journey tr[data-interaction='{ix}']")
    await expect(journey).to_be_visible()

    # The caller hangs up: the call ends in the page, the result is recorded.
    await gateway.request(CallHangup(id=0, call_id="pbx-1"))
    await expect(page.locator(".call-state")).to_have_text("Ended")
    await expect(page.locator(".end-call")).to_have_count(0)
    await expect(page.locator(f"#call-list .ix-item[data-interaction='{ix}']")).to_be_visible()
    await page.click(".pane-section summary:has-text('Result')")
    await page.select_option("#call-result", "resolved")
    await page.fill("#call-reason", "Customer asked for a brochure")
    await page.get_by_role("button", name="Save result").click()
    await expect(page.locator(".toast").last).to_have_text("Call result saved.")
    sam = await web.agent("sam")
    record = (await sam.request(GetCall(id=0, interaction=ix))).record
    assert (record.result, record.reason) == ("resolved", "Customer asked for a brochure")
    assert record.contact.name == "Dana Caller"


async def test_several_matches_pick_one(web) -> None:
    """A number shared by two contacts lists both; picking one identifies the caller."""
    twins = await web.make_contacts(
        [("Dana Whitfield", "+15550142"), ("Dan Whitfield", "+15550142")]
    )
    page = await web.agent_page("alice")
    gateway = await web.gateway()
    ix = await ring(gateway, "pbx-2", "+15550142")
    await take_call(page, gateway, "pbx-2")
    outcome = page.locator(".ident-section .outcome")
    await expect(outcome).to_have_attribute("data-outcome", "many")
    await expect(outcome).to_contain_text("2 contacts match +15550142")
    cards = outcome.locator(".candidates .contact-card")
    await expect(cards).to_have_count(2)
    await cards.filter(has_text="Dan Whitfield").get_by_role("button").click()
    await expect(outcome).to_have_attribute("data-outcome", "one")
    await expect(outcome.locator(".c-name")).to_have_text("Dan Whitfield")
    assert web.server.runtime.router.interactions[ix].contact == twins[1]


async def test_known_caller_and_scheduled_call(web) -> None:
    """A caller matching one contact is identified by itself; a call is scheduled and canceled."""
    [erin] = await web.make_contacts([("Erin Known", "+15550177")])
    page = await web.agent_page("alice")
    gateway = await web.gateway()
    ix = await ring(gateway, "pbx-3", "+15550177")
    await take_call(page, gateway, "pbx-3")
    outcome = page.locator(".ident-section .outcome")
    await expect(outcome).to_have_attribute("data-outcome", "one")
    await expect(outcome.locator(".c-name")).to_have_text("Erin Known")
    assert web.server.runtime.router.interactions[ix].contact == erin
    # The customer journey lists the chat that made the contact and this call.
    rows = page.locator(".customer-journey tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("Support chat")  # oldest first: bob's chat
    await expect(rows.first).to_contain_text("bob")
    await expect(rows.last).to_have_attribute("data-interaction", ix)
    await gateway.request(CallHangup(id=0, call_id="pbx-3"))
    await expect(page.locator(".call-state")).to_have_text("Ended")

    # Schedule a call back to Erin in an hour, then cancel it.
    await page.click(".pane-section summary:has-text('Schedule a call')")
    form = page.locator(".schedule-form")
    await expect(form.locator("input[type=tel]")).to_have_value("+15550177")
    await expect(form.locator("select")).to_have_value("alice-soft")
    await form.get_by_role("button", name="Schedule").click()
    item = form.locator(".scheduled-list li")
    await expect(item).to_have_count(1)
    await expect(item).to_contain_text("+15550177")
    calls = web.server.runtime.calls.scheduled
    assert [s.number for s in calls.values()] == ["+15550177"]
    await item.get_by_role("button", name="Cancel").click()
    await expect(item).to_have_count(0)
    assert not web.server.runtime.calls.scheduled


async def test_call_preview_then_accept_and_verified_callback(web) -> None:
    """Open previews the incoming call (caller identification before accepting);
    Accept in the preview takes it; after the call and its wrap-up, a callback
    marked verified is placed to the edited number and the new call shows the mark."""
    page = await web.agent_page("alice")
    gateway = await web.gateway()
    await ring(gateway, "pbx-7", "+15550107070")
    card = page.locator(".invitation[data-channel=call]")
    await card.get_by_role("button", name="Open").click()
    await expect(page.locator(".preview-banner")).to_contain_text("Preview of an incoming call")
    outcome = page.locator(".ident-section .outcome")
    await expect(outcome).to_contain_text("No contact matches +15550107070")
    await expect(page.locator(".end-call")).to_have_count(0)  # not the agent's call yet
    await page.locator(".preview-banner").get_by_role("button", name="Accept").click()
    connect = await gateway.next_push("connect")
    await gateway.request(AgentAnswered(id=0, call_id="pbx-7", device=connect.device))
    await expect(page.locator(".preview-banner")).to_be_hidden()
    await expect(page.locator(".end-call")).to_be_visible()
    # One interaction at a time: the callback once the call is over.
    await gateway.request(CallHangup(id=0, call_id="pbx-7"))
    await expect(page.locator(".call-state")).to_have_text("Ended")
    await page.get_by_role("button", name="Finish wrap-up").click()
    await expect(page.locator("#state-badge .state-name")).to_have_text("Idle · Ready")

    form = page.locator(".callback-form")
    await form.locator("input[type=tel]").fill("+1 555 010 7171")
    await form.get_by_label("Number verified").check()
    await form.get_by_role("button", name="Call back").click()
    originate = await gateway.next_push("originate")
    assert originate.number == "+15550107171"
    callback = next(c for c in web.server.runtime.calls.live.values() if c.kind == "outbound")
    assert (callback.number, callback.verified) == ("+15550107171", True)
    # The new call is the agent's work now: its page opens, with the mark.
    await expect(page.locator(".call-ws h2")).to_have_text("+15550107171")
    await expect(page.locator(".verified")).to_have_text(" ✓ verified")
    item = page.locator(f"#active-list .ix-item[data-interaction='{callback.interaction}']")
    await expect(item).to_have_attribute("aria-current", "true")
