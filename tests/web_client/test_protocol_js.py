"""web_client/js/protocol.js on its own, in the browser: schema decoding, requests
and errors, pushes and seq, reconnect with backoff and resume."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Page

from protocol.base import tag_of
from protocol.frames import SERVER_FRAMES
from protocol.supervision import SetAgentStatus

pytestmark = pytest.mark.browser

# A Connection with its own storage, so the page's app is left alone.
SETUP = """
async () => {
  const m = await import('/js/protocol.js');
  const store = new Map();
  const storage = {
    getItem: (k) => store.has(k) ? store.get(k) : null,
    setItem: (k, v) => store.set(k, String(v)),
    removeItem: (k) => store.delete(k),
  };
  const schema = await m.loadSchema();
  const conn = new m.Connection({ schema, storage, backoff: { base: 100, max: 400 } });
  const states = [];
  const pushes = [];
  conn.addEventListener('state', (e) => states.push(e.detail.state));
  conn.on('*', (f) => pushes.push(f));
  window.t = { m, conn, store, schema, states, pushes };
}
"""


async def setup(page: Page) -> None:
    await page.evaluate(SETUP)


async def test_schema_lists_every_server_frame(web) -> None:
    """The schema served to the browser knows every server frame type, and no others."""
    page = await web.page()
    await setup(page)
    known = await page.evaluate("[...window.t.schema.server.keys()].sort()")
    expected = sorted(tag_of(cls) for cls in SERVER_FRAMES)
    assert known == expected
    assert await page.evaluate("window.t.schema.isClientType('set_status')") is True
    assert await page.evaluate("window.t.schema.isClientType('welcome')") is False


async def test_decode_fills_schema_defaults(web) -> None:
    """Fields the server leaves out come back as the schema's defaults, nested too."""
    page = await web.page()
    await setup(page)
    frame = await page.evaluate(
        """() => window.t.schema.decode({type: 'offer', seq: 3, offer: 'o-1', expires_at: 5,
            timeout: 20, interaction: {id: 'i-1', channel: 'chat', queue: 'sales',
            status: 'assigning', created_at: 1}})"""
    )
    ix = frame["interaction"]
    assert ix["customer"] == {"name": "", "phone": "", "email": "", "external_id": ""}
    assert (ix["agent"], ix["chat_state"], ix["source"]) == (None, None, "")
    record = await page.evaluate(
        """() => window.t.schema.decode({type: 'chat_list', id: 1, active: [],
            closed: [{interaction: {id: 'i', channel: 'chat', queue: 'q', status: 'ended',
            created_at: 1}, contact: {id: 'c-1'}}]}).closed[0]"""
    )
    assert record["candidates"] == [] and record["files"] == [] and record["notes"] == ""
    assert record["contact"] == {
        "id": "c-1",
        "name": "",
        "phones": [],
        "emails": [],
        "identities": [],
        "account": "",
    }


async def test_login_request_errors_and_pushes(web) -> None:
    """Login, replies matched by id, errors rejected with code and message, pushes with seq."""
    page = await web.page()
    await setup(page)
    bad = await page.evaluate(
        """() => window.t.conn.login('alice', 'nope').then(() => null,
            (e) => ({code: e.code, name: e.name}))"""
    )
    assert bad == {"code": "auth_failed", "name": "ProtocolError"}
    welcome = await page.evaluate("() => window.t.conn.login('alice', 'alice-demo')")
    assert (welcome["role"], welcome["principal"], welcome["interactions"]) == (
        "agent",
        "alice",
        [],
    )
    assert await page.evaluate("window.t.conn.state") == "online"
    stored = json.loads(await page.evaluate("window.t.store.get('switchboard.session')"))
    assert stored["token"] == welcome["session_token"]

    error = await page.evaluate(
        """() => window.t.conn.request({type: 'accept', offer: 'o-none'})
            .catch((e) => ({code: e.code, message: e.message}))"""
    )
    assert error["code"] == "not_found" and "o-none" in error["message"]
    local = await page.evaluate(
        "() => window.t.conn.request({type: 'no_such_frame'}).catch((e) => e.code)"
    )
    assert local == "unknown_type"
    # Several requests in flight each get their own reply.
    pongs = await page.evaluate(
        """() => Promise.all([1, 2, 3].map(() => window.t.conn.request({type: 'ping'})))
            .then((r) => r.map((p) => p.type))"""
    )
    assert pongs == ["pong", "pong", "pong"]

    ok = await page.evaluate("() => window.t.conn.request({type: 'set_status', status: 'ready'})")
    assert ok["type"] == "ok"
    await page.wait_for_function(
        "() => window.t.pushes.some((p) => p.type === 'agent_state' && p.agent.status === 'ready')"
    )
    seqs = await page.evaluate("window.t.pushes.map((p) => p.seq)")
    assert seqs == list(range(1, len(seqs) + 1))
    assert await page.evaluate("window.t.conn.lastSeq") == seqs[-1]


async def test_reconnects_with_backoff_and_resume(web) -> None:
    """A dropped socket reconnects by itself, resumes, and gets the pushes it missed."""
    page = await web.page()
    await setup(page)
    await page.evaluate("() => window.t.conn.login('alice', 'alice-demo')")
    await page.evaluate("() => window.t.conn.request({type: 'set_status', status: 'ready'})")
    await page.wait_for_function("() => window.t.pushes.length >= 2")
    before = await page.evaluate("window.t.conn.lastSeq")

    # Drop, and let the server push while the client is away.
    await page.evaluate("window.t.conn.backoff = {base: 800, max: 800}")
    await page.evaluate("window.t.conn.simulateDrop()")
    assert await page.evaluate("window.t.conn.state") == "reconnecting"
    sam = await web.agent("sam")
    await sam.request(SetAgentStatus(id=0, agent="alice", status="not_ready", reason="meeting"))
    await page.wait_for_function("() => window.t.conn.state === 'online'", timeout=5000)

    welcome = await page.evaluate("window.t.conn.welcome")
    assert welcome["resumed"] is True and welcome["replayed"] >= 1
    states = await page.evaluate("window.t.states")
    assert states[-3:] == ["reconnecting", "connecting", "online"]
    await page.wait_for_function(
        "() => window.t.pushes.some((p) => p.agent && p.agent.reason === 'meeting')"
    )
    seqs = await page.evaluate("window.t.pushes.map((p) => p.seq)")
    assert seqs == list(range(1, len(seqs) + 1)) and seqs[-1] > before
    agent = web.server.runtime.router.agents["alice"]
    assert agent.connected and (agent.status, agent.reason) == ("not_ready", "meeting")


async def test_expired_token_signs_out(web) -> None:
    """A resume the server refuses (unknown token) ends in signed_out, not a retry loop."""
    page = await web.page()
    await setup(page)
    await page.evaluate("() => window.t.conn.login('alice', 'alice-demo')")
    await page.evaluate(
        """() => { window.t.conn._session.token = 'sbt_forged';
        window.t.conn.simulateDrop(); }"""
    )
    await page.wait_for_function("() => window.t.conn.state === 'signed_out'", timeout=5000)
    assert await page.evaluate("window.t.store.has('switchboard.session')") is False
    await page.wait_for_timeout(500)
    assert await page.evaluate("window.t.conn.state") == "signed_out"


def test_fallback_frame_types_match_the_schema() -> None:
    """The list protocol.js falls back on without /schema.json names every
    server frame there is (no browser needed: read from the file)."""
    import re
    from pathlib import Path

    source = (Path(__file__).parents[2] / "web_client" / "js" / "protocol.js").read_text()
    block = re.search(r"const KNOWN_SERVER_TYPES = \[(.*?)\];", source, re.S)
    assert block is not None
    listed = set(re.findall(r'"([a-z_]+)"', block.group(1)))
    assert listed == {tag_of(cls) for cls in SERVER_FRAMES}
