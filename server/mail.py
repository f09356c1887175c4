"""The mail sender: delivers the outbox over SMTP, once, with retries.

Mails are written to the ``outbox`` table in the same transaction as the case
change they announce, so a committed change always has its mail and a
refused one never does. This task reads pending mails (committed rows only),
hands each to the SMTP server, and only then marks it sent. A failure is
retried with exponential backoff; after ``max_attempts`` the mail is marked
failed (and stays in the table for a person to look at).

"Never twice": a mail is marked sent right after the SMTP server accepted it
and the sender does not look at it again. A crash in the instant between
acceptance and the mark can still send it again after the restart; it then
carries the same ``Message-ID`` (made from the outbox id), which mail
clients and servers use to recognise the copy.

smtplib (stdlib, blocking) runs in a worker thread, one mail at a time: mail
volume is a handful per case, and no extra dependency is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import smtplib
import urllib.parse
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING

import structlog

from server.storage import change_for
from server.storage.writer import StorageFailed

if TYPE_CHECKING:
    from server.runtime import Runtime
    from server.settings import MailSection
    from server.storage.case_reads import CaseReader

log = structlog.get_logger(__name__)


def message_id(mail_id: str, domain: str) -> str:
    return f"<{mail_id}@{domain}>"


def build_message(
    mail_id: str, sender: str, to: str, subject: str, body: str, domain: str, now: float
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id(mail_id, domain)
    msg["Date"] = formatdate(now, usegmt=True)
    msg.set_content(body)
    return msg


def backoff(attempts: int, initial: float, most: float) -> float:
    """Seconds before retry number ``attempts`` (1, 2, 3...): doubling, capped."""
    return min(most, initial * 2 ** max(0, attempts - 1))


# ---------------------------------------------------------- satisfaction links


def _sig(key: bytes, case: str, score: int, exp: int) -> str:
    msg = f"satisfaction:{case}:{score}:{exp}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:32]


def satisfaction_link(key: bytes, base_url: str, case: str, score: int, exp: int) -> str:
    """A link the customer clicks to grade a case; only the server can make one."""
    query = urllib.parse.urlencode(
        {"case": case, "score": score, "exp": exp, "sig": _sig(key, case, score, exp)}
    )
    return f"{base_url.rstrip('/')}/satisfaction?{query}"


def check_satisfaction(key: bytes, args: dict[str, str], now: float) -> tuple[str, int] | None:
    """(case, grade) of a valid, unexpired link's query; None otherwise."""
    case, score, exp, sig = (args.get(k, "") for k in ("case", "score", "exp", "sig"))
    if not (score.isdigit() and exp.isdigit()) or int(exp) < now:
        return None
    if not hmac.compare_digest(_sig(key, case, int(score), int(exp)), sig):
        return None
    return case, int(score)


# ------------------------------------------------------------------ the sender


class MailSender:
    def __init__(self, runtime: Runtime, settings: MailSection) -> None:
        self.rt = runtime
        self.settings = settings
        self._wake = asyncio.Event()
        #: Delivered in this process (also before their mark is committed).
        self._sent: set[str] = set()
        self.delivered = 0

    def wake(self) -> None:
        """Look at the outbox now (call once the new mails are committed)."""
        self._wake.set()

    def after(self, barrier: asyncio.Future[None] | None) -> None:
        """Wake once ``barrier`` (the commit of new outbox rows) resolves."""
        if barrier is None:
            return
        barrier.add_done_callback(lambda f: None if f.cancelled() else self.wake())

    async def run(self, reader: CaseReader) -> None:
        s = self.settings
        if not s.host:
            log.info("mail_disabled", reason="no [mail] host: mails stay in the outbox")
            return
        while True:
            self._wake.clear()
            try:
                delay = await self.send_due(reader)
            except StorageFailed as exc:
                self.rt.fail(exc)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("mail_sender_failed")
                delay = s.poll
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def send_due(self, reader: CaseReader) -> float:
        """Send what is due; seconds until the next retry is due (at most ``poll``)."""
        s = self.settings
        for mail_id, to, subject, body, attempts in await reader.due_mail(self.rt.clock()):
            if mail_id in self._sent:
                continue
            msg = build_message(mail_id, s.from_addr, to, subject, body, s.domain, self.rt.clock())
            try:
                await asyncio.to_thread(self._deliver, msg, to)
            except (OSError, smtplib.SMTPException) as exc:
                tries = attempts + 1
                state = "failed" if tries >= s.max_attempts else "pending"
                next_at = self.rt.clock() + backoff(tries, s.retry_initial, s.retry_max)
                log.warning("mail_not_sent", mail=mail_id, attempts=tries, error=repr(exc))
                await self._write(change_for("outbox_retry", (mail_id, next_at, repr(exc), state)))
                continue
            self._sent.add(mail_id)
            self.delivered += 1
            log.info("mail_sent", mail=mail_id, to=to)
            await self._write(change_for("outbox_sent", (mail_id, self.rt.clock())))
        nxt = await reader.next_mail_at()
        if nxt is None:
            return s.poll
        return min(s.poll, max(0.0, nxt - self.rt.clock()))

    async def _write(self, change: tuple[str, tuple[object, ...]]) -> None:
        # Shielded: the batch's future is shared with other writers, and
        # cancelling this task (at shutdown) must not cancel it for them.
        await asyncio.shield(self.rt.store.writer.submit([change]))

    def _deliver(self, msg: EmailMessage, to: str) -> None:
        s = self.settings
        smtp_class = smtplib.SMTP_SSL if s.ssl else smtplib.SMTP
        with smtp_class(s.host, s.port, timeout=s.timeout) as smtp:
            if s.starttls:
                smtp.starttls()
            if s.username:
                smtp.login(s.username, s.password)
            smtp.send_message(msg, to_addrs=[to])
