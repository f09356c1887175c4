"""kill -9 the real server between a case change and the delivery of its mail:
after a restart every mail of an acknowledged change arrives, exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from protocol.cases import CreateCase, SetCaseStatus, TakeCase

from .test_mail import Mailbox

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(smtp_port: int) -> str:
    return f"""\
[mail]
host = "127.0.0.1"
port = {smtp_port}
retry_initial = 0.2
retry_max = 0.5
poll = 0.5
"""


def outbox(db: Path) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(
            "SELECT case_id, template, state, attempts FROM outbox ORDER BY created_at, id"
        ).fetchall()


async def test_kill_between_change_and_delivery(launch, clients, tmp_path: Path) -> None:
    """Mails committed with their changes while SMTP is down survive kill -9 and arrive once."""
    started = time.monotonic()
    mailbox = Mailbox(free_port())  # not started: the SMTP server is down
    settings = config(mailbox.port)
    first = await launch(settings)
    alice = await clients(first.url)
    await alice.login("alice", "alice-demo")
    numbers = []
    for i in range(3):
        created = await alice.request(
            CreateCase(id=0, subject=f"Problem {i}", email=f"customer{i}@example.com")
        )
        numbers.append(created.case.number)
        await alice.request(TakeCase(id=0, case=created.case.number))
    await alice.request(SetCaseStatus(id=0, case=numbers[0], status="resolved"))
    deadline = time.monotonic() + 5
    while not all(a >= 1 for *_, a in outbox(tmp_path / "crash.db")):  # each tried, in vain
        assert time.monotonic() < deadline, outbox(tmp_path / "crash.db")
        await asyncio.sleep(0.05)
    first.kill()
    rows = outbox(tmp_path / "crash.db")
    assert [(case, template, state) for case, template, state, _ in rows] == [
        (numbers[0], "case_in_progress", "pending"),
        (numbers[1], "case_in_progress", "pending"),
        (numbers[2], "case_in_progress", "pending"),
        (numbers[0], "case_resolved", "pending"),
    ]
    assert all(attempts >= 1 for *_, attempts in rows)

    mailbox.start()
    try:
        await launch(settings)
        mails = await mailbox.wait(4)
        await asyncio.sleep(1.5)  # time for any duplicate to show up
        assert len(mailbox.received) == 4
    finally:
        mailbox.stop()
    subjects = sorted(m["Subject"] for m in mails)
    assert subjects == sorted(
        [f"[{n}] We are working on your request: Problem {i}" for i, n in enumerate(numbers)]
        + [f"[{numbers[0]}] Your request has been resolved: Problem 0"]
    )
    assert sorted(rcpt for rcpt, _ in mailbox.received) == [
        ["customer0@example.com"], ["customer0@example.com"],
        ["customer1@example.com"], ["customer2@example.com"],
    ]  # fmt: skip
    assert len({m["Message-ID"] for m in mails}) == 4
    deadline = time.monotonic() + 5
    while {state for _, _, state, _ in outbox(tmp_path / "crash.db")} != {"sent"}:
        assert time.monotonic() < deadline, outbox(tmp_path / "crash.db")
        await asyncio.sleep(0.05)
    assert time.monotonic() - started < 20
