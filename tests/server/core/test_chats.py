"""Chat conversations on a fake clock: numbering, resends, relays, chat state, idleness."""

from __future__ import annotations

from typing import Any

import pytest

from protocol.chats import MessageView, NewMessage
from protocol.errors import ErrorCode
from protocol.routing import InteractionChanged
from server.core import Persist, Router, RoutingSettings, Send
from server.core import effects as fx
from server.core.chats import ChatSettings, Conversations
from server.core.model import Interaction

IDLE = 300.0
MAX_TEXT = 100


@pytest.fixture
def talk(desk) -> Conversations:
    """Conversations on the desk's router, with a queue ``q`` and short limits."""
    desk.queue("q")
    return Conversations(desk.router, ChatSettings(max_text=MAX_TEXT, idle_timeout=IDLE))


def accepted(desk, agent: str = "ann", owner: str = "bot") -> Interaction:
    """A chat of ``owner`` in ``q`` accepted by ``agent`` (created ready if new)."""
    if agent not in desk.router.agents:
        desk.agent(agent)
    ix = desk.chat(owner=owner)
    assert desk.offered_to(ix) == agent
    desk.accept(agent)
    desk.effects()
    return ix


def live_state(talk: Conversations) -> Any:
    return {k: (c.count, c.last_activity, dict(c.sent)) for k, c in talk.live.items()}


def refused(desk, talk: Conversations, command: Any, *args: Any, **kw: Any) -> ErrorCode:
    """Run a refused command; show neither router nor conversations changed."""
    before = live_state(talk)
    err = desk.refused(command, *args, **kw)
    assert live_state(talk) == before
    return err.code


def messages_sent(effects: list[Any]) -> list[tuple[tuple[str, str], MessageView]]:
    return [
        (e.to, e.frame.message)
        for e in effects
        if isinstance(e, Send) and isinstance(e.frame, NewMessage)
    ]


# ----------------------------------------------------------------- numbering


def test_messages_are_numbered_per_chat(desk, talk) -> None:
    """Each chat numbers its messages 1, 2, 3... on its own."""
    one = accepted(desk)
    two = desk.chat()  # nobody free: it waits, and can be written to meanwhile
    ns = [
        talk.post(one.id, "customer", "bot", "c1", "hello")[0].n,
        talk.post(two.id, "customer", "bot", "c1", "anyone?")[0].n,
        talk.post(one.id, "agent", "ann", "a1", "hi")[0].n,
        talk.post(one.id, "bot", "bot", "b1", "note")[0].n,
        talk.post(two.id, "customer", "bot", "c2", "hello?")[0].n,
    ]
    assert ns == [1, 1, 2, 3, 2]
    m = talk.post(one.id, "customer", "bot", "c2", "ok")[0]
    assert (m.n, m.interaction, m.author, m.by, m.text, m.client_id) == (
        4,
        one.id,
        "customer",
        "bot",
        "ok",
        "c2",
    )
    assert m.sent_at == desk.clock.now


def test_resend_returns_the_same_message_and_does_nothing(desk, talk) -> None:
    """The same (author, by, client id) again gives back the stored message, no effects."""
    ix = accepted(desk)
    first, dup = talk.post(ix.id, "customer", "bot", "c1", "only once")
    assert not dup
    talk.post(ix.id, "agent", "ann", "a1", "reply")
    desk.effects()
    before = live_state(talk)
    desk.clock.advance(5)
    again, dup = talk.post(ix.id, "customer", "bot", "c1", "only once (retried)")
    assert dup and again == first
    assert desk.effects() == []
    assert live_state(talk) == before
    assert talk.post(ix.id, "customer", "bot", "c2", "next")[0].n == 3


def test_same_client_id_from_another_author_is_another_message(desk, talk) -> None:
    """Client ids are scoped by author and sender: the same one from each is new."""
    ix = accepted(desk)
    customer, d1 = talk.post(ix.id, "customer", "bot", "x", "from the customer")
    as_bot, d2 = talk.post(ix.id, "bot", "bot", "x", "from the bot")
    agent, d3 = talk.post(ix.id, "agent", "ann", "x", "from the agent")
    assert not (d1 or d2 or d3)
    assert [customer.n, as_bot.n, agent.n] == [1, 2, 3]
    assert len({customer.id, as_bot.id, agent.id}) == 3
    assert talk.post(ix.id, "bot", "bot", "x", "again")[0] == as_bot


def test_resends_are_remembered_for_the_latest_messages_only(desk) -> None:
    """A chat remembers the client ids of its last resend_window messages: a
    resend within them is found, the chat never holds more, and an id older
    than the window is taken as a new message (clients resend only what is
    not acknowledged yet, so that is never a real resend)."""
    desk.queue("q")
    talk = Conversations(desk.router, ChatSettings(max_text=MAX_TEXT, resend_window=5))
    ix = accepted(desk)
    sent = [talk.post(ix.id, "customer", "bot", f"c{n}", f"m{n}")[0] for n in range(1, 12)]
    chat = talk.live[ix.id]
    # Pruned to the last 5 when there were 11 (more than twice the window).
    assert list(chat.sent) == [("customer", "bot", f"c{n}") for n in range(7, 12)]
    again, dup = talk.post(ix.id, "customer", "bot", "c7", "m7")
    assert dup and again == sent[6]
    old, dup = talk.post(ix.id, "customer", "bot", "c1", "m1")
    assert not dup and old.n == 12
    for n in range(100):
        talk.post(ix.id, "customer", "bot", f"x{n}", "more")
        assert 5 <= len(chat.sent) <= 10
    assert ("customer", "bot", "x99") in chat.sent


def test_a_restore_remembers_the_latest_messages_only(desk, ids) -> None:
    desk.queue("q")
    talk = Conversations(desk.router, ChatSettings(max_text=MAX_TEXT, resend_window=3))
    ix = accepted(desk)
    stored = [talk.post(ix.id, "customer", "bot", f"c{n}", f"m{n}")[0] for n in range(8)]
    records = [i.record() for i in desk.router.interactions.values()]
    router = Router(desk.clock, ids, RoutingSettings())
    talk2 = Conversations(router, ChatSettings(max_text=MAX_TEXT, resend_window=3))
    for q in desk.router.queues.values():
        router.put_queue(q)
    for a in desk.router.agents.values():
        router.put_agent(a.cfg)
    router.restore(records, {n: (a.status, a.reason) for n, a in desk.router.agents.items()})
    talk2.restore(list(reversed(stored)))  # in any order: by number
    # Pruned to the last three at the seventh, then the eighth added.
    kept = [m.client_id for m in talk2.live[ix.id].sent.values()]
    assert kept == ["c4", "c5", "c6", "c7"]
    assert talk2.live[ix.id].count == 8


# ------------------------------------------------------------------ effects


def test_message_is_persisted_before_it_is_sent(desk, talk) -> None:
    """A message's Persist comes before every Send of that command."""
    ix = accepted(desk)
    for author, by, cid in [
        ("agent", "ann", "a1"),
        ("customer", "bot", "c1"),
        ("agent", "ann", "a2"),
    ]:
        message, _ = talk.post(ix.id, author, by, cid, "text")
        effects = desk.effects()
        stored = [
            i for i, e in enumerate(effects) if isinstance(e, Persist) and e.kind == "message"
        ]
        sent = [i for i, e in enumerate(effects) if isinstance(e, Send)]
        assert len(stored) == 1 and effects[stored[0]].row == message
        assert sent and stored[0] < min(sent)
        assert [m for _, m in messages_sent(effects)] == [message]


def test_customer_message_reaches_the_assigned_agent_only(desk, talk) -> None:
    """Waiting or offered, a customer message goes to nobody; assigned, to the agent."""
    ix = desk.chat()
    talk.post(ix.id, "customer", "bot", "c1", "waiting")
    assert messages_sent(desk.effects()) == []
    desk.agent("ann")
    assert desk.offered_to(ix) == "ann" and ix.status == "assigning"
    desk.effects()
    talk.post(ix.id, "customer", "bot", "c2", "offered")
    assert messages_sent(desk.effects()) == []
    desk.accept("ann")
    desk.effects()
    m, _ = talk.post(ix.id, "customer", "bot", "c3", "assigned")
    assert messages_sent(desk.effects()) == [(fx.agent("ann"), m)]
    b, _ = talk.post(ix.id, "bot", "bot", "b1", "the bot speaks")
    assert messages_sent(desk.effects()) == [(fx.agent("ann"), b)]


def test_agent_message_goes_to_the_owning_bot(desk, talk) -> None:
    """An agent's message is sent to the bot key that owns the chat, not back to the agent."""
    ix = accepted(desk, owner="webchat")
    m, _ = talk.post(ix.id, "agent", "ann", "a1", "hello")
    assert messages_sent(desk.effects()) == [(fx.key("webchat"), m)]


# --------------------------------------------------------------- chat state


def test_first_agent_message_moves_new_to_in_progress(desk, talk) -> None:
    """Accept makes the chat new; the agent's first message makes it in progress, once."""
    ix = accepted(desk)
    assert ix.chat_state == "new"
    talk.post(ix.id, "customer", "bot", "c1", "hi")
    assert ix.chat_state == "new"
    assert desk.persists(desk.effects(), "interaction") == []
    talk.post(ix.id, "agent", "ann", "a1", "hello")
    assert ix.chat_state == "in_progress"
    effects = desk.effects()
    assert [p.row.chat_state for p in desk.persists(effects, "interaction")] == ["in_progress"]
    changed = desk.sends(effects, InteractionChanged)
    assert {s.to for s in changed} == {fx.key("bot"), fx.agent("ann")}
    assert all(s.frame.interaction.chat_state == "in_progress" for s in changed)
    talk.post(ix.id, "agent", "ann", "a2", "still here")
    assert ix.chat_state == "in_progress"
    effects = desk.effects()
    assert desk.persists(effects, "interaction") == []
    assert desk.sends(effects, InteractionChanged) == []


def test_set_in_progress_by_hand(desk, talk) -> None:
    """The agent can set in progress without writing; again is a no-op; others cannot."""
    ix = accepted(desk)
    desk.agent("bob")
    assert refused(desk, talk, talk.set_in_progress, ix.id, "bob") == ErrorCode.FORBIDDEN
    talk.set_in_progress(ix.id, "ann")
    assert ix.chat_state == "in_progress"
    effects = desk.effects()
    assert [p.row.chat_state for p in desk.persists(effects, "interaction")] == ["in_progress"]
    talk.set_in_progress(ix.id, "ann")
    assert desk.effects() == []
    talk.post(ix.id, "agent", "ann", "a1", "hello")
    assert ix.chat_state == "in_progress"
    assert desk.persists(desk.effects(), "interaction") == []


def test_set_in_progress_needs_an_accepted_chat(desk, talk) -> None:
    """A chat waiting or offered has no chat state to move yet."""
    ix = desk.chat()
    assert refused(desk, talk, talk.set_in_progress, ix.id, "ann") == ErrorCode.FORBIDDEN
    desk.agent("ann")
    assert desk.offered_to(ix) == "ann"
    assert refused(desk, talk, talk.set_in_progress, ix.id, "ann") == ErrorCode.FORBIDDEN
    assert ix.chat_state is None


# -------------------------------------------------------------- permissions


def test_agent_cannot_write_to_a_chat_not_theirs(desk, talk) -> None:
    """Another agent, or the agent an offer is pending for, gets FORBIDDEN."""
    ix = accepted(desk)
    talk.post(ix.id, "customer", "bot", "c1", "hi")
    desk.agent("bob")
    assert (
        refused(desk, talk, talk.post, ix.id, "agent", "bob", "b1", "mine?") == ErrorCode.FORBIDDEN
    )
    offered = desk.chat()
    assert desk.offered_to(offered) == "bob"
    assert (
        refused(desk, talk, talk.post, offered.id, "agent", "bob", "b1", "too early")
        == ErrorCode.FORBIDDEN
    )
    # Nor can a client id of someone else's message fetch that message.
    assert refused(desk, talk, talk.post, ix.id, "agent", "bob", "c1", "x") == ErrorCode.FORBIDDEN


def test_chat_requeued_to_another_agent_changes_hands(desk, talk) -> None:
    """When the agent vanishes and another takes the chat, only the new agent writes and is told."""
    ix = accepted(desk)
    talk.post(ix.id, "agent", "ann", "a1", "hello")
    desk.effects()
    desk.router.disconnect("ann")
    desk.tick(desk.router.settings.grace)
    assert ix.status == "waiting"
    desk.agent("bob")
    desk.accept("bob")
    lines = [e.row for e in desk.effects() if isinstance(e, Persist) and e.kind == "message"]
    assert [(m.n, m.author, m.by, m.text) for m in lines] == [
        (2, "system", "", "ann was disconnected. The chat waits for another agent."),
        (3, "system", "", "bob took the chat."),
    ]
    assert refused(desk, talk, talk.post, ix.id, "agent", "ann", "a2", "me?") == ErrorCode.FORBIDDEN
    m, dup = talk.post(ix.id, "agent", "bob", "a1", "bob here")  # a1 of bob is not a1 of ann
    assert (m.n, dup) == (4, False)
    c, _ = talk.post(ix.id, "customer", "bot", "c1", "hi bob")
    assert messages_sent(desk.effects()) == [(fx.key("bot"), m), (fx.agent("bob"), c)]


def test_a_chat_a_supervisor_moves_says_so_in_its_transcript(desk, talk) -> None:
    """Reassigned to the queue: a line now, stored like a message; the agent
    who takes it next is named, and that line is pushed to that agent."""
    ix = accepted(desk)
    desk.router.reassign(ix.id, "sue")
    effects = desk.effects()
    line = next(e.row for e in effects if isinstance(e, Persist) and e.kind == "message")
    assert (line.n, line.author, line.text) == (
        1, "system", "A supervisor moved the chat away from ann."
    )  # fmt: skip
    assert messages_sent(effects) == []  # nobody has the chat to be told
    desk.tick(desk.router.settings.reoffer_delay)  # ann may have it again after the delay
    desk.accept("ann")
    took = messages_sent(desk.effects())
    assert [(to, m.n, m.text) for to, m in took] == [(fx.agent("ann"), 2, "ann took the chat.")]
    # Only once per hand-over: a later accept of another chat adds nothing here.
    assert talk.post(ix.id, "customer", "bot", "c1", "hi")[0].n == 3


def test_bot_cannot_write_to_another_bots_chat(desk, talk) -> None:
    """A chat belongs to the bot that started it, as customer and as bot."""
    ix = accepted(desk, owner="telegram")
    for author in ("customer", "bot"):
        code = refused(desk, talk, talk.post, ix.id, author, "webchat", "c1", "hi")
        assert code == ErrorCode.FORBIDDEN
    assert talk.post(ix.id, "customer", "telegram", "c1", "hi")[0].n == 1


def test_writing_to_an_ended_or_unknown_chat_is_not_found(desk, talk) -> None:
    """After the end nobody can write; nor to an unknown id or a call."""
    ix = accepted(desk)
    talk.post(ix.id, "customer", "bot", "c1", "hi")
    desk.router.end(ix.id, ("key", "bot"))
    desk.effects()
    for author, by in [("agent", "ann"), ("customer", "bot"), ("bot", "bot")]:
        assert refused(desk, talk, talk.post, ix.id, author, by, "c1", "hi") == ErrorCode.NOT_FOUND
    assert (
        refused(desk, talk, talk.post, "nope", "customer", "bot", "c9", "?") == ErrorCode.NOT_FOUND
    )
    desk.queue("calls", channel="call")
    call = desk.call("calls")
    assert (
        refused(desk, talk, talk.post, call.id, "customer", "gw", "c9", "?") == ErrorCode.NOT_FOUND
    )


def test_too_long_text_is_refused_and_changes_nothing(desk, talk) -> None:
    """Text over max_text is TOO_LARGE, stores nothing and uses no number."""
    ix = accepted(desk)
    code = refused(desk, talk, talk.post, ix.id, "customer", "bot", "c1", "x" * (MAX_TEXT + 1))
    assert code == ErrorCode.TOO_LARGE
    assert refused(desk, talk, talk.post, ix.id, "agent", "ann", "a1", "é" * (MAX_TEXT + 1)) == (
        ErrorCode.TOO_LARGE
    )
    assert ix.chat_state == "new"
    m, dup = talk.post(ix.id, "customer", "bot", "c1", "x" * MAX_TEXT)
    assert (m.n, dup, m.text) == (1, False, "x" * MAX_TEXT)


# ----------------------------------------------------------------- idleness


def test_idle_chat_ends_after_idle_timeout_from_acceptance(desk, talk) -> None:
    """An accepted chat nobody writes to ends "idle" idle_timeout after acceptance."""
    ix = desk.chat()
    desk.tick(100)
    desk.agent("ann")
    desk.accept("ann")
    accepted_at = desk.clock.now
    desk.tick(IDLE - 1)
    assert ix.status == "assigned"
    desk.effects()
    desk.tick(1)
    assert desk.clock.now == accepted_at + IDLE
    assert (ix.status, ix.end_reason, ix.chat_state) == ("ended", "idle", "completed")
    assert ix.id not in desk.router.interactions and ix.id not in talk.live
    saved = desk.persists(desk.effects(), "interaction")
    assert saved and saved[-1].row.end_reason == "idle"
    assert desk.router.agents["ann"].interaction is None


def test_chat_waiting_for_an_agent_is_not_idle(desk, talk) -> None:
    """A chat waiting or offered is never idle; the idle period starts at acceptance."""
    desk.queue("slow", offer_timeout=600)
    ix = desk.chat("slow")
    for _ in range(10):
        desk.tick(IDLE)
    assert ix.status == "waiting" and ix.id in desk.router.interactions
    desk.agent("ann", inboxes=["slow"])
    assert ix.status == "assigning"
    desk.tick(IDLE)
    desk.tick(IDLE / 2)  # the offer (600 s) is still pending past the idle timeout
    assert ix.status == "assigning"
    desk.accept("ann")
    accepted_at = desk.clock.now
    desk.tick(IDLE - 1)
    assert ix.status == "assigned"
    desk.tick(1)
    assert desk.clock.now == accepted_at + IDLE
    assert (ix.status, ix.end_reason) == ("ended", "idle")


def test_idle_counts_from_the_last_message(desk, talk) -> None:
    """Any message, from either side, starts the idle period again."""
    ix = accepted(desk)
    desk.tick(200)
    talk.post(ix.id, "agent", "ann", "a1", "still there?")
    desk.tick(250)
    talk.post(ix.id, "customer", "bot", "c1", "yes")
    last = desk.clock.now
    desk.tick(IDLE - 1)
    assert ix.status == "assigned"
    desk.tick(1)
    assert desk.clock.now == last + IDLE
    assert (ix.status, ix.end_reason) == ("ended", "idle")


def test_idle_counts_from_acceptance_when_later_than_the_last_message(desk, talk) -> None:
    """Messages written while the chat waited do not shorten the agent's idle period."""
    ix = desk.chat()
    talk.post(ix.id, "customer", "bot", "c1", "hello?")
    desk.tick(250)
    desk.agent("ann")
    desk.accept("ann")
    accepted_at = desk.clock.now
    desk.tick(IDLE - 1)
    assert ix.status == "assigned"
    desk.tick(1)
    assert desk.clock.now == accepted_at + IDLE
    assert (ix.status, ix.end_reason) == ("ended", "idle")


def test_idle_timeout_zero_never_ends_a_chat(desk) -> None:
    """idle_timeout 0 turns the idle end off."""
    desk.queue("q")
    talk = Conversations(desk.router, ChatSettings(idle_timeout=0))
    ix = accepted(desk)
    talk.post(ix.id, "customer", "bot", "c1", "hi")
    desk.tick(10 * 86400)
    assert ix.status == "assigned" and ix.id in talk.live


# ------------------------------------------------------------------- ending


@pytest.mark.parametrize("ender", [("agent", "ann"), ("key", "bot"), ("supervisor", "sam")])
def test_ending_completes_the_chat_and_forgets_it(desk, talk, ender) -> None:
    """An end by either side or a supervisor makes the chat completed and drops its live state."""
    ix = accepted(desk)
    talk.post(ix.id, "customer", "bot", "c1", "hi")
    talk.post(ix.id, "agent", "ann", "a1", "hello")
    desk.effects()
    desk.router.end(ix.id, ender)
    assert ix.chat_state == "completed" and ix.status == "ended"
    assert ix.id not in talk.live
    saved = desk.persists(desk.effects(), "interaction")
    assert saved[-1].row.chat_state == "completed"
    desk.tick(10 * IDLE)  # the idle timers left behind find nothing to do
    assert ix.id not in talk.live


def test_chat_missed_in_the_queue_is_forgotten(desk, talk) -> None:
    """A chat that fails (no agent within max_wait) leaves no live conversation behind."""
    desk.queue("short", max_wait=60)
    ix = desk.router.create("chat", "short", "bot")
    talk.post(ix.id, "customer", "bot", "c1", "hello?")
    desk.tick(60)
    assert (ix.status, ix.end_reason) == ("failed", "max_wait")
    assert ix.id not in talk.live


# ------------------------------------------------------------------ restore


def restart(desk, ids, records: list[Any], messages: list[MessageView]) -> tuple[Router, Any]:
    """A new router and conversations on the same clock and id source, restored."""
    router = Router(desk.clock, ids, RoutingSettings())
    talk = Conversations(router, ChatSettings(max_text=MAX_TEXT, idle_timeout=IDLE))
    for q in desk.router.queues.values():
        router.put_queue(q)
    for a in desk.router.agents.values():
        router.put_agent(a.cfg)
    statuses = {name: (a.status, a.reason) for name, a in desk.router.agents.items()}
    router.restore(records, statuses)
    talk.restore(messages)
    router.take_effects()
    return router, talk


def test_restore_continues_numbering_and_resends(desk, talk, ids) -> None:
    """After a restart, numbers go on from the last stored one and resends are still found."""
    ix = accepted(desk)
    waiting = desk.chat()
    stored = [
        talk.post(ix.id, "customer", "bot", "c1", "one")[0],
        talk.post(ix.id, "agent", "ann", "a1", "two")[0],
        talk.post(ix.id, "customer", "bot", "c2", "three")[0],
        talk.post(waiting.id, "customer", "bot", "c1", "first")[0],
    ]
    records = [i.record() for i in desk.router.interactions.values()]
    desk.clock.advance(30)
    router, talk2 = restart(desk, ids, records, stored)
    assert router.interactions[ix.id].chat_state == "in_progress"
    again, dup = talk2.post(ix.id, "customer", "bot", "c2", "three")
    assert dup and again == stored[2]
    again, dup = talk2.post(ix.id, "agent", "ann", "a1", "two")
    assert dup and again == stored[1]
    assert router.take_effects() == []
    new, dup = talk2.post(ix.id, "agent", "ann", "a2", "four")
    assert (new.n, dup) == (4, False)
    assert new.id not in {m.id for m in stored}
    assert talk2.post(waiting.id, "customer", "bot", "c1", "first")[1]
    assert talk2.post(waiting.id, "customer", "bot", "c2", "second")[0].n == 2


def test_restored_chat_idle_timer_runs_from_the_restart(desk, talk, ids) -> None:
    """A restored chat, even one without messages, ends idle_timeout after the restart."""
    ix = accepted(desk)
    records = [i.record() for i in desk.router.interactions.values()]
    desk.clock.advance(IDLE * 2)
    router, talk2 = restart(desk, ids, records, [])
    router.connect("ann")  # back within the grace period
    restarted = desk.clock.now
    desk.clock.advance(IDLE - 1)
    router.advance()
    assert router.interactions[ix.id].status == "assigned"
    desk.clock.advance(1)
    router.advance()
    assert desk.clock.now == restarted + IDLE
    assert ix.id not in router.interactions and ix.id not in talk2.live


def test_a_restart_between_agents_still_names_the_next_one(desk, talk) -> None:
    """Restored from the stored messages, a chat whose latest system line says
    its agent left still gets the line naming the agent who takes it."""
    ix = accepted(desk)
    stored = [talk.post(ix.id, "customer", "bot", "c1", "hi")[0]]
    desk.effects()
    desk.router.reassign(ix.id, "sue")
    stored += [e.row for e in desk.effects() if isinstance(e, Persist) and e.kind == "message"]
    assert [m.client_id for m in stored] == ["c1", "system-left-2"]
    desk.router.listeners.remove(talk._on_event)  # the restarted server's conversations:
    again = Conversations(desk.router)
    again.restore(list(reversed(stored)))  # in any order
    assert again.live[ix.id].handed_over and again.live[ix.id].count == 2
    desk.tick(desk.router.settings.reoffer_delay)
    desk.accept("ann")
    took = messages_sent(desk.effects())
    assert [(m.n, m.client_id, m.text) for _, m in took] == [
        (3, "system-took-3", "ann took the chat.")
    ]
    # Restored after that line, nothing more is owed.
    last = Conversations(desk.router)
    desk.router.listeners.remove(again._on_event)
    last.restore([*stored, took[0][1]])
    assert not last.live[ix.id].handed_over


def test_an_ended_chat_leaves_no_timer_behind(desk, talk) -> None:
    """Once a chat ends, neither its idle timer nor its wait's is pending: at
    thousands of chats a second, half-hour idle timers of ended chats would
    pile up by the million. (An offer's timer is due within offer_timeout.)"""
    desk.queue("q", max_wait=600)
    ix = accepted(desk)
    kinds = {kind for _, kind, ref in desk.router.timers.pending() if ref == ix.id}
    assert kinds == {"idle"}  # the wait's went with the accept
    desk.router.end(ix.id, ("key", "bot"), "customer_left")
    assert [t for t in desk.router.timers.pending() if t[2] == ix.id] == []


def test_the_timer_heap_stays_small_under_churn(desk, talk) -> None:
    """5,000 chats created, accepted and ended, 0.1 s apart: the heap holds
    what is live (the offers' timers of the last offer_timeout), not an entry
    per chat ever seen."""
    desk.agent("ann")
    timeout = desk.router.queues["q"].offer_timeout
    for _ in range(5000):
        ix = desk.chat()
        desk.accept("ann")
        desk.router.end(ix.id, ("key", "bot"), "customer_left")
        desk.effects()
        desk.tick(0.1)
    assert {kind for _, kind, _ in desk.router.timers.pending()} == {"offer"}
    assert len(desk.router.timers) < 2 * (timeout / 0.1) + 2100


def test_a_resend_window_of_zero_remembers_nothing(desk) -> None:
    desk.queue("q")
    talk = Conversations(desk.router, ChatSettings(max_text=MAX_TEXT, resend_window=0))
    ix = accepted(desk)
    first = talk.post(ix.id, "customer", "bot", "c1", "hi")[0]
    assert not talk.live[ix.id].sent
    again, dup = talk.post(ix.id, "customer", "bot", "c1", "hi")
    assert not dup and again.n == first.n + 1
