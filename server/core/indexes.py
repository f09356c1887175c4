"""Per-queue indexes that keep one routing decision independent of size.

Both are heaps with lazy deletion: an entry carries the version its object
had when pushed, and an entry whose object has since moved on is dropped
when it reaches the top. Pushing and popping cost O(log n); nothing ever
scans all agents or all interactions of a queue.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from server.core.model import Agent, Interaction

AgentKey = tuple[float | int, ...]


class WaitingLine:
    """Interactions waiting in one queue, best first: (-priority, band, order)."""

    __slots__ = ("_heap", "_members", "queue")

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self._heap: list[tuple[tuple[int, int, int], int, str, Interaction]] = []
        self._members: dict[str, Interaction] = {}

    def __len__(self) -> int:
        return len(self._members)

    def members(self) -> list[Interaction]:
        return list(self._members.values())

    def add(self, ix: Interaction) -> None:
        self._members[ix.id] = ix
        heapq.heappush(self._heap, (ix.key, ix.version, ix.id, ix))
        if len(self._heap) > 2 * len(self._members) + 64:
            # Stale entries only leave from the top; compact now and then so
            # the heap stays proportional to what really waits (amortised O(1)).
            self._heap = [(i.key, i.version, i.id, i) for i in self._members.values()]
            heapq.heapify(self._heap)

    def discard(self, ix: Interaction) -> None:
        """Forget ``ix`` (its heap entry goes stale through its version)."""
        if self._members.pop(ix.id, None) is not None:
            ix.version += 1

    def _live(self, entry: tuple[tuple[int, int, int], int, str, Interaction]) -> bool:
        ix = entry[3]
        return entry[1] == ix.version and self._members.get(ix.id) is ix

    def best(self, skip: Callable[[Interaction], bool] | None = None) -> Interaction | None:
        """The first waiting interaction in queue order that ``skip`` allows."""
        heap = self._heap
        held = []
        found = None
        while heap:
            entry = heap[0]
            if not self._live(entry):
                heapq.heappop(heap)
                continue
            if skip is not None and skip(entry[3]):
                held.append(heapq.heappop(heap))
                continue
            found = entry[3]
            break
        for entry in held:
            heapq.heappush(heap, entry)
        return found


class AgentPool:
    """Available agents eligible for one queue, in the queue's strategy order."""

    __slots__ = ("_heap", "_live_bound", "key", "queue")

    def __init__(self, queue: str, key: Callable[[Agent], AgentKey]) -> None:
        self.queue = queue
        self.key = key
        self._heap: list[tuple[AgentKey, int, int, Agent]] = []
        self._live_bound = 0  # number of eligible agents: a bound on live entries

    def add(self, agent: Agent, members: Callable[[], list[Agent]]) -> None:
        """Add an agent that just became available; ``members`` are all the
        queue's eligible agents, used to compact stale entries now and then."""
        heapq.heappush(self._heap, (self.key(agent), agent.order, agent.version, agent))
        if len(self._heap) > 64 and len(self._heap) > 2 * self._live_bound:
            self.rebuild(members())

    def note_members(self, count: int) -> None:
        self._live_bound = count

    def take(self, skip: Callable[[Agent], bool] | None = None) -> Agent | None:
        """Remove and return the best available agent that ``skip`` allows.

        Agents skipped stay in the pool.
        """
        heap = self._heap
        held = []
        found = None
        while heap:
            entry = heapq.heappop(heap)
            agent = entry[3]
            if entry[2] != agent.version or not agent.available:
                continue
            if skip is not None and skip(agent):
                held.append(entry)
                continue
            found = agent
            break
        for entry in held:
            heapq.heappush(heap, entry)
        return found

    def rebuild(self, agents: list[Agent]) -> None:
        """Start over from the queue's eligible agents (strategy or members changed)."""
        self._live_bound = len(agents)
        self._heap = [(self.key(a), a.order, a.version, a) for a in agents if a.available]
        heapq.heapify(self._heap)

    def __len__(self) -> int:
        return len(self._heap)
