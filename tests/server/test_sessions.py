"""A session's replay ring: which pushes a resume gets, and when some were lost."""

from __future__ import annotations

import pytest

from protocol.codec import JSON, MSGPACK
from protocol.routing import OfferClosed
from server.sessions import Session


def _session(replay: int, replay_bytes: int = 1 << 20) -> Session:
    return Session(
        "agent", "alice", ("agent", "alice"), JSON, replay=replay, max_buffer=1 << 20,
        on_held=lambda session, barrier: None, replay_bytes=replay_bytes,
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


def _message(n: int, size: int) -> OfferClosed:
    return OfferClosed(offer=f"o{n}-" + "x" * size, interaction="i", outcome="accepted")


def test_the_ring_is_bounded_in_bytes_too() -> None:
    """Long pushes: the ring keeps the newest that fit in its bytes, so a
    resume from before them gets those and a gap; short ones fill the count."""
    s = _session(replay=16, replay_bytes=5_000)
    for n in range(10):
        s.push(_message(n, 1_000))
    assert s.ring_bytes == sum(map(len, s.ring)) <= 5_000
    kept = len(s.ring)
    assert kept == 5_000 // len(s.ring[0])  # as many whole pushes as fit
    frames, lost = s.missed_since(0)
    assert _seqs(s, frames) == list(range(11 - kept, 11)) and lost is True
    short = _session(replay=16, replay_bytes=5_000)
    for n in range(40):  # short pushes: the count bound holds first
        short.push(_message(n, 0))
    assert len(short.ring) == 16 and short.ring_bytes == sum(map(len, short.ring)) < 5_000


def test_a_push_longer_than_the_byte_bound_empties_the_ring() -> None:
    s = _session(replay=8, replay_bytes=500)
    s.push(_message(0, 10))
    s.push(_message(1, 1_000))
    assert not s.ring and s.ring_bytes == 0
    assert s.missed_since(0) == ([], True)  # a gap: the client loads afresh
    assert s.missed_since(2) == ([], False)  # it had everything
    s.push(_message(2, 10))
    frames, lost = s.missed_since(2)
    assert _seqs(s, frames) == [3] and lost is False


def test_a_ring_re_encoded_keeps_its_byte_count_and_bound() -> None:
    """MessagePack to JSON grows each push: the ring that fitted is trimmed
    to its bound again, newest kept, and a resume from before is a gap."""
    s = Session(
        "agent", "alice", ("agent", "alice"), MSGPACK, replay=16, max_buffer=1 << 20,
        on_held=lambda session, barrier: None, replay_bytes=2_000,
    )  # fmt: skip
    for n in range(12):
        s.push(_message(n, 100))
    assert len(s.ring) == 12 and s.ring_bytes <= 2_000  # it all fits in MessagePack
    s.attach(None, JSON)
    assert s.ring_bytes == sum(map(len, s.ring)) <= 2_000
    assert len(s.ring) < 12
    frames, lost = s.missed_since(0)
    assert [JSON.decode_server(f).seq for f in frames] == list(range(13 - len(frames), 13))
    assert lost is True


def test_no_replay_keeps_nothing() -> None:
    s = _session(replay=0)
    s.push(_message(0, 10))
    assert not s.ring and s.ring_bytes == 0 and s.missed_since(0) == ([], True)
