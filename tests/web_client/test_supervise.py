"""A supervisor reassigning and ending live chats from the dashboard, in a real browser."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from protocol.chats import GetChat
from protocol.client import Client
from protocol.routing import Accept, SetStatus

pytestmark = pytest.mark.browser


async def accept_invitation(page: Page) -> None:
    card = page.locator(".invitation")
    await card.get_by_role("button", name="Accept").click()
    await expect(page.locator(".invitation")).to_have_count(0)


async def until(client: Client, tag: str, check: Any) -> Any:
    while not check(push := await client.next_push(tag)):
        pass
    return push


async def test_reassign_chat_from_one_agent_to_another(web) -> None:
    """Reassign… gives alice's chat to bob: a busy agent is refused in the form,
    alice's page is told and can no longer write, bob accepts and reads it all."""
    alice = await web.agent_page("alice")
    bob = await web.agent("bob", ready=True)
    carol = await web.agent("carol")
    await carol.request(SetStatus(id=0, status="not_ready", reason="lunch"))
    bot = await web.bot()
    ix = await web.start_chat(bot, "Is the blue one in stock?")
    await accept_invitation(alice)
    await alice.fill(".compose-input", "Let me check.")
    await alice.press(".compose-input", "Enter")
    await expect(alice.locator(".msg-agent .msg-text")).to_have_text("Let me check.")

    sam = await web.page()
    await web.login(sam, "sam")
    row = sam.locator(".agents-table tr[data-agent=alice]")
    await expect(row.locator(".a-interaction")).to_have_text(ix)
    await row.get_by_role("button", name="Reassign alice's interaction").click()
    dialog = sam.locator("dialog.modal")
    await dialog.get_by_label("an agent who is ready and free").check()
    picker = dialog.locator("#rs-target")
    await expect(picker.locator("option[value=bob]")).to_have_text(re.compile("free$"))
    await expect(picker.locator("option[value=carol]")).to_contain_text("Not ready")
    await picker.select_option("carol")
    await dialog.get_by_role("button", name="Reassign").click()
    await expect(dialog.locator(".form-error")).to_contain_text("(conflict)")
    assert web.server.runtime.router.interactions[ix].agent == "alice"  # nothing changed

    await picker.select_option("bob")
    await dialog.get_by_role("button", name="Reassign").click()
    await expect(sam.locator("dialog.modal")).to_have_count(0)
    await expect(row.locator(".a-interaction")).to_have_text("—")

    # alice is told; the chat stays readable but is no longer hers.
    await expect(alice.locator(".toast")).to_contain_text("sam passed your chat with Zoë to bob.")
    await expect(alice.locator(".compose-input")).to_be_disabled()
    await expect(alice.locator(".end-chat")).to_have_count(0)
    await expect(alice.locator("#active-list .ix-item")).to_have_count(0)
    await expect(alice.locator("#state-badge .state-name")).to_have_text("Wrap-up · Ready")

    offer = await bob.next_push("offer")
    assert offer.interaction.id == ix
    await bob.request(Accept(id=0, offer=offer.offer))
    chat = await bob.request(GetChat(id=0, interaction=ix))
    assert [m.text for m in chat.messages] == [
        "Hello! An agent will be with you shortly.",
        "Is the blue one in stock?",
        "Let me check.",
        "A supervisor moved the chat away from alice.",
        "bob took the chat.",
    ]
    await expect(sam.locator(".agents-table tr[data-agent=bob] .a-interaction")).to_have_text(ix)
    live = web.server.runtime.router.interactions[ix]
    assert (live.status, live.agent) == ("assigned", "bob")


async def test_reassign_back_to_queue_and_end(web) -> None:
    """Back to its queue, bob's page takes the chat; End (confirmed) completes it
    in sam's name, and bob's page and the bot are told."""
    alice = await web.agent("alice", ready=True)
    bot = await web.bot()
    ix = await web.start_chat(bot, "Hello?", queue="support")
    offer = await alice.next_push("offer")
    await alice.request(Accept(id=0, offer=offer.offer))
    bob = await web.agent_page("bob")

    sam = await web.page()
    await web.login(sam, "sam")
    row = sam.locator(".agents-table tr[data-agent=alice]")
    await row.get_by_role("button", name="Reassign alice's interaction").click()
    dialog = sam.locator("dialog.modal")
    await expect(dialog.get_by_label("its queue")).to_be_checked()
    await dialog.get_by_role("button", name="Reassign").click()
    told = await alice.next_push("reassigned")
    assert (told.by, told.to) == ("sam", None)

    await accept_invitation(bob)
    await expect(bob.locator(".msg-customer .msg-text")).to_have_text("Hello?")
    bob_row = sam.locator(".agents-table tr[data-agent=bob]")
    await expect(bob_row.locator(".a-interaction")).to_have_text(ix)

    # End: cancelling the confirmation changes nothing; confirming ends it.
    await bob_row.get_by_role("button", name="End bob's interaction").click()
    await sam.locator("dialog.confirm").get_by_role("button", name="Cancel").click()
    assert ix in web.server.runtime.router.interactions
    await bob_row.get_by_role("button", name="End bob's interaction").click()
    await sam.locator("dialog.confirm").get_by_role("button", name="End it").click()
    ended = await until(bot, "interaction", lambda p: p.interaction.status == "ended")
    assert ended.interaction.end_reason == "ended_by_supervisor:sam"
    assert ix not in web.server.runtime.router.interactions
    await expect(bob.locator(".chat-state")).to_have_text("Completed")
    await expect(bob.locator(".compose-input")).to_be_disabled()
    await expect(bob_row.locator(".a-interaction")).to_have_text("—")
    await expect(bob_row.get_by_role("button", name="End bob's interaction")).to_be_hidden()


async def test_waiting_chats_reassigned_and_ended_from_queues_tab(web) -> None:
    """Two chats wait in sales with no agent ready: the Queues tab lists them in
    order; Reassign… offers the first to bob (ready, not a sales member), End
    (confirmed) ends the second in sam's name."""
    bob = await web.agent("bob", ready=True)
    bot = await web.bot()
    first = await web.start_chat(bot, "Anyone there?", name="Ann")
    second = await web.start_chat(bot, "Hello?", name="Ben")

    sam = await web.page()
    await web.login(sam, "sam")
    await sam.get_by_role("tab", name="Queues").click()
    rows = sam.locator(".waiting-table tbody tr")
    await expect(rows.locator(".w-customer")).to_have_text(["Ann", "Ben"])
    await expect(rows.locator(".w-queue").first).to_contain_text("sales")
    await expect(rows.locator(".w-waited").first).to_have_text(re.compile(r"^\d+:\d\d$"))

    await sam.get_by_role("button", name="Reassign Ann's chat").click()
    dialog = sam.locator("dialog.modal")
    picker = dialog.locator("#rs-target")
    await expect(picker.locator("option[value=bob]")).to_have_text(re.compile("free$"))
    await picker.select_option("bob")
    await dialog.get_by_role("button", name="Reassign").click()
    await expect(sam.locator("dialog.modal")).to_have_count(0)
    offer = await bob.next_push("offer")
    assert offer.interaction.id == first
    live = web.server.runtime.router.interactions[first]
    assert live.status == "assigning" and live.offer is not None
    assert live.offer.agent.username == "bob"
    await expect(sam.locator(f'.waiting-table tr[data-interaction="{first}"]')).to_have_attribute(
        "data-status", "assigning"
    )

    # End: cancelling changes nothing; confirming ends it and the bot is told.
    end = sam.get_by_role("button", name="End Ben's chat")
    await end.click()
    await sam.locator("dialog.confirm").get_by_role("button", name="Cancel").click()
    assert second in web.server.runtime.router.interactions
    await end.click()
    await sam.locator("dialog.confirm").get_by_role("button", name="End it").click()
    ended = await until(
        bot, "interaction", lambda p: p.interaction.id == second and p.interaction.ended_at
    )
    assert ended.interaction.end_reason == "ended_by_supervisor:sam"
    assert second not in web.server.runtime.router.interactions
    await expect(rows.locator(".w-customer")).to_have_text(["Ann"])
    await bob.request(Accept(id=0, offer=offer.offer))
    await expect(rows.locator(".muted")).to_have_text("Nothing is waiting.")


async def test_a_waiting_list_refresh_keeps_the_rows_that_did_not_change(web) -> None:
    """The waiting list refreshes on every routing push. A row whose
    interaction did not change stays the same element, so a click on its
    buttons is not lost to a refresh; a new chat adds its row."""
    bot = await web.bot()
    await web.start_chat(bot, "Anyone there?", name="Ann")
    sam = await web.page()
    await web.login(sam, "sam")
    await sam.get_by_role("tab", name="Queues").click()
    rows = sam.locator(".waiting-table tbody tr")
    await expect(rows.locator(".w-customer")).to_have_text(["Ann"])
    # Once the queue's name is known (the configuration loads beside the
    # list), the row shows it: a real change, after which Ann's row is final.
    await expect(rows.locator(".w-queue")).to_have_text(["Sales chat (sales)"])
    end = await sam.get_by_role("button", name="End Ann's chat").element_handle()
    await web.start_chat(bot, "Hello?", name="Ben")  # a push: the list is fetched again
    await expect(rows.locator(".w-customer")).to_have_text(["Ann", "Ben"])
    await sam.get_by_role("button", name="Refresh").click()
    await expect(rows.locator(".w-customer")).to_have_text(["Ann", "Ben"])
    assert await end.evaluate("el => el.isConnected")
