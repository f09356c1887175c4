"""Chat conversations: messages, their order, resends, chat state, idleness.

Pure like the router it extends: it reads and changes the router's
interactions and emits effects through it. A message is a :class:`Persist`
effect followed by :class:`Send` effects, so the runtime commits it before it
acknowledges or relays it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol.chats import Author, FileView, MessageView, NewMessage
from protocol.errors import ErrorCode
from server.core import effects as fx
from server.core.errors import RoutingError
from server.core.model import Interaction
from server.core.router import Router
from server.core.states import CHAT, step

#: (author, by, client id): what makes a resend the same message.
DedupeKey = tuple[str, str, str]

#: Client ids of the system's lines when a chat changes hands (plus its n):
#: after a restart the latest one says whether the chat is between agents.
_LEFT = "system-left-"
_TOOK = "system-took-"


@dataclass(frozen=True, slots=True)
class ChatSettings:
    #: Longest message text, in characters.
    max_text: int = 4096
    #: Seconds without a message after which a live chat is ended ("idle");
    #: 0 turns it off.
    idle_timeout: float = 1800.0
    #: Messages per chat whose client ids are remembered, so that a resend
    #: gets the message it already made. A client resends only what was not
    #: acknowledged yet, a handful at most; the window keeps a long chat (or
    #: a bot that writes without end) from holding every message in memory.
    resend_window: int = 1000


@dataclass(slots=True)
class LiveChat:
    """What the conversation of a live chat needs in memory."""

    count: int = 0  # messages so far; the next gets count + 1
    last_activity: float = 0.0
    #: The latest messages by dedupe key, oldest first: at least the last
    #: resend_window of them, at most twice as many.
    sent: dict[DedupeKey, MessageView] = field(default_factory=dict)
    #: Its agent left it (disconnected, or a supervisor moved it): the next
    #: agent to take it is named in the transcript.
    handed_over: bool = False

    def remember(self, key: DedupeKey, message: MessageView, window: int) -> None:
        self.sent[key] = message
        if len(self.sent) > 2 * window:
            self.prune(window)

    def prune(self, window: int) -> None:
        """Keep the latest ``window`` keys. Done when there are twice as many,
        so a plain dict (in insertion order) and a length check per message
        are all it costs."""
        self.sent = dict(list(self.sent.items())[-window:]) if window > 0 else {}


class Conversations:
    def __init__(self, router: Router, settings: ChatSettings | None = None) -> None:
        self.router = router
        self.settings = settings or ChatSettings()
        self.live: dict[str, LiveChat] = {}
        router.timer_handlers["idle"] = self._idle_due
        router.listeners.append(self._on_event)

    # ------------------------------------------------------------------ restore

    def restore(self, messages: list[MessageView]) -> None:
        """Messages of live chats, after a restart: numbering and resends go on."""
        now = self.router.clock()
        for m in sorted(messages, key=lambda m: (m.interaction, m.n)):
            chat = self._chat(m.interaction, now)
            chat.count = max(chat.count, m.n)
            chat.remember((m.author, m.by, m.client_id), m, self.settings.resend_window)
            if m.author == "system":  # the latest line says whether it is between agents
                chat.handed_over = m.client_id.startswith(_LEFT)
        for ix in self.router.interactions.values():
            if ix.channel == "chat":
                self._chat(ix.id, now)
                self._arm_idle(ix.id, now)

    def _chat(self, interaction_id: str, now: float) -> LiveChat:
        chat = self.live.get(interaction_id)
        if chat is None:
            chat = self.live[interaction_id] = LiveChat(last_activity=now)
        return chat

    # ------------------------------------------------------------------ posting

    def post(
        self,
        interaction_id: str,
        author: Author,
        by: str,
        client_id: str,
        text: str = "",
        template: str | None = None,
        file: FileView | None = None,
    ) -> tuple[MessageView, bool]:
        """Store and relay a message; ``(message, True)`` if it was a resend."""
        ix = self.writable(interaction_id, author, by)
        if len(text) > self.settings.max_text:
            raise RoutingError(
                ErrorCode.TOO_LARGE, f"messages are limited to {self.settings.max_text} characters"
            )
        now = self.router.clock()
        chat = self.live.get(ix.id) or self._chat(ix.id, now)
        key = (author, by, client_id)
        earlier = chat.sent.get(key)
        if earlier is not None:
            return earlier, True
        chat.count += 1
        message = MessageView(
            id=self.router.new_id("m"),
            interaction=ix.id,
            n=chat.count,
            author=author,
            by=by,
            text=text,
            file=file,
            client_id=client_id,
            template=template,
            sent_at=now,
        )
        chat.remember(key, message, self.settings.resend_window)
        chat.last_activity = now
        self.router._persist("message", message)
        if author == "agent" and ix.chat_state == "new":
            ix.chat_state = step(CHAT, "chat", ix.chat_state, "agent_message")
            self.router.touch(ix)
        self._relay(ix, message)
        # No new timer per message: the one armed when the chat began re-arms
        # itself from the last activity when it fires.
        return message, False

    def writable(self, interaction_id: str, author: Author, by: str) -> Interaction:
        """The live chat ``by`` may write to as ``author``, or a refusal."""
        ix = self.router.interactions.get(interaction_id)
        if ix is None or ix.channel != "chat":
            raise RoutingError(ErrorCode.NOT_FOUND, f"no live chat {interaction_id!r}")
        if author == "agent":
            if ix.agent != by or ix.status != "assigned":
                raise RoutingError(ErrorCode.FORBIDDEN, "this chat is not yours")
        elif ix.owner != by:
            raise RoutingError(ErrorCode.FORBIDDEN, "this chat is not yours")
        return ix

    def _relay(self, ix: Interaction, message: MessageView) -> None:
        push = NewMessage(message=message)
        if message.author == "agent":
            self.router._send(fx.key(ix.owner), push)
        elif ix.agent is not None and ix.status == "assigned":
            self.router._send(fx.agent(ix.agent), push)

    def set_in_progress(self, interaction_id: str, agent: str) -> None:
        """The agent marks the chat in progress by hand (from the state bar)."""
        ix = self.writable(interaction_id, "agent", agent)
        if ix.chat_state == "in_progress":
            return
        ix.chat_state = step(CHAT, "chat", ix.chat_state or "", "set_in_progress")
        self.router.touch(ix)

    # ---------------------------------------------------------------- idleness

    def _arm_idle(self, interaction_id: str, now: float) -> None:
        if self.settings.idle_timeout:
            self.router.set_timer(now + self.settings.idle_timeout, "idle", interaction_id)

    def _idle_due(self, interaction_id: str, now: float) -> None:
        chat = self.live.get(interaction_id)
        ix = self.router.interactions.get(interaction_id)
        if chat is None or ix is None:
            return
        # Idle means nobody wrote since the agent took it (or since the last
        # message); a chat still waiting for an agent is not idle, it waits.
        since = max(chat.last_activity, ix.accepted_at or 0.0)
        if ix.status != "assigned":
            self._arm_idle(interaction_id, now)
        elif since + self.settings.idle_timeout <= now:
            self.router.end(interaction_id, ("system", ""), "idle")
        else:
            self._arm_idle(interaction_id, since)

    def _on_event(self, event: str, ix: Interaction, agent: str | None) -> None:
        if ix.channel != "chat":
            return
        if event == "created":
            now = self.router.clock()
            self._chat(ix.id, now)
            self._arm_idle(ix.id, now)
        elif event == "ended":
            self.live.pop(ix.id, None)
            self.router.cancel_timer("idle", ix.id)
        elif event == "requeued" and agent is not None:
            # The transcript says why the conversation changed hands: the
            # next agent reads it, and so does anyone opening the chat later.
            holder = self.router.agents.get(agent)
            if holder is not None and not holder.connected:
                text = f"{agent} was disconnected. The chat waits for another agent."
            else:
                text = f"A supervisor moved the chat away from {agent}."
            self._system_line(ix, _LEFT, text)
            self._chat(ix.id, self.router.clock()).handed_over = True
        elif event == "accepted" and agent is not None:
            chat = self.live.get(ix.id)
            if chat is not None and chat.handed_over:
                chat.handed_over = False
                self._system_line(ix, _TOOK, f"{agent} took the chat.")

    def _system_line(self, ix: Interaction, kind: str, text: str) -> None:
        """A message of the system's own: numbered, stored and relayed like any."""
        now = self.router.clock()
        chat = self._chat(ix.id, now)
        chat.count += 1
        message = MessageView(
            id=self.router.new_id("m"),
            interaction=ix.id,
            n=chat.count,
            author="system",
            text=text,
            client_id=f"{kind}{chat.count}",
            sent_at=now,
        )
        chat.remember(("system", "", message.client_id), message, self.settings.resend_window)
        self.router._persist("message", message)
        self._relay(ix, message)
