"""The agent's workplace in a real browser: sign-in, presence, invitations, the
chat workspace (messages, templates, files, end, Closed) and safe rendering."""

from __future__ import annotations

import re
import struct
import zlib

import pytest
from playwright.async_api import Page, expect

from protocol.chats import SendMessage
from protocol.client import Client
from protocol.routing import SetStatus

pytestmark = pytest.mark.browser


def tiny_png(width: int = 8, height: int = 8) -> bytes:
    """A real (decodable) PNG: a small blue square."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + b"\x1f\x5f\xbf" * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


async def customer_says(bot: Client, ix: str, text: str, client_id: str) -> None:
    await bot.request(SendMessage(id=0, interaction=ix, text=text, client_id=client_id))


async def agent_message(bot: Client) -> object:
    """The next agent message the bot receives."""
    while True:
        push = await bot.next_push("message")
        if push.message.author == "agent":
            return push.message


async def accept_invitation(page: Page) -> None:
    card = page.locator(".invitation")
    await expect(card).to_be_visible()
    await card.get_by_role("button", name="Accept").click()
    await expect(page.locator(".invitation")).to_have_count(0)


async def test_sign_in_refused_then_accepted(web) -> None:
    """A wrong password is refused in the form; the right one shows the workspace offline."""
    page = await web.page()
    await page.fill("#login-user", "alice")
    await page.fill("#login-pass", "wrong")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#login-error")).to_have_text("Wrong username or password.")
    await web.login(page, "alice")
    await expect(page.locator("#agent-view")).to_be_visible()
    await expect(page.locator(".who-name")).to_have_text("Alice Agent")
    await expect(page.locator(".status-btn[data-status=offline]")).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(page.locator("#state-badge .state-name")).to_have_text("Idle · Offline")
    await expect(page.locator("#conn .conn-text")).to_have_text("Connected")


async def test_presence_not_ready_with_reason(web) -> None:
    """Ready, then not ready with a reason: the server gets both and the badge shows them."""
    page = await web.agent_page("alice", ready=True)
    await expect(page.locator("#state-badge .state-name")).to_have_text("Idle · Ready")
    # The time in the state ticks (m:ss).
    await expect(page.locator("#state-badge .state-time")).to_have_text(re.compile(r"^0:0[1-9]$"))
    await page.select_option("#reason-select", "lunch")
    await page.click(".status-btn[data-status=not_ready]")
    await expect(page.locator("#state-badge .state-name")).to_have_text("Idle · Not ready (Lunch)")
    agent = web.server.runtime.router.agents["alice"]
    assert (agent.status, agent.reason) == ("not_ready", "lunch")
    # Changing the reason while not ready applies it at once.
    await page.select_option("#reason-select", "training")
    await expect(page.locator("#state-badge .state-name")).to_have_text(
        "Idle · Not ready (Training)"
    )
    assert web.server.runtime.router.agents["alice"].reason == "training"
    # Signing out goes offline first, so routing does not wait for the grace period.
    await page.click("#logout")
    await expect(page.locator("#login-view")).to_be_visible()
    assert web.server.runtime.router.agents["alice"].status == "offline"


# Records desktop notifications and the tones of the invitation sound.
RECORDER = """
window.__notes = [];
window.__tones = 0;
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.__notes.push({title, body: options.body}); }
  close() {}
};
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) {
  window.__tones += 1;
  return start.apply(this, args);
};
"""


async def test_invitation_rings_and_notifies(web) -> None:
    """An invitation plays the tone and shows a desktop notification when allowed."""
    page = await web.agent_page("alice", init_script=RECORDER)
    bot = await web.bot()
    await web.start_chat(bot, "Ring ring", name="Nia")
    await expect(page.locator(".invitation")).to_be_visible()
    notes = await page.evaluate("window.__notes")
    assert notes == [{"title": "Incoming chat", "body": "Nia · Sales chat"}]
    assert await page.evaluate("window.__tones") == 2


async def test_chat_from_invitation_to_closed(web) -> None:
    """Invitation, accept, both ways, template, file, end with confirmation, then Closed."""
    page = await web.agent_page("alice")
    bot = await web.bot()
    ix = await web.start_chat(bot, "Hi! Is the blue one in stock?", phone="+15550100999")

    card = page.locator(".invitation")
    await expect(card).to_be_visible()
    await expect(card.locator(".inv-customer")).to_have_text("Zoë")
    await expect(card.locator(".inv-source")).to_have_text("webchat")
    await expect(card.locator(".inv-queue")).to_have_text("Sales chat")
    await expect(card.locator(".countdown")).to_have_text(re.compile(r"^0:(1\d|20)$"))
    await expect(page.locator("#state-badge .state-name")).to_have_text("Offered · Ready")
    await accept_invitation(page)

    # The conversation so far: the bot's welcome and the customer's first message.
    await expect(page.locator(".msg-bot .msg-text")).to_have_text(
        "Hello! An agent will be with you shortly."
    )
    await expect(page.locator(".msg-customer .msg-text")).to_have_text(
        "Hi! Is the blue one in stock?"
    )
    await expect(page.locator(".chat-state")).to_have_text("New")
    await expect(page.locator("#state-badge .state-name")).to_have_text("Busy · Ready")
    await expect(page.locator("#active-list .ix-item")).to_have_count(1)

    # Agent -> customer by Enter; the first agent message sets the chat in progress.
    await page.fill(".compose-input", "Yes, it is! 👍")
    await page.press(".compose-input", "Enter")
    got = await agent_message(bot)
    assert (got.text, got.author, got.by) == ("Yes, it is! 👍", "agent", "alice")
    await expect(page.locator(".msg-agent .msg-text")).to_have_text("Yes, it is! 👍")
    await expect(page.locator(".chat-state")).to_have_text("In progress")
    await expect(page.locator(".compose-input")).to_have_value("")

    # Customer -> agent, live.
    await customer_says(bot, ix, "Great, can I pay by card?", "c-2")
    await expect(page.locator(".msg-customer .msg-text").last).to_have_text(
        "Great, can I pay by card?"
    )

    # A template: picked, inserted, edited, sent with the button, marked as a template.
    await page.select_option(".template-select", "greet")
    await expect(page.locator(".compose-input")).to_have_value("Hello! How can I help you today?")
    await page.press(".compose-input", "End")
    await page.type(".compose-input", " Card is fine.")
    await page.click(".send-btn")
    got = await agent_message(bot)
    assert got.text == "Hello! How can I help you today? Card is fine."
    assert got.template == "greet"
    await expect(page.locator(".msg-agent .msg-template")).to_have_count(1)

    # Emoji from the picker go into the text at the cursor.
    await page.click(".emoji-btn")
    await page.click(".emoji-pop button[aria-label='Insert 🎉']")
    await expect(page.locator(".emoji-pop")).to_be_hidden()
    await expect(page.locator(".compose-input")).to_have_value("🎉")
    await page.fill(".compose-input", "")

    # A file by the picker: stored, previewed from its signed link, relayed.
    await page.set_input_files(
        ".composer input[type=file]",
        files=[{"name": "receipt.png", "mimeType": "image/png", "buffer": tiny_png()}],
    )
    got = await agent_message(bot)
    assert got.file.name == "receipt.png" and got.file.preview
    image = page.locator(".msg-agent .msg-file img")
    await expect(image).to_have_attribute("src", got.file.url)
    await expect(image).to_have_js_property("complete", True)
    assert await image.evaluate("img => img.naturalWidth") == 8

    # A file by drag and drop.
    drop = await page.evaluate_handle(
        """() => { const dt = new DataTransfer();
        dt.items.add(new File(['order 42'], 'order.txt', {type: 'text/plain'})); return dt; }"""
    )
    await page.dispatch_event(".conversation", "dragenter", {"dataTransfer": drop})
    await expect(page.locator(".drop-hint")).to_be_visible()
    await page.dispatch_event(".conversation", "drop", {"dataTransfer": drop})
    got = await agent_message(bot)
    assert (got.file.name, got.file.mime, got.file.preview) == ("order.txt", "text/plain", False)
    await expect(page.locator(".msg-agent .msg-file figcaption a").last).to_have_text("order.txt")

    # Result and notes go into the record.
    await page.select_option("#chat-result", "information")
    await page.fill("#chat-notes", "Wants the blue one, pays by card.")
    await page.click(".result-section button[type=submit]")
    await expect(page.locator(".toast").last).to_have_text("Chat record saved.")

    # End: asks first; cancel keeps the chat, confirm completes it.
    await page.click(".end-chat")
    dialog = page.locator("dialog.confirm")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Cancel").click()
    assert web.server.runtime.router.interactions[ix].status == "assigned"
    await page.click(".end-chat")
    await page.locator("dialog.confirm").get_by_role("button", name="End chat").click()
    await expect(page.locator(".chat-state")).to_have_text("Completed")
    await expect(page.locator(".compose-input")).to_be_disabled()
    closed = page.locator(f"#closed-list .ix-item[data-interaction='{ix}']")
    await expect(closed).to_be_visible()
    await expect(closed.locator(".pill")).to_have_text("Completed")
    await expect(page.locator("#active-list .ix-item")).to_have_count(0)
    await expect(page.locator("#state-badge .state-name")).to_have_text("Wrap-up · Ready")
    await page.click("#wrapup-done")
    await expect(page.locator("#state-badge .state-name")).to_have_text("Idle · Ready")


async def test_customer_markup_is_shown_as_text(web) -> None:
    """A customer's <script> and onerror markup are shown literally and never run."""
    page = await web.agent_page("alice")
    bot = await web.bot()
    evil_name = "<img src=x onerror=\"window.__pwned='name'\">"
    evil = "<script>window.__pwned='script'</script><b>bold?</b><img src=x onerror=alert(1)>"
    ix = await web.start_chat(bot, evil, name=evil_name)
    await expect(page.locator(".invitation .inv-customer")).to_have_text(evil_name)
    await accept_invitation(page)
    await customer_says(bot, ix, "<script>alert('second')</script>", "x-2")
    await expect(page.locator(".msg-customer .msg-text").first).to_have_text(evil)
    await expect(page.locator(".msg-customer .msg-text").last).to_have_text(
        "<script>alert('second')</script>"
    )
    await expect(page.locator(".ws-title h2")).to_have_text(evil_name)
    assert await page.locator(".messages script, .messages b, .messages img").count() == 0
    assert await page.evaluate("window.__pwned") is None
    # (the web fixture also fails the test on any alert() dialog or console error)


async def test_keyboard_only(web) -> None:
    """Sign in, go ready, accept and reply with the keyboard alone."""
    page = await web.page()
    await page.focus("#login-user")
    await page.keyboard.type("alice")
    await page.keyboard.press("Tab")
    await page.keyboard.type("alice-demo")
    await page.keyboard.press("Enter")
    await expect(page.locator("#agent-view")).to_be_visible()
    for _ in range(6):  # skip link, then the status control
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.dataset.status === 'ready'"):
            break
    await page.keyboard.press("Enter")
    await expect(page.locator(".status-btn[data-status=ready]")).to_have_attribute(
        "aria-pressed", "true"
    )
    await page.evaluate("document.activeElement.blur()")
    bot = await web.bot()
    await web.start_chat(bot, "Anyone there?")
    accept = page.locator(".invitation").get_by_role("button", name="Accept")
    await expect(accept).to_be_focused()  # taken from nothing, never from a field
    await page.keyboard.press("Enter")
    await expect(page.locator(".msg-customer .msg-text")).to_have_text("Anyone there?")
    await page.focus(".compose-input")
    await page.keyboard.type("Hello from the keyboard")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("second line")
    await page.keyboard.press("Enter")
    got = await agent_message(bot)
    assert got.text == "Hello from the keyboard\nsecond line"


async def test_decline_and_open_preview(web) -> None:
    """Open previews the invited chat read-only; Cancel declines it and it moves on."""
    page = await web.agent_page("alice")
    carol = await web.agent("carol")
    bot = await web.bot()
    ix = await web.start_chat(bot, "Preview me")
    await page.locator(".invitation").get_by_role("button", name="Open").click()
    await expect(page.locator(".preview-banner")).to_be_visible()
    await expect(page.locator(".msg-customer .msg-text")).to_have_text("Preview me")
    await expect(page.locator(".compose-input")).to_be_disabled()
    await carol.request(SetStatus(id=0, status="ready"))
    await page.locator(".invitation").get_by_role("button", name="Cancel").click()
    await expect(page.locator(".invitation")).to_have_count(0)
    offer = await carol.next_push("offer")
    assert offer.interaction.id == ix
    await expect(page.locator(".preview-banner")).to_have_count(0)


async def test_reconnect_and_reload_resume_the_session(web) -> None:
    """A dropped socket comes back by itself with resume; a reload resumes without sign-in."""
    page = await web.agent_page("alice")
    bot = await web.bot()
    token = await page.evaluate("JSON.parse(sessionStorage['switchboard.session']).token")
    assert token.startswith("sbt_")
    await page.evaluate("window.switchboard.conn.simulateDrop()")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "reconnecting")
    # While it is away the chat waits; the offer arrives after the resume.
    await web.start_chat(bot, "Are you back?")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=8000)
    await expect(page.locator(".invitation .inv-customer")).to_have_text("Zoë")
    resumed = await page.evaluate("window.switchboard.conn.welcome.resumed")
    assert resumed is True
    await accept_invitation(page)
    await expect(page.locator(".msg-customer .msg-text")).to_have_text("Are you back?")

    await page.reload()
    await expect(page.locator("#agent-view")).to_be_visible()
    await expect(page.locator("#login-view")).to_be_hidden()
    await expect(page.locator(".msg-customer .msg-text")).to_have_text("Are you back?")
    await expect(page.locator(".status-btn[data-status=ready]")).to_have_attribute(
        "aria-pressed", "true"
    )


async def test_signed_in_elsewhere_signs_out(web) -> None:
    """The same account signing in elsewhere (4004) signs the page out instead of fighting."""
    page = await web.agent_page("alice", ready=False)
    await web.agent("alice")
    await expect(page.locator("#login-view")).to_be_visible()
    await expect(page.locator("#login-error")).to_contain_text("signed in from another window")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "signed_out")
    await page.wait_for_timeout(300)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "signed_out")


async def test_chat_identification_progress_and_history(web) -> None:
    """Mark in progress by hand, identify as a new contact, journey, then find it in history."""
    page = await web.agent_page("alice")
    bot = await web.bot()
    ix = await web.start_chat(bot, "Hello", name="Rosa Diaz", email="Rosa@Example.org")
    await accept_invitation(page)
    await expect(page.locator(".chat-state")).to_have_text("New")
    await page.get_by_role("button", name="Mark in progress").click()
    await expect(page.locator(".chat-state")).to_have_text("In progress")
    await expect(page.get_by_role("button", name="Mark in progress")).to_have_count(0)
    assert web.server.runtime.router.interactions[ix].chat_state == "in_progress"

    customer = page.locator(".customer-section")
    await expect(customer.locator(".outcome")).to_have_attribute("data-outcome", "none")
    await customer.locator(".new-contact-box summary").click()
    form = customer.locator(".new-contact")
    await expect(form.locator("input[name=name]")).to_have_value("Rosa Diaz")
    await expect(form.locator("input[name=email]")).to_have_value("Rosa@Example.org")
    await form.locator("input[name=account]").fill("Diaz & Co <Ltd>")
    await form.get_by_role("button", name="Create contact and link").click()
    outcome = customer.locator(".outcome")
    await expect(outcome).to_have_attribute("data-outcome", "one")
    await expect(outcome).to_contain_text("rosa@example.org")
    await expect(outcome).to_contain_text("Company: Diaz & Co <Ltd>")
    assert web.server.runtime.router.interactions[ix].contact is not None

    await page.get_by_role("button", name="Show customer journey").click()
    journey = page.locator("dialog.modal table.journey")
    await expect(journey.locator(f"tr[data-interaction='{ix}']")).to_contain_text("Sales chat")
    await page.keyboard.press("Escape")

    await page.click(".end-chat")
    await page.locator("dialog.confirm").get_by_role("button", name="End chat").click()
    await expect(page.locator(".chat-state")).to_have_text("Completed")
    await page.click("#history-btn")
    dialog = page.locator("dialog.modal")
    await dialog.locator("select[name=state]").select_option("completed")
    await dialog.get_by_role("button", name="Search").click()
    hit = dialog.locator(f"tr[data-interaction='{ix}']")
    await expect(hit).to_contain_text("Rosa Diaz")
    await hit.get_by_role("button", name="Open").click()
    await expect(page.locator("dialog.modal")).to_have_count(0)
    await expect(page.locator(".msg-customer .msg-text")).to_have_text("Hello")
