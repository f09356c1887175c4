"""Queue names, not ids, in the chat history (agent and supervisor), the
transcript and call dialogs, and the customer journey."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from protocol.chats import Identify, NewContact, SendMessage
from protocol.routing import Accept, End

pytestmark = pytest.mark.browser


async def ended_chat(web, text: str = "Where is my order?") -> tuple[str, str]:
    """A sales chat alice answered and ended, its customer identified; (chat, contact)."""
    alice = await web.agent("alice", ready=True)
    bot = await web.bot()
    ix = await web.start_chat(bot, text, name="Quinn", queue="sales")
    offer = await alice.next_push("offer")
    await alice.request(Accept(id=0, offer=offer.offer))
    await alice.request(SendMessage(id=0, interaction=ix, text="It ships today.", client_id="a1"))
    made = await alice.request(
        Identify(id=0, interaction=ix, new_contact=NewContact(name="Quinn Doe"))
    )
    await alice.request(End(id=0, interaction=ix))
    await alice.close()
    return ix, made.contact.id


async def test_supervisor_history_shows_queue_names(web) -> None:
    """The supervisor's chat history and transcript name the queue (from the configuration)."""
    ix, _ = await ended_chat(web)
    page = await web.page()
    await web.login(page, "sam")
    await page.get_by_role("tab", name="Chat history").click()
    panel = page.locator("#panel-history")
    await panel.locator("input[name=agent]").fill("alice")
    await panel.get_by_role("button", name="Search").click()
    cell = panel.locator(f"tr[data-interaction='{ix}'] td[data-queue=sales]")
    await expect(cell).to_have_text("Sales chat")
    await panel.locator(f"tr[data-interaction='{ix}']").get_by_role("button", name="Open").click()
    dialog = page.locator("dialog.modal")
    await expect(dialog.locator("dd[data-queue=sales]")).to_have_text("Sales chat")


async def test_agent_history_and_journey_show_queue_names(web) -> None:
    """An agent's chat history and a contact's journey name the queue (from the welcome)."""
    ix, contact = await ended_chat(web)
    page = await web.agent_page("alice", ready=False)
    await page.click("#history-btn")
    dialog = page.locator("dialog.modal")
    await dialog.locator("input[name=contact]").fill(contact)
    await dialog.get_by_role("button", name="Search").click()
    cell = dialog.locator(f"tr[data-interaction='{ix}'] td[data-queue=sales]")
    await expect(cell).to_have_text("Sales chat")
    await page.keyboard.press("Escape")
    await expect(page.locator("dialog.modal")).to_have_count(0)

    # The journey of the contact, shown from a new chat of the same customer.
    bot = await web.bot()
    await page.click(".status-btn[data-status=ready]")
    again = await web.start_chat(bot, "Me again", name="Quinn", queue="support")
    await page.locator(".invitation").get_by_role("button", name="Accept").click()
    await expect(page.locator(".chat-ws")).to_be_visible()
    sam = await web.agent("sam")
    await sam.request(Identify(id=0, interaction=again, contact=contact))
    await page.get_by_role("button", name="Show customer journey").click()
    journey = page.locator("dialog.modal table.journey")
    await expect(journey.locator(f"tr[data-interaction='{ix}'] td[data-queue=sales]")).to_have_text(
        "Sales chat"
    )
    await expect(
        journey.locator(f"tr[data-interaction='{again}'] td[data-queue=support]")
    ).to_have_text("Support chat")
