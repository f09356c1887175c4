"""A supervisor corrects records in a real browser: a finished chat's result,
notes and contact from the chat history; an agent's calls (scheduled and
recent) and a call's result from the dashboard."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import expect

from protocol.calls import AgentAnswered, GetCall, ScheduleCall
from protocol.chats import GetChat, GetLookups, SendMessage
from protocol.routing import Accept, End
from protocol.sources import CallHangup, CallIncoming, StartChat
from protocol.views import Customer

pytestmark = pytest.mark.browser


async def test_supervisor_corrects_a_chat_record(web) -> None:
    """From the chat history: the transcript, then result and notes saved and
    the customer identified as a new contact, all stored on the server."""
    alice = await web.agent("alice", ready=True)
    bot = await web.bot()
    created = await bot.request(
        StartChat(id=0, queue="sales", text="My parcel never came", customer=Customer(name="Zoe"))
    )
    ix = created.interaction.id
    offer = await alice.next_push("offer")
    await alice.request(Accept(id=0, offer=offer.offer))
    await alice.request(
        SendMessage(id=0, interaction=ix, text="Sorry! Sending another.", client_id="a1")
    )
    await alice.request(End(id=0, interaction=ix))
    result = (await alice.request(GetLookups(id=0))).results[0]

    page = await web.page()
    await web.login(page, "sam")
    await page.get_by_role("tab", name="Chat history").click()
    await page.locator("#panel-history").get_by_role("button", name="Search").click()
    await page.locator(f"tr[data-interaction='{ix}']").get_by_role("button", name="Open").click()
    dialog = page.locator("dialog.modal")
    await expect(dialog.locator(".transcript")).to_contain_text("My parcel never came")
    await expect(dialog.locator(".transcript")).to_contain_text("Sorry! Sending another.")

    await dialog.get_by_label("Result", exact=True).select_option(result.id)
    await dialog.get_by_label("Notes", exact=True).fill("Second parcel sent by express")
    await dialog.get_by_role("button", name="Save record").click()
    await expect(dialog.locator(".facts")).to_contain_text(result.id)
    await expect(dialog.locator(".facts")).to_contain_text("Second parcel sent by express")
    record = (await alice.request(GetChat(id=0, interaction=ix))).record
    assert (record.result, record.notes) == (result.id, "Second parcel sent by express")

    # Not identified yet: a new contact, created and linked from the dialog.
    await dialog.locator(".new-contact-box summary").click()
    await dialog.locator(".new-contact").get_by_label("Name").fill("Zoe Parcel")
    await dialog.get_by_role("button", name="Create contact and link").click()
    await expect(dialog.locator(".outcome-one")).to_contain_text("Zoe Parcel")
    record = (await alice.request(GetChat(id=0, interaction=ix))).record
    assert record.contact is not None and record.contact.name == "Zoe Parcel"
    # Its customer journey holds this chat.
    await dialog.get_by_text("Customer journey", exact=True).click()
    await dialog.get_by_role("button", name="Show customer journey").click()
    await expect(dialog.locator(f".journey tr[data-interaction='{ix}']")).to_be_visible()


async def test_supervisor_sees_agent_calls_and_sets_a_result(web) -> None:
    """An agent's Calls…: the pending scheduled call and the finished call; the
    call opens with its journey and takes a result."""
    alice = await web.agent("alice", ready=True)
    gateway = await web.gateway()
    created = await gateway.request(
        CallIncoming(id=0, call_id="pbx-21", caller="+15550102121", queue="calls")
    )
    ix = created.interaction.id
    offer = await alice.next_push("offer")
    await alice.request(Accept(id=0, offer=offer.offer))
    connect = await gateway.next_push("connect")
    await gateway.request(AgentAnswered(id=0, call_id="pbx-21", device=connect.device))
    await gateway.request(CallHangup(id=0, call_id="pbx-21"))
    await alice.request(
        ScheduleCall(id=0, number="+15550102222", at=time.time() + 3600, device="alice-soft")
    )
    result = (await alice.request(GetLookups(id=0))).results[-1]

    page = await web.page()
    await web.login(page, "sam")
    await page.get_by_role("button", name="Calls of alice").click()
    dialog = page.locator("dialog.modal")
    await expect(dialog.locator(".sv-scheduled")).to_contain_text("+15550102222")
    call = dialog.locator(f".sv-recent tr[data-interaction='{ix}']")
    await expect(call).to_contain_text("+15550102121")
    await call.get_by_role("button", name="Open").click()
    await expect(dialog.locator(".steps li[data-step=answered_by_agent]")).to_be_visible()
    await dialog.get_by_label("Result", exact=True).select_option(result.id)
    await dialog.get_by_label("Reason").fill("Customer asked for a callback tomorrow")
    await dialog.get_by_role("button", name="Save result").click()
    await expect(dialog.locator(".call-result-fact")).not_to_have_text("—")
    record = (await alice.request(GetCall(id=0, interaction=ix))).record
    assert (record.result, record.reason) == (result.id, "Customer asked for a callback tomorrow")
