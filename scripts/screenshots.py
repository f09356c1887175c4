"""Regenerate the web client's screenshots in docs/screenshots/.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]

Starts a demo server on a free loopback port with a throwaway database, plays
a web-chat customer (a bot client) and a phone call (a gateway client), and
drives headless Chromium through Playwright like an agent and a supervisor:

- ``agent.png``: Alice in a chat (bot, customer and agent messages, a
  template, an image) with the chat record beside it;
- ``agent-call.png``: Bob on an incoming call: caller identification with
  candidates to pick from, the callback form refusing a do-not-call number,
  the call journey;
- ``supervisor.png``: Sam's live dashboard with queues and agents;
- ``agent-case.png``: Carol on a case page: taken from the case queue, the
  status bar, a reply to the customer and a comment in the history;
- ``supervisor-cases.png``: Sam's Cases tab with that case open.

Screens are 1366×768, a laptop. Emoji need a colour emoji font
(``apt-get install fonts-noto-color-emoji``) to show in the pictures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import struct
import tempfile
import zlib
from pathlib import Path

from playwright.async_api import Page, async_playwright

from protocol.calls import AgentAnswered, CustomerAnswered
from protocol.cases import CreateCase
from protocol.chats import Identify, NewContact, SendMessage, Template
from protocol.client import Client, ServerError
from protocol.routing import Accept, End, SetStatus, WrapUpDone
from protocol.sources import CallIncoming, StartChat
from protocol.views import Customer
from server.app import App
from server.demo import with_demo
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1366, "height": 768}
TEMPLATES = [
    Template(id="greet", name="Greeting", text="Hello! How can I help you today?"),
    Template(id="delivery", name="Delivery times", text="Orders ship within 2 working days."),
    Template(id="bye", name="Goodbye", text="Thanks for contacting us. Have a nice day!"),
]
SHARED_PHONE = "+15550142"


def picture_png(width: int = 120, height: int = 80) -> bytes:
    """A small striped PNG standing in for a customer's photo."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b""
    for y in range(height):
        color = b"\x2a\x6f\xd6" if (y // 10) % 2 else b"\x7f\xd1\xa8"
        rows += b"\x00" + color * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class Demo:
    def __init__(self, app: App) -> None:
        self.app = app
        self.clients: list[Client] = []

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.app.port}/ws"

    async def client(self, user: str | None = None, key: str | None = None) -> Client:
        c = await Client.connect(self.ws, encoding="msgpack")
        self.clients.append(c)
        if user:
            await c.login(user, f"{user}-demo")
        if key:
            await c.login_key(key)
        return c

    async def close(self) -> None:
        for c in self.clients:
            await c.close()


async def login(page: Page, url: str, user: str) -> None:
    await page.goto(url)
    await page.fill("#login-user", user)
    await page.fill("#login-pass", f"{user}-demo")
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#conn[data-state=online]")


async def contacts_sharing_a_phone(demo: Demo) -> None:
    """Two contacts with the same phone: the call below gets a list to pick from."""
    carol = await demo.client("carol")
    await carol.request(SetStatus(id=0, status="ready"))
    bot = await demo.client(key="sbk_demo_webchat")
    for name, company in (("Dana Whitfield", "Acme Ltd"), ("Dan Whitfield", "")):
        created = await bot.request(
            StartChat(id=0, queue="support", customer=Customer(name=name), text="Hello")
        )
        offer = await carol.next_push("offer")
        await carol.request(Accept(id=0, offer=offer.offer))
        contact = NewContact(name=name, phone=SHARED_PHONE, account=company)
        await carol.request(Identify(id=0, interaction=created.interaction.id, new_contact=contact))
        await carol.request(End(id=0, interaction=created.interaction.id))
        with contextlib.suppress(ServerError):  # queues without wrap-up
            await carol.request(WrapUpDone(id=0))
    await carol.request(SetStatus(id=0, status="not_ready", reason="lunch"))


async def agent_chat(demo: Demo, page: Page, url: str, out: Path) -> None:
    await login(page, url, "alice")
    await page.click(".status-btn[data-status=ready]")
    bot = await demo.client(key="sbk_demo_webchat")
    created = await bot.request(
        StartChat(
            id=0,
            queue="sales",
            customer=Customer(name="Zoë Martin", email="zoe@example.org", external_id="v-5f2a"),
            text="Hi! Is the blue backpack in stock? 👋",
            welcome="Hello! An agent will be with you shortly.",
        )
    )
    ix = created.interaction.id
    await page.locator(".invitation").get_by_role("button", name="Accept").click()
    await page.wait_for_selector(".msg-customer")
    await page.select_option(".template-select", "greet")
    await page.press(".compose-input", "End")
    await page.type(".compose-input", " Yes, the blue one is in stock 🙂")
    await page.press(".compose-input", "Enter")
    await bot.request(
        SendMessage(
            id=0,
            interaction=ix,
            text="Great! Does it fit a 15-inch laptop? Here is mine:",
            client_id="c2",
        )
    )
    await page.wait_for_selector(".msg-customer >> nth=1")
    await page.set_input_files(
        ".composer input[type=file]",
        files=[{"name": "backpack.png", "mimeType": "image/png", "buffer": picture_png()}],
    )
    await page.wait_for_selector(".msg-agent .msg-file img")
    await page.fill(".compose-input", "It does — it has a padded 16-inch sleeve.")
    await page.press(".compose-input", "Enter")
    await page.wait_for_selector(".msg-agent >> nth=2")
    await page.select_option("#chat-result", "information")
    await page.fill("#chat-notes", "Asked about laptop size; interested in the blue one.")
    await page.fill(".compose-input", "Anything else I can help with?")
    await page.evaluate("document.activeElement.blur()")
    await page.wait_for_timeout(2200)  # let the timers tick
    await page.screenshot(path=str(out / "agent.png"))


async def agent_call(demo: Demo, page: Page, url: str, out: Path) -> None:
    await login(page, url, "bob")
    await page.click(".status-btn[data-status=ready]")
    gateway = await demo.client(key="sbk_demo_gateway")
    await gateway.request(
        CallIncoming(id=0, call_id="pbx-7781", caller=SHARED_PHONE, queue="calls")
    )
    await page.wait_for_selector(".invitation[data-channel=call]")
    await page.wait_for_timeout(600)
    await page.screenshot(path=str(out / "agent-invitation.png"))
    await page.locator(".invitation").get_by_role("button", name="Accept").click()
    await gateway.next_push("connect")
    await gateway.request(AgentAnswered(id=0, call_id="pbx-7781", device="bob-soft"))
    await gateway.request(CustomerAnswered(id=0, call_id="pbx-7781"))
    await page.wait_for_selector(".outcome-many")
    await page.fill(".callback-form input[type=tel]", "+1 555 000 0001")
    await page.click(".callback-form button[type=submit]")
    await page.wait_for_selector(".callback-result.refused")
    await page.wait_for_timeout(2200)  # let the timers tick
    await page.screenshot(path=str(out / "agent-call.png"))


async def supervisor(demo: Demo, page: Page, url: str, out: Path) -> None:
    bot = await demo.client(key="sbk_demo_webchat")
    for n, queue in enumerate(["support", "vip", "support"]):
        await bot.request(
            StartChat(id=0, queue=queue, customer=Customer(name=f"Visitor {n + 1}"), text="Hi")
        )
    await login(page, url, "sam")
    await page.wait_for_selector(".agents-table tbody tr >> nth=2")
    await page.wait_for_timeout(2500)
    await page.screenshot(path=str(out / "supervisor.png"))


async def agent_case(demo: Demo, page: Page, url: str, out: Path) -> str:
    bob = await demo.client("bob")
    detail = await bob.request(
        CreateCase(
            id=0,
            subject="Backpack zip broke after a week",
            description="Order 48151623. The main zip came off its track; photo sent by chat.",
            queue="service",
            priority="high",
            new_contact=NewContact(name="Zoë Martin", phone="+15550199", email="zoe@example.org"),
        )
    )
    number = detail.case.number
    await login(page, url, "carol")
    await page.click("#case-queue-btn")
    await page.locator(f"tr[data-case={number}]").get_by_role("button", name="Take").click()
    ws = page.locator(f".case-ws[data-case={number}]")
    await ws.locator(".case-assignee").get_by_text("assigned to carol").wait_for()
    await ws.get_by_label("Message").fill(
        "Sorry about the zip! A replacement backpack leaves our warehouse today."
    )
    await ws.get_by_role("button", name="Reply to customer").click()
    await ws.locator(".case-event[data-action=agent_reply]").wait_for()
    await ws.get_by_label("Message").fill("Second zip complaint on this model this month.")
    await ws.get_by_role("button", name="Add comment").click()
    await ws.locator(".case-event[data-action=comment]").wait_for()
    await page.evaluate("document.activeElement.blur()")
    await page.evaluate("document.querySelectorAll('.toast').forEach((t) => t.remove())")
    # The reply box and the history below it.
    await ws.locator(".case-write-section").evaluate("e => e.scrollIntoView({block: 'start'})")
    await page.wait_for_timeout(1500)
    await page.screenshot(path=str(out / "agent-case.png"))
    return str(number)


async def supervisor_cases(page: Page, number: str, out: Path) -> None:
    """Sam (signed in since the dashboard) finds the case and opens it."""
    await page.get_by_role("tab", name="Cases", exact=True).click()
    panel = page.locator("#panel-cases")
    await panel.get_by_role("button", name="Search").click()
    await panel.get_by_role("button", name=number).click()
    await panel.locator(f".case-ws[data-case={number}] .case-event").first.wait_for()
    await page.evaluate("document.activeElement.blur()")
    await page.evaluate("document.querySelectorAll('.toast').forEach((t) => t.remove())")
    await page.wait_for_timeout(1000)
    await page.screenshot(path=str(out / "supervisor-cases.png"))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings = with_demo(Settings())
        settings.server.port = 0
        settings.server.db = str(Path(tmp) / "screens.db")
        settings.templates = TEMPLATES
        settings.calls.do_not_call = ["+15550000001"]
        app = App(settings)
        await app.start()
        demo = Demo(app)
        url = f"http://127.0.0.1:{app.port}/"
        try:
            async with async_playwright() as p:
                browser = await p.chromium.launch(
                    executable_path=args.chromium, headless=True, args=ARGS
                )
                pages = []
                for _ in range(4):
                    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
                    pages.append(await context.new_page())
                await contacts_sharing_a_phone(demo)
                await agent_chat(demo, pages[0], url, args.out)
                await agent_call(demo, pages[1], url, args.out)
                await supervisor(demo, pages[2], url, args.out)
                number = await agent_case(demo, pages[3], url, args.out)
                await supervisor_cases(pages[2], number, args.out)
                await browser.close()
        finally:
            await demo.close()
            await app.stop()
    shots = (
        "agent.png",
        "agent-call.png",
        "agent-invitation.png",
        "supervisor.png",
        "agent-case.png",
        "supervisor-cases.png",
    )
    for name in shots:
        print(args.out / name)


if __name__ == "__main__":
    asyncio.run(main())
