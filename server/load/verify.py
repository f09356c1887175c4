"""The load test's verdict: every message delivered exactly once and in order,
every interaction ended. Pure functions over what the workers recorded."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Verdict:
    chats: int = 0
    messages: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    unexpected: int = 0
    unfinished: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.lost or self.duplicated or self.reordered or self.unexpected or self.unfinished
        )


def check_stream(
    chat: str, sent: list[str], received: list[str], verdict: Verdict, direction: str
) -> None:
    """``sent``: acknowledged texts in the order the server numbered them;
    ``received``: texts in the order the other side got them."""
    verdict.messages += len(sent)
    counts = Counter(received)
    sent_set = set(sent)
    for text in sent:
        if counts[text] == 0:
            verdict.lost += 1
            _example(verdict, f"{direction} {chat}: lost {text!r}")
        elif counts[text] > 1:
            verdict.duplicated += counts[text] - 1
            _example(verdict, f"{direction} {chat}: {text!r} delivered {counts[text]} times")
    for text in counts:
        if text not in sent_set:
            verdict.unexpected += counts[text]
            _example(verdict, f"{direction} {chat}: got {text!r}, never acknowledged")
    delivered = [t for t in dict.fromkeys(received) if t in sent_set]
    expected = [t for t in sent if t in counts]
    if delivered != expected:
        verdict.reordered += 1
        _example(verdict, f"{direction} {chat}: out of order")


def _example(verdict: Verdict, text: str) -> None:
    if len(verdict.examples) < 10:
        verdict.examples.append(text)


def verify(
    bot_sent: dict[str, list[str]],
    agent_got: dict[str, list[str]],
    agent_sent: dict[str, list[str]],
    bot_got: dict[str, list[str]],
    created: set[str],
    finished: set[str],
) -> Verdict:
    verdict = Verdict(chats=len(created))
    for chat in sorted(set(bot_sent) | set(agent_got)):
        check_stream(chat, bot_sent.get(chat, []), agent_got.get(chat, []), verdict, "bot→agent")
    for chat in sorted(set(agent_sent) | set(bot_got)):
        check_stream(chat, agent_sent.get(chat, []), bot_got.get(chat, []), verdict, "agent→bot")
    verdict.unfinished = sorted(created - finished)
    return verdict
