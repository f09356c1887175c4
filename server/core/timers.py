"""Deadlines the core asks to be woken for.

The core never sleeps: it records ``(when, kind, ref)``; the runtime asks
:meth:`Timers.next_deadline` and calls the router back when it is due. When a
timer fires, the router checks that what it was set for still holds (an
offer still pending, an agent still away...), so a stale one is harmless.

What is over for good is cancelled, though: a chat's idle timer is set for
half an hour, and at 2,000 chats a second the heap would otherwise hold 3.6
million of them for chats long ended. :meth:`Timers.cancel` is lazy: the key
is marked, its entries are skipped when they come up, and once the marked
entries may be half the heap it is rebuilt without them (linear, so a
constant cost per cancellation).
"""

from __future__ import annotations

import heapq
import itertools

#: Below this many entries the heap is not worth compacting.
_COMPACT_MIN = 1024


class Timers:
    __slots__ = ("_cancelled", "_heap", "_marked", "_seq", "changes")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, str]] = []
        self._seq = itertools.count()
        #: (kind, ref) -> a sequence number: its entries set before it are void.
        self._cancelled: dict[tuple[str, str], int] = {}
        #: Cancellations since the last compaction (entries that may be void).
        self._marked = 0
        #: Counts sets and pops: the next deadline can only have moved when
        #: this has (the runtime looks after every command, so cheaply).
        self.changes = 0

    def set(self, when: float, kind: str, ref: str) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), kind, ref))
        self.changes += 1

    def cancel(self, kind: str, ref: str) -> None:
        """Timers already set for ``(kind, ref)`` will not fire (later ones will)."""
        self._cancelled[(kind, ref)] = next(self._seq)
        self._marked += 1
        if self._marked > _COMPACT_MIN and 2 * self._marked >= len(self._heap):
            self._compact()

    def _void(self, entry: tuple[float, int, str, str]) -> bool:
        mark = self._cancelled.get((entry[2], entry[3]))
        return mark is not None and entry[1] < mark

    def _compact(self) -> None:
        self._heap = [e for e in self._heap if not self._void(e)]
        heapq.heapify(self._heap)
        self._cancelled.clear()
        self._marked = 0
        self.changes += 1

    def next_deadline(self) -> float | None:
        heap = self._heap
        if self._cancelled:
            while heap and self._void(heap[0]):
                heapq.heappop(heap)
                self.changes += 1
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> tuple[str, str] | None:
        """The earliest timer due at ``now``, removed; ``None`` if none is."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            self.changes += 1
            if self._cancelled and self._void(entry):
                continue
            return entry[2], entry[3]
        return None

    def pending(self) -> list[tuple[float, str, str]]:
        """The timers that will fire, in order: ``(when, kind, ref)``."""
        return [(e[0], e[2], e[3]) for e in sorted(self._heap) if not self._void(e)]

    def __len__(self) -> int:
        """Entries in the heap, cancelled ones not yet dropped included."""
        return len(self._heap)
