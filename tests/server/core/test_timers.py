"""The core's deadlines: order, cancellation, and the heap kept compact."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.core import timers as timers_module
from server.core.timers import Timers


def due(t: Timers, now: float) -> list[tuple[str, str]]:
    out = []
    while (item := t.pop_due(now)) is not None:
        out.append(item)
    return out


def test_timers_fire_in_order_of_time_then_of_setting() -> None:
    t = Timers()
    t.set(5.0, "offer", "o1")
    t.set(1.0, "idle", "i1")
    t.set(5.0, "offer", "o2")
    assert t.next_deadline() == 1.0
    assert due(t, 4.0) == [("idle", "i1")]
    assert due(t, 5.0) == [("offer", "o1"), ("offer", "o2")]
    assert t.next_deadline() is None


def test_a_cancelled_timer_does_not_fire_and_a_later_one_does() -> None:
    t = Timers()
    t.set(1.0, "idle", "i1")
    t.set(2.0, "idle", "i1")
    t.set(3.0, "idle", "i2")
    t.cancel("idle", "i1")
    assert t.next_deadline() == 3.0  # the cancelled ones are skipped
    t.set(4.0, "idle", "i1")  # set again after the cancellation: it counts
    assert due(t, 10.0) == [("idle", "i2"), ("idle", "i1")]


def test_cancelling_moves_the_next_deadline_and_says_so() -> None:
    """The runtime reschedules its loop timer only when ``changes`` moved."""
    t = Timers()
    t.set(1.0, "offer", "o1")
    t.set(2.0, "offer", "o2")
    before = t.changes
    t.cancel("offer", "o1")
    assert t.next_deadline() == 2.0
    assert t.changes != before


def test_the_heap_is_compacted_once_cancelled_entries_may_be_half_of_it() -> None:
    t = Timers()
    for n in range(3000):
        t.set(1800.0 + n, "idle", f"i{n}")
    for n in range(0, 3000, 2):
        t.cancel("idle", f"i{n}")
    # 1,500 cancelled of 3,000: the heap is rebuilt without them.
    assert len(t) == 1500
    assert due(t, 1e9) == [("idle", f"i{n}") for n in range(1, 3000, 2)]


def test_cancelling_what_was_never_set_is_harmless() -> None:
    t = Timers()
    t.set(1.0, "offer", "o1")
    for n in range(5000):
        t.cancel("idle", f"nothing-{n}")
    assert due(t, 1.0) == [("offer", "o1")]


KEYS = st.sampled_from([("idle", "a"), ("idle", "b"), ("offer", "a"), ("grace", "c")])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(0, 20), KEYS),
        st.tuples(st.just("cancel"), KEYS),
        st.tuples(st.just("pop"), st.integers(0, 20)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_timers_behave_like_a_sorted_list(ops) -> None:
    """Against a plain model (a list, cancel removes the key's entries), with
    compaction made to happen often."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(timers_module, "_COMPACT_MIN", 2)
        t = Timers()
        model: list[tuple[float, int, tuple[str, str]]] = []
        n = 0
        for op in ops:
            if op[0] == "set":
                n += 1
                t.set(float(op[1]), *op[2])
                model.append((float(op[1]), n, op[2]))
            elif op[0] == "cancel":
                t.cancel(*op[1])
                model = [e for e in model if e[2] != op[1]]
            else:
                now = float(op[1])
                expected = sorted(e for e in model if e[0] <= now)
                model = [e for e in model if e[0] > now]
                assert due(t, now) == [e[2] for e in expected]
            assert t.next_deadline() == (min(model)[0] if model else None)


def test_pending_lists_what_will_fire() -> None:
    t = Timers()
    t.set(2.0, "offer", "o1")
    t.set(1.0, "idle", "i1")
    t.cancel("offer", "o1")
    t.set(3.0, "offer", "o1")
    assert t.pending() == [(1.0, "idle", "i1"), (3.0, "offer", "o1")]
