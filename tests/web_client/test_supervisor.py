"""The supervisor's dashboard in a real browser: live agents and queues, agent
status, chat history, templates and queue settings."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from protocol.chats import GetLookups, SendMessage
from protocol.routing import Accept, End, SetStatus
from protocol.sources import CallIncoming

pytestmark = pytest.mark.browser


async def test_dashboard_follows_an_agent_live(web) -> None:
    """Queues and agents move live: connect, ready, offered, busy with the chat."""
    page = await web.page()
    await web.login(page, "sam")
    await expect(page.locator("#supervisor-view")).to_be_visible()
    row = page.locator(".agents-table tr[data-agent=alice]")
    await expect(row).to_have_attribute("data-status", "offline")
    await expect(row.locator(".a-conn")).to_have_text("disconnected")

    alice = await web.agent("alice")
    await expect(row.locator(".a-conn")).to_have_text("connected")
    await alice.request(SetStatus(id=0, status="ready"))
    await expect(row.locator(".a-status")).to_have_text("Ready")
    await expect(row.locator(".a-state")).to_have_text("Idle")
    await expect(page.locator("tr[data-queue=sales] .q-ready")).to_have_text("1")

    bot = await web.bot()
    ix = await web.start_chat(bot, "Hello?")
    await expect(row.locator(".a-state")).to_have_text("Offered")
    await expect(page.locator("tr[data-queue=sales] .q-offered")).to_have_text("1")
    offer = await alice.next_push("offer")
    await alice.request(Accept(id=0, offer=offer.offer))
    await expect(row.locator(".a-state")).to_have_text("Busy")
    await expect(row.locator(".a-interaction")).to_have_text(ix)
    await expect(page.locator("tr[data-queue=sales] .q-active")).to_have_text("1")
    await expect(row.locator(".a-time")).to_have_text(re.compile(r"^\d+:\d\d$"))

    # Waiting work shows in its queue with the oldest wait ticking.
    await web.start_chat(bot, "Anyone?", queue="vip")
    await expect(page.locator("tr[data-queue=vip] .q-waiting")).to_have_text("1")
    await expect(page.locator("tr[data-queue=vip] .q-oldest")).to_have_text(re.compile(r"^0:0\d$"))


async def test_supervisor_sets_agent_status(web) -> None:
    """Change status… sets an agent not ready with a reason, and the agent is told."""
    alice = await web.agent("alice", ready=True)
    page = await web.page()
    await web.login(page, "sam")
    row = page.locator(".agents-table tr[data-agent=alice]")
    await expect(row.locator(".a-status")).to_have_text("Ready")
    await row.get_by_role("button", name="Change status…").click()
    dialog = page.locator("dialog.modal")
    await dialog.locator("#sv-status").select_option("not_ready")
    await dialog.locator("#sv-reason").fill("training")
    await dialog.get_by_role("button", name="Apply").click()
    await expect(row.locator(".a-status")).to_have_text("Not ready: Training")
    push = await alice.next_push("agent_state")
    while push.agent.status != "not_ready":
        push = await alice.next_push("agent_state")
    assert push.agent.reason == "training"


async def test_chat_history_search_and_transcript(web) -> None:
    """The history finds alice's completed chat; its transcript opens read-only."""
    alice = await web.agent("alice", ready=True)
    bot = await web.bot()
    ix = await web.start_chat(bot, "Where is my order?", name="Quinn")
    offer = await alice.next_push("offer")
    await alice.request(Accept(id=0, offer=offer.offer))
    await alice.request(SendMessage(id=0, interaction=ix, text="It ships today.", client_id="a1"))
    await alice.request(End(id=0, interaction=ix))

    page = await web.page()
    await web.login(page, "sam")
    await page.get_by_role("tab", name="Chat history").click()
    panel = page.locator("#panel-history")
    await panel.locator("input[name=agent]").fill("alice")
    await panel.locator("select[name=state]").select_option("completed")
    await panel.get_by_role("button", name="Search").click()
    hit = panel.locator(f"tr[data-interaction='{ix}']")
    await expect(hit).to_contain_text("Quinn")
    await expect(panel.locator(".history-table tbody tr")).to_have_count(1)
    await hit.get_by_role("button", name="Open").click()
    dialog = page.locator("dialog.modal")
    await expect(dialog.locator(".msg-customer .msg-text")).to_have_text("Where is my order?")
    await expect(dialog.locator(".msg-agent .msg-text")).to_have_text("It ships today.")
    await page.keyboard.press("Escape")
    await expect(page.locator("dialog.modal")).to_have_count(0)

    # A filter that matches nothing says so.
    await panel.locator("select[name=source]").select_option("telegram")
    await panel.get_by_role("button", name="Search").click()
    await expect(panel.locator(".search-results")).to_have_text("No chats match.")


async def test_templates_managed_by_supervisor(web) -> None:
    """Templates are added, edited and deleted; agents get the new list."""
    page = await web.page()
    await web.login(page, "sam")
    await page.get_by_role("tab", name="Templates").click()
    panel = page.locator("#panel-templates")
    await expect(panel.locator("tr[data-template=greet]")).to_contain_text("Greeting")
    await panel.locator("#tpl-id").fill("thanks")
    await panel.locator("#tpl-name").fill("Thanks")
    await panel.locator("#tpl-text").fill("Thank you for waiting!")
    await panel.get_by_role("button", name="Save template").click()
    row = panel.locator("tr[data-template=thanks]")
    await expect(row).to_contain_text("Thank you for waiting!")

    await row.get_by_role("button", name="Edit").click()
    await expect(panel.locator("#tpl-id")).to_have_value("thanks")
    await panel.locator("#tpl-text").fill("Thanks a lot for waiting!")
    await panel.get_by_role("button", name="Save template").click()
    await expect(row).to_contain_text("Thanks a lot for waiting!")
    alice = await web.agent("alice")
    lookups = await alice.request(GetLookups(id=0))
    assert {t.id: t.text for t in lookups.templates}["thanks"] == "Thanks a lot for waiting!"

    await panel.locator("tr[data-template=greet]").get_by_role("button", name="Delete").click()
    await page.locator("dialog.confirm").get_by_role("button", name="Delete").click()
    await expect(panel.locator("tr[data-template=greet]")).to_have_count(0)
    lookups = await alice.request(GetLookups(id=0))
    assert [t.id for t in lookups.templates] == ["thanks"]


async def test_queue_settings_edited(web) -> None:
    """Editing a queue's settings puts the whole queue, and the table shows it."""
    page = await web.page()
    await web.login(page, "sam")
    await page.get_by_role("tab", name="Queues").click()
    panel = page.locator("#panel-queues")
    row = panel.locator("tr[data-queue=support]")
    await expect(row).to_contain_text("Support chat")
    await row.get_by_role("button", name="Edit").click()
    dialog = page.locator("dialog.modal")
    await expect(dialog.locator("#qf-id")).to_have_value("support")
    # fill("") first: in Firefox (WebDriver BiDi), fill() adds to a number field's value.
    for field, value in (("#qf-offer", "30"), ("#qf-wrap", "15")):
        await dialog.locator(field).fill("")
        await dialog.locator(field).fill(value)
    await dialog.locator("#qf-strategy").select_option("round_robin")
    await dialog.get_by_role("button", name="Save queue").click()
    await expect(page.locator("dialog.modal")).to_have_count(0)
    await expect(row).to_contain_text("30 s")
    await expect(row).to_contain_text("Round robin")
    support = web.server.runtime.router.queues["support"]
    assert (support.offer_timeout, support.wrap_up, support.strategy) == (
        30.0,
        15.0,
        "round_robin",
    )
    assert support.skills == {"support": 1} and support.name == "Support chat"


async def test_accounts_and_api_keys(web) -> None:
    """Accounts are edited and created, API keys created (secret shown once) and deleted."""
    page = await web.page()
    await web.login(page, "sam")
    await page.get_by_role("tab", name="Accounts").click()
    panel = page.locator("#panel-accounts")
    await panel.locator("tr[data-account=bob]").get_by_role("button", name="Edit").click()
    dialog = page.locator("dialog.modal")
    await expect(dialog.locator("#af-skills")).to_have_value("support=8")
    await dialog.locator("#af-skills").fill("support=8, sales=4")
    await dialog.locator("#af-inboxes").fill("support, vip, calls, sales")
    await dialog.get_by_role("button", name="Save account").click()
    await expect(panel.locator("tr[data-account=bob]")).to_contain_text("sales 4")
    bob = web.server.runtime.accounts["bob"].cfg
    assert bob.skills == {"support": 8, "sales": 4} and "sales" in bob.inboxes
    assert [d.id for d in bob.devices] == ["bob-soft"]  # kept as it was

    await panel.get_by_role("button", name="New account").click()
    dialog = page.locator("dialog.modal")
    await dialog.locator("#af-username").fill("dave")
    await dialog.locator("#af-name").fill("Dave Agent")
    await dialog.locator("#af-skills").fill("support=2")
    await dialog.locator("#af-inboxes").fill("support")
    await dialog.locator("#af-devices").fill("dave-desk | Desk phone | sip:104@pbx.local")
    await dialog.locator("#af-password").fill("dave-secret-1")
    await dialog.get_by_role("button", name="Save account").click()
    await expect(panel.locator("tr[data-account=dave]")).to_contain_text("dave-desk (Desk phone)")
    dave = await web.client()
    welcome = await dave.login("dave", "dave-secret-1")
    assert welcome.display_name == "Dave Agent"

    await page.get_by_role("tab", name="API keys").click()
    keys = page.locator("#panel-keys")
    await expect(keys.locator("tr[data-key=webchat]")).to_be_visible()
    await keys.locator("#kf-id").fill("tg")
    await keys.locator("#kf-source").select_option("telegram")
    await keys.locator("#kf-queues").fill("support")
    await keys.get_by_role("button", name="Create key").click()
    secret = await page.locator("dialog.modal input.secret").input_value()
    assert secret.startswith("sbk_")
    await page.keyboard.press("Escape")
    await expect(keys.locator("tr[data-key=tg]")).to_contain_text("telegram")
    bot = await web.client()
    assert (await bot.login_key(secret)).principal == "tg"
    await keys.locator("tr[data-key=tg]").get_by_role("button", name="Delete").click()
    await page.locator("dialog.confirm").get_by_role("button", name="Delete").click()
    await expect(keys.locator("tr[data-key=tg]")).to_have_count(0)
    assert "tg" not in web.server.runtime.keys


async def test_current_call_opens_from_dashboard(web) -> None:
    """An agent's current call opens from the dashboard with its journey."""
    alice = await web.agent("alice", ready=True)
    gateway = await web.gateway()
    created = await gateway.request(
        CallIncoming(id=0, call_id="pbx-9", caller="+15550109999", queue="calls")
    )
    offer = await alice.next_push("offer")
    await alice.request(Accept(id=0, offer=offer.offer))
    page = await web.page()
    await web.login(page, "sam")
    row = page.locator(".agents-table tr[data-agent=alice]")
    await row.locator(".a-interaction button").click()
    dialog = page.locator("dialog.modal")
    await expect(dialog).to_contain_text("+15550109999")
    await expect(dialog.locator(".steps li").first).to_contain_text("Initiated")
    assert created.interaction.id in await row.locator(".a-interaction").inner_text()
