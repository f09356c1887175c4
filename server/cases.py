"""Cases in the runtime: loading them at start, and the satisfaction links."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.core.cases import DEFAULT_TEMPLATES
from server.mail import satisfaction_link
from server.storage.case_reads import CaseReader

if TYPE_CHECKING:
    from server.runtime import Runtime


async def load_cases(rt: Runtime) -> CaseReader:
    """Case queues (the settings' seeds win), mail templates and open cases."""
    assert rt.reader is not None
    reader = CaseReader(rt.reader.db)
    cases = rt.cases
    # The server's own templates until a supervisor stores an edited text.
    cases.templates = {t.id: t for t in DEFAULT_TEMPLATES}
    cases.templates.update({t.id: t for t in await reader.mail_templates()})
    seeded = {q.id for q in rt.settings.case_queues}
    for q in await reader.case_queues():
        if q.id not in seeded:
            cases.queues[q.id] = q
    for q in rt.settings.case_queues:
        cases.put_queue(q)
    cases.restore(await reader.open_cases(), await reader.last_seq())
    return reader


def link_for(rt: Runtime, case: str, score: int) -> str:
    """The satisfaction link of grade ``score`` for ``case``, valid for the TTL."""
    s = rt.settings
    base = s.mail.base_url or f"http://{s.server.host}:{s.server.port}"
    exp = int(rt.clock() + s.cases.satisfaction_ttl)
    return satisfaction_link(rt.signer.key, base, case, score, exp)
