"""Chats end to end: real bot and agent clients over a loopback server, both encodings."""

from __future__ import annotations

import asyncio
import dataclasses
import urllib.error
import urllib.request
from typing import Any

import pytest

from protocol.chats import (
    FindContacts,
    GetChat,
    GetFile,
    GetLookups,
    Identify,
    ListChats,
    NewContact,
    PutTemplate,
    SearchChats,
    SendFile,
    SendMessage,
    Template,
    UpdateChat,
)
from protocol.client import Client, ServerError
from protocol.config import ApiKeyConfig
from protocol.routing import Accept, End, SetStatus, WrapUpDone
from protocol.sources import StartChat
from protocol.supervision import CreateApiKey
from protocol.views import Customer
from server.app import App

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, dict(e.headers), e.read()


async def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``url`` (status, headers, body), closing everything it opened."""
    return await asyncio.to_thread(_get, url)


async def accepted_chat(agent_client: Client, bot: Client, **start: Any) -> str:
    """A chat started by ``bot`` and accepted by the (ready) agent; its id."""
    start.setdefault("queue", "sales")
    created = await bot.request(StartChat(id=0, **start))
    offer = await agent_client.next_push("offer")
    assert offer.interaction.id == created.interaction.id
    await agent_client.request(Accept(id=0, offer=offer.offer))
    return str(created.interaction.id)


async def say(client: Client, ix: str, text: str, client_id: str, **kw: Any) -> Any:
    return await client.request(
        SendMessage(id=0, interaction=ix, text=text, client_id=client_id, **kw)
    )


async def next_message(client: Client) -> Any:
    return (await client.next_push("message")).message


async def test_conversation_both_ways(agent, bot) -> None:
    """Messages go bot -> agent and agent -> bot, numbered in order, emoji intact."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await accepted_chat(a, b, customer=Customer(name="Dana"))
    sent = await say(b, ix, "Hi! Is the blue one in stock? 👋", "c1")
    got = await next_message(a)
    assert (got.text, got.author, got.n) == ("Hi! Is the blue one in stock? 👋", "customer", 1)
    assert got.id == sent.message.id
    await say(a, ix, "Yes — ships Monday 🚚", "a1")
    back = await next_message(b)
    assert (back.text, back.author, back.by, back.n) == (
        "Yes — ships Monday 🚚",
        "agent",
        "alice",
        2,
    )


async def test_welcome_and_first_message_recorded(agent, bot) -> None:
    """start_chat records the bot's welcome, then the customer's first message."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await accepted_chat(a, b, text="Hello?", welcome="Welcome to Acme!")
    chat = await a.request(GetChat(id=0, interaction=ix))
    assert [(m.author, m.text) for m in chat.messages] == [
        ("bot", "Welcome to Acme!"),
        ("customer", "Hello?"),
    ]
    assert chat.record.state == "new"


async def test_first_agent_message_sets_in_progress(agent, bot) -> None:
    """Accept makes the chat new; the agent's first message makes it in progress."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await accepted_chat(a, b)
    change = await a.next_push("interaction")
    while change.interaction.status != "assigned":
        change = await a.next_push("interaction")
    assert change.interaction.chat_state == "new"
    await say(a, ix, "Hi, Alice here", "a1")
    change = await a.next_push("interaction")
    assert change.interaction.chat_state == "in_progress"


async def test_in_progress_by_hand(agent, bot) -> None:
    """The agent can set in progress from the state bar without writing."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await accepted_chat(a, b)
    await a.request(UpdateChat(id=0, interaction=ix, state="in_progress"))
    chat = await a.request(GetChat(id=0, interaction=ix))
    assert chat.record.state == "in_progress"


@pytest.mark.parametrize("ender", ["agent", "bot"])
async def test_either_side_ends(agent, bot, ender: str) -> None:
    """Either side can end the chat: it becomes completed with an end time."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await accepted_chat(a, b)
    await (a if ender == "agent" else b).request(End(id=0, interaction=ix))
    change = await b.next_push("interaction")
    while change.interaction.status != "ended":
        change = await b.next_push("interaction")
    assert change.interaction.chat_state == "completed" and change.interaction.ended_at
    with pytest.raises(ServerError) as e:
        await say(a, ix, "anyone?", "late")
    assert e.value.code == "not_found"


async def test_resend_is_not_duplicated(agent, bot) -> None:
    """The same client id sent twice is stored and relayed once."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await accepted_chat(a, b)
    first = await say(b, ix, "only once", "dup-1")
    again = await say(b, ix, "only once", "dup-1")
    assert again.duplicate and again.message.id == first.message.id
    await next_message(a)
    await asyncio.sleep(0.1)
    assert not a.drain("message")
    chat = await a.request(GetChat(id=0, interaction=ix))
    assert [m.text for m in chat.messages] == ["only once"]


async def test_message_size_bounded(agent, bot) -> None:
    """A message over the limit gets too_large and stores nothing."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await accepted_chat(a, b)
    with pytest.raises(ServerError) as e:
        await say(b, ix, "x" * 4097, "big")
    assert e.value.code == "too_large"
    chat = await a.request(GetChat(id=0, interaction=ix))
    assert chat.messages == []


async def test_order_kept_under_burst(agent, bot) -> None:
    """Many messages sent without waiting arrive in the order they were sent."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await accepted_chat(a, b)
    replies = await asyncio.gather(*(say(b, ix, f"m{i}", f"c{i}") for i in range(50)))
    assert sorted(r.message.n for r in replies) == list(range(1, 51))
    got = [await next_message(a) for _ in range(50)]
    assert [m.n for m in got] == list(range(1, 51))
    texts = {r.message.n: r.message.text for r in replies}
    assert [m.text for m in got] == [texts[n] for n in range(1, 51)]


async def test_transcript_after_reconnect(agent, bot, connect) -> None:
    """After a reconnect the agent reads the whole transcript of its chat."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await accepted_chat(a, b)
    await say(b, ix, "one", "1")
    await say(a, ix, "two", "2")
    token = a.welcome.session_token if a.welcome else ""
    await a.ws.close()
    await say(b, ix, "three (while you were away)", "3")
    back = await connect()
    await back.resume(token)
    chat = await back.request(GetChat(id=0, interaction=ix))
    assert [m.text for m in chat.messages] == ["one", "two", "three (while you were away)"]
    assert chat.record.agents == ["alice"]


async def test_a_chat_whose_agent_is_gone_says_so_to_the_next(agent, bot, server: App) -> None:
    """alice disconnects and stays away past the grace period: the chat goes
    back to its queue with a line saying why, carol takes it and reads the
    whole transcript, the line naming her included; all of it is stored."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await accepted_chat(a, b)
    await say(b, ix, "hello?", "1")
    await say(a, ix, "alice here", "2")
    carol = await agent("carol")  # not ready yet: the chat must wait for the grace
    await a.ws.close()
    await asyncio.sleep(server.settings.routing.grace + 0.2)
    await carol.request(SetStatus(id=0, status="ready"))
    offer = await carol.next_push("offer")
    assert offer.interaction.id == ix
    await carol.request(Accept(id=0, offer=offer.offer))
    chat = await carol.request(GetChat(id=0, interaction=ix))
    assert [(m.n, m.author, m.text) for m in chat.messages] == [
        (1, "customer", "hello?"),
        (2, "agent", "alice here"),
        (3, "system", "alice was disconnected. The chat waits for another agent."),
        (4, "system", "carol took the chat."),
    ]
    reply = await say(carol, ix, "carol here", "c1")
    assert reply.message.n == 5
    stored = await server.runtime.reader.transcript(ix)
    assert [m.author for m in stored] == ["customer", "agent", "system", "system", "agent"]


async def test_closed_list_keeps_last_ten(agent, bot) -> None:
    """The agent's Closed list shows its last 10 ended chats, newest first."""
    a = await agent("alice", ready=True)
    b = await bot()
    ids = []
    for _ in range(12):
        ix = await accepted_chat(a, b)
        ids.append(ix)
        await a.request(End(id=0, interaction=ix))
        await a.request(WrapUpDone(id=0))
    active = await accepted_chat(a, b)
    lists = await a.request(ListChats(id=0))
    assert [r.interaction.id for r in lists.active] == [active]
    assert [r.interaction.id for r in lists.closed] == ids[::-1][:10]
    assert all(r.state == "completed" for r in lists.closed)


async def test_file_round_trip(agent, bot, server: App) -> None:
    """A customer's image is stored; the agent gets a link and can download it."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await accepted_chat(a, b)
    sent = await b.request(
        SendFile(id=0, interaction=ix, name="photo.png", mime="image/png", data=PNG, client_id="f1")
    )
    got = await next_message(a)
    assert got.file is not None and got.file.preview and got.file.size == len(PNG)
    data = await a.request(GetFile(id=0, file=got.file.id))
    assert data.data == PNG
    status, headers, body = await fetch(f"http://127.0.0.1:{server.port}{got.file.url}")
    assert (status, body, headers["Content-Type"]) == (200, PNG, "image/png")
    chat = await a.request(GetChat(id=0, interaction=ix))
    assert [f.id for f in chat.record.files] == [sent.message.file.id]


async def test_file_checked(agent, bot) -> None:
    """A file whose content is not its claimed type, or of a refused type, is refused."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await accepted_chat(a, b)
    for mime, data in (("image/png", b"MZ\x90\x00not a png"), ("application/x-msdownload", PNG)):
        with pytest.raises(ServerError) as e:
            await b.request(
                SendFile(id=0, interaction=ix, name="x", mime=mime, data=data, client_id=mime)
            )
        assert e.value.code == "invalid"


async def test_file_link_needs_signature(agent, bot, server: App) -> None:
    """A file link with a wrong signature is refused."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await accepted_chat(a, b)
    sent = await a.request(
        SendFile(id=0, interaction=ix, name="a.txt", mime="text/plain", data=b"hi", client_id="t")
    )
    url = f"http://127.0.0.1:{server.port}{sent.message.file.url}"
    status, _, _ = await fetch(url[:-4] + "beef")
    assert status == 403
    status, headers, body = await fetch(url)
    assert (status, body) == (200, b"hi")
    assert headers["Content-Disposition"].startswith("attachment")
    assert headers["Content-Type"] == "application/octet-stream"


async def test_template_send(agent, bot, connect) -> None:
    """A supervisor's template is listed for agents and sent (edited) as a message."""
    sup = await connect()
    await sup.login("sam", "sam-demo")
    await sup.request(
        PutTemplate(
            id=0, template=Template(id="hello", name="Greeting", text="Hello! How can I help?")
        )
    )
    a = await agent("alice", ready=True)
    lookups = await a.request(GetLookups(id=0))
    assert [t.id for t in lookups.templates] == ["hello"]
    assert "resolved" in {r.id for r in lookups.results}
    b = await bot()
    ix = await accepted_chat(a, b)
    text = lookups.templates[0].text.replace("help?", "help, Dana?")
    await say(a, ix, text, "t1", template="hello")
    got = await next_message(b)
    assert (got.text, got.template) == ("Hello! How can I help, Dana?", "hello")


async def test_agent_cannot_manage_templates(agent) -> None:
    """Templates are managed by supervisors only."""
    a = await agent("alice")
    with pytest.raises(ServerError) as e:
        await a.request(PutTemplate(id=0, template=Template(id="x", name="x", text="x")))
    assert e.value.code == "forbidden"


async def test_other_bot_cannot_read(agent, bot, connect) -> None:
    """A bot trying to read or write another bot's chat is refused."""
    a = await agent("alice", ready=True)
    owner = await bot()
    ix = await accepted_chat(a, owner)
    sup = await connect()
    await sup.login("sam", "sam-demo")
    key = await sup.request(
        CreateApiKey(
            id=0, key=ApiKeyConfig(id="tg", role="bot", source="telegram", queues=["sales"])
        )
    )
    other = await bot(key.api_key)
    for frame in (
        GetChat(id=0, interaction=ix),
        SendMessage(id=0, interaction=ix, text="hi", client_id="x"),
    ):
        with pytest.raises(ServerError) as e:
            await other.request(frame)
        assert e.value.code in ("not_found", "forbidden")


async def test_agent_cannot_read_others_chat(agent, bot) -> None:
    """An agent cannot open a chat it never handled."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await accepted_chat(a, b)
    bob = await agent("bob")
    with pytest.raises(ServerError) as e:
        await bob.request(GetChat(id=0, interaction=ix))
    assert e.value.code == "not_found"


async def test_record_fields_and_result(agent, bot) -> None:
    """Name, result (from the lookup), details and notes are saved, also after the end."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await accepted_chat(a, b)
    await a.request(End(id=0, interaction=ix))
    await a.request(
        UpdateChat(id=0, interaction=ix, name="Stock question", result="information", notes="VIP")
    )
    with pytest.raises(ServerError) as e:
        await a.request(UpdateChat(id=0, interaction=ix, result="not-a-result"))
    assert e.value.code == "invalid"
    chat = await a.request(GetChat(id=0, interaction=ix))
    rec = chat.record
    assert (rec.name, rec.result, rec.notes, rec.state) == (
        "Stock question",
        "information",
        "VIP",
        "completed",
    )
    assert rec.interaction.accepted_at and rec.interaction.ended_at


async def test_contact_identified_on_arrival(agent, bot) -> None:
    """A customer whose phone matches one contact is linked to it on arrival."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await accepted_chat(a, b, customer=Customer(name="Dana", phone="+1 555 0100"))
    made = await a.request(
        Identify(id=0, interaction=ix, new_contact=NewContact(name="Dana Smith", account="Acme"))
    )
    assert made.contact.phones == ["+15550100"] and made.contact.account == "Acme"
    await a.request(End(id=0, interaction=ix))
    await a.request(WrapUpDone(id=0))
    # Next time the same number writes, the contact is attached by itself.
    created = await b.request(
        StartChat(id=0, queue="sales", customer=Customer(name="D", phone="+15550100"))
    )
    change = await b.next_push("interaction")
    while change.interaction.id != created.interaction.id or change.interaction.contact is None:
        change = await b.next_push("interaction")
    assert change.interaction.contact == made.contact.id
    found = await a.request(FindContacts(id=0, query="acme"))
    assert [c.id for c in found.contacts] == [made.contact.id]


async def test_several_matches_become_candidates(agent, bot) -> None:
    """When several contacts match, none is attached and the agent gets the list."""
    a = await agent("alice", ready=True)
    b = await bot()
    ids = []
    for n in range(2):
        ix = await accepted_chat(a, b, customer=Customer(email=f"x{n}@example.com"))
        made = await a.request(
            Identify(
                id=0,
                interaction=ix,
                new_contact=NewContact(name=f"Twin {n}", email="shared@example.com"),
            )
        )
        ids.append(made.contact.id)
        await a.request(End(id=0, interaction=ix))
        await a.request(WrapUpDone(id=0))
    ix = await accepted_chat(a, b, customer=Customer(email="Shared@Example.com"))
    await asyncio.sleep(0.2)
    chat = await a.request(GetChat(id=0, interaction=ix))
    assert chat.record.contact is None
    assert sorted(c.id for c in chat.record.candidates) == sorted(ids)
    picked = await a.request(Identify(id=0, interaction=ix, contact=ids[1]))
    assert picked.contact.id == ids[1]


async def test_history_search(agent, bot, connect) -> None:
    """Supervisors search all chats; agents only see their own."""
    a = await agent("alice", ready=True)
    b = await bot()
    mine = await accepted_chat(a, b)
    await a.request(End(id=0, interaction=mine))
    await a.request(SetStatus(id=0, status="not_ready", reason="break"))
    c = await agent("carol", ready=True)
    theirs = await accepted_chat(c, b)
    sup = await connect()
    await sup.login("sam", "sam-demo")
    every = await sup.request(SearchChats(id=0, queue="sales"))
    assert {r.interaction.id for r in every.chats} == {mine, theirs}
    done = await sup.request(SearchChats(id=0, state="completed"))
    assert [r.interaction.id for r in done.chats] == [mine]
    by_carol = await sup.request(SearchChats(id=0, agent="carol"))
    assert [r.interaction.id for r in by_carol.chats] == [theirs]
    own = await a.request(SearchChats(id=0))
    assert [r.interaction.id for r in own.chats] == [mine]


async def test_writing_after_completed_starts_new_chat(agent, bot) -> None:
    """A customer who writes into a completed chat starts a new one, same contact."""
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await accepted_chat(a, b, customer=Customer(phone="+15550199"))
    made = await a.request(Identify(id=0, interaction=ix, new_contact=NewContact(name="Eve")))
    await b.request(End(id=0, interaction=ix))
    await a.request(WrapUpDone(id=0))
    sent = await say(b, ix, "one more thing", "late-1")
    assert sent.interaction != ix
    offer = await a.next_push("offer")
    assert offer.interaction.id == sent.interaction
    assert offer.interaction.previous == ix and offer.interaction.contact == made.contact.id
    again = await say(b, ix, "one more thing", "late-1")  # a resend is not a third chat
    assert again.interaction == sent.interaction and again.duplicate
    assert again.message.id == sent.message.id


async def test_idle_chat_ended(agent, bot, server: App) -> None:
    """A chat with no messages for the idle timeout is ended with reason idle."""
    assert server.runtime is not None
    # Chats started from now on go idle after half a second.
    server.runtime.chats.settings = dataclasses.replace(
        server.runtime.chats.settings, idle_timeout=0.5
    )
    a = await agent("alice", ready=True)
    b = await bot()
    ix = await accepted_chat(a, b)
    change = await b.next_push("interaction", timeout=3)
    while change.interaction.status != "ended":
        change = await b.next_push("interaction", timeout=3)
    assert change.interaction.id == ix and change.interaction.end_reason == "idle"
