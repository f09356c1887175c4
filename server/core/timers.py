"""Deadlines the core asks to be woken for.

The core never sleeps: it records ``(when, kind, ref)``; the runtime asks
:meth:`Timers.next_deadline` and calls the router back when it is due. A
timer is never cancelled; when it fires, the router checks that what it was
set for still holds (an offer still pending, an agent still away...).
"""

from __future__ import annotations

import heapq
import itertools


class Timers:
    __slots__ = ("_heap", "_seq", "changes")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, str]] = []
        self._seq = itertools.count()
        #: Counts sets and pops: the next deadline can only have moved when
        #: this has (the runtime looks after every command, so cheaply).
        self.changes = 0

    def set(self, when: float, kind: str, ref: str) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), kind, ref))
        self.changes += 1

    def next_deadline(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> tuple[str, str] | None:
        """The earliest timer due at ``now``, removed; ``None`` if none is."""
        if self._heap and self._heap[0][0] <= now:
            _, _, kind, ref = heapq.heappop(self._heap)
            self.changes += 1
            return kind, ref
        return None

    def __len__(self) -> int:
        return len(self._heap)
