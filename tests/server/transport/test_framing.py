"""Hand-built server frames are byte for byte what websockets would send."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from server.transport.framing import BINARY, TEXT, encode_frames, payload_length


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
@pytest.mark.parametrize(("first", "opcode"), [(BINARY, Opcode.BINARY), (TEXT, Opcode.TEXT)])
def test_one_frame_matches_websockets(size: int, first: int, opcode: Opcode) -> None:
    data = bytes(i % 251 for i in range(size))
    expected = Frame(opcode, data).serialize(mask=False, extensions=[])
    assert encode_frames([data], first) == expected


def test_frames_are_concatenated_in_order() -> None:
    payloads = [b"a", b"b" * 300, b"", b"c" * 70_000]
    expected = b"".join(
        Frame(Opcode.BINARY, p).serialize(mask=False, extensions=[]) for p in payloads
    )
    assert encode_frames(payloads, BINARY) == expected


def test_payload_length_reads_every_length_encoding() -> None:
    """The 7-, 16- and 64-bit lengths of frames websockets builds, at an
    offset in the buffer; a header not yet complete is (-1, 0)."""
    for size, head in [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)]:
        data = b"xx" + Frame(Opcode.BINARY, bytes(size)).serialize(mask=False)
        assert payload_length(data, 2, len(data)) == (size, head)
        assert payload_length(data, 2, 2 + head - 1) == ((-1, 0) if head > 2 else (size, 2))
