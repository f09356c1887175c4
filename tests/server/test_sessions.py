"""A session's replay ring: which pushes a resume gets, and when some were lost."""

from __future__ import annotations

import pytest

from protocol.codec import JSON, MSGPACK
from protocol.routing import OfferClosed
from server.sessions import Session


def _session(replay: int) -> Session:
    return Session(
        "agent", "alice", ("agent", "alice"), JSON, replay=replay, max_buffer=1 << 20,
        on_held=lambda session, barrier: None,
    )  # fmt: skip


def _seqs(session: Session, frames: list[bytes]) -> list[int]:
    return [session.codec.decode_server(f).seq for f in frames]


@pytest.mark.parametrize(
    ("last_seq", "seqs", "gap"),
    [
        (0, [3, 4, 5], True),  # 1 and 2 fell out of the ring
        (1, [3, 4, 5], True),  # 2 fell out
        (2, [3, 4, 5], False),
        (4, [5], False),
        (5, [], False),  # up to date
        (9, [], False),  # a number this session never gave: nothing to send
    ],
)
def test_missed_since(last_seq: int, seqs: list[int], gap: bool) -> None:
    s = _session(replay=3)
    for n in range(5):
        s.push(OfferClosed(offer=f"o{n}", interaction="i", outcome="accepted"))
    frames, lost = s.missed_since(last_seq)
    assert _seqs(s, frames) == seqs
    assert lost is gap


def test_an_empty_ring_misses_nothing() -> None:
    s = _session(replay=3)
    assert s.missed_since(0) == ([], False)


def test_a_resume_in_the_other_encoding_gets_the_same_pushes() -> None:
    s = _session(replay=4)
    for n in range(6):
        s.push(OfferClosed(offer=f"o{n}", interaction="i", outcome="accepted"))
    s.attach(None, MSGPACK)  # no connection needed to re-encode the ring
    frames, lost = s.missed_since(3)
    assert [MSGPACK.decode_server(f).seq for f in frames] == [4, 5, 6]
    assert [MSGPACK.decode_server(f).offer for f in frames] == ["o3", "o4", "o5"]
    assert lost is False
