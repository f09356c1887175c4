"""Browser tests of the web client: headless Debian Chromium and Firefox driven by
Playwright against a real server on a loopback port (the ``server`` fixture of
tests/conftest.py). Every test runs in both browsers: ``test_x[chromium]`` and
``test_x[firefox]``.

Playwright cannot download a browser here, so it launches Debian's browsers through
``executable_path``: ``/usr/bin/chromium`` over CDP, and ``/usr/bin/firefox-esr``
(stock Firefox, not Playwright's patched build) over WebDriver BiDi, which Playwright
selects for the ``moz-firefox`` channel. When a browser is missing its tests fail:
they never skip (``scripts/test.sh`` installs both). ``SWITCHBOARD_BROWSERS=chromium``
(or ``firefox``) runs one engine only, for a quicker loop; CI runs both.

Playwright's WebDriver BiDi support is young. What it cannot yet do in Firefox ESR is
listed in ``NOT_IN_FIREFOX``: those tests run in Chromium only (deselected, not
skipped, with the reason). Playwright is held below 1.65 in pyproject.toml because
1.65 sends ``emulation.setMediaFeaturesOverride`` for every new context, a command
Debian's Firefox ESR 153 does not know ("unknown command"): no page can be opened.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, ConsoleMessage, Page, Playwright, async_playwright

from protocol.chats import Identify, NewContact, Template
from protocol.client import Client, ServerError
from protocol.routing import Accept, End, SetStatus, WrapUpDone
from protocol.sources import StartChat
from protocol.views import Customer
from server.app import App
from server.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
FIREFOX = Path("/usr/bin/firefox-esr")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BROWSERS = ["chromium", "firefox"]
#: Browser tests that cannot run in Firefox through Playwright, and why. They are
#: faults of the driver, not of the page: keep this list short and explained.
NOT_IN_FIREFOX: dict[str, str] = {}
#: A laptop screen: the client must be usable at this size.
VIEWPORT = {"width": 1366, "height": 768}
DNC_NUMBER = "+15550000001"
GREETING = Template(id="greet", name="Greeting", text="Hello! How can I help you today?")


def browsers() -> list[str]:
    chosen = os.environ.get("SWITCHBOARD_BROWSERS", ",".join(BROWSERS)).split(",")
    unknown = set(chosen) - set(BROWSERS)
    assert not unknown, f"SWITCHBOARD_BROWSERS: unknown {sorted(unknown)}, known {BROWSERS}"
    return [b for b in BROWSERS if b in chosen]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, drop = [], []
    for item in items:
        spec = getattr(item, "callspec", None)
        engine = spec.params.get("browser") if spec else None
        name = getattr(item, "originalname", item.name)
        if engine == "firefox" and name in NOT_IN_FIREFOX:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as p:
        yield p


@pytest_asyncio.fixture(scope="session", loop_scope="session", params=browsers())
async def browser(request: pytest.FixtureRequest, playwright: Playwright) -> AsyncIterator[Browser]:
    """One browser per engine for the whole session (pytest runs the tests of one
    engine, then those of the other)."""
    if request.param == "chromium":
        assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium"
        b = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
    else:
        assert FIREFOX.exists(), f"{FIREFOX} is missing: apt-get install firefox-esr"
        b = await playwright.firefox.launch(
            channel="moz-firefox", executable_path=str(FIREFOX), headless=True
        )
    yield b
    await b.close()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The demo, plus a do-not-call number and a quick-reply template."""
    settings.calls.do_not_call = [DNC_NUMBER]
    settings.templates = [GREETING]
    return settings


@dataclass
class Web:
    """Opens pages and protocol clients against one server; closes them all."""

    server: App
    browser: Browser
    pages: list[Page] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    #: Console errors and uncaught exceptions of every page, as "url: text".
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/"

    async def page(self, init_script: str | None = None) -> Page:
        context = await self.browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        if init_script:
            await context.add_init_script(init_script)
        page = await context.new_page()
        page.set_default_timeout(5000)

        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error":
                self.errors.append(f"console: {msg.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

        async def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            await dialog.dismiss()

        page.on("dialog", on_dialog)
        await page.goto(self.url)
        self.pages.append(page)
        return page

    async def login(self, page: Page, user: str, password: str | None = None) -> None:
        await page.fill("#login-user", user)
        await page.fill("#login-pass", password or f"{user}-demo")
        await page.click("#login-form button[type=submit]")
        await page.wait_for_selector("#conn[data-state=online]")
        await page.wait_for_selector("#who:not([hidden])")

    async def agent_page(
        self, user: str = "alice", ready: bool = True, init_script: str | None = None
    ) -> Page:
        page = await self.page(init_script)
        await self.login(page, user)
        if ready:
            await page.click(".status-btn[data-status=ready]")
            await page.wait_for_selector(".status-btn[data-status=ready][aria-pressed=true]")
        return page

    async def client(self, encoding: str = "json") -> Client:
        c = await Client.connect(f"ws://127.0.0.1:{self.server.port}/ws", encoding=encoding)
        self.clients.append(c)
        return c

    async def bot(self) -> Client:
        c = await self.client("msgpack")
        await c.login_key("sbk_demo_webchat")
        return c

    async def gateway(self) -> Client:
        c = await self.client("msgpack")
        await c.login_key("sbk_demo_gateway")
        return c

    async def agent(self, user: str, ready: bool = False) -> Client:
        c = await self.client()
        await c.login(user, f"{user}-demo")
        if ready:
            await c.request(SetStatus(id=0, status="ready"))
        return c

    async def start_chat(
        self, bot: Client, text: str, name: str = "Zoë", queue: str = "sales", **customer: str
    ) -> str:
        created = await bot.request(
            StartChat(
                id=0,
                queue=queue,
                customer=Customer(name=name, **customer),
                text=text,
                welcome="Hello! An agent will be with you shortly.",
            )
        )
        return str(created.interaction.id)

    async def make_contacts(self, people: list[tuple[str, str]]) -> list[str]:
        """Contacts (name, phone), made through bob's chats; bob goes offline after."""
        bob = await self.agent("bob", ready=True)
        bot = await self.bot()
        ids = []
        for name, phone in people:
            created = await bot.request(
                StartChat(id=0, queue="support", customer=Customer(name=name), text="Hi")
            )
            offer = await bob.next_push("offer")
            await bob.request(Accept(id=0, offer=offer.offer))
            made = await bob.request(
                Identify(
                    id=0,
                    interaction=created.interaction.id,
                    new_contact=NewContact(name=name, phone=phone),
                )
            )
            ids.append(made.contact.id)
            await bob.request(End(id=0, interaction=created.interaction.id))
            with contextlib.suppress(ServerError):  # support has no wrap-up
                await bob.request(WrapUpDone(id=0))
        await bob.request(SetStatus(id=0, status="offline"))
        return ids

    async def close(self) -> None:
        for c in self.clients:
            await c.close()
        for p in self.pages:
            await p.context.close()


@pytest.fixture
async def web(server: App, browser: Browser) -> AsyncIterator[Web]:
    """Pages and clients for one test; any console error in a page fails it."""
    w = Web(server, browser)
    try:
        yield w
    finally:
        await w.close()
    assert not w.errors, "errors in the page:\n" + "\n".join(w.errors)
    assert not w.dialogs, f"unexpected dialogs (alert/confirm) in the page: {w.dialogs}"
