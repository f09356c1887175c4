"""Customer mails through a real SMTP server on loopback (aiosmtpd): what
arrives, retries while the server is down, edited templates, and the
satisfaction link clicked over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import re
import socket
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from protocol.cases import (
    CreateCase,
    GetCase,
    MailTemplate,
    PutMailTemplate,
    SetCaseStatus,
    TakeCase,
)
from protocol.client import Client
from server.app import App
from server.core.cases import when
from server.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), msg))
        return "250 OK"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    async def wait(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """The first ``count`` messages, once they have arrived."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"{len(self.received)} of {count} mails arrived within {timeout} s")
            await asyncio.sleep(0.02)
        return [m for _, m in self.received[:count]]


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A running SMTP server on a loopback port."""
    box = Mailbox(free_port())
    box.start()
    yield box
    box.stop()


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox) -> Settings:
    """Mail through the loopback SMTP server, with quick retries."""
    m = settings.mail
    m.host, m.port = "127.0.0.1", mailbox.port
    m.from_addr = "Service <service@example.com>"
    m.retry_initial, m.retry_max, m.poll = 0.1, 0.5, 1.0
    return settings


async def http_get(port: int, target: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        await writer.drain()
        async with asyncio.timeout(5):
            data = await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def outbox(server: App) -> list[tuple[Any, ...]]:
    """(template, to, state, attempts) of every outbox row, oldest first."""
    with contextlib.closing(sqlite3.connect(server.settings.server.db)) as db:
        return db.execute(
            "SELECT template, to_addr, state, attempts FROM outbox ORDER BY created_at, id"
        ).fetchall()


async def until(check: Any, timeout: float = 5.0) -> None:
    """Wait until ``check()`` is true."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not true within {timeout} s")
        await asyncio.sleep(0.02)


async def taken_case(alice: Client, **kw: Any) -> Any:
    kw.setdefault("email", "dana@example.com")
    case = (await alice.request(CreateCase(id=0, subject="Jacket torn", **kw))).case
    return (await alice.request(TakeCase(id=0, case=case.number))).case


def links(msg: EmailMessage) -> dict[int, str]:
    """The satisfaction links of a mail, by grade."""
    found = (re.fullmatch(r"(\d) - [^:]+: (\S+)", line) for line in msg.get_content().splitlines())
    return {int(m[1]): m[2] for m in found if m}


async def test_taking_in_work_mails_the_deadline(agent, server: App, mailbox: Mailbox) -> None:
    """Taking a case mails the customer once, with the number, subject and resolution deadline."""
    alice = await agent("alice")
    case = await taken_case(alice)
    (msg,) = await mailbox.wait(1)
    rcpt, _ = mailbox.received[0]
    assert rcpt == ["dana@example.com"]
    assert msg["To"] == "dana@example.com"
    assert msg["From"] == "Service <service@example.com>"
    assert msg["Subject"] == f"[{case.number}] We are working on your request: Jacket torn"
    assert f"We will resolve it by {when(case.resolution_due)}." in msg.get_content()
    assert re.fullmatch(r"<mail-[0-9a-f]+-[0-9a-f]+@switchboard\.local>", msg["Message-ID"])
    await until(lambda: outbox(server)[0][2] == "sent")
    assert outbox(server) == [("case_in_progress", "dana@example.com", "sent", 1)]
    assert len(mailbox.received) == 1
    history = (await alice.request(GetCase(id=0, case=case.number))).history
    note = next(e for e in history if e.action == "notification")
    assert (note.field, note.new) == ("case_in_progress", "dana@example.com")


async def test_every_notification(agent, mailbox: Mailbox) -> None:
    """In progress, waiting, resolved (with grades 1-5) and canceled each send their mail."""
    alice = await agent("alice")
    case = await taken_case(alice)
    for status in ("waiting_for_response", "resolved"):
        await alice.request(SetCaseStatus(id=0, case=case.number, status=status))
    other = (await alice.request(CreateCase(id=0, subject="Wrong size", email="e@x.org"))).case
    await alice.request(SetCaseStatus(id=0, case=other.number, status="canceled"))
    mails = await mailbox.wait(4)
    assert [m["Subject"] for m in mails] == [
        f"[{case.number}] We are working on your request: Jacket torn",
        f"[{case.number}] We need more information: Jacket torn",
        f"[{case.number}] Your request has been resolved: Jacket torn",
        f"[{other.number}] Your request has been canceled: Wrong size",
    ]
    assert mails[3]["To"] == "e@x.org"
    grades = links(mails[2])
    assert sorted(grades) == [1, 2, 3, 4, 5]
    for n, url in grades.items():
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        assert (query["case"], query["score"]) == (case.number, str(n))
    assert len({m["Message-ID"] for m in mails}) == 4


async def test_satisfaction_link(agent, server: App, mailbox: Mailbox) -> None:
    """Clicking a grade in the mail grades the case; a forged or reused link does not."""
    alice = await agent("alice")
    case = await taken_case(alice)
    await alice.request(SetCaseStatus(id=0, case=case.number, status="resolved"))
    mail = (await mailbox.wait(2))[1]
    grades = {n: urllib.parse.urlsplit(u) for n, u in links(mail).items()}
    target = lambda n: f"{grades[n].path}?{grades[n].query}"  # noqa: E731
    status, body = await http_get(server.port, target(2).replace("score=2", "score=5"))
    assert status == 403
    status, body = await http_get(server.port, target(2))
    assert status == 200 and "reopened" in body
    detail = (await alice.request(GetCase(id=0, case=case.number))).case
    assert (detail.status, detail.assignee, detail.satisfaction) == ("reopened", None, 2)
    status, body = await http_get(server.port, target(5))
    assert status == 200 and "already been graded" in body
    assert (await alice.request(GetCase(id=0, case=case.number))).case.status == "reopened"
    await alice.request(TakeCase(id=0, case=case.number))
    await alice.request(SetCaseStatus(id=0, case=case.number, status="resolved"))
    fresh = links((await mailbox.wait(4))[3])
    url = urllib.parse.urlsplit(fresh[4])
    status, body = await http_get(server.port, f"{url.path}?{url.query}")
    assert status == 200 and "closed" in body
    assert (await alice.request(GetCase(id=0, case=case.number))).case.status == "closed"


async def test_edited_template(agent, connect, mailbox: Mailbox) -> None:
    """A supervisor's edit of a template is what the next mail says."""
    sam = await connect()
    await sam.login("sam", "sam-demo")
    template = MailTemplate(
        id="case_canceled", subject="Canceled: $subject ($number)", body="Sorry, $subject."
    )
    await sam.request(PutMailTemplate(id=0, template=template))
    alice = await agent("alice")
    case = (await alice.request(CreateCase(id=0, subject="Old order", email="d@x.org"))).case
    await alice.request(SetCaseStatus(id=0, case=case.number, status="canceled"))
    (msg,) = await mailbox.wait(1)
    assert msg["Subject"] == f"Canceled: Old order ({case.number})"
    assert msg.get_content().strip() == "Sorry, Old order."


@pytest.fixture
def settings_down(settings: Settings, mailbox: Mailbox) -> Settings:
    mailbox.stop()  # nobody listens on the port until the test starts it
    return settings


async def test_retries_until_smtp_is_up(settings_down, agent, server: App, mailbox) -> None:
    """While the SMTP server is down the mail waits and is retried; once up, it arrives once."""
    alice = await agent("alice")
    await taken_case(alice)
    await until(lambda: outbox(server)[0][3] >= 2)
    ((template, _, state, attempts),) = outbox(server)
    assert (template, state) == ("case_in_progress", "pending") and attempts >= 2
    mailbox.start()
    await mailbox.wait(1)
    await until(lambda: outbox(server)[0][2] == "sent")
    await asyncio.sleep(1.0)  # time for a duplicate to show up
    assert len(mailbox.received) == 1
    ((_, _, state, attempts_after),) = outbox(server)
    assert state == "sent" and attempts_after > attempts
